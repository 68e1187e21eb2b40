"""Who is a PIM administrator right now, asked once per request."""

from django.utils import timezone

from roles.selectors import is_pim_administrator


def is_verified(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and getattr(user, "is_verified", lambda: False)())


def acts_as_pim_administrator(request) -> bool:
    """An OTP-verified session whose user holds an active Privileged Role Administrator or
    Global Administrator assignment at '/' at this moment. Cached on the request only, so an
    assignment that ends is gone on the very next request."""
    cached = getattr(request, "_pim_administrator", None)
    if cached is None:
        cached = is_verified(request.user) and is_pim_administrator(user=request.user, at=timezone.now())
        request._pim_administrator = cached
    return cached
