"""Who is a PIM administrator right now, asked once per request."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from roles.selectors import is_pim_administrator


def is_verified(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and getattr(user, "is_verified", lambda: False)())


def holds_administrator_role(user) -> bool:
    """Holds an active Privileged Role Administrator or Global Administrator assignment at '/'
    now. Cached on the user object, which lives for one request: an assignment that ends is
    gone on the very next request."""
    if not user.is_active or user.is_anonymous:
        return False
    if not hasattr(user, "_pim_administrator_role"):
        user._pim_administrator_role = is_pim_administrator(user=user, at=timezone.now())
    return user._pim_administrator_role


def acts_as_pim_administrator(request) -> bool:
    """An OTP-verified session whose user holds an administrator role right now."""
    return is_verified(request.user) and holds_administrator_role(request.user)


def pim_administrator_required(view):
    """For the /manage/ console: an OTP-verified session holding an active Privileged Role
    Administrator or Global Administrator assignment at '/' right now; anyone else gets 403
    with what to do (activate the role)."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not acts_as_pim_administrator(request):
            raise PermissionDenied(NEEDS_ACTIVE_ADMIN_ROLE)
        return view(request, *args, **kwargs)

    return guarded


NEEDS_ACTIVE_ADMIN_ROLE = (
    "Managing PIM needs an active Privileged Role Administrator or Global Administrator assignment at /. "
    "Being eligible is not enough: activate the role from My roles first."
)


class PIMAdministrator(BasePermission):
    """The API's administration endpoints (roles/api.py): a caller holding an active Privileged
    Role Administrator or Global Administrator assignment at '/' right now, asked once per
    request (holds_administrator_role). Anyone else who signed in gets 403 on a collection, and
    404 on an object (a view with `hides_objects = True`), so slugs and ids cannot be probed.
    Callers without credentials get 401 before this is asked (pimsite.api_auth.MayUseApi)."""

    message = NEEDS_ACTIVE_ADMIN_ROLE
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        if holds_administrator_role(request.user):
            return True
        if request.user.is_authenticated and getattr(view, "hides_objects", False):
            raise NotFound
        return False
