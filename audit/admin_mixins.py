"""Admin building blocks shared by every app (audit is the bottom of the dependency line)."""


class ReadOnlyAdminMixin:
    """Every field shown, none editable; no add, change or delete. For records that only
    services write: audit events, activation requests, approvals, schedules."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
