from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.verification import verify_and_record


class Command(BaseCommand):
    help = (
        "Check the audit log's hash chain from the first event (or the newest pruning checkpoint) "
        "to the head and record the result for the audit page; exit 1 at the first break."
    )

    def handle(self, *args, **options):
        report, verification = verify_and_record(now=timezone.now())
        if not report.ok:
            raise CommandError(verification.message, returncode=1)
        self.stdout.write(self.style.SUCCESS(verification.message))
