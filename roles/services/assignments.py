"""Who holds what: making, changing, removing and expiring eligible and active assignments,
of a user or a group, within the role's assignment rules."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.sql import UpdateQuery
from django.urls import reverse
from django.utils import timezone

from audit.services import record_event, record_events
from roles import hooks, mfa, notifications, rules
from roles.builtin import GLOBAL_ADMINISTRATOR, ROOT_SCOPE_PATH
from roles.choices import ActiveSource, EndReason
from roles.models import (
    ActiveAssignment,
    Assignment,
    BreakGlassAccount,
    EligibleAssignment,
    Role,
    RoleSettings,
    Scope,
)
from roles.selectors import administrators_to_notify, members_of

ALREADY_ASSIGNED = (
    "%(principal)s already has an open %(kind)s assignment of %(role)s at %(scope)s; update or remove that one instead."
)


def holder_fields(principal) -> dict:
    """The model fields naming who holds an assignment: a user (`principal`) or a group."""
    return {"group": principal} if isinstance(principal, Group) else {"principal": principal}


def close_lapsed(model: type[Assignment], *, principal, role: Role, scope: Scope, now: datetime) -> None:
    """Record the expiry of open assignments of this triple already past their end, so that a
    new assignment does not collide with one that has lapsed but not yet been swept."""
    lapsed = model.objects.open().filter(**holder_fields(principal), role=role, scope=scope, end_at__lte=now)
    for assignment_id in lapsed.values_list("pk", flat=True):
        record_expiry(model=model, assignment_id=assignment_id, now=now)


def create_assignment(
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
        close_lapsed(model, principal=principal, role=role, scope=scope, now=now)
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
        save_new(assignment, code="already_assigned")
        _announce_assignment(assignment, actor=actor)
        record_event(
            actor=actor,
            action="assignment.created",
            target=assignment,
            data={"assignment_type": model.kind, "start_at": start_at, "end_at": end_at, **group_of(assignment),
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


def group_of(assignment: Assignment) -> dict:
    """What audit events add for a group's assignment (its events have no principal)."""
    return {"group": assignment.group.name} if assignment.group_id else {}


def save_new(assignment: Assignment, *, code: str) -> None:
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
    return create_assignment(
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
    return create_assignment(
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


LAST_GLOBAL_ADMINISTRATOR = (
    "%(user)s holds the last permanent active Global Administrator assignment at /. PIM keeps at least one, "
    "so that the directory can always be administered: give another account a permanent active Global "
    "Administrator assignment first."
)


BREAK_GLASS_KEEPS_IT = (
    "%(user)s is a break-glass account: its permanent Global Administrator assignment stays while it is "
    "flagged. A Global Administrator can remove the flag first (Manage, Break-glass accounts)."
)


def keep_a_permanent_global_administrator(assignment: Assignment) -> None:
    """Refuse to end, or to give an end to, the last permanent active Global Administrator
    assignment of a user at '/'. Called before the assignment's own row lock: it locks every
    such assignment in pk order, so two administrators removing two of the last two queue."""
    if not isinstance(assignment, ActiveAssignment):
        return
    current = ActiveAssignment.objects.select_related("role", "scope", "principal").get(pk=assignment.pk)
    standing = ActiveAssignment.objects.open().filter(
        role__slug=GLOBAL_ADMINISTRATOR, scope__path=ROOT_SCOPE_PATH, end_at__isnull=True,
        principal__isnull=False, principal__is_active=True,
    )  # fmt: skip
    if current.ended_at is not None or not standing.filter(pk=current.pk).exists():
        return
    if BreakGlassAccount.objects.filter(user_id=current.principal_id).exists():
        raise ValidationError(BREAK_GLASS_KEEPS_IT, code="break_glass",
                              params={"user": current.principal.get_username()})  # fmt: skip
    locked = list(standing.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
    if locked == [current.pk]:
        raise ValidationError(LAST_GLOBAL_ADMINISTRATOR, code="last_global_administrator",
                              params={"user": current.principal.get_username()})  # fmt: skip


def remove_assignment(
    *,
    actor,
    assignment: Assignment,
    action: str = "assignment.removed",
    reason: str = EndReason.REMOVED,
    data: dict | None = None,
) -> bool:
    """End an assignment now, as removed by `actor`. False when it had already ended. The last
    permanent active Global Administrator stays (keep_a_permanent_global_administrator). An
    access review passes its own action, reason and data (review.applied, the review's id)."""
    model = type(assignment)
    now = timezone.now()
    with transaction.atomic():
        keep_a_permanent_global_administrator(assignment)
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
        end_now(assignment, actor=actor, now=now, reason=reason, action=action, data=data)
        for active in activated:
            if active.end_at <= now:
                record_expiry(model=ActiveAssignment, assignment_id=active.pk, now=now)
            else:
                end_now(active, actor=actor, now=now, reason=reason, action=action, data=data)
    return True


def end_now(
    assignment: Assignment, *, actor, now: datetime, reason: str, action: str, data: dict | None = None
) -> None:
    assignment.ended_at = now
    assignment.end_reason = reason
    assignment.ended_by = actor
    assignment.save(update_fields=["ended_at", "end_reason", "ended_by"])
    hooks.ended(assignment)
    record_event(actor=actor, action=action, target=assignment,
                 data={"assignment_type": assignment.kind, **group_of(assignment), **(data or {})})  # fmt: skip


ALREADY_ENDED = "This role assignment has already ended."
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
        if end_at is not None:  # a permanent assignment made time-bound will end
            keep_a_permanent_global_administrator(assignment)
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


def record_expiry(*, model: type[Assignment], assignment_id: int, now: datetime) -> bool:
    """Mark an assignment past end_at as expired and audit it, once. False if already done.
    Access does not wait for this: `in_effect` already excludes it from end_at on."""
    return bool(_record_expiries(model, model.objects.filter(pk=assignment_id), now=now, skip_locked=False))


def record_expiries(*, model: type[Assignment], now: datetime, limit: int) -> list[hooks.Ended]:
    """Mark up to `limit` assignments past end_at as expired, each with its audit event, in one
    transaction, oldest end first; returns those it ended. Rows another transaction holds are
    left to it (or to the next sweep), so sweeps and one-off expiries never wait on each other.
    An active assignment is also marked as owing its holder the "has expired" mail."""
    return _record_expiries(model, model.objects.all(), now=now, skip_locked=True, limit=limit, notice_due=True)


def _record_expiries(
    model, candidates, *, now: datetime, skip_locked: bool, limit: int | None = None, notice_due: bool = False
) -> list:
    with transaction.atomic():
        # Locking the still-open rows makes this exactly-once: of any number of workers, one
        # gets each row, and the others find it ended (or skip it) once they may look. Values,
        # not model instances: a sweep ends thousands, and what the events need is a few columns.
        due = candidates.filter(ended_at__isnull=True, end_at__lte=now).order_by("end_at", "pk")
        due = due.select_for_update(skip_locked=skip_locked, of=("self",)).values_list(*_EXPIRY_COLUMNS)[:limit]
        ended_fields = {"ended_at": F("end_at"), "end_reason": EndReason.EXPIRED}
        if notice_due and model is ActiveAssignment:
            ended_fields["expiry_notice_due"] = True
        rows = _claim(model, due, ended_fields)
        if not rows:
            return []
        target_type = model._meta.label_lower
        record_events(actor=None, action="assignment.expired", data={"assignment_type": model.kind}, subjects=[
            {"target_type": target_type, "target_id": str(pk), "principal_id": principal_id,
             "principal_username": username or "", "role": role, "scope": scope, "justification": justification}
            for pk, _, principal_id, username, role, scope, justification in rows
        ])  # fmt: skip
        ended = [hooks.Ended(model.kind, pk, role_id) for pk, role_id, *_ in rows]
        hooks.ended(*ended)
    return ended


def _claim(model, due, ended_fields: dict) -> list[tuple]:
    """Lock the rows of `due` (a locking values_list of _EXPIRY_COLUMNS), mark them ended with
    `ended_fields`, and return their values but end_at, oldest end first. On PostgreSQL in one
    statement (UPDATE ... FROM the locking SELECT, RETURNING) instead of a SELECT and an UPDATE:
    a round trip and a plan fewer, and the rows come back already claimed."""
    if connection.vendor != "postgresql":
        rows = [row[:-1] for row in due]  # end_at only orders them
        model.objects.filter(pk__any_of=[row[0] for row in rows]).update(**ended_fields)
        return rows
    update = model.objects.all().query.chain(UpdateQuery)
    update.add_update_values(ended_fields)
    set_sql, set_params = update.get_compiler(connection=connection).as_sql()  # UPDATE <table> SET ..., no WHERE
    select_sql, select_params = due.query.sql_with_params()
    table = connection.ops.quote_name(model._meta.db_table)
    names = [f"c{i}" for i in range(len(_EXPIRY_COLUMNS))]  # c0 the pk ... the last end_at
    sql = (
        f"WITH ended AS ({set_sql} FROM ({select_sql}) AS due ({', '.join(names)}) WHERE {table}.id = due.c0 "  # noqa: S608
        f"RETURNING {', '.join('due.' + name for name in names)}) "
        f"SELECT {', '.join(names[:-1])} FROM ended ORDER BY {names[-1]}, c0"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*set_params, *select_params))
        return cursor.fetchall()


# What an assignment.expired event says of its assignment (as Assignment.audit_fields: a
# group's assignment names no principal), and the role the hooks need.
_EXPIRY_COLUMNS = (
    "pk", "role_id", "principal_id", "principal__username", "role__slug", "scope__path", "justification", "end_at",
)  # fmt: skip


# Discovery: standing access made just-in-time -------------------------------------------------

NOT_STANDING = "Only a permanent active assignment made by an administrator can be converted; this one is %(what)s."
CONVERT_NEEDS_JUSTIFICATION = "Say why this standing access becomes eligible (1 to 500 characters)."


def convert_to_eligible(*, actor, assignment: ActiveAssignment, justification: str) -> EligibleAssignment:
    """Entra's Discovery: turn a standing (permanent, administrator-made) active assignment into
    an eligibility the holder activates when needed. The active assignment ends now; the holder
    stays (or becomes) eligible, permanently if the role allows it, else for the role's maximum.
    The last permanent Global Administrator stays. Audited as assignment.converted_to_eligible."""
    justification = justification.strip()
    if not justification or len(justification) > rules.JUSTIFICATION_MAX_LENGTH:
        raise ValidationError({"justification": ValidationError(CONVERT_NEEDS_JUSTIFICATION, code="required")})
    now = timezone.now()
    with transaction.atomic():
        keep_a_permanent_global_administrator(assignment)
        # The row before the first audit event (see remove_assignment).
        assignment = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .select_related("role__settings", "scope", "principal", "group")
            .get(pk=assignment.pk)
        )
        standing = assignment.ended_at is None and assignment.end_at is None and assignment.source == ActiveSource.ADMIN
        if not standing:
            what = "ended" if assignment.ended_at else ("time-bound" if assignment.end_at else "an activation")
            raise ValidationError(NOT_STANDING, code="not_standing", params={"what": what})
        holder = assignment.group or assignment.principal
        eligibility = EligibleAssignment.objects.not_ended(now).filter(
            **holder_fields(holder), role=assignment.role, scope=assignment.scope
        ).first()  # fmt: skip
        end_now(assignment, actor=actor, now=now, reason=EndReason.REMOVED, action="assignment.removed",
                data={"reason": "converted to eligible", "justification": justification})  # fmt: skip
        if eligibility is None:
            role_settings = assignment.role.settings
            end_at = None if role_settings.allow_permanent_eligible else now + timedelta(
                days=role_settings.max_eligible_days)  # fmt: skip
            eligibility = create_assignment(
                EligibleAssignment, actor=actor, principal=holder, role=assignment.role, scope=assignment.scope,
                start_at=now, end_at=end_at, justification=justification,
            )  # fmt: skip
        ids = {"active_assignment_id": assignment.pk, "eligible_assignment_id": eligibility.pk}
        record_event(actor=actor, action="assignment.converted_to_eligible", target=eligibility,
                     justification=justification, data=ids)  # fmt: skip
    return eligibility
