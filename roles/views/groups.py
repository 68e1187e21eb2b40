"""PIM for groups (/manage/groups/): which Django groups are under PIM, and bringing one under it
(roles.provisioning.groups)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from roles import mfa
from roles.forms import add_refusal
from roles.models import ManagedGroup
from roles.permissions import pim_administrator_required
from roles.provisioning.groups import EXISTING_MEMBERS, bring_group_under_pim


class BringUnderPimForm(forms.Form):
    existing_members = forms.ChoiceField(
        choices=list(EXISTING_MEMBERS.items()), widget=forms.RadioSelect, initial="eligible",
        label="The group's direct members",
        error_messages={"required": "The group's direct members: choose eligible or permanent active.",
                        "invalid_choice": "The group's direct members: choose eligible or permanent active."},
    )  # fmt: skip
    otp_token = forms.CharField(
        required=False, max_length=8, label="Verification code",
        help_text="Needed to make members permanent active when your last code is older than %(minutes)s minutes.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["otp_token"].help_text %= {"minutes": settings.PIM_MFA_MAX_AGE}


@pim_administrator_required
@require_GET
def group_list(request: HttpRequest) -> HttpResponse:
    managed = {
        row.group_id: row
        for row in ManagedGroup.objects.select_related("member_role", "owner_role", "owners_group", "brought_by")
    }
    owners_groups = {row.owners_group_id for row in managed.values()}
    groups = [
        (group, managed.get(group.pk))
        for group in Group.objects.annotate(member_count=Count("user")).order_by("name")
        if group.pk not in owners_groups
    ]
    return render(request, "manage/groups.html", {"groups": groups, "form": BringUnderPimForm()})


@pim_administrator_required
@require_POST
def bring_under_pim(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=group_id)
    form = BringUnderPimForm(request.POST)
    if form.is_valid():
        try:
            verified = mfa.verified_at(request.session)
            if form.cleaned_data["existing_members"] == "active":
                verified = mfa.step_up(request, token=form.cleaned_data["otp_token"], stage="group under PIM")
            managed = bring_group_under_pim(actor=request.user, group=group, mfa_verified_at=verified,
                                            existing_members=form.cleaned_data["existing_members"])  # fmt: skip
        except ValidationError as refusal:
            add_refusal(form, refusal)
        else:
            messages.success(request, f"{group.name} is under PIM: membership is the role {managed.member_role.name}, "
                                      f"ownership {managed.owner_role.name}.")  # fmt: skip
            return redirect("manage:groups")
    for problems in form.errors.values():
        for problem in problems:
            messages.error(request, f"{group.name}: {problem}")
    return redirect("manage:groups")
