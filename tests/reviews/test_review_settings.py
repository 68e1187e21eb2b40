"""Creating, changing and deleting reviews: bad input names the field and changes nothing."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from roles.models import AccessReview, ReviewOccurrence, Role
from roles.reviews import services
from roles.reviews.choices import EndType, OccurrenceStatus, Recurrence, ReviewerType
from tests.reviews.conftest import review_values

pytestmark = pytest.mark.django_db


def refusal(actor, **overrides) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        services.create_review(actor=actor, values=review_values(**overrides))
    assert not AccessReview.objects.exists() and not ReviewOccurrence.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="review.").exists()
    return caught.value.message_dict


def test_creating_writes_the_review_its_first_occurrence_and_an_audit_event(pim_admin, bob, exchange_admin):
    review = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob], name="Exchange Q4"))
    occurrence = review.occurrences.get()
    assert (occurrence.number, occurrence.status) == (1, OccurrenceStatus.NOT_STARTED)
    assert occurrence.ends_at - occurrence.starts_at == timedelta(days=14)
    event = AuditEvent.objects.get(action="review.created")
    assert (event.actor_username, event.data["name"], event.data["roles"], event.data["reviewers"]) == (
        "pimadmin",
        "Exchange Q4",
        ["exchange-administrator"],
        ["bob"],
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"reviewers": []}, "reviewers", "Reviewers: name at least one user or group to review."),
        ({"roles": []}, "roles", "Roles: choose at least one role to review."),
        ({"name": "  "}, "name", "Name: required, at most 150 characters."),
        (
            {"recurrence": Recurrence.WEEKLY, "duration_days": 7},
            "duration_days",
            "Duration: a weekly review lasts from 1 to 6 days, shorter than its shortest period (7 days); "
            "7 were given.",
        ),
        (
            {
                "recurrence": Recurrence.MONTHLY,
                "end_type": EndType.ON_DATE,
                "end_date": date(2020, 1, 1),
                "duration_days": 10,
            },
            "end_date",
            "is before the start date",
        ),
        (
            {"inactive_days": 731},
            "inactive_days",
            "Inactive for: from 1 to 730 days, or empty for every holder; 731 given.",
        ),
        ({"inactive_days": 0}, "inactive_days", "0 given"),
        (
            {"reminder_days_before": 14},
            "reminder_days_before",
            "Reminder: from 1 day before the end to 13 days (less than the duration of 14 days), or empty for no "
            "reminders; 14 given.",
        ),
        (
            {"extra_recipients": ["not-an-address"]},
            "extra_recipients",
            "Extra recipients: 'not-an-address' is not an email address",
        ),
        (
            {"extra_recipients": [f"a{n}@example.com" for n in range(11)]},
            "extra_recipients",
            "Extra recipients: at most 10 addresses; 11 given.",
        ),
        ({"reviewer_type": ReviewerType.APPROVERS}, "fallback_reviewer", "Fallback reviewer: required"),
        ({"no_response": "shrug"}, "no_response", "If reviewers don't respond: 'shrug' is not one of"),
    ],
)
def test_bad_settings_name_the_field_and_create_nothing(pim_admin, bob, overrides, field, message):
    errors = refusal(pim_admin, **({"reviewers": [bob]} | overrides))
    assert any(message in text for text in errors[field]), errors


def test_a_start_date_in_the_past_is_refused(pim_admin, bob):
    yesterday = timezone.now().date() - timedelta(days=1)
    errors = refusal(pim_admin, reviewers=[bob], start_date=yesterday)
    assert errors["start_date"] == [f"Start date: today ({timezone.now().date()}) or later; {yesterday} has passed."]


def test_a_start_date_more_than_five_years_ahead_is_refused(pim_admin, bob):
    far = timezone.now().date() + timedelta(days=5 * 365 + 1)
    assert (
        "Start date: at most five years ahead" in refusal(pim_admin, reviewers=[bob], start_date=far)["start_date"][0]
    )


def test_self_review_needs_no_named_reviewers(pim_admin):
    services.create_review(actor=pim_admin, values=review_values(reviewer_type=ReviewerType.SELF))
    assert AccessReview.objects.count() == 1


def test_before_the_start_everything_may_change_and_the_next_occurrence_follows(pim_admin, bob):
    review = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))
    later = timezone.now().date() + timedelta(days=10)
    services.update_review(
        actor=pim_admin, review=review, values=review_values(reviewers=[bob], start_date=later, duration_days=3)
    )
    occurrence = review.occurrences.get()
    assert occurrence.starts_at.date() == later and occurrence.ends_at - occurrence.starts_at == timedelta(days=3)
    changes = AuditEvent.objects.get(action="review.updated").data["changes"]
    assert set(changes) == {"start_date", "duration_days"}
    assert changes["duration_days"] == [14, 3]


def test_once_started_what_is_reviewed_is_fixed_but_reviewers_and_completion_settings_may_change(
    pim_admin, bob, carol, start_review
):
    review = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))
    start_review(review)
    billing = Role.objects.get(slug="billing-administrator")
    with pytest.raises(ValidationError) as caught:
        services.update_review(
            actor=pim_admin, review=review, values=review_values(reviewers=[bob], roles=[billing], duration_days=3)
        )
    assert set(caught.value.message_dict) == {"roles", "duration_days"}
    assert "fixed once the review has started" in caught.value.message_dict["roles"][0]
    services.update_review(
        actor=pim_admin, review=review, values=review_values(reviewers=[carol], auto_apply=True, name="Renamed")
    )
    review.refresh_from_db()
    assert (review.name, review.auto_apply, list(review.reviewers.all())) == ("Renamed", True, [carol])


def test_ending_a_recurring_review_drops_the_occurrence_it_no_longer_has(pim_admin, bob, start_review):
    review = services.create_review(
        actor=pim_admin, values=review_values(reviewers=[bob], recurrence=Recurrence.MONTHLY, duration_days=10)
    )
    start_review(review)
    assert review.occurrences.count() == 2
    services.update_review(
        actor=pim_admin,
        review=review,
        values=review_values(
            reviewers=[bob],
            recurrence=Recurrence.MONTHLY,
            duration_days=10,
            end_type=EndType.AFTER_COUNT,
            end_after_occurrences=1,
        ),
    )
    assert list(review.occurrences.values_list("number", flat=True)) == [1]


def test_an_unchanged_update_writes_nothing(pim_admin, bob):
    review = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))
    services.update_review(actor=pim_admin, review=review, values=review_values(reviewers=[bob]))
    assert not AuditEvent.objects.filter(action="review.updated").exists()


def test_only_a_review_that_has_not_started_can_be_deleted(pim_admin, bob, start_review):
    waiting = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob], name="Waiting"))
    started = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob], name="Started"))
    start_review(started)
    services.delete_review(actor=pim_admin, review=waiting)
    with pytest.raises(ValidationError, match="Only a review that has not started can be deleted"):
        services.delete_review(actor=pim_admin, review=started)
    assert list(AccessReview.objects.values_list("name", flat=True)) == ["Started"]
    assert AuditEvent.objects.get(action="review.deleted").data == {"name": "Waiting"}
