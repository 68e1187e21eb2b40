"""The administrators' console for access reviews, at /reviews/manage/: the list, create, edit,
delete, a review's occurrences, their results (page and CSV), and stop / reset / apply. Only
PIM administrators (roles.permissions); every change goes through roles.reviews.services,
which audits it."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from roles.bulk import spreadsheet_lines, utc_text
from roles.permissions import pim_administrator_required
from roles.reviews import selectors, services
from roles.reviews.choices import ApplyResult, OccurrenceStatus, Outcome, ReviewDecision, ReviewerType
from roles.reviews.forms import ReviewForm
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence

# Statuses in which an occurrence's results wait to be applied (by the task, or by the button).
APPLICABLE = (OccurrenceStatus.COMPLETED, OccurrenceStatus.APPLYING)

# The results page and the CSV file show the same columns, in this order (_result_cells).
RESULT_COLUMNS = (
    "Holder", "Role", "Scope", "Type", "Assigned since", "Last activation", "Recent activations (30 days)",
    "Last sign-in", "Recommendation", "Reason", "Reviewers", "Decision", "Decided by", "Justification",
    "Outcome", "Outcome source", "Result", "Result note",
)  # fmt: skip


# The list -----------------------------------------------------------------------------------


@pim_administrator_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    reviews = list(selectors.reviews_for_console())
    for review in reviews:
        review.status_label = OccurrenceStatus(review.current_status or OccurrenceStatus.NOT_STARTED).label
    return render(request, "reviews/manage_list.html", {"reviews": reviews})


# Create, edit, delete -----------------------------------------------------------------------


def _review(review_id: int) -> AccessReview:
    """The review with everything its pages show preloaded (people, roles, scopes), or 404."""
    reviews = AccessReview.objects.select_related("fallback_reviewer", "created_by").prefetch_related(
        "roles", "scopes", "reviewers", "reviewer_groups"
    )
    return get_object_or_404(reviews, pk=review_id)


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest) -> HttpResponse:
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review = services.create_review(actor=request.user, values=form.values())
        except ValidationError as refusal:
            form.add_refusal(refusal)
        else:
            messages.success(request, f"Review {review.name} created; it starts on {review.start_date:%Y-%m-%d} "
                                      f"({review.time_zone}).")  # fmt: skip
            return redirect("reviews:detail", review_id=review.pk)
    return render(request, "reviews/manage_form.html", {"form": form, "review": None})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _review(review_id)
    form = ReviewForm(request.POST or None, review=review, locked=selectors.has_started(review))
    if request.method == "POST" and form.is_valid():
        try:
            review = services.update_review(actor=request.user, review=review, values=form.values())
        except ValidationError as refusal:
            form.add_refusal(refusal)
        else:
            messages.success(request, f"Review {review.name} saved.")
            return redirect("reviews:detail", review_id=review.pk)
    return render(request, "reviews/manage_form.html", {"form": form, "review": review})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def review_delete(request: HttpRequest, review_id: int) -> HttpResponse:
    review = get_object_or_404(AccessReview, pk=review_id)
    if request.method == "POST":
        try:
            services.delete_review(actor=request.user, review=review)
        except ValidationError as refusal:  # it has started since the page was shown
            messages.error(request, " ".join(refusal.messages))
            return redirect("reviews:detail", review_id=review.pk)
        messages.success(request, f"Review {review.name} deleted.")
        return redirect("reviews:manage")
    context = {"review": review, "started": selectors.has_started(review), "refusal": services.NOT_DELETABLE}
    return render(request, "reviews/manage_delete.html", context)


# A review and its occurrences ---------------------------------------------------------------


@pim_administrator_required
@require_GET
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _review(review_id)
    occurrences = list(selectors.occurrence_progress(review.occurrences.select_related("stopped_by", "applied_by"))
                       .order_by("-number"))  # fmt: skip
    context = {
        "review": review,
        "occurrences": occurrences,
        "started": any(occurrence.status != OccurrenceStatus.NOT_STARTED for occurrence in occurrences),
        "applicable": APPLICABLE,
        "users_review": review.reviewer_type == ReviewerType.USERS,
    }
    return render(request, "reviews/manage_detail.html", context)


def _occurrence(occurrence_id: int) -> ReviewOccurrence:
    return get_object_or_404(ReviewOccurrence.objects.select_related("review", "stopped_by", "applied_by"),
                             pk=occurrence_id)  # fmt: skip


@pim_administrator_required
@require_POST
def stop(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(occurrence_id)
    try:
        services.stop_occurrence(actor=request.user, occurrence=occurrence)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        then = ("Its results are being applied automatically." if occurrence.review.auto_apply
                else "Review the results, then apply them.")  # fmt: skip
        messages.success(request, f"Occurrence {occurrence.number} of {occurrence.review.name} stopped. {then}")
    return redirect("reviews:detail", review_id=occurrence.review_id)


@pim_administrator_required
@require_POST
def reset(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(occurrence_id)
    try:
        cleared = services.reset_decisions(actor=request.user, occurrence=occurrence)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Decisions of occurrence {occurrence.number} of {occurrence.review.name} reset: "
                                  f"{cleared} cleared; its reviewers start over.")  # fmt: skip
    return redirect("reviews:detail", review_id=occurrence.review_id)


@pim_administrator_required
@require_POST
def apply(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(occurrence_id)
    was_applied = occurrence.status == OccurrenceStatus.APPLIED
    try:
        services.apply_results(actor=request.user, occurrence=occurrence)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
        return redirect("reviews:detail", review_id=occurrence.review_id)
    if was_applied:
        messages.info(request, f"The results of occurrence {occurrence.number} had already been applied.")
    else:
        counts = dict(occurrence.items.exclude(result="").values_list("result").annotate(n=Count("pk")).order_by())
        summary = ", ".join(f"{counts[value]} {label.lower()}" for value, label in ApplyResult.choices
                            if counts.get(value)) or "there was nothing to change"  # fmt: skip
        messages.success(request, f"Results of occurrence {occurrence.number} of {occurrence.review.name} applied: "
                                  f"{summary}.")  # fmt: skip
    return redirect("reviews:results", occurrence_id=occurrence.pk)


# Results ------------------------------------------------------------------------------------


def _summary(items: list[ReviewItem]) -> dict:
    """Counts for the results page, from the items already loaded (no query)."""

    def count(attribute: str, choices) -> list[tuple[str, int]]:
        return [(label, sum(getattr(item, attribute) == value for item in items)) for value, label in choices]

    return {
        "total": len(items),
        "undecided": sum(not item.decision for item in items),
        "decisions": count("decision", ReviewDecision.choices),
        "outcomes": count("outcome", Outcome.choices),
        "results": count("result", ApplyResult.choices),
    }


@pim_administrator_required
@require_GET
def results(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _occurrence(occurrence_id)
    items = list(selectors.results(occurrence=occurrence))
    context = {
        "occurrence": occurrence,
        "review": occurrence.review,
        "items": items,
        "summary": _summary(items),
        "columns": RESULT_COLUMNS,
        "applicable": APPLICABLE,
    }
    return render(request, "reviews/results.html", context)


def _result_cells(item: ReviewItem) -> list[str]:
    """One item as RESULT_COLUMNS, in text. Needs selectors.results' preloading."""
    return [
        item.holder_name, item.role.name, item.scope.path, item.kind, utc_text(item.assigned_since),
        utc_text(item.last_activated_at), str(item.recent_activations), utc_text(item.last_sign_in_at),
        item.get_recommendation_display(), item.recommendation_reason,
        " ".join(sorted(user.get_username() for user in item.reviewer_list)),
        item.get_decision_display(), item.decided_by.get_username() if item.decided_by else "", item.justification,
        item.get_outcome_display(), item.get_outcome_source_display(), item.get_result_display(), item.result_note,
    ]  # fmt: skip


@pim_administrator_required
@require_GET
def results_csv(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    """The results page as a CSV file: one row per item, times in UTC ISO 8601, every cell a
    spreadsheet would run as a formula made harmless (roles.bulk.neutralise)."""
    occurrence = _occurrence(occurrence_id)
    lines = spreadsheet_lines(RESULT_COLUMNS, map(_result_cells, selectors.results(occurrence=occurrence)))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    name = f"review-{occurrence.review_id}-occurrence-{occurrence.number}-results.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
