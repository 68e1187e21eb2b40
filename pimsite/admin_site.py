from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from pimsite.permissions import acts_as_pim_administrator


class PIMAdminSite(admin.AdminSite):
    """The Django admin, open only to a verified session that currently holds an active
    Privileged Role Administrator or Global Administrator assignment at '/'. Django's
    is_staff and is_superuser flags give nothing here: PIM governs itself."""

    site_header = "PIM administration"
    site_title = "PIM admin"
    index_title = "Roles, assignments and the audit log"

    def has_permission(self, request) -> bool:
        return acts_as_pim_administrator(request)

    def login(self, request, extra_context=None):
        # One sign-in for the whole site, with MFA; the admin has no password form of its own.
        if request.user.is_authenticated and getattr(request.user, "is_verified", lambda: False)():
            return redirect("admin-refused")
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': request.GET.get('next', '/admin/')})}")
