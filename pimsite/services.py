"""Second factors: enrolling an authenticator app, backup codes, and checking a code.
Every success and failure is audited."""

from dataclasses import dataclass

import django_otp
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record_event

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"

WRONG_CODE = "That code is not valid. Enter the 6-digit code your authenticator app shows now, or a backup code."
REUSED_OR_WRONG_CODE = (
    "That code is not valid or was already used. Enter the 6-digit code your authenticator app shows now, "
    "or an unused backup code."
)
THROTTLED = "Too many wrong codes. Wait %(wait)s, then try the newest code."
ENROL_WRONG_CODE = (
    "That code does not match the new key. Check that your app scanned this page's QR code and enter the "
    "6-digit code it shows now."
)


@dataclass(frozen=True)
class CodeCheck:
    device: object | None
    error: str = ""


@dataclass(frozen=True)
class Enrolment:
    codes: list[str] | None  # the backup codes, shown once; None when the app was not confirmed
    error: str = ""


def _throttled_message(device) -> str | None:
    """The wait message while `device` refuses codes after wrong ones, else None."""
    allowed, details = device.verify_is_allowed()
    if allowed or not details or "locked_until" not in details:
        return None
    seconds = max(1, int((details["locked_until"] - timezone.now()).total_seconds() + 0.999))
    return THROTTLED % {"wait": f"{seconds} second" if seconds == 1 else f"{seconds} seconds"}


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
    throttled = _throttled_message(device)
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


def check_code(*, actor, token: str) -> CodeCheck:
    """Check a sign-in code against the user's confirmed devices: the app for 6 digits, the
    backup codes otherwise. Each device throttles wrong codes (1 s, 2 s, 4 s, ...) and refuses
    a code it has already accepted."""
    token = "".join(token.split())
    devices = list(django_otp.devices_for_user(actor, confirmed=True))
    is_app_code = token.isdigit() and len(token) == 6
    candidates = [d for d in devices if isinstance(d, TOTPDevice) == is_app_code]
    for device in candidates:
        throttled = _throttled_message(device)
        if throttled:
            record_event(
                actor=actor,
                action="auth.mfa_failed",
                principal=actor,
                data={"stage": "sign-in", "reason": "throttled", "device": device.name},
            )
            return CodeCheck(None, throttled)
        verified = django_otp.verify_token(actor, device.persistent_id, token)
        if verified is not None:
            action = "auth.backup_code_used" if isinstance(verified, StaticDevice) else "auth.mfa_verified"
            record_event(actor=actor, action=action, principal=actor, data={"device": verified.name})
            return CodeCheck(verified)
    record_event(
        actor=actor,
        action="auth.mfa_failed",
        principal=actor,
        data={"stage": "sign-in", "reason": "wrong or reused code"},
    )
    return CodeCheck(None, REUSED_OR_WRONG_CODE)
