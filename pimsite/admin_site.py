from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from audit.services import record_event
from roles.permissions import acts_as_pim_administrator

# These apps' services write their own, more specific events (assignment.created, ...).
APPS_AUDITED_BY_THEIR_SERVICES = {"roles", "activations", "audit"}


class AuditedModelAdminMixin:
    """Writes an audit event for each admin addition, change and deletion, in the admin's own
    transaction, for models whose app has no services of its own (users, groups, devices...)."""

    def _audit(self, request, obj, action: str, message) -> None:
        # `audits_itself` is set on admins that write a more specific event themselves. Read with
        # getattr: this mixin comes first in the MRO, so a default here would hide theirs.
        if getattr(self, "audits_itself", False) or obj._meta.app_label in APPS_AUDITED_BY_THEIR_SERVICES:
            return
        principal = obj if obj._meta.label == "auth.User" else getattr(obj, "user", None)
        record_event(
            actor=request.user,
            action=f"admin.{action}",
            target=obj,
            principal=principal,
            data={"model": obj._meta.label, "object": str(obj)[:200], "change": message},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted", "")
        return super().log_deletions(request, queryset)


class PIMAdminSite(admin.AdminSite):
    """The Django admin, open only to a verified session that currently holds an active
    Privileged Role Administrator or Global Administrator assignment at '/'. Django's
    is_staff and is_superuser flags give nothing here: PIM governs itself."""

    site_header = "PIM administration"
    site_title = "PIM admin"
    index_title = "Roles, assignments and the audit log"

    def has_permission(self, request) -> bool:
        return acts_as_pim_administrator(request)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        audited = type(admin_class.__name__, (AuditedModelAdminMixin, admin_class), {})
        return super().register(model_or_iterable, audited, **options)

    def password_change(self, request, extra_context=None):
        # The site's own page, which audits the change; the admin's would not.
        return redirect("accounts:password")

    def login(self, request, extra_context=None):
        # One sign-in for the whole site, with MFA; the admin has no password form of its own.
        next_url = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("admin:index")
        if request.user.is_authenticated and getattr(request.user, "is_verified", lambda: False)():
            # Back from sign-in with ?next=/admin/login/?next=...: an administrator goes on.
            return redirect(next_url) if self.has_permission(request) else redirect("admin-refused")
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url})}")
