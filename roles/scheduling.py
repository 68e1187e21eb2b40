"""The roles app's repeating django-q2 schedules, created by `manage.py setup_schedules`."""

from django_q.models import Schedule

REVIEWS_SCHEDULE_NAME = "pim.reviews"
PROVISIONING_SCHEDULE_NAME = "pim.provisioning"
DRIFT_SCHEDULE_NAME = "pim.provisioning.drift"


def ensure_roles_schedules() -> list[str]:
    """Every minute: access reviews (start, remind, close, apply) and provisioning (reconcile,
    carry out due grants and revokes); every 10 minutes: the drift check of every target."""
    for name, func, minutes in (
        (REVIEWS_SCHEDULE_NAME, "roles.reviews.tasks.run_reviews", 1),
        (PROVISIONING_SCHEDULE_NAME, "roles.provisioning.tasks.run_provisioning", 1),
        (DRIFT_SCHEDULE_NAME, "roles.provisioning.tasks.check_drift", 10),
    ):
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1}
        )
    return [REVIEWS_SCHEDULE_NAME, PROVISIONING_SCHEDULE_NAME, DRIFT_SCHEDULE_NAME]
