"""The Django admin for provisioning. A target is added, changed and deleted through
roles.provisioning.services (the same checks and audit events as the /manage/ console); grants
are read-only, written by the engine, and the "Retry" action calls services.retry_grant.
Imported by roles/admin.py, which registers the app's admins."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_mixins import ReadOnlyAdminMixin
from roles.admin import ServiceBackedAdmin
from roles.forms import add_refusal
from roles.provisioning import kinds, services
from roles.provisioning.forms import PARAMS_HELP, ParamsField, kind_field
from roles.provisioning.models import Grant, ManagedGroup, Target


class KindFilter(admin.SimpleListFilter):
    """The registered kinds by label (the field has no choices: apps add kinds at start-up)."""

    title = "kind"
    parameter_name = "kind"
    lookup = "kind"

    def lookups(self, request, model_admin):
        return kinds.choices()

    def queryset(self, request, queryset):
        return queryset.filter(**{self.lookup: self.value()}) if self.value() else queryset


class GrantKindFilter(KindFilter):
    parameter_name = "target__kind"
    lookup = "target__kind"


class TargetAdminForm(forms.ModelForm):
    """Parses like the console's form, and asks the kind to check the parameters first, so that
    a mistake is shown beside its field with what was typed; the service checks again on save."""

    params = ParamsField(help_text=PARAMS_HELP)

    class Meta:
        model = Target
        fields = ("role", "name", "kind", "params", "enabled", "revoke_outside_grants")
        error_messages = {"name": {"required": services.NAME_REQUIRED, "max_length": services.NAME_REQUIRED}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:  # on add only: fixed once the target is made
            self.fields["kind"] = kind_field()

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind", self.instance.kind)
        role = cleaned.get("role") or getattr(self.instance, "role", None)
        if kind and "params" in cleaned:
            try:
                cleaned["params"] = kinds.check_kind(kind).check_params(cleaned["params"])
            except ValidationError as refusal:
                add_refusal(self, refusal)
        name = (cleaned.get("name") or "").strip()
        taken = Target.objects.filter(role=role, name=name).exclude(pk=self.instance.pk)
        if role is not None and name and taken.exists():
            self.add_error("name", ValidationError(services.NAME_TAKEN, code="name_taken", params={"name": name}))
        return cleaned

    def validate_constraints(self, exclude=None):
        pass  # the name's uniqueness is said in words in clean(); the service and database enforce it


@admin.register(Target)
class TargetAdmin(ServiceBackedAdmin):
    form = TargetAdminForm
    list_display = ("name", "role", "kind_label", "enabled", "revoke_outside_grants", "drift_checked_at")
    list_filter = (KindFilter, "role", "enabled", "revoke_outside_grants")
    list_select_related = ("role",)
    search_fields = ("name", "role__name", "role__slug")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("role", "name", "kind", "params", "enabled", "revoke_outside_grants")
        return ("role", "kind", "name", "params", "enabled", "revoke_outside_grants", "drift_checked_at",
                "outside_grants", "drift_error", "created_at", "updated_at", "console")  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("role", "kind", "drift_checked_at", "outside_grants", "drift_error", "created_at", "updated_at",
                "console")  # fmt: skip

    def get_actions(self, request):
        # Deleting many at once would announce every one deleted even when the service refused
        # some (grants still in place); one at a time, the refusal is shown on the page.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="kind")
    def kind_label(self, target: Target) -> str:
        return dict(kinds.choices()).get(target.kind, target.kind)

    @admin.display(description="grants and drift")
    def console(self, target: Target) -> str:
        url = reverse("manage:role-targets", args=[target.role.slug]) + f"#target-{target.pk}"
        return format_html('<a href="{}">{}</a>', url, "On the role's targets page")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        settings = {key: data[key] for key in ("name", "params", "enabled", "revoke_outside_grants")}
        try:
            if change:
                services.update_target(actor=request.user, target=obj, **settings)
            else:
                created = services.create_target(actor=request.user, role=data["role"], kind=data["kind"], **settings)
                obj.pk = created.pk
        except ValidationError as refusal:  # a race the form could not see
            self.report_refusal(request, refusal)

    def save_related(self, request, form, formsets, change):
        pass  # a target has no related rows to save; its grants are the engine's

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Its revoked grants go with it (services.delete_target); GrantAdmin refuses only
        # deleting them on their own.
        perms_needed.discard(Grant._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def log_deletions(self, request, queryset):
        # Django logs a deletion before making it, and the service may refuse it (grants in
        # place): delete_model logs it once it is done.
        return None

    def delete_model(self, request, obj):
        try:
            services.delete_target(actor=request.user, target=obj)
        except ValidationError as refusal:  # grants still in place
            self.report_refusal(request, refusal)
        else:
            super().log_deletions(request, [obj])

    def delete_queryset(self, request, queryset):
        for target in queryset:
            self.delete_model(request, target)


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the engine writes grants. A failed one (or a revoke that keeps failing) is
    tried again with the Retry action."""

    list_display = ("user", "target", "role", "state", "attempts", "last_error", "requested_at", "granted_at",
                    "revoked_at")  # fmt: skip
    list_filter = ("state", GrantKindFilter, "target__role")
    list_select_related = ("user", "target__role")
    search_fields = ("user__username", "user__email", "target__name", "target__role__name", "last_error")
    actions = ["retry"]

    @admin.display(description="role", ordering="target__role__name")
    def role(self, grant: Grant) -> str:
        return grant.target.role.name

    @admin.action(description="Retry the selected grants now")
    def retry(self, request, queryset):
        retried = 0
        for grant in queryset.select_related("user", "target"):
            try:
                services.retry_grant(actor=request.user, grant=grant)
            except ValidationError as refusal:  # not failed: granted, revoked or pending
                who = f"{grant.user.get_username()} on {grant.target.name}"
                self.message_user(request, f"{who}: {' '.join(refusal.messages)}", level=messages.ERROR)
            else:
                retried += 1
        if retried:
            self.message_user(request, f"Retrying {retried} grant(s) now.", level=messages.SUCCESS)


@admin.register(ManagedGroup)
class ManagedGroupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: a group is brought under PIM from /manage/groups/ (roles.provisioning.groups)."""

    list_display = ("group", "member_role", "owner_role", "owners_group", "brought_by", "brought_at")
    search_fields = ("group__name", "member_role__name", "owner_role__name")
    list_select_related = ("group", "member_role", "owner_role", "owners_group", "brought_by")
