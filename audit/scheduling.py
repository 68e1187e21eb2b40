"""The outbox's repeating django-q2 schedule, created by `manage.py setup_schedules`."""

from django_q.models import Schedule

OUTBOX_SCHEDULE_NAME = "pim.outbox"


def ensure_outbox_schedule() -> None:
    """Every minute, deliver what is due: retries after their backoff, and messages whose
    one-off task was lost (broker down at commit, worker killed mid-send)."""
    Schedule.objects.update_or_create(
        name=OUTBOX_SCHEDULE_NAME,
        defaults={
            "func": "audit.tasks.deliver_due_messages",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
