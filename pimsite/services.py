"""Second factors: enrolling an authenticator app and backup codes; changing the password.
Checking a code is roles.mfa.check_code (activation step-up needs it too)."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record_event
from roles.mfa import throttled_message

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

ENROL_WRONG_CODE = (
    "That code does not match the new key. Check that your app scanned this page's QR code and enter the "
    "6-digit code it shows now."
)


@dataclass(frozen=True)
class Enrolment:
    codes: list[str] | None  # the backup codes, shown once; None when the app was not confirmed
    error: str = ""


def pending_totp_device(*, actor) -> TOTPDevice:
    """The unconfirmed authenticator-app device being enrolled; the same one on every reload
    so the QR code does not change under the user."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("-id").first()
        if device is None:
            device = TOTPDevice.objects.create(user=actor, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def confirm_totp_device(*, actor, device: TOTPDevice, token: str) -> Enrolment:
    """Confirm the app with its first code and issue backup codes (shown once). Wrong codes
    are throttled as at sign-in."""
    throttled = throttled_message(device)
    if throttled:
        record_event(
            actor=actor, action="auth.mfa_failed", principal=actor, data={"stage": "enrolment", "reason": "throttled"}
        )
        return Enrolment(None, throttled)
    if not device.verify_token(token):
        record_event(actor=actor, action="auth.mfa_failed", principal=actor, data={"stage": "enrolment"})
        return Enrolment(None, ENROL_WRONG_CODE)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        record_event(actor=actor, action="auth.mfa_enrolled", principal=actor, data={"device": device.name})
        codes = _replace_backup_codes(actor=actor)
    return Enrolment(codes)


def regenerate_backup_codes(*, actor) -> list[str]:
    """Throw away the old backup codes and issue a new set."""
    with transaction.atomic():
        return _replace_backup_codes(actor=actor)


def _replace_backup_codes(*, actor) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=actor, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.PIM_BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    record_event(actor=actor, action="auth.backup_codes_created", principal=actor, data={"count": len(codes)})
    return codes


def change_password(*, actor, new_password: str) -> None:
    """Set the actor's own password (already validated by the form) and audit it."""
    with transaction.atomic():
        user = get_user_model().objects.select_for_update().get(pk=actor.pk)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        record_event(actor=actor, action="auth.password_changed", principal=actor)
    actor.password = user.password  # the caller keeps the session valid with the new hash
