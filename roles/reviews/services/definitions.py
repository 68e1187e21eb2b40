"""Creating, changing and deleting reviews."""

import zoneinfo
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from audit.services import record_event
from roles.reviews import schedule
from roles.reviews.choices import OccurrenceStatus
from roles.reviews.models import AccessReview, ReviewOccurrence
from roles.reviews.rules import check_review

SCALAR_FIELDS = (
    "name", "description", "assignment_types", "inactive_days", "reviewer_type", "fallback_reviewer",
    "start_date", "time_zone", "duration_days", "recurrence", "end_type", "end_date", "end_after_occurrences",
    "auto_apply", "no_response", "require_justification", "reminder_days_before", "extra_recipients",
)  # fmt: skip
MANY_FIELDS = ("roles", "scopes", "reviewers", "reviewer_groups")
# What an occurrence was taken with: fixed once the first one has started.
LOCKED_ONCE_STARTED = ("roles", "scopes", "assignment_types", "inactive_days", "start_date", "time_zone",
                       "duration_days", "recurrence")  # fmt: skip

STARTED_REVIEW_LOCKED = (
    "%(field)s: fixed once the review has started (occurrences review the same thing); create a new review instead."
)
NOT_DELETABLE = "Only a review that has not started can be deleted; stop it instead."
TRIGGER_TASK = "roles.reviews.tasks.run_reviews"


def _today_in(time_zone: str) -> date:
    try:
        return timezone.now().astimezone(zoneinfo.ZoneInfo(time_zone)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.now().date()


def values_of(review: AccessReview) -> dict:
    """The review's settings as create_review and update_review take them."""
    values = {field: getattr(review, field) for field in SCALAR_FIELDS}
    values |= {field: list(getattr(review, field).all()) for field in MANY_FIELDS}
    return values


def _audit_summary(values: dict) -> dict:
    """What a review's created/updated event says about it."""
    summary = {field: values[field] for field in SCALAR_FIELDS if field != "fallback_reviewer"}
    summary["fallback_reviewer"] = values["fallback_reviewer"].get_username() if values["fallback_reviewer"] else ""
    summary["roles"] = sorted(role.slug for role in values["roles"])
    summary["scopes"] = sorted(scope.path for scope in values["scopes"])
    summary["reviewers"] = sorted(user.get_username() for user in values["reviewers"])
    summary["reviewer_groups"] = sorted(group.name for group in values["reviewer_groups"])
    return summary


def _save(review: AccessReview, values: dict) -> None:
    for field in SCALAR_FIELDS:
        setattr(review, field, values[field])
    review.save()
    for field in MANY_FIELDS:
        getattr(review, field).set(values[field])


def plan_next_occurrence(review: AccessReview, number: int) -> ReviewOccurrence | None:
    """Write occurrence `number` as not started, if the schedule has it."""
    if not schedule.has_occurrence(review.schedule, number):
        return None
    starts_at, ends_at = schedule.window(review.schedule, number)
    return ReviewOccurrence.objects.create(review=review, number=number, starts_at=starts_at, ends_at=ends_at)


def _run_soon() -> None:
    # A review starting today starts within seconds instead of at the next sweep.
    transaction.on_commit(lambda: async_task(TRIGGER_TASK), robust=True)


def create_review(*, actor, values: dict) -> AccessReview:
    """A new review and its first occurrence (not started). `values`: every field of
    SCALAR_FIELDS and MANY_FIELDS (lists)."""
    check_review(values, today=_today_in(values["time_zone"]))
    with transaction.atomic():
        review = AccessReview(created_by=actor)
        _save(review, values)
        plan_next_occurrence(review, 1)
        record_event(actor=actor, action="review.created", target=review, data=_audit_summary(values))
        _run_soon()
    return review


def update_review(*, actor, review: AccessReview, values: dict) -> AccessReview:
    """Change a review's settings. Once its first occurrence has started, what it reviews and
    its rhythm are fixed; its name, reviewers, end and completion settings may still change and
    hold from the next occurrence (reviewers: from the next start)."""
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        before = values_of(review)
        started = review.occurrences.exclude(status=OccurrenceStatus.NOT_STARTED).exists()
        if started:
            locked = [field for field in LOCKED_ONCE_STARTED if _differs(before[field], values[field])]
            if locked:
                raise ValidationError({field: ValidationError(STARTED_REVIEW_LOCKED, code="started_review_locked",
                                       params={"field": AccessReview._meta.get_field(field).verbose_name.capitalize()})
                                       for field in locked})  # fmt: skip
        check_review(values, today=_today_in(values["time_zone"]), starting=not started)
        changed = {field for field in (*SCALAR_FIELDS, *MANY_FIELDS) if _differs(before[field], values[field])}
        if not changed:
            return review
        _save(review, values)
        # The occurrence waiting to start follows the schedule as it is now.
        review.occurrences.filter(status=OccurrenceStatus.NOT_STARTED).delete()
        last = review.occurrences.order_by("-number").values_list("number", flat=True).first() or 0
        plan_next_occurrence(review, last + 1)
        before_summary, after_summary = _audit_summary(before), _audit_summary(values)
        changes = {key: [before_summary[key], after_summary[key]] for key in sorted(changed)}
        record_event(actor=actor, action="review.updated", target=review, data={"changes": changes})
        _run_soon()
    return review


def _differs(before, after) -> bool:
    if isinstance(before, list):
        return {item.pk for item in before} != {item.pk for item in after}
    return before != after


def delete_review(*, actor, review: AccessReview) -> None:
    """Delete a review none of whose occurrences has started."""
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=review.pk)
        if review.occurrences.exclude(status=OccurrenceStatus.NOT_STARTED).exists():
            raise ValidationError(NOT_DELETABLE, code="review_started")
        record_event(actor=actor, action="review.deleted", target=review, data={"name": review.name})
        review.delete()
