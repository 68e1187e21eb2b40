"""Safer admin pages for the third-party models PIM uses. Loaded last (pimsite is the last
installed app), so it can replace what those apps registered."""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import Schedule

from audit.admin_mixins import ReadOnlyAdminMixin
from audit.services import record_event


class SecondFactorAdmin(admin.ModelAdmin):
    """Shows who has which device, never its secret; deleting one resets that user's MFA
    (they enrol again at their next sign-in). Adding or editing is the user's own job."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__email")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    list_select_related = ("user",)
    audits_itself = True  # auth.mfa_device_removed

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj):
        record_event(
            actor=request.user,
            action="auth.mfa_device_removed",
            principal=obj.user,
            target=obj,
            data={"device": obj.name},
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for device in queryset.select_related("user"):
            self.delete_model(request, device)


class ReadOnlyScheduleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Schedules name Python functions to run: PIM creates them in code, the admin only shows them."""

    list_display = ("name", "func", "schedule_type", "next_run", "repeats")
    search_fields = ("name", "func")


for model in (TOTPDevice, StaticDevice, Schedule):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
admin.site.register(TOTPDevice, SecondFactorAdmin)
admin.site.register(StaticDevice, SecondFactorAdmin)
admin.site.register(Schedule, ReadOnlyScheduleAdmin)
