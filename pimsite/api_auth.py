"""Who may call /api/v1/: a personal bearer token, or the browser's OTP-verified session with
CSRF; and what a token may be used for. Kept apart from pimsite/api.py because DRF imports
authentication classes while rest_framework.views is still loading."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from pimsite.models import ApiToken, TokenPermission

TOKEN_REFUSED = "The token is not valid: unknown, expired or revoked. Create one on /account/tokens/."  # noqa: S105
MALFORMED_HEADER = "Send the token as 'Authorization: Bearer <token>'."
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most once a minute per token


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer pim_...`: a personal token, looked up by its digest. Proves who
    the caller is, never a second factor: actions that need MFA ask for a code as well."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(MALFORMED_HEADER)
        now = timezone.now()
        token = ApiToken.usable_with_secret(parts[1].decode("utf-8", errors="replace"), at=now)
        if token is None:
            raise exceptions.AuthenticationFailed(TOKEN_REFUSED)
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
            # At most once a minute (LAST_USED_EVERY): a gateway asking an access decision for
            # each of its requests would otherwise write, and lock, its token's row every time.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            ApiToken.forget_kept(token.digest)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="PIM API"'  # so an anonymous call is a 401, not a 403


class VerifiedSessionAuthentication(SessionAuthentication):
    """The browser's session, only once it passed the OTP check, and with CSRF."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if not user or not user.is_authenticated or not user.is_active or not user.is_verified():
            return None
        self.enforce_csrf(request)
        return user, None


class MayUseApi(BasePermission):
    """Deny by default: a signed-in caller, and a token only for what it was made for (a view
    names that in `token_permission`; "api" unless it says otherwise)."""

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if isinstance(request.auth, ApiToken):
            return request.auth.allows(getattr(view, "token_permission", TokenPermission.API))
        return True
