"""PIM for groups (Entra's third provider): bringing a Django group under PIM. Its membership
becomes the role "Member of <group>" and its ownership "Owner of <group>"; each is eligible and
activated like any other role and provisioned through a Django-group target (members into the
group, owners into "<group> owners"). Owners approve the member role's activations."""

from datetime import datetime

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import record_event
from roles import services as role_services
from roles.builtin import ROOT_SCOPE_PATH
from roles.choices import Tier
from roles.models import ActiveAssignment, EligibleAssignment, Role, Scope
from roles.provisioning import services as provisioning
from roles.provisioning.models import ManagedGroup, Target
from roles.rules import StagePlan

EXISTING_MEMBERS = {
    "eligible": "Make each direct member eligible for membership (and end the direct membership)",
    "active": "Make each direct member a permanent active member",
}
ALREADY_MANAGED = "Group '%(group)s' is already under PIM."
HOLDS_ROLES = "Group '%(group)s' holds PIM assignments itself; a group under PIM must not (its members would change)."
IS_A_TARGET = "Group '%(group)s' is where a role is provisioned already (%(target)s); choose another group."
SLUG_TAKEN = "A role named '%(slug)s' exists already; rename the group or that role first."
BAD_CHOICE = "Existing members: one of %(choices)s; '%(value)s' was given."


def _check(group: Group, existing_members: str) -> tuple[str, str]:
    if existing_members not in EXISTING_MEMBERS:
        raise ValidationError(
            {
                "existing_members": ValidationError(
                    BAD_CHOICE,
                    code="invalid_choice",
                    params={"choices": ", ".join(EXISTING_MEMBERS), "value": existing_members},
                )
            }
        )
    if ManagedGroup.objects.filter(group=group).exists():
        raise ValidationError(ALREADY_MANAGED, code="already_managed", params={"group": group.name})
    for model in (EligibleAssignment, ActiveAssignment):
        if model.objects.open().filter(group=group).exists():
            raise ValidationError(HOLDS_ROLES, code="holds_roles", params={"group": group.name})
    bound = Target.objects.filter(kind="django_group", params__group=group.name).select_related("role").first()
    if bound is not None:
        raise ValidationError(IS_A_TARGET, code="is_a_target", params={"group": group.name, "target": bound})
    base = slugify(group.name)[:80] or f"group-{group.pk}"
    slugs = (f"member-of-{base}", f"owner-of-{base}")
    for slug in slugs:
        if Role.objects.filter(slug=slug).exists():
            raise ValidationError(SLUG_TAKEN, code="slug_taken", params={"slug": slug})
    return slugs


def bring_group_under_pim(
    *, actor, group: Group, existing_members: str, mfa_verified_at: datetime | None = None
) -> ManagedGroup:
    """Make `group`'s membership and ownership roles, bind them to the group and to a new owners
    group, and turn today's direct members into assignments of the member role: eligible (their
    direct membership ends: they activate it when needed) or permanent active. All audited."""
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        member_slug, owner_slug = _check(group, existing_members)
        members = list(group.user_set.filter(is_active=True).order_by("username"))
        member_role = role_services.create_role(
            actor=actor,
            slug=member_slug,
            name=f"Member of {group.name}"[:150],
            tier=Tier.STANDARD,
            description=f"Membership of the group {group.name}.",
        )
        owner_role = role_services.create_role(
            actor=actor,
            slug=owner_slug,
            name=f"Owner of {group.name}"[:150],
            tier=Tier.HIGH,
            description=f"Ownership of the group {group.name}.",
        )
        owners_group, _ = Group.objects.get_or_create(name=f"{group.name} owners"[:150])
        managed = ManagedGroup.objects.create(
            group=group, member_role=member_role, owner_role=owner_role, owners_group=owners_group, brought_by=actor
        )
        # Owners approve activations of membership (the owners group: whoever holds ownership now).
        role_services.update_role_settings(
            actor=actor,
            role=member_role,
            changes={"require_approval": True, "allow_permanent_active": existing_members == "active"},
            stages=[StagePlan(approver_groups=(owners_group,))],
        )
        for role, target_group in ((member_role, group), (owner_role, owners_group)):
            provisioning.create_target(
                actor=actor,
                role=role,
                name=f"Group {target_group.name}"[:100],
                kind="django_group",
                params={"group": target_group.name},
            )
        root, now = Scope.objects.get(path=ROOT_SCOPE_PATH), timezone.now()
        justification = f"Brought under PIM: was a direct member of {group.name}."
        for user in members:
            if existing_members == "eligible":
                role_services.assign_eligible(
                    actor=actor,
                    principal=user,
                    role=member_role,
                    scope=root,
                    start_at=now,
                    end_at=None,
                    justification=justification,
                )
            else:
                role_services.assign_active(
                    actor=actor,
                    principal=user,
                    role=member_role,
                    scope=root,
                    start_at=now,
                    end_at=None,
                    justification=justification,
                    mfa_verified_at=mfa_verified_at,
                )
        if existing_members == "eligible":
            group.user_set.remove(*members)
        record_event(
            actor=actor,
            action="group.brought_under_pim",
            target=managed,
            data={
                "group": group.name,
                "members": [user.get_username() for user in members],
                "existing_members": existing_members,
                "member_role": member_slug,
                "owner_role": owner_slug,
                "owners_group": owners_group.name,
            },
        )
    return managed
