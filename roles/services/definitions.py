"""Changes to what can be held: scopes, roles, and each role's settings with its approval stages."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.services import record_event
from roles import notifications, rules
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment, Role, RoleSettings, Scope
from roles.selectors import stage_plans

BUILTIN_READ_ONLY = "%(role)s is a built-in role: its name, tier and description cannot change; its settings can."
BUILTIN_NOT_DELETABLE = "%(role)s is a built-in role and cannot be deleted."


ROLE_IN_USE = "%(role)s still has assignments or requests; remove them before deleting the role."


SETTINGS_FIELDS = (
    "activation_max_minutes",
    "require_mfa_on_activation",
    "require_justification_on_activation",
    "require_ticket_on_activation",
    "ticket_number_pattern",
    "require_approval",
    "allow_permanent_eligible",
    "max_eligible_days",
    "allow_permanent_active",
    "max_active_days",
    "require_mfa_on_active_assignment",
    "require_justification_on_active_assignment",
    "notification_rules",
)


def create_scope(*, actor, path: str, name: str = "") -> Scope:
    """Create the scope at `path`, and any missing scope above it. Returns the existing one
    unchanged if it is already there."""
    rules.check_scope_path(path)
    with transaction.atomic():
        parent = None
        scope = None
        for ancestor in rules.ancestor_paths(path):
            scope, created = Scope.objects.get_or_create(
                path=ancestor,
                defaults={"parent": parent, "name": name if ancestor == path else ancestor.rsplit("/", 1)[-1]},
            )
            if created:
                record_event(actor=actor, action="scope.created", target=scope, data={"name": scope.name})
            parent = scope
    return scope


def create_role(*, actor, slug: str, name: str, tier: str, description: str = "") -> Role:
    """A custom role, with Entra's default settings."""
    with transaction.atomic():
        role = Role(slug=slug, name=name, tier=tier, description=description, is_builtin=False)
        role.full_clean()
        role.save()
        RoleSettings.objects.create(role=role)
        record_event(actor=actor, action="role.created", target=role, data={"name": name, "tier": tier})
    return role


def update_role(*, actor, role: Role, name: str, tier: str, description: str) -> Role:
    """Rename or re-tier a custom role. A built-in role's name, tier and description are fixed."""
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        before = {"name": role.name, "tier": role.tier, "description": role.description}
        role.name, role.tier, role.description = name, tier, description
        after = {"name": name, "tier": tier, "description": description}
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if not changes:
            return role
        if role.is_builtin:
            raise ValidationError(BUILTIN_READ_ONLY, code="builtin_role", params={"role": before["name"]})
        role.full_clean()
        role.save(update_fields=["name", "tier", "description"])
        record_event(actor=actor, action="role.updated", target=role, data={"changes": changes})
    return role


def delete_role(*, actor, role: Role) -> None:
    """Delete a custom role that nobody holds. Built-in roles stay."""
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        if role.is_builtin:
            raise ValidationError(BUILTIN_NOT_DELETABLE, code="builtin_role", params={"role": role.name})
        in_use = (
            EligibleAssignment.objects.filter(role=role).exists() or ActiveAssignment.objects.filter(role=role).exists()
        )
        if in_use:
            raise ValidationError(ROLE_IN_USE, code="role_in_use", params={"role": role.name})
        record_event(actor=actor, action="role.deleted", target=role, data={"name": role.name})
        try:
            role.delete()
        except IntegrityError:  # activation requests still point at it (PROTECT)
            raise ValidationError(ROLE_IN_USE, code="role_in_use", params={"role": role.name}) from None


def update_role_settings(
    *, actor, role: Role, changes: dict, stages: list[rules.StagePlan] | None = None
) -> RoleSettings:
    """Change some of a role's settings and, when `stages` is given, replace its approval stages
    (in order). Validates the result as a whole and audits old and new values of what changed
    in one event; no change writes nothing. Requests already decided keep their outcome;
    pending ones are judged by the settings at the moment of each decision."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not role settings: {sorted(unknown)}")
    with transaction.atomic():
        role_settings = RoleSettings.objects.select_for_update().select_related("role").get(role=role)
        diff = {}
        for field, value in changes.items():
            old = getattr(role_settings, field)
            if old != value:
                diff[field] = [old, value]
                setattr(role_settings, field, value)
        problems = {}
        try:
            rules.check_role_settings(
                {b.field: getattr(role_settings, b.field) for b in rules.ROLE_SETTINGS_BOUNDS}
                | {"ticket_number_pattern": role_settings.ticket_number_pattern}
            )
        except ValidationError as refusal:
            problems.update(refusal.error_dict)
        try:
            notifications.check_notification_rules(role_settings.notification_rules)
        except ValidationError as refusal:
            problems.update(refusal.error_dict)
        old_stages = stage_plans(role_settings)
        new_stages = list(stages) if stages is not None else old_stages
        try:
            rules.check_stages(require_approval=role_settings.require_approval, stages=new_stages)
        except ValidationError as refusal:
            problems.update(refusal.error_dict)
        if problems:
            raise ValidationError(problems)
        old_names, new_names = [s.names() for s in old_stages], [s.names() for s in new_stages]
        if new_names != old_names:
            diff["stages"] = [old_names, new_names]
            _replace_stages(role_settings, new_stages)
        if not diff:
            return role_settings
        role_settings.save()
        record_event(actor=actor, action="settings.updated", target=role_settings, data={"changes": diff})
    return role_settings


def _replace_stages(role_settings: RoleSettings, plans: list[rules.StagePlan]) -> None:
    # Requests point at a stage by its position, not its row, so the rows can be rebuilt.
    role_settings.stages.all().delete()
    for position, plan in enumerate(plans, start=1):
        stage = ApprovalStage.objects.create(
            role_settings=role_settings,
            position=position,
            approvals_required=plan.approvals_required,
            timeout_minutes=plan.timeout_minutes,
            escalate_after_minutes=plan.escalate_after_minutes,
        )
        stage.approvers.set(plan.approvers)
        stage.approver_groups.set(plan.approver_groups)
        stage.escalation_approvers.set(plan.escalation_approvers)
        stage.escalation_groups.set(plan.escalation_groups)
