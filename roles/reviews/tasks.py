"""django-q2 tasks for access reviews: like views, they call services and return a summary.
Each is safe to run twice, late or after a crash (the services compare-and-swap)."""

from django.db.models import Q
from django.utils import timezone

from roles.reviews import services
from roles.reviews.choices import OccurrenceStatus
from roles.reviews.models import ReviewOccurrence


def run_reviews() -> str:
    """Every minute (schedule pim.reviews): start what is due, remind, close what has ended."""
    now = timezone.now()
    started = services.start_due_occurrences(now=now)
    reminded = services.send_due_reminders(now=now)
    closed = services.close_due_occurrences(now=now)
    # An apply a crash cut short, or an automatic one whose queued task was lost (broker down at
    # the close): each item is applied once, however often this runs.
    unfinished = ReviewOccurrence.objects.filter(
        Q(status=OccurrenceStatus.APPLYING) | Q(status=OccurrenceStatus.COMPLETED, review__auto_apply=True)
    )
    resumed = sum(1 for pk in list(unfinished.values_list("pk", flat=True)) if apply_occurrence(pk))
    return f"started {started}, reminded {reminded}, closed {closed}, resumed {resumed}"


def apply_occurrence(occurrence_id: int) -> str:
    """Apply a completed occurrence's results automatically (the review's auto-apply)."""
    occurrence = ReviewOccurrence.objects.get(pk=occurrence_id)
    return f"applied {services.apply_results(actor=None, occurrence=occurrence)}"
