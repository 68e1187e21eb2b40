"""The security alert rules about roles and assignments (Entra's PIM alerts), registered into
audit.alerts from RolesConfig.ready(). Scans are read-only; fixes call the audited services."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q

from audit.alerts import AlertRule, Finding, Threshold, register, set_default_recipients
from roles.builtin import GLOBAL_ADMINISTRATOR
from roles.choices import ActiveSource, Tier
from roles.models import ActiveAssignment, EligibleAssignment, Grant, Role, Target
from roles.provisioning.choices import GrantState
from roles.provisioning.engine import MAX_ATTEMPTS
from roles.provisioning.services import retry_grant
from roles.selectors import administrators_to_notify
from roles.services import remove_assignment, update_role_settings
from roles.services.breakglass import SIGN_IN_ALERT

ASSIGNMENT_KINDS = {"eligible": EligibleAssignment, "active": ActiveAssignment}


def _standing(model, now: datetime):
    """Assignments in effect that an administrator made (an activation's active assignment
    repeats its eligibility, so it is not counted twice)."""
    held = model.objects.in_effect(now).select_related("role", "scope", "principal", "group")
    if model is ActiveAssignment:
        held = held.filter(source=ActiveSource.ADMIN)
    return held


def _assignment_finding(assignment, *, fix: bool = True, note: str = "") -> Finding:
    kind = "eligible" if isinstance(assignment, EligibleAssignment) else "active"
    end = "permanent" if assignment.end_at is None else f"until {assignment.end_at:%Y-%m-%d %H:%M} UTC"
    label = f"{assignment.holder_name}: {kind} {assignment.role.name} at {assignment.scope.path}, {end}{note}"
    return Finding(f"{kind}:{assignment.pk}", label, fix=fix)


def remove_by_key(*, actor, item_key: str) -> None:
    """The "Remove" fix: end the assignment an item names ("eligible:12", "active:7") through
    roles.services.remove_assignment (audited; it keeps the last permanent Global Administrator)."""
    kind, _, pk = item_key.partition(":")
    assignment = ASSIGNMENT_KINDS[kind].objects.get(pk=int(pk))
    remove_assignment(actor=actor, assignment=assignment)


# Too many Global Administrators --------------------------------------------------------------


def scan_global_administrators(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """Global Administrator assignments, when there are at least `count` of them and they are at
    least `percent` % of all privileged assignments (eligible and administrator-made active)."""
    global_admins = []
    total = 0
    for model in (EligibleAssignment, ActiveAssignment):
        held = _standing(model, now)
        total += held.count()
        global_admins += list(held.filter(role__slug=GLOBAL_ADMINISTRATOR).order_by("pk"))
    if len(global_admins) < thresholds["count"] or not total:
        return []
    if 100 * len(global_admins) < thresholds["percent"] * total:
        return []
    return [_assignment_finding(assignment) for assignment in global_admins]


TOO_MANY_GLOBAL_ADMINISTRATORS = AlertRule(
    key="too_many_global_administrators",
    title="There are too many Global Administrators",
    description="More Global Administrator assignments than the threshold, and too large a share of all "
    "privileged role assignments.",
    why="Global Administrator can do everything. Every extra holder is one more account whose compromise "
    "hands over the whole directory.",
    how_to_fix="Remove the assignments nobody needs, and give the others a less privileged role that covers "
    "their work.",
    severity="low",
    thresholds=(
        Threshold("count", "Minimum number of Global Administrator assignments", 3, 2, 100),
        Threshold("percent", "Minimum share of all privileged assignments (%)", 10, 1, 100),
    ),
    scan=scan_global_administrators,
    fix=remove_by_key,
    fix_label="Remove",
)


# Roles that don't require MFA on activation ----------------------------------------------------


def scan_roles_without_mfa(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    roles = Role.objects.filter(settings__require_mfa_on_activation=False).order_by("name")
    return [Finding(f"role:{role.slug}", f"{role.name} ({role.get_tier_display()})", fix=True) for role in roles]


def require_mfa(*, actor, item_key: str) -> None:
    """The "Turn on MFA" fix, through roles.services.update_role_settings (audited)."""
    role = Role.objects.get(slug=item_key.removeprefix("role:"))
    update_role_settings(actor=actor, role=role, changes={"require_mfa_on_activation": True})


ROLES_WITHOUT_MFA = AlertRule(
    key="roles_without_mfa_on_activation",
    title="Roles don't require multifactor authentication for activation",
    description="These roles can be activated without a fresh second factor.",
    why="Without MFA at activation, a stolen password is enough to take the role.",
    how_to_fix="Turn on \u201cRequire MFA on activation\u201d in each role's settings.",
    severity="medium",
    scan=scan_roles_without_mfa,
    fix=require_mfa,
    fix_label="Turn on MFA",
)


# Potential stale accounts in a privileged role -----------------------------------------------


def scan_stale_accounts(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """Active users with their own eligible or active assignment who have not signed in for
    `days` (or never, with an account older than that). Break-glass accounts are left out: they
    are meant to sit unused, and their every sign-in is an alert of its own."""
    since = now - timedelta(days=thresholds["days"])
    holders = Q()
    for model in (EligibleAssignment, ActiveAssignment):
        holders |= Q(pk__in=model.objects.in_effect(now).filter(principal__isnull=False).values("principal"))
    stale = (
        get_user_model()
        .objects.filter(holders, is_active=True, break_glass__isnull=True)
        .filter(Q(last_login__lt=since) | Q(last_login__isnull=True, date_joined__lt=since))
        .order_by("username")
    )
    return [
        Finding(
            f"user:{user.pk}",
            f"{user.get_username()}: last signed in {f'{user.last_login:%Y-%m-%d}' if user.last_login else 'never'}",
        )  # fmt: skip
        for user in stale
    ]


STALE_ACCOUNTS = AlertRule(
    key="stale_accounts_in_privileged_roles",
    title="Potential stale accounts in a privileged role",
    description="Accounts holding a privileged role that have not signed in for the number of days set.",
    why="Accounts nobody uses are rarely watched: a compromise goes unnoticed, and their privilege is "
    "standing risk with no benefit.",
    how_to_fix="Ask whether the person still needs the role; remove the assignment, or disable the account.",
    severity="medium",
    thresholds=(Threshold("days", "Days without a sign-in", 30, 1, 365),),
    scan=scan_stale_accounts,
)


# Too many permanent active assignments for a critical role -------------------------------------


def scan_permanent_active(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """Per critical role, its permanent administrator-made active assignments (break-glass
    accounts left out), when there are at least `count`."""
    findings: list[Finding] = []
    permanent = (
        _standing(ActiveAssignment, now)
        .filter(role__tier=Tier.CRITICAL, end_at__isnull=True)
        .filter(Q(principal__isnull=True) | Q(principal__break_glass__isnull=True))
        .order_by("role__name", "pk")
    )
    by_role: dict[int, list[ActiveAssignment]] = {}
    for assignment in permanent:
        by_role.setdefault(assignment.role_id, []).append(assignment)
    for assignments in by_role.values():
        if len(assignments) >= thresholds["count"]:
            findings += [_assignment_finding(assignment) for assignment in assignments]
    return findings


PERMANENT_ACTIVE_CRITICAL = AlertRule(
    key="permanent_active_critical_roles",
    title="Too many permanent active assignments for a critical role",
    description="A critical role has more permanent active assignments than the threshold, not counting "
    "break-glass accounts.",
    why="Standing access to a critical role is what just-in-time access exists to remove: each one is "
    "privilege an attacker gets with the account.",
    how_to_fix="Remove the permanent assignments, or convert them to eligible ones (Discovery).",
    severity="medium",
    thresholds=(Threshold("count", "Minimum permanent active assignments per role", 2, 1, 100),),
    scan=scan_permanent_active,
    fix=remove_by_key,
    fix_label="Remove",
)


# Raised elsewhere ------------------------------------------------------------------------------


def scan_outside_grants(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """What the last drift check of each target found granted there without PIM (Target.outside_grants)."""
    findings = []
    for target in Target.objects.filter(enabled=True).exclude(outside_grants=[]).select_related("role"):
        for login in target.outside_grants:
            label = f"{login} holds {target.role.name} on {target.name} ({target.kind}) without a PIM assignment"
            findings.append(Finding(f"{target.pk}:{login}", label))
    return findings


ASSIGNED_OUTSIDE_PIM = AlertRule(
    key="roles_assigned_outside_pim",
    title="Roles are being assigned outside of PIM",
    description="A connected system shows a role assignment PIM did not make.",
    why="Assignments made behind PIM's back skip its approvals, time limits and audit.",
    how_to_fix="Remove the assignment in the connected system, or bring it into PIM as an eligible one. A target "
    "set to revoke grants made outside PIM does it at its next drift check.",
    severity="high",
    scan=scan_outside_grants,  # from what the provisioning drift check (every 10 minutes) recorded
)


def scan_failed_grants(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """Grants given up after their retries, and revokes still failing after as many attempts."""
    stuck = Grant.objects.filter(
        Q(state=GrantState.FAILED) | Q(state=GrantState.REVOKING, attempts__gte=MAX_ATTEMPTS)
    ).select_related("target__role", "user")
    findings = []
    for grant in stuck.order_by("pk"):
        step = "grant" if grant.state == GrantState.FAILED else "revoke"
        label = (f"{grant.user.get_username()}: {step} of {grant.target.role.name} on {grant.target.name} failed "
                 f"{grant.attempts} times: {grant.last_error}")  # fmt: skip
        findings.append(Finding(str(grant.pk), label, fix=True))
    return findings


def retry_by_key(*, actor, item_key: str) -> None:
    retry_grant(actor=actor, grant=Grant.objects.get(pk=int(item_key)))


PROVISIONING_FAILED = AlertRule(
    key="provisioning_failed",
    title="A role could not be provisioned to a connected system",
    description="A grant or revoke on a role's target kept failing after its retries.",
    why="PIM's own answer is as decided, but the connected system lags: someone may lack access they were "
    "given, or keep access that ended.",
    how_to_fix="Read the error, repair the target (connection string, receiver, login), then retry.",
    severity="high",
    scan=scan_failed_grants,
    fix=retry_by_key,
    fix_label="Retry",
)


BREAK_GLASS_SIGN_IN = AlertRule(
    key=SIGN_IN_ALERT,
    title="A break-glass account signed in",
    description="An emergency account flagged as break-glass signed in.",
    why="Break-glass accounts exist for when everything else fails. A sign-in nobody expected means its "
    "credentials have leaked.",
    how_to_fix="Confirm who signed in and why. If nobody knows, treat it as an incident and change the "
    "account's password and second factor.",
    severity="critical",
    # pimsite.signals already tells the administrators of every sign-in (critical).
    notify=False,
)


RULES = (
    TOO_MANY_GLOBAL_ADMINISTRATORS,
    ROLES_WITHOUT_MFA,
    STALE_ACCOUNTS,
    PERMANENT_ACTIVE_CRITICAL,
    ASSIGNED_OUTSIDE_PIM,
    PROVISIONING_FAILED,
    BREAK_GLASS_SIGN_IN,
)


def register_rules() -> None:
    """Called from RolesConfig.ready()."""
    set_default_recipients(administrators_to_notify)
    for rule in RULES:
        register(rule)
