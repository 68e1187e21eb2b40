from django.contrib.auth.backends import BaseBackend
from django.utils import timezone

from roles.selectors import is_pim_administrator


class PIMAdministratorPermissions(BaseBackend):
    """Model permissions inside the admin come from holding an active Privileged Role
    Administrator or Global Administrator assignment, not from Django's permission tables.
    It authenticates nobody. The admin site itself also requires an OTP-verified session
    (pimsite.admin_site); read-only models refuse change in their ModelAdmin."""

    def _holds(self, user_obj) -> bool:
        if not user_obj.is_active or user_obj.is_anonymous:
            return False
        # Cached on this user object, which lives for one request.
        if not hasattr(user_obj, "_pim_administrator_perm"):
            user_obj._pim_administrator_perm = is_pim_administrator(user=user_obj, at=timezone.now())
        return user_obj._pim_administrator_perm

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return self._holds(user_obj)

    def has_module_perms(self, user_obj, app_label) -> bool:
        return self._holds(user_obj)
