"""Every change to roles, scopes, role settings and assignments. One function per change:
keyword-only arguments, acting user first, one transaction, rows locked, audit event inside."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from audit.services import record_event
from roles import hooks, mfa, notifications, rules
from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment, ApprovalStage, Assignment, EligibleAssignment, Role, RoleSettings, Scope
from roles.selectors import administrator_holders, administrators_to_notify, members_of, stage_plans

ALREADY_ASSIGNED = (
    "%(principal)s already has an open %(kind)s assignment of %(role)s at %(scope)s; update or remove that one instead."
)
BUILTIN_NOT_DELETABLE = "%(role)s is a built-in role and cannot be deleted."
ROLE_IN_USE = "%(role)s still has assignments or requests; remove them before deleting the role."
BOOTSTRAP_REFUSED = (
    "Bootstrap is only for the first account: %(holders)s already hold Global Administrator or "
    "Privileged Role Administrator. Nothing was changed."
)
USERNAME_TAKEN = "An account named %(username)s already exists."

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


# Scopes ------------------------------------------------------------------------------------


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


# Roles and settings ------------------------------------------------------------------------


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
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=role.pk)
        before = {"name": role.name, "tier": role.tier, "description": role.description}
        role.name, role.tier, role.description = name, tier, description
        after = {"name": name, "tier": tier, "description": description}
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if not changes:
            return role
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


# Assignments -------------------------------------------------------------------------------


def holder_fields(principal) -> dict:
    """The model fields naming who holds an assignment: a user (`principal`) or a group."""
    return {"group": principal} if isinstance(principal, Group) else {"principal": principal}


def _close_lapsed(model: type[Assignment], *, principal, role: Role, scope: Scope, now: datetime) -> None:
    """Record the expiry of open assignments of this triple already past their end, so that a
    new assignment does not collide with one that has lapsed but not yet been swept."""
    lapsed = model.objects.open().filter(**holder_fields(principal), role=role, scope=scope, end_at__lte=now)
    for assignment_id in lapsed.values_list("pk", flat=True):
        record_expiry(model=model, assignment_id=assignment_id, now=now)


def _create_assignment(
    model: type[Assignment],
    *,
    actor,
    principal,
    role: Role,
    scope: Scope,
    start_at: datetime,
    end_at: datetime | None,
    justification: str,
    enforce_settings: bool = True,
    mfa_verified_at: datetime | None = None,
    **extra,
) -> Assignment:
    now = timezone.now()
    with transaction.atomic():
        # Settings are read under a lock, so a concurrent settings change waits or goes first.
        role_settings = RoleSettings.objects.select_for_update().select_related("role").get(role=role)
        if enforce_settings:
            rules.check_assignment_window(
                role_settings=role_settings,
                kind=model.kind,
                start_at=start_at,
                end_at=end_at,
                justification=justification,
            )
            check_mfa_on_active(model, role_settings, actor=actor, mfa_verified_at=mfa_verified_at, now=now)
        _close_lapsed(model, principal=principal, role=role, scope=scope, now=now)
        assignment = model(
            **holder_fields(principal),
            role=role,
            scope=scope,
            start_at=start_at,
            end_at=end_at,
            justification=justification,
            created_by=actor,
            **extra,
        )
        _save_new(assignment, code="already_assigned")
        _announce_assignment(assignment, actor=actor)
        record_event(
            actor=actor,
            action="assignment.created",
            target=assignment,
            data={"assignment_type": model.kind, "start_at": start_at, "end_at": end_at, **_group_of(assignment),
                  **extra},
        )  # fmt: skip
        hooks.window_set(assignment)
    return assignment


MFA_REQUIRED_ON_ACTIVE = (
    "%(role)s requires multifactor authentication on active assignment: enter a current code from your "
    "authenticator app (a code you entered in the last %(minutes)s minutes counts too)."
)


def check_mfa_on_active(model, role_settings: RoleSettings, *, actor, mfa_verified_at, now: datetime) -> None:
    """An administrator gives an active assignment of such a role only with a fresh second
    factor (roles.mfa.is_fresh). A system action (actor None: bootstrap, demo data) has none."""
    if model is not ActiveAssignment or actor is None or not role_settings.require_mfa_on_active_assignment:
        return
    if not mfa.is_fresh(mfa_verified_at, now=now):
        raise ValidationError({"otp_token": ValidationError(
            MFA_REQUIRED_ON_ACTIVE, code="mfa_required",
            params={"role": role_settings.role.name, "minutes": settings.PIM_MFA_MAX_AGE},
        )})  # fmt: skip


def _announce_assignment(assignment: Assignment, *, actor) -> None:
    """Entra's assignment notifications: the administrators' alert and the assignee's notice,
    as the role's notification rules say (queued in this transaction, sent after it commits)."""
    role, scope = assignment.role, assignment.scope
    until = f"until {rules.fmt_time(assignment.end_at)}" if assignment.end_at else "permanently"
    what = f"{assignment.kind} for {role.name} at {scope.path}, from {rules.fmt_time(assignment.start_at)} {until}"
    why = (
        f"Assigned by {actor.get_username() if actor else 'PIM'}. Justification: {assignment.justification or '(none)'}"
    )
    event = f"{assignment.kind}_assigned"
    admin_link = notifications.site_url(reverse("manage:assignment", args=[assignment.kind, assignment.pk]))
    notifications.notify(
        role=role, event=event, audience="admin",
        # Not the administrator who did it, nor the assignee (told below).
        recipients=administrators_to_notify().exclude(pk=getattr(actor, "pk", None))
        .exclude(pk__in=[member.pk for member in members_of(assignment)]),
        subject=f"[PIM] {assignment.holder_name} is now {assignment.kind} for {role.name} at {scope.path}",
        body=f"{assignment.holder_name} is now {what}.\n{why}\n\n{admin_link}\n", link=admin_link,
        data={"assignment_type": assignment.kind, "assignment_id": assignment.pk},
    )  # fmt: skip
    my_roles = notifications.site_url(reverse("activations:my-roles"))
    through = f" through the group {assignment.group.name}" if assignment.group_id else ""
    activate = "Activate it from My roles when you need it." if assignment.kind == "eligible" else "It is active."
    notifications.notify(
        role=role, event=event, audience="assignee", recipients=members_of(assignment),
        subject=f"[PIM] You are now {assignment.kind} for {role.name} at {scope.path}",
        body=f"You are now {what}{through}. {activate}\n{why}\n\n{my_roles}\n", link=my_roles,
        data={"assignment_type": assignment.kind, "assignment_id": assignment.pk},
    )  # fmt: skip


def _group_of(assignment: Assignment) -> dict:
    """What audit events add for a group's assignment (its events have no principal)."""
    return {"group": assignment.group.name} if assignment.group_id else {}


def _save_new(assignment: Assignment, *, code: str) -> None:
    """Insert; the one-open-per-principal-role-scope constraint turns a race into a refusal."""
    try:
        with transaction.atomic():
            assignment.save()
    except IntegrityError:
        raise already_assigned(assignment, code=code) from None


def check_not_assigned(model: type[Assignment], *, principal, role: Role, scope: Scope, now: datetime) -> None:
    """Refuse a second open assignment of one holder (user or group), role and scope, before the
    database's constraint would. One that lapsed but is not yet swept does not count: the
    service records its expiry first."""
    if model.objects.not_ended(now).filter(**holder_fields(principal), role=role, scope=scope).exists():
        raise already_assigned(model(**holder_fields(principal), role=role, scope=scope))


def already_assigned(assignment: Assignment, *, code: str = "already_assigned") -> ValidationError:
    """The refusal of a second open assignment of one principal, role and scope; `assignment`
    is the new one (unsaved). roles.bulk checks a whole file with it before anything is saved."""
    return ValidationError(
        ALREADY_ASSIGNED,
        code=code,
        params={
            "principal": assignment.holder_name,
            "kind": assignment.kind,
            "role": assignment.role.name,
            "scope": assignment.scope.path,
        },
    )


def assign_eligible(
    *, actor, principal, role: Role, scope: Scope, start_at: datetime, end_at: datetime | None, justification: str = ""
) -> EligibleAssignment:
    """Make `principal` (a user, or a Django group: each member) eligible for `role` at `scope`,
    within the role's assignment rules."""
    return _create_assignment(
        EligibleAssignment,
        actor=actor,
        principal=principal,
        role=role,
        scope=scope,
        start_at=start_at,
        end_at=end_at,
        justification=justification,
    )


def assign_active(
    *,
    actor,
    principal,
    role: Role,
    scope: Scope,
    start_at: datetime,
    end_at: datetime | None,
    justification: str,
    mfa_verified_at: datetime | None = None,
) -> ActiveAssignment:
    """Give `principal` (a user or a Django group) an active (standing or time-bound) assignment,
    within the role's rules; `mfa_verified_at`: when `actor` last proved a second factor, for a
    role that requires MFA on active assignment."""
    return _create_assignment(
        ActiveAssignment,
        mfa_verified_at=mfa_verified_at,
        actor=actor,
        principal=principal,
        role=role,
        scope=scope,
        start_at=start_at,
        end_at=end_at,
        justification=justification,
        source=ActiveSource.ADMIN,
    )


def remove_assignment(*, actor, assignment: Assignment) -> bool:
    """End an assignment now, as removed by `actor`. False when it had already ended."""
    model = type(assignment)
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            model.objects.select_for_update(of=("self",))
            .select_related("role", "scope", "principal", "group")
            .get(pk=assignment.pk)
        )
        if assignment.ended_at is not None:
            return False
        # An assignment past its end has expired already; removing it records just that.
        if assignment.end_at is not None and assignment.end_at <= now:
            record_expiry(model=model, assignment_id=assignment.pk, now=now)
            return False
        # No active assignment outlives the eligibility it was activated from. Locked before the
        # first audit event: record_event holds the audit chain head until commit, and the expiry
        # task and deactivate take such a row first and the head second.
        activated = []
        if model is EligibleAssignment:
            # A user's own activations, or every member's activations through the group.
            through = {"via_group": assignment.group} if assignment.group_id else {
                "principal": assignment.principal, "via_group__isnull": True}  # fmt: skip
            activated = list(
                ActiveAssignment.objects.select_for_update(of=("self",))
                .open()
                .filter(**through, role=assignment.role, scope=assignment.scope, source=ActiveSource.ACTIVATION)
                .select_related("role", "scope", "principal")
                .order_by("pk")
            )
        _end_now(assignment, actor=actor, now=now, reason=EndReason.REMOVED, action="assignment.removed")
        for active in activated:
            if active.end_at <= now:
                record_expiry(model=ActiveAssignment, assignment_id=active.pk, now=now)
            else:
                _end_now(active, actor=actor, now=now, reason=EndReason.REMOVED, action="assignment.removed")
    return True


def _end_now(
    assignment: Assignment, *, actor, now: datetime, reason: str, action: str, data: dict | None = None
) -> None:
    assignment.ended_at = now
    assignment.end_reason = reason
    assignment.ended_by = actor
    assignment.save(update_fields=["ended_at", "end_reason", "ended_by"])
    record_event(actor=actor, action=action, target=assignment,
                 data={"assignment_type": assignment.kind, **_group_of(assignment), **(data or {})})  # fmt: skip


END_IN_PAST = "The new end must be in the future; %(end)s has passed."
ACTIVATION_END_FIXED = (
    "This assignment comes from an activation; its holder extends it from My roles within the role's maximum."
)


def change_assignment_end(
    *, actor, assignment: Assignment, end_at: datetime | None, window_start: datetime | None = None
) -> Assignment:
    """An administrator moves the end of an eligible or admin-made active assignment (empty:
    permanent), within the role's assignment rules; audited with the old and new end.
    `window_start`: where the role's maximum duration is counted from, the assignment's start
    unless given (an approved extension counts from its decision: activations.services)."""
    model = type(assignment)
    now = timezone.now()
    with transaction.atomic():
        # Settings first, then the row: the same order as every other path that takes both.
        role_settings = RoleSettings.objects.select_for_update().select_related("role").get(role=assignment.role_id)
        assignment = (
            model.objects.select_for_update(of=("self",)).select_related("role", "scope", "principal")
            .get(pk=assignment.pk)
        )  # fmt: skip
        if assignment.ended_at is not None or (assignment.end_at is not None and assignment.end_at <= now):
            raise ValidationError(ALREADY_ENDED, code="already_ended")
        if getattr(assignment, "source", None) == ActiveSource.ACTIVATION:
            raise ValidationError({"end_at": ValidationError(ACTIVATION_END_FIXED, code="activation_end_fixed")})
        if end_at is not None and end_at <= now:
            raise ValidationError(
                {"end_at": ValidationError(END_IN_PAST, code="end_in_past", params={"end": end_at.isoformat()})}
            )
        rules.check_assignment_window(
            role_settings=role_settings, kind=model.kind, start_at=window_start or assignment.start_at, end_at=end_at,
            justification=assignment.justification if model.kind == "active" else "",
        )  # fmt: skip
        if assignment.end_at == end_at:
            return assignment
        old_end = assignment.end_at
        assignment.end_at = end_at
        assignment.save(update_fields=["end_at"])
        record_event(
            actor=actor, action="assignment.updated", target=assignment,
            data={"assignment_type": model.kind, "end_at": [old_end, end_at]},
        )  # fmt: skip
        hooks.window_set(assignment)
    return assignment


NOT_YOURS = "Only the holder can deactivate this role assignment."
NOT_ACTIVATED = (
    "%(role)s was assigned to you by an administrator, not activated; ask a Privileged Role Administrator to remove it."
)
ALREADY_ENDED = "This role assignment has already ended."


def grant_activation(
    *, actor, principal, eligibility: EligibleAssignment, start_at: datetime, end_at: datetime, justification: str
) -> ActiveAssignment:
    """The active assignment an activation of `eligibility` by `principal` produces (a member of
    its group, for a group's). The caller (activations.services) has checked the activation
    rules and holds the eligibility's row lock."""
    _close_lapsed(ActiveAssignment, principal=principal, role=eligibility.role, scope=eligibility.scope,
                  now=timezone.now())  # fmt: skip
    assignment = ActiveAssignment(
        principal=principal,
        via_group=eligibility.group,
        role=eligibility.role,
        scope=eligibility.scope,
        start_at=start_at,
        end_at=end_at,
        justification=justification,
        created_by=actor,
        source=ActiveSource.ACTIVATION,
    )
    _save_new(assignment, code="already_active")
    record_event(
        actor=actor, action="assignment.activated", target=assignment, data={"start_at": start_at, "end_at": end_at}
    )
    hooks.window_set(assignment)
    return assignment


def deactivate_assignment(*, actor, assignment: ActiveAssignment) -> ActiveAssignment:
    """The holder ends an activated role early; access ends at once."""
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .select_related("role", "scope", "principal")
            .get(pk=assignment.pk)
        )
        if assignment.principal_id != actor.pk:
            raise ValidationError(NOT_YOURS, code="not_holder")
        if assignment.source != ActiveSource.ACTIVATION:
            raise ValidationError(NOT_ACTIVATED, code="not_activated", params={"role": assignment.role.name})
        if assignment.ended_at is not None or (assignment.end_at is not None and assignment.end_at <= now):
            raise ValidationError(ALREADY_ENDED, code="already_ended")
        _end_now(assignment, actor=actor, now=now, reason=EndReason.DEACTIVATED, action="assignment.deactivated")
    return assignment


def record_expiry(*, model: type[Assignment], assignment_id: int, now: datetime) -> bool:
    """Mark an assignment past end_at as expired and audit it, once. False if already done.
    Access does not wait for this: `in_effect` already excludes it from end_at on."""
    with transaction.atomic():
        # Compare-and-swap: of any number of workers, exactly one matches the still-open row.
        claimed = model.objects.filter(pk=assignment_id, ended_at__isnull=True, end_at__lte=now).update(
            ended_at=F("end_at"), end_reason=EndReason.EXPIRED
        )
        if claimed != 1:
            return False
        assignment = model.objects.select_related("role", "scope", "principal").get(pk=assignment_id)
        record_event(actor=None, action="assignment.expired", target=assignment, data={"assignment_type": model.kind})
    return True


# First use ---------------------------------------------------------------------------------


def bootstrap_first_administrator(*, username: str, email: str, password: str):
    """Entra's first-use rule: the first account gets permanent active Global Administrator
    and Privileged Role Administrator at the root. Refused, changing nothing, once anyone
    holds either role."""
    User = get_user_model()
    with transaction.atomic():
        # Two bootstraps at once: the second waits here until the first commits, then sees
        # its holders. Without the lock both would find none and both would succeed.
        list(RoleSettings.objects.select_for_update().filter(role__slug__in=ADMIN_ROLE_SLUGS).order_by("pk"))
        holders = administrator_holders()
        if holders:
            raise ValidationError(
                BOOTSTRAP_REFUSED, code="already_bootstrapped", params={"holders": ", ".join(sorted(holders))}
            )
        if User.objects.filter(username=username).exists():
            raise ValidationError(
                {"username": ValidationError(USERNAME_TAKEN, code="username_taken", params={"username": username})}
            )
        user = User(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as weak:
            raise ValidationError({"password": weak.error_list}) from None
        user.set_password(password)
        user.full_clean()
        user.save()
        record_event(
            actor=None, action="account.created", target=user, principal=user, data={"via": "bootstrap", "email": email}
        )
        root = Scope.objects.get(path=ROOT_SCOPE_PATH)
        now = timezone.now()
        for slug in ADMIN_ROLE_SLUGS:
            # Permanent active is not allowed by default settings; first use is the exception.
            _create_assignment(
                ActiveAssignment,
                actor=None,
                principal=user,
                role=Role.objects.get(slug=slug),
                scope=root,
                start_at=now,
                end_at=None,
                justification="First administrator (bootstrap).",
                enforce_settings=False,
                source=ActiveSource.ADMIN,
            )
    return user


# Bulk import -------------------------------------------------------------------------------


def import_eligible_assignments(*, actor, rows: list, now: datetime) -> list[EligibleAssignment]:
    """Make every row of a CSV file (roles.bulk.parse_csv) an eligible assignment, or none. Each
    row is checked again here, under the lock of its role's settings, by roles.bulk.check_rows;
    any bad row raises roles.bulk.ImportRefused, listing every bad row, and nothing changes.
    Each assignment is made by assign_eligible (one assignment.created event each); one
    assignment.imported event counts them."""
    from roles import bulk  # here, not at the top: roles.bulk imports this module

    if not rows:
        return []
    with transaction.atomic():
        # In pk order, as bootstrap takes them; assign_eligible takes each again, already held.
        slugs = {row.cells["role"] for row in rows}
        list(RoleSettings.objects.select_for_update().filter(role__slug__in=slugs).order_by("pk"))
        results = bulk.check_rows(rows, now=now)
        if not all(result.ok for result in results):
            raise bulk.ImportRefused(results)
        created = []
        for result in results:
            try:
                created.append(assign_eligible(actor=actor, **result.service_arguments()))
            except ValidationError as refusal:  # another administrator got there first: none, still
                result.refuse(bulk.TRIPLE, refusal)
                raise bulk.ImportRefused(results) from None
        record_event(
            actor=actor,
            action="assignment.imported",
            data={"assignment_type": EligibleAssignment.kind, "count": len(created)},
        )
    return created


# Group membership --------------------------------------------------------------------------

LEFT_GROUP = "%(user)s is no longer a member of %(group)s."


def end_access_through_group(*, actor, user, group: Group) -> int:
    """`user` has left `group`: end now what they activated through it (access already ended
    with the membership, see AssignmentQuerySet.held_by; this records it). Returns how many."""
    now = timezone.now()
    ended = 0
    with transaction.atomic():
        through = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .open()
            .filter(principal=user, via_group=group)
            .select_related("role", "scope", "principal", "via_group")
            .order_by("pk")
        )
        reason = LEFT_GROUP % {"user": user.get_username(), "group": group.name}
        for assignment in through:
            if assignment.end_at <= now:
                record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=now)
                continue
            _end_now(assignment, actor=actor, now=now, reason=EndReason.REMOVED, action="assignment.removed",
                     data={"reason": reason, "via_group": group.name})  # fmt: skip
            ended += 1
    return ended


# Extend an activation ----------------------------------------------------------------------

EXTEND_NOT_LATER = "The new end (%(end)s) must be later than the current end (%(current)s)."


def extend_activation(*, actor, assignment: ActiveAssignment, end_at: datetime) -> ActiveAssignment:
    """Move an activated role's end later, to `end_at`; audited (assignment.extended, with the
    old and new end) and the expiry schedule follows (hooks.window_set). The caller
    (activations.services) has checked the activation rules: the role's maximum in total, the
    eligibility's end, MFA, justification, approval."""
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .select_related("role", "scope", "principal")
            .get(pk=assignment.pk)
        )
        if assignment.source != ActiveSource.ACTIVATION:
            raise ValidationError(NOT_ACTIVATED, code="not_activated", params={"role": assignment.role.name})
        if assignment.ended_at is not None or assignment.end_at <= now:
            raise ValidationError(ALREADY_ENDED, code="already_ended")
        if end_at <= assignment.end_at:
            raise ValidationError(
                {"end_at": ValidationError(EXTEND_NOT_LATER, code="end_not_later", params={
                    "end": rules.fmt_time(end_at), "current": rules.fmt_time(assignment.end_at)})}
            )  # fmt: skip
        old_end = assignment.end_at
        assignment.end_at = end_at
        assignment.save(update_fields=["end_at"])
        record_event(
            actor=actor, action="assignment.extended", target=assignment,
            data={"assignment_type": assignment.kind, "end_at": [old_end, end_at]},
        )  # fmt: skip
        hooks.window_set(assignment)
    return assignment
