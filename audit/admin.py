from django.contrib import admin

from audit.admin_mixins import ReadOnlyAdminMixin
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the log is append-only on every path."""

    list_display = ("sequence", "occurred_at", "action", "actor_username", "principal_username", "role", "scope")
    list_filter = ("action", "role")
    search_fields = ("actor_username", "principal_username", "justification", "action", "role", "scope")
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # a count over millions of events is not worth its time
    list_select_related = False
