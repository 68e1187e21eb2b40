"""The access reviews' repeating django-q2 schedule, created by `manage.py setup_schedules`."""

from django_q.models import Schedule

REVIEWS_SCHEDULE_NAME = "pim.reviews"


def ensure_reviews_schedule() -> None:
    """Every minute: start due occurrences (local midnight), remind, close at the end, apply."""
    Schedule.objects.update_or_create(
        name=REVIEWS_SCHEDULE_NAME,
        defaults={"func": "roles.reviews.tasks.run_reviews", "schedule_type": Schedule.MINUTES, "minutes": 1,
                  "repeats": -1},
    )  # fmt: skip
