from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PimsiteConfig(AppConfig):
    name = "pimsite"
    verbose_name = "PIM"
    default = True

    def ready(self) -> None:
        from pimsite import signals  # noqa: F401  (connects the sign-in audit receivers)


class PIMAdminConfig(admin_apps.AdminConfig):
    """The Django admin, behind PIM's own gate (see pimsite.admin_site)."""

    default = False
    default_site = "pimsite.admin_site.PIMAdminSite"
