import datetime as dt

import pytest
from django.utils import timezone

from roles.models import Role
from roles.reviews import services
from roles.reviews.choices import EndType, NoResponse, Recurrence, ReviewedTypes, ReviewerType
from tests.manage.conftest import clock, manager_client  # noqa: F401  the console's signed-in administrator


def review_values(**overrides) -> dict:
    """Everything a review needs, as the form and the API hand it to the services: a one-time
    review of Exchange Administrator, starting today, reviewed by the named reviewers."""
    values = {
        "name": "Quarterly Exchange review",
        "description": "",
        "roles": [Role.objects.get(slug="exchange-administrator")],
        "scopes": [],
        "assignment_types": ReviewedTypes.BOTH,
        "inactive_days": None,
        "reviewer_type": ReviewerType.USERS,
        "reviewers": [],
        "reviewer_groups": [],
        "fallback_reviewer": None,
        "start_date": timezone.now().date(),
        "time_zone": "UTC",
        "duration_days": 14,
        "recurrence": Recurrence.ONE_TIME,
        "end_type": EndType.NEVER,
        "end_date": None,
        "end_after_occurrences": None,
        "auto_apply": False,
        "no_response": NoResponse.NO_CHANGE,
        "require_justification": True,
        "reminder_days_before": None,
        "extra_recipients": [],
    }
    return values | overrides


@pytest.fixture
def make_review(pim_admin):
    def make(**overrides):
        return services.create_review(actor=pim_admin, values=review_values(**overrides))

    return make


@pytest.fixture
def start_review():
    """Start a review's first occurrence now (what the one-minute task does) and return it."""

    def start(review):
        occurrence = review.occurrences.get(number=1)
        assert services.start_occurrence(occurrence_id=occurrence.pk, now=timezone.now() + dt.timedelta(seconds=1))
        occurrence.refresh_from_db()
        return occurrence

    return start


@pytest.fixture
def exchange_admin():
    return Role.objects.get(slug="exchange-administrator")
