"""Discovery (Entra's "Discovery & insights"): standing privileged access, and turning it into
just-in-time eligibility, one assignment or a whole role at a time."""

from itertools import groupby

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from roles import services
from roles.models import ActiveAssignment, Role
from roles.permissions import pim_administrator_required
from roles.selectors import standing_assignments


class ConvertForm(forms.Form):
    justification = forms.CharField(max_length=500, help_text="Why this access becomes just-in-time (audited).")


@pim_administrator_required
@require_GET
def discovery(request: HttpRequest) -> HttpResponse:
    rows = list(standing_assignments())
    by_role = [(role, list(assignments)) for role, assignments in groupby(rows, key=lambda a: a.role)]
    return render(request, "manage/discovery.html", {"by_role": by_role, "total": len(rows), "form": ConvertForm()})


@pim_administrator_required
@require_POST
def convert(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(ActiveAssignment, pk=assignment_id)
    form = ConvertForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Justification: " + " ".join(form.errors["justification"]))
        return redirect("manage:discovery")
    try:
        services.convert_to_eligible(actor=request.user, assignment=assignment,
                                     justification=form.cleaned_data["justification"])  # fmt: skip
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"{assignment.holder_name} is now eligible for {assignment.role.name} at "
                                  f"{assignment.scope.path} instead of permanently active.")  # fmt: skip
    return redirect("manage:discovery")


@pim_administrator_required
@require_POST
def convert_role(request: HttpRequest, slug: str) -> HttpResponse:
    """Every standing assignment of one role, each in its own transaction: one refusal (the last
    permanent Global Administrator) does not undo the others, and the page says which."""
    role = get_object_or_404(Role, slug=slug)
    form = ConvertForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Justification: " + " ".join(form.errors["justification"]))
        return redirect("manage:discovery")
    converted = 0
    for assignment in standing_assignments().filter(role=role):
        try:
            services.convert_to_eligible(actor=request.user, assignment=assignment,
                                         justification=form.cleaned_data["justification"])  # fmt: skip
            converted += 1
        except ValidationError as refusal:
            messages.error(request, f"{assignment.holder_name}: " + " ".join(refusal.messages))
    messages.success(request, f"{role.name}: {converted} standing assignment(s) converted to eligible.")
    return redirect("manage:discovery")
