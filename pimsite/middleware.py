from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

# Paths reachable without an OTP-verified session. Everything else is closed by default.
# The API answers for itself: a bearer token or a verified session, else 401 (pimsite/api.py).
OPEN_PREFIXES = ("/accounts/login/", "/accounts/logout/", "/healthz", "/static/", "/favicon.ico", "/api/")
UNVERIFIED_PREFIXES = ("/accounts/verify/", "/accounts/enrol/")


class RequireVerifiedSessionMiddleware:
    """Every PIM page needs a signed-in user whose session passed an OTP check.

    Anonymous visitors go to sign-in; signed-in but unverified users go to the code page,
    or to enrolment when they have no device yet."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        if path.startswith(OPEN_PREFIXES):
            return self.get_response(request)
        user = request.user
        if not user.is_authenticated:
            if path.startswith(UNVERIFIED_PREFIXES):
                return redirect("accounts:login")
            return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}")
        if user.is_verified() or path.startswith(UNVERIFIED_PREFIXES):
            return self.get_response(request)
        target = "accounts:verify" if user_has_device(user) else "accounts:enrol"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
