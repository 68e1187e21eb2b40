"""Starting occurrences (the snapshot), reminding reviewers and closing occurrences."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from audit import outbox
from audit.services import record_event
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment
from roles.notifications import site_url
from roles.reviews import recommendations
from roles.reviews.choices import (
    NoResponse,
    OccurrenceStatus,
    Outcome,
    OutcomeSource,
    ReviewDecision,
    ReviewerType,
)
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence
from roles.reviews.services.definitions import plan_next_occurrence
from roles.rules import fmt_time

NOT_STOPPABLE = "Only a review in progress can be stopped; this one is %(status)s."


def _in_scope(review: AccessReview) -> Q:
    paths = [scope.path for scope in review.scopes.all()]
    if not paths or "/" in paths:
        return Q()
    covered = Q()
    for path in paths:
        covered |= Q(scope__path=path) | Q(scope__path__startswith=path.rstrip("/") + "/")
    return covered


def assignments_in_scope(review: AccessReview, *, now: datetime) -> list:
    """The eligible and administrator-made active assignments the review covers, in effect now.
    (An activation is not reviewed: it is short and comes from an eligibility that is.)"""
    models = []
    if review.reviews_eligible:
        models.append((EligibleAssignment, {}))
    if review.reviews_active:
        models.append((ActiveAssignment, {"source": ActiveSource.ADMIN}))
    found = []
    for model, extra in models:
        found += list(
            model.objects.open()
            .in_effect(now)
            .filter(_in_scope(review), role__in=review.roles.all(), **extra)
            .select_related("principal", "group", "role", "scope")
            .order_by("role__name", "scope__path", "pk")
        )
    return found


def _users(query) -> set:
    return set(get_user_model().objects.filter(is_active=True).filter(query).distinct())


class _Reviewers:
    """Who reviews each item, fixed when the occurrence starts. Nobody reviews their own access
    unless the review is a self-review; an item nobody may review goes to the fallback reviewer."""

    def __init__(self, review: AccessReview):
        self.review = review
        self.by_role: dict[int, set] = {}
        self.named = set()
        if review.reviewer_type == ReviewerType.USERS:
            self.named = _users(Q(pk__in=review.reviewers.all()) | Q(groups__in=review.reviewer_groups.all()))
        fallback = review.fallback_reviewer
        self.fallback = fallback if fallback is not None and fallback.is_active else None

    def _approvers(self, role_id: int) -> set:
        if role_id not in self.by_role:
            stages = ApprovalStage.objects.filter(role_settings__role_id=role_id)
            self.by_role[role_id] = _users(Q(approver_of__in=stages) | Q(groups__approver_of__in=stages))
        return self.by_role[role_id]

    def of(self, assignment) -> set:
        holders = ({assignment.principal} if assignment.principal_id else
                   _users(Q(groups=assignment.group_id)))  # fmt: skip
        if self.review.reviewer_type == ReviewerType.SELF:
            return {user for user in holders if user.is_active} or ({self.fallback} - {None})
        chosen = self.named if self.review.reviewer_type == ReviewerType.USERS else self._approvers(assignment.role_id)
        chosen = chosen - holders
        if not chosen and self.fallback is not None and self.fallback not in holders:
            chosen = {self.fallback}
        return chosen


def start_occurrence(*, occurrence_id: int, now: datetime) -> bool:
    """Take the snapshot of a due occurrence, tell its reviewers, and plan the next one.
    False if it is not due or was started already."""
    with transaction.atomic():
        occurrence = (
            ReviewOccurrence.objects.select_for_update(of=("self",))
            .select_related("review")
            .filter(pk=occurrence_id, status=OccurrenceStatus.NOT_STARTED, starts_at__lte=now)
            .first()
        )
        if occurrence is None:
            return False
        review = occurrence.review
        assignments = assignments_in_scope(review, now=now)
        usage = recommendations.usage_of(assignments, now=now)
        if review.inactive_days:
            assignments = [a for a in assignments if recommendations.is_inactive(
                usage[(a.kind, a.pk)], kind=a.kind, days=review.inactive_days, now=now)]  # fmt: skip
        reviewers = _Reviewers(review)
        items, reviewers_of = [], []
        for assignment in assignments:
            used = usage[(assignment.kind, assignment.pk)]
            recommendation, reason = recommendations.recommend(used, kind=assignment.kind, now=now)
            items.append(ReviewItem(
                occurrence=occurrence, principal=assignment.principal, group=assignment.group,
                role=assignment.role, scope=assignment.scope, assigned_since=assignment.start_at,
                assigned_until=assignment.end_at, last_activated_at=used.last_activated_at,
                recent_activations=used.recent_activations, last_sign_in_at=used.last_sign_in_at,
                recommendation=recommendation, recommendation_reason=reason,
                **{f"{assignment.kind}_assignment": assignment},
            ))  # fmt: skip
            reviewers_of.append(reviewers.of(assignment))
        ReviewItem.objects.bulk_create(items)
        Through = ReviewItem.reviewers.through
        Through.objects.bulk_create([
            Through(reviewitem_id=item.pk, user_id=user.pk)
            for item, users in zip(items, reviewers_of, strict=True) for user in users
        ])  # fmt: skip
        occurrence.status = OccurrenceStatus.IN_PROGRESS
        occurrence.started_at = now
        occurrence.save(update_fields=["status", "started_at"])
        everyone = set().union(*reviewers_of) if reviewers_of else set()
        record_event(actor=None, action="review.started", target=review,
                     data={"review": review.pk, "occurrence": occurrence.number, "items": len(items),
                           "reviewers": sorted(user.get_username() for user in everyone),
                           "ends_at": occurrence.ends_at})  # fmt: skip
        for reviewer in sorted(everyone, key=lambda user: user.get_username()):
            _tell_reviewer(reviewer, occurrence, to_review=sum(reviewer in users for users in reviewers_of))
        plan_next_occurrence(review, occurrence.number + 1)
    return True


def _tell_reviewer(reviewer, occurrence: ReviewOccurrence, *, to_review: int, reminder: bool = False) -> None:
    review = occurrence.review
    what = "Reminder: " if reminder else ""
    outbox.queue(
        rule="review.reminder.reviewer" if reminder else "review.started.reviewer",
        recipients=[reviewer],
        subject=f"{what}Access review '{review.name}': {to_review} assignment(s) to review",
        body=(
            f"{what}please review {to_review} privileged role assignment(s) in '{review.name}' by "
            f"{fmt_time(occurrence.ends_at)}: approve what is still needed, deny what is not."
        ),
        link=site_url(reverse("reviews:review", args=[occurrence.pk])),
        critical=True,
        data={"review": review.pk, "occurrence": occurrence.number},
    )


def start_due_occurrences(*, now: datetime) -> int:
    due = ReviewOccurrence.objects.filter(status=OccurrenceStatus.NOT_STARTED, starts_at__lte=now)
    return sum(start_occurrence(occurrence_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))


def send_due_reminders(*, now: datetime) -> int:
    """Remind, once per occurrence, the reviewers who still have items to decide, when the
    review's reminder time before the end has come."""
    sent = 0
    candidates = ReviewOccurrence.objects.filter(
        status=OccurrenceStatus.IN_PROGRESS, reminded_at__isnull=True, review__reminder_days_before__isnull=False
    ).select_related("review")
    for occurrence in list(candidates):
        if now < occurrence.ends_at - timedelta(days=occurrence.review.reminder_days_before):
            continue
        with transaction.atomic():
            locked = ReviewOccurrence.objects.select_for_update().filter(
                pk=occurrence.pk, status=OccurrenceStatus.IN_PROGRESS, reminded_at__isnull=True).first()  # fmt: skip
            if locked is None:
                continue
            waiting = {}
            for item in occurrence.items.filter(decision="").prefetch_related("reviewers"):
                for reviewer in item.reviewers.all():
                    waiting[reviewer] = waiting.get(reviewer, 0) + 1
            for reviewer in sorted(waiting, key=lambda user: user.get_username()):
                _tell_reviewer(reviewer, occurrence, to_review=waiting[reviewer], reminder=True)
            locked.reminded_at = now
            locked.save(update_fields=["reminded_at"])
            record_event(actor=None, action="review.reminded", target=occurrence.review,
                         data={"review": occurrence.review_id, "occurrence": occurrence.number,
                               "reviewers": sorted(user.get_username() for user in waiting)})  # fmt: skip
            sent += len(waiting)
    return sent


def _outcome(item: ReviewItem, no_response: str) -> tuple[str, str]:
    if item.decision == ReviewDecision.APPROVE:
        return Outcome.KEEP, OutcomeSource.REVIEWER
    if item.decision == ReviewDecision.DENY:
        return Outcome.REMOVE, OutcomeSource.REVIEWER
    # Not decided, or "don't know": the review's rule for no response.
    if no_response == NoResponse.RECOMMENDATION:
        return item.recommendation, OutcomeSource.RECOMMENDATION
    return (Outcome.REMOVE if no_response == NoResponse.REMOVE else Outcome.KEEP), OutcomeSource.NO_RESPONSE


def close_occurrence(*, occurrence_id: int, now: datetime, actor=None) -> bool:
    """End an occurrence: at its end (actor None), or early (stopped by `actor`). Fixes each
    item's outcome, tells the creator and the extra recipients, and applies the results when
    the review applies them automatically. False if it was not in progress (or not yet due)."""
    with transaction.atomic():
        due = Q() if actor is not None else Q(ends_at__lte=now)
        occurrence = (
            ReviewOccurrence.objects.select_for_update(of=("self",))
            .select_related("review", "review__created_by")
            .filter(due, pk=occurrence_id, status=OccurrenceStatus.IN_PROGRESS)
            .first()
        )
        if occurrence is None:
            return False
        review = occurrence.review
        items = list(occurrence.items.select_for_update().order_by("pk"))
        for item in items:
            item.outcome, item.outcome_source = _outcome(item, review.no_response)
        ReviewItem.objects.bulk_update(items, ["outcome", "outcome_source"])
        occurrence.status = OccurrenceStatus.COMPLETED
        occurrence.completed_at = now
        occurrence.stopped_by = actor
        occurrence.save(update_fields=["status", "completed_at", "stopped_by"])
        removals = sum(item.outcome == Outcome.REMOVE for item in items)
        undecided = sum(item.decision in ("", ReviewDecision.DONT_KNOW) for item in items)
        record_event(actor=actor, action="review.stopped" if actor else "review.completed", target=review,
                     data={"review": review.pk, "occurrence": occurrence.number, "items": len(items),
                           "undecided": undecided, "to_remove": removals})  # fmt: skip
        outbox.queue(
            rule="review.completed.admin",
            recipients=[review.created_by],
            extra_emails=review.extra_recipients,
            subject=f"Access review '{review.name}' has ended: {removals} of {len(items)} to remove",
            body=(
                f"Occurrence {occurrence.number} of '{review.name}' ended at {fmt_time(now)}"
                f"{' (stopped early)' if actor else ''}: {len(items)} assignment(s), {undecided} without a decision, "
                f"{removals} to remove. "
                + ("The results are applied automatically." if review.auto_apply else "Apply the results from PIM.")
            ),
            link=site_url(reverse("reviews:results", args=[occurrence.pk])),
            data={"review": review.pk, "occurrence": occurrence.number},
        )
        if review.auto_apply:
            transaction.on_commit(lambda: async_task(APPLY_TASK, occurrence.pk), robust=True)
    return True


APPLY_TASK = "roles.reviews.tasks.apply_occurrence"


def stop_occurrence(*, actor, occurrence: ReviewOccurrence) -> None:
    """End an occurrence in progress before its end."""
    if not close_occurrence(occurrence_id=occurrence.pk, now=timezone.now(), actor=actor):
        occurrence.refresh_from_db()
        raise ValidationError(NOT_STOPPABLE, code="not_in_progress",
                              params={"status": occurrence.get_status_display().lower()})  # fmt: skip


def close_due_occurrences(*, now: datetime) -> int:
    due = ReviewOccurrence.objects.filter(status=OccurrenceStatus.IN_PROGRESS, ends_at__lte=now)
    return sum(close_occurrence(occurrence_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))
