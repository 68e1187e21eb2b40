"""Break-glass (emergency) accounts: flagged by an active Global Administrator, they hold a
permanent active Global Administrator assignment that nothing else may remove while flagged."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit import alerts, outbox
from audit.alerts import Finding
from audit.services import record_event
from roles.builtin import GLOBAL_ADMINISTRATOR, ROOT_SCOPE_PATH
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, BreakGlassAccount, Role, Scope
from roles.rules import fmt_time
from roles.selectors import administrators_to_notify, holds_role
from roles.services.assignments import create_assignment

ONLY_GLOBAL_ADMINISTRATORS = "Only an active Global Administrator can flag or unflag break-glass accounts."
REASON_REQUIRED = "Say why this is an emergency account (1 to 500 characters)."
ALREADY_FLAGGED = "%(user)s is already a break-glass account."
NOT_FLAGGED = "%(user)s is not a break-glass account."
DISABLED_ACCOUNT = "%(user)s is disabled; a break-glass account must be able to sign in."


def _check_actor_and_reason(actor, reason: str) -> str:
    if not holds_role(user=actor, role_slugs=(GLOBAL_ADMINISTRATOR,), at=timezone.now()):
        raise ValidationError(ONLY_GLOBAL_ADMINISTRATORS, code="not_global_administrator")
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise ValidationError({"reason": ValidationError(REASON_REQUIRED, code="required")})
    return reason


def flag_break_glass(*, actor, user, reason: str) -> BreakGlassAccount:
    """Flag `user` as a break-glass account and make sure it holds a permanent active Global
    Administrator assignment at '/' (made now if missing: an emergency account is permanent by
    definition, whatever the role's assignment rules say). Audited."""
    reason = _check_actor_and_reason(actor, reason)
    if not user.is_active:
        raise ValidationError({"user": ValidationError(DISABLED_ACCOUNT, params={"user": user.get_username()})})
    with transaction.atomic():
        if BreakGlassAccount.objects.select_for_update().filter(user=user).exists():
            raise ValidationError({"user": ValidationError(ALREADY_FLAGGED, params={"user": user.get_username()})})
        flag = BreakGlassAccount.objects.create(user=user, reason=reason, flagged_by=actor)
        role, root = Role.objects.get(slug=GLOBAL_ADMINISTRATOR), Scope.objects.get(path=ROOT_SCOPE_PATH)
        holds = ActiveAssignment.objects.open().filter(principal=user, role=role, scope=root, end_at__isnull=True)
        if not holds.exists():
            # A time-bound one is closed first? No: it stays, and the permanent one is refused by the
            # one-open-per-holder rule; make the existing one permanent through the console instead.
            create_assignment(
                ActiveAssignment, actor=actor, principal=user, role=role, scope=root, start_at=timezone.now(),
                end_at=None, justification=f"Break-glass account: {reason}", enforce_settings=False,
                source=ActiveSource.ADMIN,
            )  # fmt: skip
        record_event(actor=actor, action="breakglass.flagged", target=flag)
    return flag


def unflag_break_glass(*, actor, user, reason: str) -> None:
    """Remove the flag (the assignment stays; an administrator may then remove it). Audited."""
    reason = _check_actor_and_reason(actor, reason)
    with transaction.atomic():
        flag = BreakGlassAccount.objects.select_for_update().filter(user=user).first()
        if flag is None:
            raise ValidationError({"user": ValidationError(NOT_FLAGGED, params={"user": user.get_username()})})
        record_event(actor=actor, action="breakglass.unflagged", target=flag, justification=reason)
        flag.delete()


def is_break_glass(user) -> bool:
    return user is not None and BreakGlassAccount.objects.filter(user_id=user.pk).exists()


SIGN_IN_ALERT = "break_glass_sign_in"  # the alert rule (roles.alert_rules) this raises


def record_break_glass_sign_in(*, user, now) -> None:
    """Every sign-in of an emergency account is an alert: audited, the alert raised, and the
    administrators told at once (critical), whatever their notification settings. One transaction."""
    with transaction.atomic():
        record_event(actor=user, action="alert.break_glass_sign_in", principal=user, data={"severity": "critical"})
        finding = Finding(f"user:{user.pk}:{now.isoformat()}", f"{user.get_username()} signed in at {fmt_time(now)}")
        alerts.raise_alert(SIGN_IN_ALERT, [finding], now=now)
        outbox.queue(
            rule="alert.break_glass_sign_in",
            recipients=administrators_to_notify().exclude(pk=user.pk),
            subject=f"[PIM] Critical: break-glass account {user.get_username()} signed in",
            body=(f"The emergency account {user.get_username()} signed in at {fmt_time(now)}. If nobody "
                  "expected it, treat it as an incident: check the audit log and change its password.\n"),
            critical=True,
        )  # fmt: skip
