"""Reads that review pages, the API and the CSV share."""

from django.contrib.auth import get_user_model
from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from roles.reviews.choices import OccurrenceStatus
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence

DECIDED = ~Q(items__decision="")


def inbox(*, user) -> QuerySet[ReviewOccurrence]:
    """Occurrences in progress in which `user` reviews something, soonest end first, each with
    how many items are theirs (`mine`) and how many of those they have decided (`mine_decided`)."""
    return (
        ReviewOccurrence.objects.filter(status=OccurrenceStatus.IN_PROGRESS, items__reviewers=user)
        .select_related("review")
        .annotate(
            mine=Count("items", filter=Q(items__reviewers=user), distinct=True),
            mine_decided=Count("items", filter=Q(items__reviewers=user) & DECIDED, distinct=True),
        )
        .order_by("ends_at", "pk")
    )


def recently_completed(*, user, limit: int) -> list[ReviewOccurrence]:
    """The last few ended occurrences `user` reviewed something in, newest first. One query."""
    ended = [OccurrenceStatus.COMPLETED, OccurrenceStatus.APPLYING, OccurrenceStatus.APPLIED]
    return list(
        ReviewOccurrence.objects.filter(status__in=ended, items__reviewers=user)
        .select_related("review")
        .distinct()
        .order_by("-completed_at", "-pk")[:limit]
    )


def occurrence_for_reviewer(*, user, occurrence_id: int) -> ReviewOccurrence | None:
    """The occurrence if `user` reviews at least one of its items (open or not), else None: to
    anyone else it does not exist."""
    return ReviewOccurrence.objects.filter(pk=occurrence_id, items__reviewers=user).select_related("review").first()


def items_for_reviewer(*, user, occurrence: ReviewOccurrence) -> QuerySet[ReviewItem]:
    return (
        ReviewItem.objects.filter(occurrence=occurrence, reviewers=user)
        .select_related("principal", "group", "role", "scope", "decided_by")
        .order_by("role__name", "scope__path", "pk")
    )


def results(*, occurrence: ReviewOccurrence) -> QuerySet[ReviewItem]:
    """Every item of an occurrence with its reviewers, decision, outcome and result."""
    return (
        occurrence.items.select_related("principal", "group", "role", "scope", "decided_by")
        .prefetch_related(
            Prefetch("reviewers", queryset=get_user_model().objects.order_by("username"), to_attr="reviewer_list")
        )
        .order_by("role__name", "scope__path", "pk")
    )


def occurrence_progress(occurrences: QuerySet[ReviewOccurrence]) -> QuerySet[ReviewOccurrence]:
    return occurrences.annotate(
        total=Count("items", distinct=True), decided=Count("items", filter=DECIDED, distinct=True)
    )


def reviews_for_console() -> QuerySet[AccessReview]:
    """Every review with its latest started occurrence (`current_*`: status, number, end, and how
    many items it has and how many are decided) and the start of the next one. Two queries
    (reviews, their roles), whatever the number of reviews."""
    latest = ReviewOccurrence.objects.filter(review=OuterRef("pk")).order_by("-number")
    started = latest.exclude(status=OccurrenceStatus.NOT_STARTED)
    items = ReviewItem.objects.filter(occurrence=OuterRef("current_pk")).order_by().values("occurrence")
    return (
        AccessReview.objects.prefetch_related("roles")
        .annotate(
            current_pk=Subquery(started.values("pk")[:1]),
            current_status=Subquery(started.values("status")[:1]),
            current_number=Subquery(started.values("number")[:1]),
            current_ends_at=Subquery(started.values("ends_at")[:1]),
            next_starts_at=Subquery(latest.filter(status=OccurrenceStatus.NOT_STARTED).values("starts_at")[:1]),
            current_total=Coalesce(Subquery(items.annotate(n=Count("pk")).values("n")), 0),
            current_decided=Coalesce(Subquery(items.exclude(decision="").annotate(n=Count("pk")).values("n")), 0),
        )
        .order_by("name", "pk")
    )


def review_status(review: AccessReview) -> str:
    """Not started / in progress / completed / applying / applied: the latest started occurrence's
    status, or not started."""
    occurrence = review.occurrences.exclude(status=OccurrenceStatus.NOT_STARTED).order_by("-number").first()
    return occurrence.status if occurrence else OccurrenceStatus.NOT_STARTED


def has_started(review: AccessReview) -> bool:
    return review.occurrences.exclude(status=OccurrenceStatus.NOT_STARTED).exists()


def summary() -> dict[str, int]:
    """For the dashboard, in one query: occurrences in progress, their items and how many are
    decided, and completed occurrences whose results are not applied yet."""
    in_progress = Q(status=OccurrenceStatus.IN_PROGRESS)
    return ReviewOccurrence.objects.aggregate(
        in_progress=Count("pk", filter=in_progress, distinct=True),
        # Not named "items": a later filter on items__decision would read the count, not the relation.
        to_decide=Count("items", filter=in_progress),
        decided=Count("items", filter=in_progress & DECIDED),
        awaiting_apply=Count(
            "pk", filter=Q(status__in=[OccurrenceStatus.COMPLETED, OccurrenceStatus.APPLYING]), distinct=True
        ),
    )
