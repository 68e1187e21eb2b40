from django.core.management.base import BaseCommand

from activations.scheduling import SWEEP_NAME, ensure_repeating_schedules
from audit.scheduling import (
    ALERTS_SCHEDULE_NAME,
    OUTBOX_SCHEDULE_NAME,
    ensure_alerts_schedule,
    ensure_audit_schedules,
    ensure_outbox_schedule,
)
from roles.scheduling import ensure_roles_schedules


class Command(BaseCommand):
    help = (
        "Create or update PIM's repeating background schedules (the one-minute sweep, the "
        "notification outbox, access reviews, provisioning, alerts and the audit log's). Safe to run again."
    )

    def handle(self, *args, **options):
        ensure_repeating_schedules()
        ensure_outbox_schedule()
        ensure_alerts_schedule()
        roles_schedules = ensure_roles_schedules()
        audit_schedules = ensure_audit_schedules()
        self.stdout.write(
            self.style.SUCCESS(
                f"Schedules ready: {SWEEP_NAME} and {OUTBOX_SCHEDULE_NAME} every minute; "
                f"{ALERTS_SCHEDULE_NAME} every 15 minutes; {', '.join(roles_schedules + audit_schedules)}."
            )
        )
