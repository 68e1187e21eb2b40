import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from activations import rules, scheduling, selectors, services
from activations.choices import RequestKind, RequestStatus
from activations.forms import (
    ActivationExtensionForm,
    ActivationForm,
    AssignmentChangeForm,
    ChangeDecisionForm,
    DecisionForm,
)
from activations.models import ActivationRequest
from roles import mfa
from roles.choices import ActiveSource
from roles.forms import add_refusal
from roles.models import ActiveAssignment, EligibleAssignment
from roles.permissions import acts_as_pim_administrator
from roles.provisioning.choices import GrantState
from roles.provisioning.selectors import grants_by_assignment
from roles.rules import describe_duration


@require_GET
def my_roles(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "eligible": selectors.eligible_rows_for(user=request.user, at=now),
        "active": selectors.active_rows_for(user=request.user, at=now),
        "requests": selectors.requests_of(user=request.user),
        "now": now,
    }
    _show_requirements(context["eligible"])
    # The eligible rows' HTML is kept per content (a {% cache %} fragment keyed by this digest):
    # fifty rows of a dozen fields are half the page's time, and they rarely change.
    context["eligible_key"] = hashlib.blake2b(repr(context["eligible"]).encode(), digest_size=16).hexdigest()
    context.update(_extend_and_renew_context(request.user, now=now, shown=context))  # Extend and renew (below)
    _show_provisioning(context["active"], user=request.user)  # Provisioning: state (below)
    return render(request, "activations/my_roles.html", context)


def _show_requirements(eligible: list[dict]) -> None:
    """Give each eligible row `requires`, the list of what its role asks on activation, rendered
    once per combination of settings rather than once per row (most roles share a few)."""
    rendered = {}
    for row in eligible:
        key = tuple(row[name] for name in selectors.REQUIREMENT_SETTINGS)
        if key not in rendered:
            rendered[key] = render_to_string("activations/_requirements.html", {"settings": row})
        row["requires"] = rendered[key]


def _own_eligibilities(request: HttpRequest, ids: list[str]) -> list[EligibleAssignment]:
    """The caller's eligibilities in effect now with these ids; any other id: 404, not 403."""
    try:
        wanted = {int(value) for value in ids}
    except ValueError:
        raise Http404 from None
    found = list(selectors.eligible_roles_for(user=request.user, at=timezone.now()).filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise Http404
    return found


def _step_up(request: HttpRequest, form, *, needs_code: bool, verified, verify):
    """When the user last proved a second factor: the code typed on the form now, if one was
    needed (verified, throttled, audited by `verify`; the session remembers it, and a re-rendered
    form asks for no code), else the session's last one."""
    if not needs_code:
        return verified
    verified = verify(form.cleaned_data["otp_token"])
    mfa.record_verification(request.session, at=verified)
    form.drop_code_field()
    return verified


@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest) -> HttpResponse:
    ids = request.POST.getlist("eligibility") if request.method == "POST" else request.GET.getlist("eligibility")
    if not ids:
        messages.error(request, "Select at least one eligible role to activate.")
        return redirect("activations:my-roles")
    eligibilities = _own_eligibilities(request, ids)
    verified = mfa.verified_at(request.session)
    needs_code = any(e.role.settings.require_mfa_on_activation for e in eligibilities) and not mfa.is_fresh(verified)
    form = ActivationForm(request.POST or None, eligibilities=eligibilities, needs_code=needs_code)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            verified = _step_up(request, form, needs_code=needs_code, verified=verified, verify=lambda token:
                                services.verify_step_up(actor=request.user, eligibilities=eligibilities,
                                                        token=token))  # fmt: skip
            created = services.request_activation(
                actor=request.user, eligibilities=eligibilities, duration=timedelta(minutes=data["duration"]),
                start_at=data["start_at"], justification=data["justification"], ticket_system=data["ticket_system"],
                ticket_number=data["ticket_number"], mfa_verified_at=verified,
            )  # fmt: skip
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            for activation in created:
                messages.success(request, _outcome(activation))
            return redirect("activations:my-roles")
    return render(request, "activations/activate.html", {"form": form, "eligibilities": eligibilities})


def _outcome(activation: ActivationRequest) -> str:
    role = activation.role.name
    if activation.status == RequestStatus.PENDING_APPROVAL:
        return f"{role}: your request was sent to its approvers."
    end = timezone.localtime(activation.assignment.end_at).strftime("%Y-%m-%d %H:%M %Z")
    if activation.status == RequestStatus.APPROVED:
        start = timezone.localtime(activation.assignment.start_at).strftime("%Y-%m-%d %H:%M %Z")
        return f"{role} is scheduled: active from {start} until {end}."
    return f"{role} is active until {end}."


@require_POST
def deactivate(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(ActiveAssignment, pk=assignment_id, principal=request.user)
    try:
        services.deactivate(actor=request.user, assignment=assignment)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"{assignment.role.name} is deactivated.")
    return redirect("activations:my-roles")


@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    tab = "history" if request.GET.get("tab") == "history" else "pending"
    context = {
        "tab": tab,
        "pending": selectors.pending_for_approver(user=request.user),
        # Extend and renew: for PIM administrators (the navigation asks the same, once per request).
        "changes": selectors.assignment_changes_for(user=request.user)
        if tab == "pending" and acts_as_pim_administrator(request)
        else [],
        "history": selectors.decided_by_approver(user=request.user) if tab == "history" else [],
        "now": timezone.now(),
    }
    return render(request, "activations/approvals.html", context)


@require_POST
def decide(request: HttpRequest, request_id: int) -> HttpResponse:
    activation = get_object_or_404(ActivationRequest.objects.select_related("role"), pk=request_id)
    if not selectors.can_view_request(user=request.user, request=activation):
        raise Http404
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Approve or Deny; a justification has at most 500 characters.")
        return redirect("activations:approvals")
    decision = form.cleaned_data["decision"]
    try:
        services.decide_request(
            actor=request.user, request=activation, decision=decision,
            justification=form.cleaned_data["justification"],
        )  # fmt: skip
    except ValidationError as refusal:
        messages.error(request, f"{activation.role.name} for {activation.requester}: " + " ".join(refusal.messages))
    else:
        verb = "approved" if decision == "approve" else "denied"
        messages.success(request, f"You {verb} {activation.requester}'s request for {activation.role.name}.")
    if request.POST.get("next") == "request":  # decided from the request's own page (the mail's link)
        return redirect("activations:request", request_id=activation.pk)
    return redirect("activations:approvals")


@require_GET
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    activation = get_object_or_404(
        ActivationRequest.objects.select_related("role", "scope", "requester", "assignment").annotate(
            **selectors.stage_progress()
        ),
        pk=request_id,
    )
    if not selectors.can_view_request(user=request.user, request=activation):
        raise Http404
    context = {
        "activation": activation,
        "can_decide": selectors.can_decide_now(user=request.user, request=activation),
        "approvals": activation.approvals.select_related("approver"),
        "timeline": selectors.timeline_of(activation),
    }
    if activation.assignment_id:  # Provisioning: state (below); the requester's grants, whoever looks
        context["provisioning"] = _provisioning_of(
            [activation.assignment_id], user=activation.requester, since=activation.created_at
        ).get(activation.assignment_id)
    return render(request, "activations/request.html", context)


@require_POST
def cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    activation = get_object_or_404(ActivationRequest.objects.select_related("role"), pk=request_id,
                                   requester=request.user)  # fmt: skip
    try:
        services.cancel_request(actor=request.user, request=activation)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Your request for {activation.role.name} is canceled.")
    return redirect("activations:my-roles")


# Extend and renew ----------------------------------------------------------------------------


def _extend_and_renew_context(user, *, now, shown: dict) -> dict:
    """What My roles shows for extend and renew. Pending requests and eligibilities ending soon
    come from the rows the page reads anyway (evaluated here, read again from the cache by the
    template); the recently expired assignments are two queries."""
    pending = {RequestKind.EXTEND: {"active": set(), "eligible": set()},
               RequestKind.RENEW: {"active": set(), "eligible": set()}}  # fmt: skip
    for asked in shown["requests"]:
        if asked["status"] == RequestStatus.PENDING_APPROVAL and asked["kind"] in pending:
            if asked["target_active_id"]:
                pending[asked["kind"]]["active"].add(asked["target_active_id"])
            else:
                pending[asked["kind"]]["eligible"].add(asked["eligibility_id"])
    extend_from = now + timedelta(days=rules.EXTEND_FROM_DAYS)
    me = user.pk  # once: request.user is a lazy object (two deep, with django-otp's)
    return {
        "pending_extensions": pending[RequestKind.EXTEND],
        "pending_renewals": pending[RequestKind.RENEW],
        # An assignment ending by then may be extended.
        "extendable_if_ending_by": extend_from,
        "ending_soon": [
            eligibility
            for eligibility in shown["eligible"]
            if eligibility["principal_id"] == me and eligibility["end_at"] and eligibility["end_at"] <= extend_from
        ],
        "expired": selectors.expired_recently(user=user, at=now),
    }


@require_http_methods(["GET", "POST"])
def extend_activation(request: HttpRequest, assignment_id: int) -> HttpResponse:
    """Extend an activated role: how much longer, with the activate page's justification,
    ticket and code."""
    assignment = get_object_or_404(
        ActiveAssignment.objects.select_related("role__settings", "scope"),
        pk=assignment_id, principal=request.user, source=ActiveSource.ACTIVATION,
    )  # fmt: skip
    eligibility = services.activation_source(assignment)
    if eligibility is None:
        raise Http404
    verified = mfa.verified_at(request.session)
    needs_code = assignment.role.settings.require_mfa_on_activation and not mfa.is_fresh(verified)
    form = ActivationExtensionForm(request.POST or None, assignment=assignment, eligibility=eligibility,
                                   needs_code=needs_code)  # fmt: skip
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            verified = _step_up(request, form, needs_code=needs_code, verified=verified, verify=lambda token:
                                services.verify_extension_step_up(actor=request.user, assignment=assignment,
                                                                  token=token))  # fmt: skip
            extension = services.request_activation_extension(
                actor=request.user, assignment=assignment, duration=timedelta(minutes=data["duration"]),
                justification=data["justification"], ticket_system=data["ticket_system"],
                ticket_number=data["ticket_number"], mfa_verified_at=verified, expected_end_at=data["expected_end_at"],
            )  # fmt: skip
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, _extension_outcome(extension))
            return redirect("activations:my-roles")
    context = {"form": form, "assignment": assignment, "eligibility": eligibility, "now": timezone.now()}
    return render(request, "activations/extend_activation.html", context)


def _extension_outcome(extension: ActivationRequest) -> str:
    role = extension.role.name
    if extension.status == RequestStatus.PENDING_APPROVAL:
        return f"{role}: your extension request was sent to its approvers."
    end = ActiveAssignment.objects.values_list("end_at", flat=True).get(pk=extension.target_active_id)
    return f"{role} is active until {timezone.localtime(end):%Y-%m-%d %H:%M %Z}."


def _own_assignment(request: HttpRequest, kind: str, assignment_id: int):
    """The caller's own eligible or active assignment; anyone else's, or no such kind: 404."""
    model = scheduling.KINDS.get(kind)
    if model is None:
        raise Http404
    return get_object_or_404(model.objects.select_related("role__settings", "scope"), pk=assignment_id,
                             principal=request.user)  # fmt: skip


@require_http_methods(["GET", "POST"])
def request_extension(request: HttpRequest, kind: str, assignment_id: int) -> HttpResponse:
    """Ask the PIM administrators to extend an assignment that ends within 14 days."""
    return _assignment_change_page(request, _own_assignment(request, kind, assignment_id), RequestKind.EXTEND)


@require_http_methods(["GET", "POST"])
def request_renewal(request: HttpRequest, kind: str, assignment_id: int) -> HttpResponse:
    """Ask the PIM administrators to renew an assignment that expired within 30 days."""
    return _assignment_change_page(request, _own_assignment(request, kind, assignment_id), RequestKind.RENEW)


def _assignment_change_page(request: HttpRequest, assignment, kind: str) -> HttpResponse:
    now = timezone.now()
    default_end = rules.default_assignment_end(role_settings=assignment.role.settings, kind=assignment.kind, now=now)
    form = AssignmentChangeForm(request.POST or None, default_end=default_end)
    verb = "extend" if kind == RequestKind.EXTEND else "renew"
    if request.method == "POST" and form.is_valid():
        service = services.request_extension if kind == RequestKind.EXTEND else services.request_renewal
        try:
            service(actor=request.user, assignment=assignment, **form.cleaned_data)
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"Your request to {verb} {assignment.role.name} at {assignment.scope.path} "
                                      "was sent to the PIM administrators.")  # fmt: skip
            return redirect("activations:my-roles")
    context = {"form": form, "assignment": assignment, "verb": verb, "default_end": default_end, "now": now}
    return render(request, "activations/change_assignment.html", context)


@require_POST
def decide_change(request: HttpRequest, request_id: int) -> HttpResponse:
    """A PIM administrator approves (as asked, or with another end) or denies an extension or
    renewal of an assignment."""
    change = get_object_or_404(ActivationRequest.objects.select_related("role", "requester"), pk=request_id)
    if not change.is_decided_by_administrators or not selectors.can_view_request(user=request.user, request=change):
        raise Http404
    form = ChangeDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Approve or Deny; a new end is a date and time (UTC); a justification has "
                                "at most 500 characters.")  # fmt: skip
    else:
        decision = form.cleaned_data["decision"]
        try:
            # Renewing an active assignment may need a fresh second factor (the role's settings).
            verified = mfa.step_up(request, token=form.cleaned_data["otp_token"], stage="renewal")
            services.decide_request(
                actor=request.user, request=change, decision=decision,
                justification=form.cleaned_data["justification"], end_at=form.decision_end(),
                mfa_verified_at=verified,
            )  # fmt: skip
        except ValidationError as refusal:
            messages.error(request, f"{change.role.name} for {change.requester}: " + " ".join(refusal.messages))
        else:
            verb = "approved" if decision == "approve" else "denied"
            messages.success(request, f"You {verb} {change.requester}'s {change.get_kind_display().lower()} "
                                      f"request for {change.role.name}.")  # fmt: skip
    if request.POST.get("next") == "request":
        return redirect("activations:request", request_id=change.pk)
    return redirect("activations:approvals")


# Provisioning: state -------------------------------------------------------------------------

# Grants that should be in place on the target and are not (yet): the role's row says so.
LAGGING = (GrantState.PENDING, GrantState.FAILED)
POLL_MAX_ASSIGNMENTS = 100  # My roles lists a person's active roles; far fewer than this


@dataclass(frozen=True)
class TargetState:
    """One target's grant of one assignment, in the words My roles, the request page and
    provisioning.json (for pim.js) all show."""

    id: int
    assignment: int
    target: str
    state: str
    label: str
    text: str
    error: str


@dataclass(frozen=True)
class Provisioning:
    """An assignment's targets for its holder, and the sentence saying which of them lag."""

    assignment: int
    targets: list[TargetState]
    lag: str


def _target_state(grant, *, since: datetime | None) -> TargetState:
    """How a grant reads: its state's label and a few words; `since`, the request's time (its page)."""
    state, error = grant.state, grant.last_error
    retrying = f" (retrying after: {error})" if error else ""
    if state == GrantState.GRANTED:
        text = f"granted in {describe_duration(grant.granted_at - grant.requested_at)}"
        if since is not None:
            text += f", {describe_duration(grant.granted_at - since)} after the request"
        label = "Granted"
    elif state == GrantState.FAILED:  # engine gave up and mailed the PIM administrators
        label, text = (f"Failed: {error}" if error else "Failed"), "an administrator has been told"
    elif state == GrantState.PENDING:
        label, text = "Pending", f"being granted…{retrying}"
    elif state == GrantState.REVOKING:
        label, text = "Revoking", f"being removed…{retrying}"
    else:
        label, text = grant.get_state_display(), ""
    return TargetState(id=grant.pk, assignment=grant.assignment_id, target=grant.target.name, state=state,
                       label=label, text=text, error=error)  # fmt: skip


def _provisioning_of(assignment_ids, *, user, since: datetime | None = None) -> dict[int, Provisioning]:
    """`user`'s grants of these assignments, by assignment; none for an assignment without
    targets. One query (roles.provisioning.selectors.grants_by_assignment)."""
    boards = {}
    for assignment_id, grants in grants_by_assignment(assignment_ids=assignment_ids, user=user).items():
        targets = [_target_state(grant, since=since) for grant in grants]
        lagging = [target.target for target in targets if target.state in LAGGING]
        lag = f"Active in PIM; not yet granted on: {', '.join(lagging)}" if lagging else ""
        boards[assignment_id] = Provisioning(assignment=assignment_id, targets=targets, lag=lag)
    return boards


def _show_provisioning(active: list[dict], *, user) -> None:
    """Give each of My roles' active rows its `provisioning` (None: no targets), asking only
    about those with grants (selectors.active_rows_for's has_grants), and not at all when none has."""
    granted = [assignment["pk"] for assignment in active if assignment["has_grants"]]
    boards = _provisioning_of(granted, user=user) if granted else {}
    for assignment in active:
        assignment["provisioning"] = boards.get(assignment["pk"])


def _ids(values: list[str]) -> list[int]:
    try:
        ids = [int(value) for value in values]
    except ValueError:
        raise Http404 from None
    if len(ids) > POLL_MAX_ASSIGNMENTS:
        raise Http404
    return ids


@require_GET
def provisioning_state(request: HttpRequest) -> JsonResponse:
    """What pim.js polls while a page shows a grant pending or revoking: the signed-in user's
    own grants of `?assignment=` ids (My roles), or of `?request=`'s assignment (its page, with
    the time from the request). Anyone else's assignment: nothing; anyone else's request: 404.
    One query (two with ?request=), however many assignments and targets."""
    since = None
    assignment_ids = _ids(request.GET.getlist("assignment"))
    if "request" in request.GET:
        [request_id] = _ids([request.GET["request"]])
        asked = get_object_or_404(ActivationRequest.objects.only("assignment_id", "created_at"), pk=request_id,
                                  requester=request.user)  # fmt: skip
        assignment_ids, since = [asked.assignment_id] if asked.assignment_id else [], asked.created_at
    boards = _provisioning_of(assignment_ids, user=request.user, since=since) if assignment_ids else {}
    return JsonResponse({
        "grants": [asdict(target) for board in boards.values() for target in board.targets],
        "assignments": [{"id": assignment_id, "lag": board.lag} for assignment_id, board in boards.items()],
    })  # fmt: skip
