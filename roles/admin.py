"""The Django admin for roles, scopes, settings and assignments. Every save goes through
`roles.services`, so the admin obeys the same rules and writes the same audit events as
every other path."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils import timezone

from audit.admin_mixins import ReadOnlyAdminMixin
from roles import mfa, rules, services
from roles.forms import user_or_group
from roles.models import (
    ActiveAssignment,
    ApprovalStage,
    BreakGlassAccount,
    EligibleAssignment,
    Role,
    RoleSettings,
    Scope,
)


class ServiceBackedAdmin(admin.ModelAdmin):
    """Saving calls a service; a refusal the form could not foresee (a race) is reported
    as an error message instead of a crash, and the admin then neither logs nor announces
    a change that did not happen: it shows the same page again."""

    def report_refusal(self, request, refusal: ValidationError) -> None:
        request._pim_refused = True  # read by the log_* and response_* methods below
        for message in refusal.messages:
            self.message_user(request, message, level=messages.ERROR)

    @staticmethod
    def _refused(request) -> bool:
        return getattr(request, "_pim_refused", False)

    def log_addition(self, request, obj, message):
        return None if self._refused(request) else super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        return None if self._refused(request) else super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if self._refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if self._refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def response_delete(self, request, obj_display, obj_id):
        if self._refused(request):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_delete(request, obj_display, obj_id)


class RoleSettingsInline(admin.StackedInline):
    model = RoleSettings
    can_delete = False
    extra = 0
    show_change_link = True
    fields = ("activation_max_minutes", "require_approval", "require_mfa_on_activation")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Role)
class RoleAdmin(ServiceBackedAdmin):
    list_display = ("name", "slug", "tier", "is_builtin")
    list_filter = ("tier", "is_builtin")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [RoleSettingsInline]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_builtin:  # fixed by the service; its settings stay editable
            return ("name", "slug", "tier", "description", "is_builtin")
        return ("slug", "is_builtin") if obj else ("is_builtin",)

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else self.prepopulated_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                services.update_role(
                    actor=request.user, role=obj, name=data["name"], tier=data["tier"], description=data["description"]
                )
            else:
                created = services.create_role(
                    actor=request.user,
                    slug=data["slug"],
                    name=data["name"],
                    tier=data["tier"],
                    description=data["description"],
                )
                obj.pk = created.pk
        except ValidationError as refusal:
            self.report_refusal(request, refusal)

    def save_related(self, request, form, formsets, change):
        pass  # settings are edited on their own page, through update_role_settings

    def construct_change_message(self, request, form, formsets, add=False):
        # The settings inline is read-only and never saved (see save_related), so its formset
        # has no new/changed/deleted objects to describe.
        return super().construct_change_message(request, form, [], add)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A role's settings go with it (services.delete_role); RoleSettingsAdmin refuses only
        # deleting them on their own.
        perms_needed.discard(RoleSettings._meta.verbose_name)
        return deleted, counts, perms_needed, protected

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        try:
            services.delete_role(actor=request.user, role=obj)
        except ValidationError as refusal:
            self.report_refusal(request, refusal)

    def delete_queryset(self, request, queryset):
        for role in queryset:
            self.delete_model(request, role)


class RoleSettingsForm(forms.ModelForm):
    class Meta:
        model = RoleSettings
        fields = services.SETTINGS_FIELDS


def _plan_of(cleaned: dict) -> rules.StagePlan:
    return rules.StagePlan(
        approvers=tuple(cleaned.get("approvers") or ()),
        approver_groups=tuple(cleaned.get("approver_groups") or ()),
        approvals_required=cleaned.get("approvals_required") or 1,
        timeout_minutes=cleaned.get("timeout_minutes") or 24 * 60,
        escalate_after_minutes=cleaned.get("escalate_after_minutes"),
        escalation_approvers=tuple(cleaned.get("escalation_approvers") or ()),
        escalation_groups=tuple(cleaned.get("escalation_groups") or ()),
    )


class ApprovalStageFormSet(forms.BaseInlineFormSet):
    """The stages as a whole, in the order of their position, checked by the same rule the
    service applies (rules.check_stages); the service saves them."""

    def plans(self) -> list[rules.StagePlan]:
        named = [form for form in self.forms if form.instance.pk or form.has_changed()]
        kept = [form for form in named if not self._should_delete_form(form)]
        kept.sort(key=lambda form: form.cleaned_data.get("position") or 0)
        return [_plan_of(form.cleaned_data) for form in kept]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        try:
            rules.check_stages(require_approval=self.instance.require_approval, stages=self.plans())
        except ValidationError as refusal:
            raise ValidationError(refusal.error_dict["stages"]) from None

    def validate_unique(self):
        pass  # the service numbers the stages 1..n in the order given


class ApprovalStageInline(admin.StackedInline):
    model = ApprovalStage
    formset = ApprovalStageFormSet
    extra = 0
    fields = (
        "position",
        ("approvals_required", "timeout_minutes"),
        "approvers",
        "approver_groups",
        "escalate_after_minutes",
        "escalation_approvers",
        "escalation_groups",
    )
    filter_horizontal = ("approvers", "approver_groups", "escalation_approvers", "escalation_groups")


@admin.register(RoleSettings)
class RoleSettingsAdmin(ServiceBackedAdmin):
    form = RoleSettingsForm
    list_display = (
        "role",
        "activation_max_minutes",
        "require_mfa_on_activation",
        "require_approval",
        "allow_permanent_active",
    )
    list_select_related = ("role",)
    search_fields = ("role__name",)
    inlines = [ApprovalStageInline]
    fieldsets = (
        (
            "Activation",
            {
                "fields": (
                    "activation_max_minutes",
                    "require_mfa_on_activation",
                    "require_justification_on_activation",
                    "require_ticket_on_activation",
                    "ticket_number_pattern",
                )
            },
        ),
        (
            "Approval",
            {"fields": ("require_approval",), "description": "Who approves, how many and how fast: the stages below."},
        ),
        (
            "Assignment",
            {
                "fields": (
                    "allow_permanent_eligible",
                    "max_eligible_days",
                    "allow_permanent_active",
                    "max_active_days",
                    "require_mfa_on_active_assignment",
                    "require_justification_on_active_assignment",
                )
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return False  # every role has exactly one, made with the role

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        pass  # saved with its stages by update_role_settings, in save_related

    def construct_change_message(self, request, form, formsets, add=False):
        # The stages inline is saved by the service, not by formset.save(): nothing to list here.
        return super().construct_change_message(request, form, [], add)

    def save_related(self, request, form, formsets, change):
        changes = {field: form.cleaned_data[field] for field in services.SETTINGS_FIELDS if field in form.cleaned_data}
        try:
            services.update_role_settings(
                actor=request.user, role=form.instance.role, changes=changes, stages=formsets[0].plans()
            )
        except ValidationError as refusal:
            self.report_refusal(request, refusal)


@admin.register(Scope)
class ScopeAdmin(ServiceBackedAdmin):
    list_display = ("path", "name")
    search_fields = ("path", "name")
    fields = ("path", "name")

    def get_readonly_fields(self, request, obj=None):
        return ("path", "name") if obj else ()

    def has_change_permission(self, request, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        created = services.create_scope(
            actor=request.user, path=form.cleaned_data["path"], name=form.cleaned_data["name"]
        )
        obj.pk = created.pk

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class ScopeForm(form):
            def clean_path(self):
                path = self.cleaned_data["path"]
                try:
                    rules.check_scope_path(path)
                except ValidationError as refusal:  # keyed by field; clean_<field> needs it bare
                    raise ValidationError(refusal.error_dict["path"]) from None
                return path

        return ScopeForm


class AssignmentForm(forms.ModelForm):
    """The rules of the role's settings, checked before the service checks them again under lock."""

    kind = "eligible"

    class Meta:
        fields = ("principal", "group", "role", "scope", "start_at", "end_at", "justification")

    def clean(self):
        cleaned = super().clean()
        holder = user_or_group(self, cleaned)
        role = cleaned.get("role")
        start_at = cleaned.get("start_at")
        if role is None or start_at is None:
            return cleaned
        rules.check_assignment_window(
            role_settings=role.settings,
            kind=self.kind,
            start_at=start_at,
            end_at=cleaned.get("end_at"),
            justification=cleaned.get("justification", ""),
        )
        if holder is not None and cleaned.get("scope") is not None:
            services.check_not_assigned(self._meta.model, principal=holder, role=role, scope=cleaned["scope"],
                                        now=timezone.now())  # fmt: skip
        return cleaned

    def validate_constraints(self, exclude=None):
        pass  # user_or_group and check_not_assigned say it in words; the service and database enforce it


class EligibleAssignmentForm(AssignmentForm):
    kind = "eligible"

    class Meta(AssignmentForm.Meta):
        model = EligibleAssignment


class ActiveAssignmentForm(AssignmentForm):
    kind = "active"
    otp_token = forms.CharField(
        label="Verification code", required=False, max_length=20,
        help_text="Needed for a role that requires multifactor authentication on active assignment, unless you "
        "entered a code in the last few minutes.",
    )  # fmt: skip
    request = None  # set by ActiveAssignmentAdmin.get_form: the code is checked against the administrator
    mfa_verified_at = None

    def clean(self):
        cleaned = super().clean()
        try:
            self.mfa_verified_at = mfa.step_up(self.request, token=cleaned.get("otp_token", ""),
                                               stage="active assignment")  # fmt: skip
            if cleaned.get("role") is not None:
                services.check_mfa_on_active(ActiveAssignment, cleaned["role"].settings, actor=self.request.user,
                                             mfa_verified_at=self.mfa_verified_at, now=timezone.now())  # fmt: skip
        except ValidationError as refusal:
            self.add_error(None, refusal)
        return cleaned

    class Meta(AssignmentForm.Meta):
        model = ActiveAssignment


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("in_effect", "In effect now"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "in_effect":
            return queryset.in_effect(timezone.now())
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class AssignmentAdmin(ServiceBackedAdmin):
    """Add through the service; existing assignments are read-only and are ended with the
    'Remove' action (the row stays, as history)."""

    list_display = ("principal", "group", "role", "scope", "start_at", "end_at", "ended_at", "end_reason")
    list_filter = (StateFilter, "role", "end_reason")
    search_fields = ("principal__username", "group__name", "role__name", "scope__path", "justification")
    list_select_related = ("principal", "group", "role", "scope")
    autocomplete_fields = ("principal", "group", "role", "scope")
    actions = ["remove_selected"]
    service = None

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field.name for field in self.model._meta.fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("principal", "group", "role", "scope", "start_at", "end_at", "justification")
        return super().get_fields(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        # An existing assignment is history: view it, or end it with the action.
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changeform_initial_data(self, request):
        return {"start_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            created = type(self).service(
                **self.extra_service_arguments(form),
                actor=request.user,
                principal=data["principal"] or data["group"],
                role=data["role"],
                scope=data["scope"],
                start_at=data["start_at"],
                end_at=data["end_at"],
                justification=data["justification"],
            )
            obj.pk = created.pk
        except ValidationError as refusal:
            self.report_refusal(request, refusal)

    def extra_service_arguments(self, form) -> dict:
        return {}

    @admin.action(description="Remove selected assignments (end them now)")
    def remove_selected(self, request, queryset):
        removed = 0
        for assignment in queryset:
            try:
                removed += services.remove_assignment(actor=request.user, assignment=assignment)
            except ValidationError as refusal:  # the last permanent Global Administrator stays
                self.message_user(request, " ".join(refusal.messages), level=messages.ERROR)
        self.message_user(request, f"Removed {removed} assignment(s).", level=messages.SUCCESS)


@admin.register(EligibleAssignment)
class EligibleAssignmentAdmin(AssignmentAdmin):
    form = EligibleAssignmentForm
    service = staticmethod(services.assign_eligible)


@admin.register(ActiveAssignment)
class ActiveAssignmentAdmin(AssignmentAdmin):
    form = ActiveAssignmentForm
    service = staticmethod(services.assign_active)
    list_display = (*AssignmentAdmin.list_display, "source")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return (*fields, "otp_token") if obj is None else fields

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def extra_service_arguments(self, form) -> dict:
        return {"mfa_verified_at": form.mfa_verified_at}


@admin.register(BreakGlassAccount)
class BreakGlassAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: an active Global Administrator flags and unflags break-glass accounts on
    /manage/break-glass/, which keeps their Global Administrator assignment and audits it."""

    list_display = ("user", "reason", "flagged_by", "flagged_at")
    search_fields = ("user__username", "reason")
    list_select_related = ("user", "flagged_by")

    def changelist_view(self, request, extra_context=None):
        help_text = "Read-only: flag and unflag break-glass accounts on /manage/break-glass/."
        extra_context = {**(extra_context or {}), "subtitle": help_text}
        return super().changelist_view(request, extra_context)


from roles.provisioning import admin as provisioning_admin  # noqa: E402, F401  registers targets and grants
from roles.reviews import admin as review_admin  # noqa: E402, F401  registers the access reviews' admins
