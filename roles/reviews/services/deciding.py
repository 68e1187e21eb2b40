"""Reviewers' decisions."""

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from roles.reviews.choices import (
    OccurrenceStatus,
    Outcome,
    ReviewDecision,
)
from roles.reviews.models import ReviewItem, ReviewOccurrence

NOT_A_REVIEWER = "You are not a reviewer of item %(item)s of this review."
NOT_IN_PROGRESS = "This review is %(status)s; decisions can be made or changed only while it is in progress."
INVALID_DECISION = "Decision: one of %(choices)s."
JUSTIFICATION_REQUIRED = "Justification: this review asks reviewers to explain an approval."
NOT_RESETTABLE = "Decisions can be reset only while the review is in progress; this one is %(status)s."


def _lock_reviewable(*, actor, occurrence: ReviewOccurrence, item_ids) -> tuple[ReviewOccurrence, list[ReviewItem]]:
    """The occurrence (in progress) and the items `actor` reviews in it, locked."""
    occurrence = ReviewOccurrence.objects.select_for_update().select_related("review").get(pk=occurrence.pk)
    if occurrence.status != OccurrenceStatus.IN_PROGRESS:
        raise ValidationError(NOT_IN_PROGRESS, code="not_in_progress",
                              params={"status": occurrence.get_status_display().lower()})  # fmt: skip
    wanted = set(item_ids)
    items = list(
        ReviewItem.objects.select_for_update(of=("self",))
        .filter(occurrence=occurrence, pk__in=wanted, reviewers=actor)
        .select_related("occurrence", "principal", "group", "role", "scope")
        .order_by("pk")
    )
    missing = wanted - {item.pk for item in items}
    if missing:
        raise PermissionDenied(NOT_A_REVIEWER % {"item": min(missing)})
    return occurrence, items


def _record_decision(*, actor, item: ReviewItem, decision: str, justification: str, now: datetime) -> bool:
    if item.decision == decision and item.justification == justification and item.decided_by_id == actor.pk:
        return False
    previous = item.decision
    item.decision, item.justification, item.decided_by, item.decided_at = decision, justification, actor, now
    item.save(update_fields=["decision", "justification", "decided_by", "decided_at"])
    record_event(actor=actor, action="review.decided", target=item,
                 data={"review": item.occurrence.review_id, "occurrence": item.occurrence.number,
                       "assignment_type": item.kind, "decision": decision, "previous": previous,
                       **({"group": item.group.name} if item.group_id else {})})  # fmt: skip
    return True


def decide(*, actor, occurrence: ReviewOccurrence, item_ids, decision: str, justification: str = "") -> int:
    """Approve, deny or "don't know" the items (one, or a selection) `actor` reviews; changes an
    earlier decision, until the review ends. Returns how many items changed."""
    justification = justification.strip()
    if decision not in ReviewDecision.values:
        choices = ", ".join(ReviewDecision.values)
        raise ValidationError({"decision": ValidationError(INVALID_DECISION, code="invalid_choice",
                                                           params={"choices": choices})})  # fmt: skip
    if not item_ids:
        raise ValidationError({"items": ValidationError("Items: choose at least one assignment.", code="required")})
    with transaction.atomic():
        occurrence, items = _lock_reviewable(actor=actor, occurrence=occurrence, item_ids=item_ids)
        if decision == ReviewDecision.APPROVE and occurrence.review.require_justification and not justification:
            raise ValidationError({"justification": ValidationError(JUSTIFICATION_REQUIRED, code="required")})
        now = timezone.now()
        return sum(_record_decision(actor=actor, item=item, decision=decision, justification=justification, now=now)
                   for item in items)  # fmt: skip


def accept_recommendations(*, actor, occurrence: ReviewOccurrence, item_ids=None) -> int:
    """Decide as PIM recommends: the selected items, or every item `actor` has not decided yet.
    The recommendation's reason is the justification."""
    with transaction.atomic():
        undecided_only = item_ids is None
        if undecided_only:
            item_ids = list(ReviewItem.objects.filter(occurrence=occurrence, reviewers=actor, decision="")
                            .values_list("pk", flat=True))  # fmt: skip
        occurrence, items = _lock_reviewable(actor=actor, occurrence=occurrence, item_ids=item_ids)
        if undecided_only:  # read again under the lock: a co-reviewer may have decided one since
            items = [item for item in items if not item.decision]
        now = timezone.now()
        changed = 0
        for item in items:
            decision = ReviewDecision.APPROVE if item.recommendation == Outcome.KEEP else ReviewDecision.DENY
            justification = f"Accepted recommendation. {item.recommendation_reason}"
            changed += _record_decision(actor=actor, item=item, decision=decision, justification=justification, now=now)
        return changed


def reset_decisions(*, actor, occurrence: ReviewOccurrence) -> int:
    """Clear every decision of an occurrence in progress (its reviewers start over)."""
    with transaction.atomic():
        occurrence = ReviewOccurrence.objects.select_for_update().select_related("review").get(pk=occurrence.pk)
        if occurrence.status != OccurrenceStatus.IN_PROGRESS:
            raise ValidationError(NOT_RESETTABLE, code="not_in_progress",
                                  params={"status": occurrence.get_status_display().lower()})  # fmt: skip
        cleared = occurrence.items.exclude(decision="").update(decision="", justification="", decided_by=None,
                                                                decided_at=None)  # fmt: skip
        data = {"review": occurrence.review_id, "occurrence": occurrence.number, "cleared": cleared}
        record_event(actor=actor, action="review.reset", target=occurrence.review, data=data)
        return cleared
