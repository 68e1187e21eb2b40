from django.contrib.auth.backends import BaseBackend, ModelBackend

from roles.permissions import holds_administrator_role


class PasswordBackend(ModelBackend):
    """Checks usernames and passwords, and grants nothing: in PIM, Django's permission tables,
    is_staff and is_superuser carry no rights. Rights come from assignments (below)."""

    def get_user_permissions(self, user_obj, obj=None) -> set:
        return set()

    def get_group_permissions(self, user_obj, obj=None) -> set:
        return set()

    def get_all_permissions(self, user_obj, obj=None) -> set:
        return set()

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return False

    def has_module_perms(self, user_obj, app_label) -> bool:
        return False


class PIMAdministratorPermissions(BaseBackend):
    """Model permissions inside the admin come from holding an active Privileged Role
    Administrator or Global Administrator assignment. It authenticates nobody. The admin site
    itself also requires an OTP-verified session (pimsite.admin_site); read-only models
    refuse changes in their ModelAdmin."""

    def has_perm(self, user_obj, perm, obj=None) -> bool:
        return holds_administrator_role(user_obj)

    def has_module_perms(self, user_obj, app_label) -> bool:
        return holds_administrator_role(user_obj)
