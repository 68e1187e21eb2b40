"""The audit app's repeating django-q2 schedules (outbox, SIEM forwarder, pruning, chain
verification), created by `manage.py setup_schedules`."""

from django.conf import settings
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


SIEM_SCHEDULE_NAME = "pim.siem"
PRUNE_SCHEDULE_NAME = "pim.audit.prune"
VERIFY_SCHEDULE_NAME = "pim.audit.verify"


def ensure_audit_schedules() -> list[str]:
    """The audit log's own schedules; returns the names in place. The daily verification
    always runs; the SIEM forwarder (every minute) only while PIM_SIEM_SYSLOG or
    PIM_SIEM_HTTPS_URL is set, and pruning (daily) only while PIM_AUDIT_RETENTION_DAYS is: a
    schedule whose setting was removed is deleted."""
    _ensure(VERIFY_SCHEDULE_NAME, "audit.tasks.verify_audit_chain", Schedule.DAILY, wanted=True)
    _ensure(SIEM_SCHEDULE_NAME, "audit.tasks.forward_to_siem", Schedule.MINUTES,
            wanted=bool(settings.PIM_SIEM_SYSLOG or settings.PIM_SIEM_HTTPS_URL), minutes=1)  # fmt: skip
    _ensure(PRUNE_SCHEDULE_NAME, "audit.tasks.prune_audit_log", Schedule.DAILY,
            wanted=bool(settings.PIM_AUDIT_RETENTION_DAYS))  # fmt: skip
    return list(
        Schedule.objects.filter(name__in=[VERIFY_SCHEDULE_NAME, SIEM_SCHEDULE_NAME, PRUNE_SCHEDULE_NAME])
        .order_by("name")
        .values_list("name", flat=True)
    )


def _ensure(name: str, func: str, schedule_type: str, *, wanted: bool, minutes: int | None = None) -> None:
    if not wanted:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name, defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1}
    )


ALERTS_SCHEDULE_NAME = "pim.alerts"


def ensure_alerts_schedule() -> None:
    """Every 15 minutes, run the security alert rules (audit.alerts.run_scan)."""
    Schedule.objects.update_or_create(
        name=ALERTS_SCHEDULE_NAME,
        defaults={"func": "audit.tasks.scan_alerts", "schedule_type": Schedule.MINUTES, "minutes": 15, "repeats": -1},
    )
