"""Reviewers' pages: the inbox of open reviews, one review's items, and the decisions on them.
Someone who reviews nothing in an occurrence gets 404 for it, administrators included: the
console (manage_views.py) is where administrators see every item."""

from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from roles.reviews import selectors, services
from roles.reviews.choices import ReviewDecision
from roles.reviews.models import ReviewOccurrence

JUSTIFICATION_MAX = 1000
# What a refusal re-reads before showing the page again (it may be that the review just ended);
# only these, so the occurrence keeps its loaded review.
CLOSING_FIELDS = ["status", "completed_at", "stopped_by", "applied_at"]
RECENTLY_COMPLETED = 5  # how many ended reviews the inbox lists under the open ones

DONE = {
    ReviewDecision.APPROVE: "Approved",
    ReviewDecision.DENY: "Denied",
    ReviewDecision.DONT_KNOW: "Marked “Don't know” for",
}


class _ItemIdsField(forms.Field):
    """The ids of the checked (or the one hidden) items. Which of them the user reviews is the
    service's call (decide raises PermissionDenied for any other)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": "Items: choose assignments listed on this page."}

    def to_python(self, value) -> list[int]:
        try:
            return [int(one) for one in value or []]
        except (TypeError, ValueError):
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class DecisionForm(forms.Form):
    """One decision on one item or on a selection: the arguments of services.decide. (Here and not
    in a forms.py: the reviewers' pages are its only user.)"""

    items = _ItemIdsField(required=False)  # none chosen: the service names the rule
    decision = forms.ChoiceField(
        choices=ReviewDecision.choices,
        error_messages={
            "required": "Decision: choose Approve, Deny or Don't know.",
            "invalid_choice": "Decision: choose Approve, Deny or Don't know.",
        },
    )
    justification = forms.CharField(
        required=False,
        max_length=JUSTIFICATION_MAX,
        error_messages={
            "max_length": f"Justification: at most {JUSTIFICATION_MAX} characters; you gave %(show_value)d."
        },
    )
    # "bulk" from the selection form; "item" from one item's own form (which posts that item only).
    source = forms.CharField(required=False)


@dataclass
class _Refusal:
    """A decision the service (or the form) refused, to show beside the form it came from, with
    what the reviewer typed and checked still in place."""

    item_id: int | None  # None: the selection form
    justification: str = ""
    selected: frozenset[int] = frozenset()
    # "justification", beside its box; "other" (items, decision, the review's state) above the buttons.
    errors: dict[str, list[str]] = field(default_factory=dict)


def _reviewed_occurrence(request: HttpRequest, occurrence_id: int) -> ReviewOccurrence:
    """The occurrence, with its review, if the user reviews at least one of its items; else 404."""
    occurrence = selectors.occurrence_for_reviewer(user=request.user, occurrence_id=occurrence_id)
    if occurrence is None:
        raise Http404
    return occurrence


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    context = {
        "open_reviews": list(selectors.inbox(user=request.user)),
        "completed_reviews": selectors.recently_completed(user=request.user, limit=RECENTLY_COMPLETED),
    }
    return render(request, "reviews/inbox.html", context)


def _render_review(request: HttpRequest, occurrence: ReviewOccurrence, refusal: _Refusal | None = None):
    """The review page: the items the user reviews, their decisions, and (while the review is in
    progress) the forms. One query: the items with holder, role, scope and decider; none per item."""
    items = list(selectors.items_for_reviewer(user=request.user, occurrence=occurrence))
    for item in items:
        # The reason reads "Remove: never activated." (the results CSV and the mails use it so);
        # beside the Keep/Remove badge the page shows only what follows the outcome.
        why = item.recommendation_reason.removeprefix(f"{item.get_recommendation_display()}: ")
        item.recommendation_why = why[:1].upper() + why[1:]
    decided = sum(1 for item in items if item.decision)
    context = {
        "occurrence": occurrence,
        "review": occurrence.review,
        "items": items,
        "decided": decided,
        "undecided": len(items) - decided,
        "refusal": refusal,
        "justification_max": JUSTIFICATION_MAX,
    }
    return render(request, "reviews/review.html", context)


@require_GET
def review(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    return _render_review(request, _reviewed_occurrence(request, occurrence_id))


def _refusal_of(form: DecisionForm, refusal: ValidationError | None) -> _Refusal:
    """What to show after a refused decision: the form's own errors and the service's, each
    beside the justification when it names that field, else above the form's buttons. Every
    message names its field itself ("Items: ...", "Justification: ...")."""
    errors: dict[str, list[str]] = {}

    def add(name: str | None, problems: list[str]) -> None:
        errors.setdefault("justification" if name == "justification" else "other", []).extend(problems)

    for name, problems in form.errors.items():
        add(name, problems)
    if refusal is not None:
        for name, problems in getattr(refusal, "error_dict", {None: [refusal]}).items():
            for problem in problems:
                add(name, problem.messages)
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    items = data.get("items") or []
    from_item = form.data.get("source") == "item" and len(items) == 1
    return _Refusal(
        item_id=items[0] if from_item else None,
        justification=form.data.get("justification", "")[:JUSTIFICATION_MAX],
        selected=frozenset(items),
        errors=errors,
    )


def _assignments(count: int) -> str:
    return f"{count} assignment{'' if count == 1 else 's'}"


@require_POST
def decide(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _reviewed_occurrence(request, occurrence_id)
    form = DecisionForm(request.POST)
    refusal = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = services.decide(
                actor=request.user, occurrence=occurrence, item_ids=data["items"], decision=data["decision"],
                justification=data["justification"],
            )  # fmt: skip
        except PermissionDenied:
            raise Http404 from None  # an item of someone else's: as if it did not exist
        except ValidationError as error:
            refusal = error
        else:
            if changed:
                messages.success(request, f"{DONE[data['decision']]} {_assignments(changed)}.")
            else:
                messages.info(request, "Nothing changed: that decision was already recorded.")
            return redirect("reviews:review", occurrence_id=occurrence.pk)
    shown = _refusal_of(form, refusal)
    for problems in shown.errors.values():
        for problem in problems:
            messages.error(request, problem)
    occurrence.refresh_from_db(fields=CLOSING_FIELDS)  # the refusal may be that it has just ended
    return _render_review(request, occurrence, shown)


@require_POST
def accept_recommendations(request: HttpRequest, occurrence_id: int) -> HttpResponse:
    occurrence = _reviewed_occurrence(request, occurrence_id)
    try:
        changed = services.accept_recommendations(actor=request.user, occurrence=occurrence)
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as refusal:
        for problem in refusal.messages:
            messages.error(request, problem)
        occurrence.refresh_from_db(fields=CLOSING_FIELDS)
        return _render_review(request, occurrence)
    if changed:
        messages.success(request, f"Accepted the recommendations for {_assignments(changed)}.")
    else:
        messages.info(request, "Nothing to accept: you have decided every assignment already.")
    return redirect("reviews:review", occurrence_id=occurrence.pk)
