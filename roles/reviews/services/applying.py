"""Applying the results of a completed occurrence."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from roles.choices import EndReason
from roles.models import BreakGlassAccount
from roles.reviews.choices import (
    ApplyResult,
    OccurrenceStatus,
    Outcome,
)
from roles.reviews.models import ReviewItem, ReviewOccurrence
from roles.services import remove_assignment

NOT_APPLICABLE = "Results can be applied once the review has completed; this one is %(status)s."


def _holder_is_break_glass(item: ReviewItem) -> bool:
    return item.principal_id is not None and BreakGlassAccount.objects.filter(user_id=item.principal_id).exists()


LOCKOUT_BREAK_GLASS = "Kept: {user} is a break-glass account; no review removes its access."


def _apply_item(*, actor, item_id: int, now: datetime) -> bool:
    """Carry out one item's outcome, once: False if it was applied already."""
    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("occurrence", "principal", "group", "role", "scope")
            .get(pk=item_id)
        )
        if item.applied_at is not None:
            return False
        review_data = {"review": item.occurrence.review_id, "occurrence": item.occurrence.number, "item": item.pk}
        if item.outcome == Outcome.KEEP:
            item.result, item.result_note = ApplyResult.KEPT, item.get_outcome_source_display()
        elif _holder_is_break_glass(item):
            item.result = ApplyResult.PROTECTED
            item.result_note = LOCKOUT_BREAK_GLASS.format(user=item.principal.get_username())
        else:
            try:
                with transaction.atomic():
                    removed = remove_assignment(actor=actor, assignment=item.assignment, action="review.applied",
                                                reason=EndReason.REVIEWED, data=review_data)  # fmt: skip
            except ValidationError as refusal:  # the last permanent active Global Administrator
                item.result, item.result_note = ApplyResult.PROTECTED, f"Kept: {refusal.messages[0]}"
            else:
                item.result = ApplyResult.REMOVED if removed else ApplyResult.ALREADY_ENDED
                item.result_note = "" if removed else "It had ended before the results were applied."
        if item.result == ApplyResult.PROTECTED:
            record_event(actor=actor, action="review.protected", target=item,
                         data={**review_data, "assignment_type": item.kind, "reason": item.result_note})  # fmt: skip
        item.applied_at = now
        item.save(update_fields=["result", "result_note", "applied_at"])
    return True


def apply_results(*, actor, occurrence: ReviewOccurrence) -> int:
    """End the assignments a completed occurrence removes, through the assignment services
    (audited review.applied); never the last permanent active Global Administrator nor a
    break-glass account's. Safe to run twice or after a crash: each item is applied once.
    Returns how many items this run applied."""
    with transaction.atomic():
        occurrence = ReviewOccurrence.objects.select_for_update().get(pk=occurrence.pk)
        if occurrence.status not in (OccurrenceStatus.COMPLETED, OccurrenceStatus.APPLYING):
            if occurrence.status == OccurrenceStatus.APPLIED:
                return 0
            raise ValidationError(NOT_APPLICABLE, code="not_completed",
                                  params={"status": occurrence.get_status_display().lower()})  # fmt: skip
        occurrence.status = OccurrenceStatus.APPLYING
        occurrence.save(update_fields=["status"])
    now = timezone.now()
    pending = occurrence.items.filter(applied_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    applied = sum(_apply_item(actor=actor, item_id=item_id, now=now) for item_id in list(pending))
    with transaction.atomic():
        occurrence = ReviewOccurrence.objects.select_for_update().select_related("review").get(pk=occurrence.pk)
        if occurrence.status != OccurrenceStatus.APPLYING or occurrence.items.filter(applied_at__isnull=True).exists():
            return applied
        results = dict.fromkeys(ApplyResult.values, 0)
        for result in occurrence.items.values_list("result", flat=True):
            results[result] += 1
        occurrence.status, occurrence.applied_at, occurrence.applied_by = OccurrenceStatus.APPLIED, now, actor
        occurrence.save(update_fields=["status", "applied_at", "applied_by"])
        record_event(actor=actor, action="review.results_applied", target=occurrence.review,
                     data={"review": occurrence.review_id, "occurrence": occurrence.number, **results})  # fmt: skip
    return applied
