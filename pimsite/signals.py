"""Sign-in events go to the audit log whatever path signed the user in or out."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from audit import alerts, outbox
from audit.services import record_event
from roles import services as role_services
from roles.alert_rules import BREAK_GLASS_SIGN_IN, break_glass_finding
from roles.rules import fmt_time
from roles.selectors import administrators_to_notify


@receiver(user_logged_in, dispatch_uid="pim.audit_login")
def _audit_login(sender, request, user, **kwargs):
    record_event(actor=user, action="auth.login", principal=user)
    if role_services.is_break_glass(user):
        _alert_break_glass_sign_in(user)


def _alert_break_glass_sign_in(user) -> None:
    """Every sign-in of an emergency account is an alert: audited, and the administrators told at
    once (critical), whatever their notification settings."""
    with transaction.atomic():
        record_event(actor=user, action="alert.break_glass_sign_in", principal=user, data={"severity": "critical"})
        alerts.raise_alert(BREAK_GLASS_SIGN_IN.key, [break_glass_finding(user, at=timezone.now())], now=timezone.now())
        outbox.queue(
            rule="alert.break_glass_sign_in",
            recipients=administrators_to_notify().exclude(pk=user.pk),
            subject=f"[PIM] Critical: break-glass account {user.get_username()} signed in",
            body=(f"The emergency account {user.get_username()} signed in at {fmt_time(timezone.now())}. "
                  "If nobody expected it, treat it as an incident: check the audit log and change its password.\n"),
            critical=True,
        )  # fmt: skip


@receiver(user_logged_out, dispatch_uid="pim.audit_logout")
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        record_event(actor=user, action="auth.logout", principal=user)


@receiver(user_login_failed, dispatch_uid="pim.audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the name is kept.
    record_event(actor=None, action="auth.login_failed", data={"username": str(credentials.get("username", ""))[:150]})
