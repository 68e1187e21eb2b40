from django.contrib import admin

from activations.models import ActivationRequest, Approval


class ReadOnlyAdmin(admin.ModelAdmin):
    """Requests and decisions move only through the workflow's services."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    extra = 0
    fields = ("stage", "approver", "decision", "justification", "decided_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivationRequest)
class ActivationRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "requester", "role", "scope", "status", "start_at", "duration_minutes", "created_at")
    list_filter = ("status", "kind", "role")
    search_fields = ("requester__username", "justification", "ticket_number")
    list_select_related = ("requester", "role", "scope")
    inlines = [ApprovalInline]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("request", "stage", "approver", "decision", "decided_at")
    list_filter = ("decision",)
    list_select_related = ("request__role", "request__scope", "request__requester", "approver")
