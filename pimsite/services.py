"""Second factors: enrolling an authenticator app and backup codes; changing the password;
personal API tokens.
Checking a code is roles.mfa.check_code (activation step-up needs it too)."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.services import record_event
from pimsite.models import TOKEN_PREFIX, ApiToken, TokenPermission, token_digest
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


# Personal API tokens ---------------------------------------------------------------------------

TOKEN_DAYS_DEFAULT = 30
TOKEN_DAYS_MAX = 365
EXPIRY_OUT_OF_RANGE = "Expires in must be between 1 day and 365 days; it is %(days)s days."
NAME_IN_USE = "You already have a token named %(name)s; revoke it or choose another name."
NAME_REQUIRED = "Name is required (1 to 100 characters), e.g. the machine or script that uses it."
PERMISSIONS_REQUIRED = "Choose at least one permission: %(choices)s."


def create_api_token(*, actor, name: str, expires_in_days: int = TOKEN_DAYS_DEFAULT, permissions: list[str]):
    """A new personal token of `actor`; returns (token, secret). The secret is shown once and
    only its digest is kept. Audited (api_token.created), without the secret."""
    name = name.strip()
    errors = {}
    if not name or len(name) > 100:
        errors["name"] = [ValidationError(NAME_REQUIRED, code="required")]
    if not 1 <= expires_in_days <= TOKEN_DAYS_MAX:
        errors["expires_in_days"] = [ValidationError(EXPIRY_OUT_OF_RANGE, code="out_of_range",
                                                     params={"days": expires_in_days})]  # fmt: skip
    chosen = sorted(set(permissions))
    if not chosen or set(chosen) - set(TokenPermission.values):
        errors["permissions"] = [ValidationError(PERMISSIONS_REQUIRED, code="invalid",
                                                 params={"choices": ", ".join(TokenPermission.values)})]  # fmt: skip
    if errors:
        raise ValidationError(errors)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        if ApiToken.objects.filter(user=actor, name=name, revoked_at__isnull=True).exists():
            raise ValidationError({"name": ValidationError(NAME_IN_USE, code="taken", params={"name": name})})
        token = ApiToken.objects.create(
            user=actor, name=name, digest=token_digest(secret), hint=secret[:8], permissions=chosen,
            expires_at=now + timedelta(days=expires_in_days),
        )  # fmt: skip
        shown = {"name": name, "hint": token.hint, "permissions": chosen, "expires_at": token.expires_at}
        record_event(actor=actor, action="api_token.created", target=token, data=shown)
    return token, secret


def revoke_api_token(*, actor, token: ApiToken) -> bool:
    """Revoke one of `actor`'s tokens at once. False if it was already revoked."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk, user=actor)
        if token.revoked_at is not None:
            return False
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_event(
            actor=actor, action="api_token.revoked", target=token, data={"name": token.name, "hint": token.hint}
        )
    return True
