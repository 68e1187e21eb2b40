from django.contrib import admin

from activations.models import ActivationRequest, Approval
from audit.admin_mixins import ReadOnlyAdminMixin


class ApprovalInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Approval
    extra = 0
    fields = ("stage", "approver", "decision", "justification", "decided_at")


@admin.register(ActivationRequest)
class ActivationRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Requests and decisions move only through the workflow's services. Extend and renew
    requests show what they change (target_active or eligibility) and the end asked for, read-only
    like every field (ReadOnlyAdminMixin)."""

    list_display = (
        "id", "kind", "requester", "role", "scope", "status", "start_at", "duration_minutes", "requested_end_at",
        "created_at",
    )  # fmt: skip
    list_filter = ("status", "kind", "role")
    search_fields = ("requester__username", "justification", "ticket_number")
    list_select_related = ("requester", "role", "scope")
    inlines = [ApprovalInline]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("request", "stage", "approver", "decision", "decided_at")
    list_filter = ("decision",)
    list_select_related = ("request__role", "request__scope", "request__requester", "approver")
