"""The /manage/ console: eligible and active assignments, and scopes. Every change goes through
roles.services; these views parse, call one service and render."""

from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from roles import mfa, services
from roles.forms import ASSIGNMENT_MODELS, AssignmentEndForm, AssignmentFilterForm, AssignmentForm, ScopeForm
from roles.models import Assignment
from roles.permissions import pim_administrator_required
from roles.selectors import assignments_not_ended, scopes_with_assignment_counts

ALREADY_ENDED = "This assignment had already ended; nothing was changed."


def _assignments(*, at: datetime, filters: dict) -> list[Assignment]:
    """Eligible and active assignments not ended, narrowed by the list's filters
    (roles.selectors.assignments_not_ended). One query per type."""
    kinds = [filters["type"]] if "type" in filters else list(ASSIGNMENT_MODELS)
    rows = []
    for kind in kinds:
        rows += assignments_not_ended(model=ASSIGNMENT_MODELS[kind], at=at, filters=filters)
    return sorted(rows, key=lambda a: (a.role.name, a.scope.path, a.holder_name, a.kind))


@pim_administrator_required
@require_GET
def assignment_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    filter_form = AssignmentFilterForm(request.GET)
    filters = filter_form.filters()
    for problem in filter_form.problems():
        messages.error(request, problem)
    context = {
        "assignments": _assignments(at=now, filters=filters),
        "filter_form": filter_form,
        "filtered": bool(filters),
        "now": now,
    }
    return render(request, "manage/assignments_list.html", context)


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def assignment_create(request: HttpRequest) -> HttpResponse:
    form = AssignmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        eligible = form.cleaned_data["kind"] == "eligible"
        try:
            if eligible:
                assignment = services.assign_eligible(actor=request.user, **form.service_arguments())
            else:
                verified = mfa.step_up(request, token=form.cleaned_data["otp_token"], stage="active assignment")
                assignment = services.assign_active(
                    actor=request.user, mfa_verified_at=verified, **form.service_arguments()
                )
        except ValidationError as refusal:
            form.add_refusal(refusal)
        else:
            messages.success(
                request,
                f"{assignment.holder_name} is now {assignment.kind} for "
                f"{assignment.role.name} at {assignment.scope.path}.",
            )
            return redirect("manage:assignments")
    return render(request, "manage/assignment_form.html", {"form": form})


def _assignment(kind: str, assignment_id: int) -> Assignment:
    """The eligible or active assignment with this id, with everything the pages show; 404 otherwise."""
    model = ASSIGNMENT_MODELS.get(kind)
    related = ("principal", "group", "role", "scope", "created_by", "ended_by")
    assignment = model and model.objects.select_related(*related).filter(pk=assignment_id).first()
    if not assignment:
        raise Http404(f"No {kind} assignment {assignment_id}.")
    return assignment


@pim_administrator_required
@require_GET
def assignment_detail(request: HttpRequest, kind: str, assignment_id: int) -> HttpResponse:
    return _render_detail(request, _assignment(kind, assignment_id))


def _render_detail(request: HttpRequest, assignment, *, end_form: AssignmentEndForm | None = None) -> HttpResponse:
    now = timezone.now()
    open_now = assignment.ended_at is None and (assignment.end_at is None or assignment.end_at > now)
    context = {
        "assignment": assignment,
        "now": now,
        "is_in_effect": assignment.is_in_effect(now),
        "can_remove": open_now,
        # An activation's end belongs to its holder (extend); the rest an administrator may move.
        "end_form": (end_form or AssignmentEndForm(initial={"end_at": assignment.end_at}))
        if open_now and getattr(assignment, "source", "admin") != "activation"
        else None,
    }
    return render(request, "manage/assignment_detail.html", context, status=400 if end_form else 200)


@pim_administrator_required
@require_POST
def assignment_end(request: HttpRequest, kind: str, assignment_id: int) -> HttpResponse:
    assignment = _assignment(kind, assignment_id)
    form = AssignmentEndForm(request.POST)
    if form.is_valid():
        try:
            services.change_assignment_end(
                actor=request.user, assignment=assignment, end_at=form.cleaned_data["end_at"]
            )
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            end = form.cleaned_data["end_at"]
            messages.success(request, f"The assignment now ends {end:%Y-%m-%d %H:%M} UTC." if end else
                             "The assignment is now permanent.")  # fmt: skip
            return redirect("manage:assignment", kind=kind, assignment_id=assignment_id)
    return _render_detail(request, assignment, end_form=form)


@pim_administrator_required
@require_POST
def assignment_remove(request: HttpRequest, kind: str, assignment_id: int) -> HttpResponse:
    assignment = _assignment(kind, assignment_id)
    try:
        removed = services.remove_assignment(actor=request.user, assignment=assignment)
    except ValidationError as refusal:  # the last permanent Global Administrator stays
        messages.error(request, " ".join(refusal.messages))
        return redirect("manage:assignment", kind=kind, assignment_id=assignment_id)
    if removed:
        messages.success(
            request,
            f"Removed the {kind} assignment of {assignment.role.name} at "
            f"{assignment.scope.path} from {assignment.holder_name}.",
        )
        return redirect("manage:assignments")
    messages.error(request, ALREADY_ENDED)
    return redirect("manage:assignment", kind=kind, assignment_id=assignment_id)


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def scope_list(request: HttpRequest) -> HttpResponse:
    form = ScopeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            scope = services.create_scope(actor=request.user, **form.cleaned_data)
        except ValidationError as refusal:
            form.add_error(None, refusal)  # names "path": shown beside the field
        else:
            messages.success(request, f"Scope {scope.path} is ready.")
            return redirect("manage:scopes")
    # By segment, so that /a/b follows /a and not /a-b, which a plain sort on path would put between.
    scopes = sorted(scopes_with_assignment_counts(at=timezone.now()), key=lambda scope: scope.path.split("/"))
    for scope in scopes:
        scope.depth = 0 if scope.path == "/" else scope.path.count("/")
        scope.indent = "\u2003\u2003" * scope.depth  # em spaces: pim.css has no tree style, and CSP bars inline ones
    return render(request, "manage/scopes_list.html", {"scopes": scopes, "form": form})
