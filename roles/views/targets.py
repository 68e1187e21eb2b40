"""The /manage/ console: a role's provisioning targets and their grants. Every change goes through
roles.provisioning.services; these views parse, call one service, and say what happened."""

import json
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from roles.forms import add_refusal
from roles.models import Role
from roles.permissions import pim_administrator_required
from roles.provisioning import kinds, selectors, services
from roles.provisioning.choices import GrantState
from roles.provisioning.forms import TargetForm
from roles.provisioning.models import Grant, Target
from roles.rules import describe_duration

REVOKED_SHOWN = 50  # per target, the newest revoked grants; the audit log keeps the history of older ones
NOT_REGISTERED = "%(kind)s (not registered on this site)"  # a kind whose app was removed
COUNTED_STATES = (GrantState.GRANTED, GrantState.PENDING, GrantState.FAILED, GrantState.REVOKING)


@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    time_to_grant: str  # "4 s", "2 min 5 s"; "" until granted
    retryable: bool


@dataclass(frozen=True)
class TargetPanel:
    """One target as the page shows it; built in Python so the template never queries."""

    target: Target
    kind_label: str
    params: list[tuple[str, str]]
    counts: list[tuple[str, int]]
    cannot_list: str  # why drift cannot be checked here, or ""
    grants: list[GrantRow]
    revoked_cut: bool  # more revoked grants exist than are shown


def _targets_with_grants(role: Role) -> QuerySet[Target]:
    """selectors.targets_with_counts (one query) with each target's grants preloaded: those not
    revoked (`live_grants`) and its newest REVOKED_SHOWN revoked ones (`revoked_grants`), one
    query each whatever the number of targets. selectors.grants_of_target would cost a query
    per target."""
    grants = Grant.objects.select_related("user")
    live = grants.exclude(state=GrantState.REVOKED).order_by("state", "-updated_at", "-pk")
    revoked = grants.filter(state=GrantState.REVOKED).order_by("-revoked_at", "-pk")
    return selectors.targets_with_counts(role=role).prefetch_related(
        Prefetch("grants", queryset=live, to_attr="live_grants"),
        # One row more than shown, to tell the page that older ones exist.
        Prefetch("grants", queryset=revoked[: REVOKED_SHOWN + 1], to_attr="revoked_grants"),
    )


def _cannot_list(target: Target) -> str:
    """Why the drift check cannot compare this target, or ""."""
    try:
        lists = kinds.get(target.kind).can_list(target)
    except kinds.ProvisioningError as error:
        return str(error)
    return "" if lists else "this target cannot list who holds the role there, so drift is not checked"


def _retryable(grant: Grant) -> bool:
    """A failed grant, or a revoke that keeps failing: what services.retry_grant is for."""
    return grant.state == GrantState.FAILED or (grant.state == GrantState.REVOKING and bool(grant.last_error))


def _panel(target: Target, labels: dict[str, str]) -> TargetPanel:
    revoked = target.revoked_grants[:REVOKED_SHOWN]
    rows = [
        GrantRow(
            grant=grant,
            time_to_grant=describe_duration(grant.granted_at - grant.requested_at) if grant.granted_at else "",
            retryable=_retryable(grant),
        )
        for grant in [*target.live_grants, *revoked]
    ]
    return TargetPanel(
        target=target,
        kind_label=labels.get(target.kind, NOT_REGISTERED % {"kind": target.kind}),
        params=[(key, _shown(value)) for key, value in sorted(target.params.items())],
        counts=[(GrantState(state).label, getattr(target, state)) for state in COUNTED_STATES],
        cannot_list=_cannot_list(target),
        grants=rows,
        revoked_cut=len(target.revoked_grants) > REVOKED_SHOWN,
    )


def _shown(value) -> str:
    """A parameter's value as text: a string as it is, anything else as JSON, nothing as a dash."""
    if value in ("", None):
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def _role_target(slug: str, target_id: int) -> Target:
    """The role's target, or 404 (an unknown id, or a target of another role)."""
    return get_object_or_404(Target.objects.select_related("role"), pk=target_id, role__slug=slug)


@pim_administrator_required
@require_GET
def target_list(request: HttpRequest, slug: str) -> HttpResponse:
    role = get_object_or_404(Role, slug=slug)
    labels = dict(kinds.choices())
    panels = [_panel(target, labels) for target in _targets_with_grants(role)]
    return render(request, "manage/role_targets.html", {"role": role, "panels": panels})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def target_create(request: HttpRequest, slug: str) -> HttpResponse:
    role = get_object_or_404(Role, slug=slug)
    form = TargetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            target = services.create_target(actor=request.user, role=role, **form.cleaned_data)
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"Target {target.name} added to {role.name}.")
            return redirect("manage:role-targets", slug=role.slug)
    examples = [(label, kinds.get(key).params_help) for key, label in kinds.choices()]
    context = {"form": form, "role": role, "target": None, "examples": examples}
    return render(request, "manage/target_form.html", context)


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def target_edit(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    target = _role_target(slug, target_id)
    form = TargetForm(request.POST or None, target=target)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_target(actor=request.user, target=target, **form.cleaned_data)
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"Target {form.cleaned_data['name']} saved.")
            return redirect("manage:role-targets", slug=slug)
    labels = dict(kinds.choices())
    kind_label = labels.get(target.kind, NOT_REGISTERED % {"kind": target.kind})
    examples = [(kind_label, kinds.get(target.kind).params_help)] if target.kind in labels else []
    context = {"form": form, "role": target.role, "target": target, "kind_label": kind_label, "examples": examples}
    return render(request, "manage/target_form.html", context)


@pim_administrator_required
@require_POST
def target_delete(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    target = _role_target(slug, target_id)
    try:
        services.delete_target(actor=request.user, target=target)
    except ValidationError as refusal:  # grants still in place
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Target {target.name} deleted.")
    return redirect("manage:role-targets", slug=slug)


@pim_administrator_required
@require_POST
def target_check_drift(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    target = _role_target(slug, target_id)
    try:
        outcomes = services.check_drift_now(actor=request.user, target=target)
    except ValidationError as refusal:  # the target is off
        messages.error(request, " ".join(refusal.messages))
        return redirect("manage:role-targets", slug=slug)
    target.refresh_from_db(fields=["outside_grants", "drift_error"])
    if outcomes.get("unreachable"):
        messages.error(request, f"Drift of {target.name} not checked: {target.drift_error}")
    elif outcomes.get("not listable"):
        messages.warning(request, f"{target.name} cannot list who holds the role there: drift cannot be checked.")
    else:
        found = ", ".join(target.outside_grants) or "none"
        revoked, again = outcomes.get("revoked outside grant", 0), outcomes.get("granted again", 0)
        messages.success(request, f"Drift of {target.name} checked. Grants outside PIM: {found}; "
                                  f"revoked: {revoked}; granted again: {again}.")  # fmt: skip
    return redirect("manage:role-targets", slug=slug)


@pim_administrator_required
@require_POST
def grant_retry(request: HttpRequest, slug: str, target_id: int, grant_id: int) -> HttpResponse:
    target = _role_target(slug, target_id)
    grant = get_object_or_404(Grant.objects.select_related("user"), pk=grant_id, target=target)
    try:
        services.retry_grant(actor=request.user, grant=grant)
    except ValidationError as refusal:  # granted or revoked meanwhile
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Retrying {grant.user.get_username()} on {target.name} now.")
    return redirect("manage:role-targets", slug=slug)
