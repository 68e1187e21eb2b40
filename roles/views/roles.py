"""The /manage/ console: roles and their settings. Every change goes through roles.services."""

import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from roles import hooks, services
from roles.choices import Tier
from roles.forms import RoleEditForm, RoleForm, RoleSettingsForm, stage_formset
from roles.models import Role
from roles.permissions import pim_administrator_required
from roles.selectors import roles_with_assignment_counts, stage_plans


def _roles_with_holder_counts(*, query: str, tier: str) -> QuerySet[Role]:
    """Roles matching the search, with the holder counts (roles.selectors) and the columns other
    apps add (roles.hooks). One query."""
    now = timezone.now()
    roles = (
        roles_with_assignment_counts(at=now)
        .annotate(**{name: expression(now) for name, (_, expression) in hooks.role_list_columns().items()})
        .order_by("name")
    )
    if query:
        roles = roles.filter(Q(name__icontains=query) | Q(slug__icontains=query))
    if tier:
        roles = roles.filter(tier=tier)
    return roles


@pim_administrator_required
@require_GET
def role_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    tier = request.GET.get("tier", "")
    tier = tier if tier in Tier.values else ""
    roles = _roles_with_holder_counts(query=query, tier=tier)
    extra_columns = [(heading, name) for name, (heading, _) in hooks.role_list_columns().items()]
    context = {
        "roles": [(role, [getattr(role, name) for _, name in extra_columns]) for role in roles],
        "extra_headings": [heading for heading, _ in extra_columns],
        "query": query,
        "tier": tier,
        "tiers": Tier.choices,
    }
    return render(request, "manage/roles_list.html", context)


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def role_create(request: HttpRequest) -> HttpResponse:
    form = RoleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            role = services.create_role(actor=request.user, **form.cleaned_data)
        except ValidationError as refusal:  # e.g. a duplicate created since the form checked
            form.add_error(None, refusal)
        else:
            messages.success(request, f"Role {role.name} created with the default settings.")
            return redirect("manage:role-settings", slug=role.slug)
    return render(request, "manage/role_form.html", {"form": form, "role": None})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def role_edit(request: HttpRequest, slug: str) -> HttpResponse:
    role = get_object_or_404(Role.objects.select_related("settings"), slug=slug)
    if role.is_builtin:
        if request.method == "POST":
            messages.error(request, services.BUILTIN_READ_ONLY % {"role": role.name})
            return redirect("manage:role-edit", slug=role.slug)
        return render(request, "manage/role_form.html", {"form": None, "role": role})
    # The form writes what was typed into its instance; the page keeps showing the saved role.
    form = RoleEditForm(request.POST or None, instance=copy.copy(role))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_role(actor=request.user, role=role, **form.cleaned_data)
        except ValidationError as refusal:
            form.add_error(None, refusal)
        else:
            messages.success(request, f"Role {form.cleaned_data['name']} saved.")
            return redirect("manage:roles")
    return render(request, "manage/role_form.html", {"form": form, "role": role})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def role_delete(request: HttpRequest, slug: str) -> HttpResponse:
    role = get_object_or_404(Role, slug=slug)
    if request.method == "POST":
        try:
            services.delete_role(actor=request.user, role=role)
        except ValidationError as refusal:  # built-in, or still assigned
            messages.error(request, " ".join(refusal.messages))
            return redirect("manage:role-edit", slug=role.slug)
        messages.success(request, f"Role {role.name} deleted.")
        return redirect("manage:roles")
    return render(request, "manage/role_delete.html", {"role": role})


@pim_administrator_required
@require_http_methods(["GET", "POST"])
def role_settings(request: HttpRequest, slug: str) -> HttpResponse:
    role = get_object_or_404(Role.objects.select_related("settings"), slug=slug)
    form = RoleSettingsForm(request.POST or None, role_settings=role.settings)
    stages = stage_formset(request.POST or None, role_settings=role.settings)
    if request.method == "POST" and form.is_valid() and stages.is_valid():
        before = _snapshot(role.settings)
        try:
            result = services.update_role_settings(
                actor=request.user, role=role, changes=form.changes(), stages=stages.plans()
            )
        except ValidationError as refusal:
            form.add_refusal(refusal)
            stages.add_refusal(refusal)
        else:
            # The service audits only a real change; comparing values (not updated_at) works under a frozen clock.
            changed = _snapshot(result) != before
            messages.success(request, f"Settings of {role.name} saved." if changed else "Nothing changed.")
            return redirect("manage:role-settings", slug=role.slug)
    return render(request, "manage/role_settings.html", {"form": form, "stages": stages, "role": role})


def _snapshot(role_settings) -> dict:
    """Every setting and stage of a role, to tell whether a save changed anything."""
    return {field: getattr(role_settings, field) for field in services.SETTINGS_FIELDS} | {
        "stages": [plan.names() for plan in stage_plans(role_settings)]
    }
