"""Checking a second-factor code: at sign-in, and again before a change that needs a fresh one
(activating a role, an administrator's active assignment). Every success and failure is
audited; devices throttle wrong codes and refuse a code they have already accepted."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import django_otp
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record_event

REUSED_OR_WRONG_CODE = (
    "That code is not valid or was already used. Enter the 6-digit code your authenticator app shows now, "
    "or an unused backup code."
)
THROTTLED = "Too many wrong codes. Wait %(wait)s, then try the newest code."

# When this session last proved a second factor (ISO-8601, UTC). Set at sign-in and step-up.
SESSION_KEY = "pim_mfa_verified_at"


@dataclass(frozen=True)
class CodeCheck:
    device: object | None
    error: str = ""


def throttled_message(device) -> str | None:
    """The wait message while `device` refuses codes after wrong ones, else None."""
    allowed, details = device.verify_is_allowed()
    if allowed or not details or "locked_until" not in details:
        return None
    seconds = max(1, int((details["locked_until"] - timezone.now()).total_seconds() + 0.999))
    return THROTTLED % {"wait": f"{seconds} second" if seconds == 1 else f"{seconds} seconds"}


def check_code(*, actor, token: str, stage: str = "sign-in") -> CodeCheck:
    """Check a sign-in code against the user's confirmed devices: the app for 6 digits, the
    backup codes otherwise. Each device throttles wrong codes (1 s, 2 s, 4 s, ...) and refuses
    a code it has already accepted."""
    token = "".join(token.split())
    devices = list(django_otp.devices_for_user(actor, confirmed=True))
    is_app_code = token.isdigit() and len(token) == 6
    candidates = [d for d in devices if isinstance(d, TOTPDevice) == is_app_code]
    for device in candidates:
        throttled = throttled_message(device)
        if throttled:
            record_event(
                actor=actor,
                action="auth.mfa_failed",
                principal=actor,
                data={"stage": stage, "reason": "throttled", "device": device.name},
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
        data={"stage": stage, "reason": "wrong or reused code"},
    )
    return CodeCheck(None, REUSED_OR_WRONG_CODE)


def record_verification(session, *, at: datetime) -> None:
    session[SESSION_KEY] = at.isoformat()


def verified_at(session) -> datetime | None:
    value = session.get(SESSION_KEY)
    return datetime.fromisoformat(value) if value else None


def max_age() -> timedelta:
    return timedelta(minutes=settings.PIM_MFA_MAX_AGE)


def is_fresh(verified: datetime | None, *, now: datetime | None = None) -> bool:
    """Whether a verification at `verified` still counts for an activation that requires MFA."""
    return verified is not None and (now or timezone.now()) - verified <= max_age()


def step_up(request, *, token: str, stage: str) -> datetime | None:
    """When the signed-in user last proved a second factor: now, if `token` is a good code
    (checked, throttled and audited as check_code does; the session remembers it), else the
    session's last sign-in or step-up. A wrong code raises a refusal on the otp_token field."""
    if not token:
        return verified_at(request.session)
    check = check_code(actor=request.user, token=token, stage=stage)
    if check.device is None:
        raise ValidationError({"otp_token": check.error})
    now = timezone.now()
    record_verification(request.session, at=now)
    return now


def otp_verified_at(request, token: str, *, verify) -> datetime | None:
    """For an API call (a DRF request): when the caller proved a second factor. Now, for a good
    `token` in the body (`verify(token)` checks it as check_code does: throttled, audited,
    single-use, and raises or returns the moment); else, for the browser's OTP-verified session
    only, its last sign-in or step-up. A bearer token alone proves nothing."""
    if token:
        return verify(token)
    if request.auth is None:  # the browser's OTP-verified session (pimsite.api_auth)
        return verified_at(request._request.session)
    return None
