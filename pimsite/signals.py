"""Sign-in events go to the audit log whatever path signed the user in or out."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from audit.services import record_event
from roles import services as role_services


@receiver(user_logged_in, dispatch_uid="pim.audit_login")
def _audit_login(sender, request, user, **kwargs):
    record_event(actor=user, action="auth.login", principal=user)
    if role_services.is_break_glass(user):
        role_services.record_break_glass_sign_in(user=user, now=timezone.now())


@receiver(user_logged_out, dispatch_uid="pim.audit_logout")
def _audit_logout(sender, request, user, **kwargs):
    if user is not None:
        record_event(actor=user, action="auth.logout", principal=user)


@receiver(user_login_failed, dispatch_uid="pim.audit_login_failed")
def _audit_login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password in `credentials`; only the name is kept.
    record_event(actor=None, action="auth.login_failed", data={"username": str(credentials.get("username", ""))[:150]})
