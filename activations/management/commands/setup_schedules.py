from django.core.management.base import BaseCommand

from activations.scheduling import SWEEP_NAME, ensure_repeating_schedules


class Command(BaseCommand):
    help = "Create or update PIM's repeating background schedules (the one-minute sweep). Safe to run again."

    def handle(self, *args, **options):
        ensure_repeating_schedules()
        self.stdout.write(self.style.SUCCESS(f"Schedules ready: {SWEEP_NAME} every minute."))
