from django.core.management.base import BaseCommand, CommandError

from audit.verification import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain from the first event to the head; exit 1 at the first break."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"BROKEN at sequence {report.broken_at}: {report.reason}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"OK: {report.count} events verified"))
