"""Forms of the /manage/ console. They parse and pre-check; every change goes through
roles.services, which checks again under lock."""

from datetime import UTC

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from roles import notifications, rules, services
from roles.choices import AssignmentType
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings, Scope
from roles.selectors import stage_plans
from roles.services import SETTINGS_FIELDS

# Roles and settings ------------------------------------------------------------------------

SLUG_TAKEN = "Another role already uses this slug; choose another."
NAME_TAKEN = "Another role already has this name; choose another."


def add_refusal(form: forms.BaseForm, refusal: ValidationError) -> None:
    """A service's refusal on a form: each message beside the field it names, a message naming
    no field of the form (or none) above it. Every page that calls a service uses this."""
    if not hasattr(refusal, "error_dict"):
        form.add_error(None, refusal)
        return
    for field, errors in refusal.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class RoleForm(forms.ModelForm):
    """Name, slug (on create only), tier and description of a custom role. The model's unique
    checks put a duplicate name or slug beside its field before the service is called."""

    class Meta:
        model = Role
        fields = ("name", "slug", "tier", "description")
        help_texts = {"slug": "Letters, digits, '-' and '_'; used in URLs and policy files. It cannot change later."}
        error_messages = {"slug": {"unique": SLUG_TAKEN}, "name": {"unique": NAME_TAKEN}}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class RoleEditForm(RoleForm):
    class Meta(RoleForm.Meta):
        fields = ("name", "tier", "description")


def _range(field: str) -> str:
    bound = rules.BOUNDS_BY_FIELD[field]
    return f"{bound.describe(bound.low)} to {bound.describe(bound.high)}"


class RoleSettingsForm(forms.Form):
    """Every setting of one role, grouped as Entra groups them. Durations are typed in hours
    (and minutes) and converted to the minutes the service takes; ranges are checked by the
    service alone (rules.check_role_settings), so the message is the same everywhere."""

    # Activation
    activation_hours = forms.IntegerField(label="Hours", initial=8)
    activation_minutes = forms.IntegerField(label="Minutes", min_value=0, max_value=59, initial=0)
    require_mfa_on_activation = forms.BooleanField(label="On activation, require multifactor authentication",
                                                   required=False)  # fmt: skip
    require_justification_on_activation = forms.BooleanField(label="Require justification on activation",
                                                             required=False)  # fmt: skip
    require_ticket_on_activation = forms.BooleanField(label="Require ticket information on activation",
                                                      required=False)  # fmt: skip
    ticket_number_pattern = forms.CharField(
        label="Ticket number pattern",
        required=False,
        max_length=200,
        help_text=r"Optional regular expression the whole ticket number must match, e.g. ^INC-\d{4,}$",
    )
    # Approval (who approves: the stages, a formset of StageForm beside this form)
    require_approval = forms.BooleanField(label="Require approval to activate", required=False)
    # Assignment
    allow_permanent_eligible = forms.BooleanField(label="Allow permanent eligible assignment", required=False)
    max_eligible_days = forms.IntegerField(
        label="Expire eligible assignments after (days)",
        help_text=f"{_range('max_eligible_days')}; applies when permanent eligible assignment is not allowed.",
    )
    allow_permanent_active = forms.BooleanField(label="Allow permanent active assignment", required=False)
    max_active_days = forms.IntegerField(
        label="Expire active assignments after (days)",
        help_text=f"{_range('max_active_days')}; applies when permanent active assignment is not allowed.",
    )
    require_mfa_on_active_assignment = forms.BooleanField(
        label="Require multifactor authentication on active assignment", required=False
    )
    require_justification_on_active_assignment = forms.BooleanField(
        label="Require justification on active assignment", required=False
    )

    # Where a refusal naming a setting is shown, when the form asks for it in other units.
    FIELD_OF_SETTING = {"activation_max_minutes": "activation_hours"}

    def __init__(self, data=None, *, role_settings: RoleSettings):
        self.role_settings = role_settings
        hours, minutes = divmod(role_settings.activation_max_minutes, 60)
        initial = {field: getattr(role_settings, field) for field in SETTINGS_FIELDS} | {
            "activation_hours": hours,
            "activation_minutes": minutes,
        }
        for rule in notifications.RULES:
            wanted = notifications.settings_of(role_settings.notification_rules, rule)
            initial |= {
                _rule_field(rule, "default"): wanted["default_recipients"],
                _rule_field(rule, "additional"): ", ".join(wanted["additional_recipients"]),
                _rule_field(rule, "critical"): wanted["critical_only"],
            }
        super().__init__(data, initial=initial)
        self.fields["activation_hours"].help_text = f"Activation maximum duration: {_range('activation_max_minutes')}."
        for rule in notifications.RULES:
            recipients = notifications.DEFAULT_RECIPIENTS[rule.audience]
            self.fields[_rule_field(rule, "default")] = forms.BooleanField(
                label=f"{rule.label}: default recipients ({recipients})", required=False
            )
            self.fields[_rule_field(rule, "additional")] = forms.CharField(
                label=f"{rule.label}: additional recipients", required=False, max_length=2000,
                help_text="Email addresses separated by commas (at most 20).",
            )  # fmt: skip
            self.fields[_rule_field(rule, "critical")] = forms.BooleanField(
                label=f"{rule.label}: critical emails only", required=False
            )

    def notification_sections(self) -> list[tuple[str, list[dict]]]:
        """The nine rules for the template: per event, each rule with its three fields."""
        sections = []
        for event, title in notifications.EVENTS.items():
            parts = ("default", "additional", "critical")
            rows = [
                {"rule": rule, **{part: self[_rule_field(rule, part)] for part in parts}}
                for rule in notifications.RULES
                if rule.event == event
            ]
            sections.append((title, rows))
        return sections

    def clean(self):
        cleaned = super().clean()
        hours, minutes = cleaned.get("activation_hours"), cleaned.get("activation_minutes")
        if hours is not None and minutes is not None:
            cleaned["activation_max_minutes"] = hours * 60 + minutes
        chosen = {}
        for rule in notifications.RULES:
            additional = cleaned.get(_rule_field(rule, "additional")) or ""
            wanted = {
                "default_recipients": cleaned.get(_rule_field(rule, "default"), False),
                "additional_recipients": [address.strip() for address in additional.split(",") if address.strip()],
                "critical_only": cleaned.get(_rule_field(rule, "critical"), False),
            }
            if wanted != notifications.DEFAULT:  # Entra's defaults are not stored
                chosen[rule.key] = wanted
        cleaned["notification_rules"] = chosen
        return cleaned

    def changes(self) -> dict:
        """The `changes` argument of services.update_role_settings."""
        return {field: self.cleaned_data[field] for field in SETTINGS_FIELDS}

    def add_refusal(self, refusal: ValidationError) -> None:
        """Each message beside the field it names (in this form's units); others above the form.
        Stage problems are placed by StageFormSet.add_refusal."""
        if not hasattr(refusal, "error_dict"):
            self.add_error(None, refusal)
            return
        for setting, errors in refusal.error_dict.items():
            if setting == "stages":
                continue
            for error in errors:
                field = self.FIELD_OF_SETTING.get(setting, setting)
                rule = notifications.RULES_BY_KEY.get((error.params or {}).get("key"))
                if rule is not None:
                    field = _rule_field(rule, "additional")
                self.add_error(field if field in self.fields else None, error)


def _rule_field(rule, part: str) -> str:
    """The settings form's field for one part of one notification rule."""
    return f"notify__{rule.event}__{rule.audience}__{part}"


def _kept_minutes(hours: int | None, current: int | None) -> int | None:
    """Minutes from an hours field; a value set elsewhere in minutes (e.g. 90) shows as whole
    hours, and is kept as it was when the hours are left unchanged."""
    if hours is None:
        return None
    if current is not None and hours == current // 60:
        return current
    return hours * 60


class StageForm(forms.Form):
    """One approval stage. Ranges are the service's (rules.check_stages); this only parses."""

    approvers = forms.ModelMultipleChoiceField(
        label="Approvers (users)", queryset=get_user_model().objects.none(), required=False
    )
    approver_groups = forms.ModelMultipleChoiceField(
        label="Approver groups", queryset=Group.objects.order_by("name"), required=False,
        help_text="Every member of a selected group can approve.",
    )  # fmt: skip
    approvals_required = forms.IntegerField(
        label="Approvals required", initial=1, help_text=f"{_range('approvals_required')}, from distinct approvers."
    )
    timeout_hours = forms.IntegerField(
        label="Approval timeout (hours)", initial=24,
        help_text=f"{_range('timeout_minutes')}; a request nobody completes this stage for by then times out.",
    )  # fmt: skip
    escalate_after_hours = forms.IntegerField(
        label="Escalate after (hours)", required=False,
        help_text="Optional: with no decision by then, the escalation approvers below may decide too. "
        "Less than the timeout.",
    )  # fmt: skip
    escalation_approvers = forms.ModelMultipleChoiceField(
        label="Escalation approvers (users)", queryset=get_user_model().objects.none(), required=False
    )
    escalation_groups = forms.ModelMultipleChoiceField(
        label="Escalation groups", queryset=Group.objects.order_by("name"), required=False
    )

    def __init__(self, *args, people: "StagePeople", **kwargs):
        super().__init__(*args, **kwargs)
        for field in ("approvers", "escalation_approvers"):
            self.fields[field].queryset = people.users  # what a submitted choice is checked against
            self.fields[field].choices = people.user_choices  # what is shown: read once per formset
        for field in ("approver_groups", "escalation_groups"):
            self.fields[field].choices = people.group_choices

    def plan(self) -> rules.StagePlan:
        data = self.cleaned_data
        return rules.StagePlan(
            approvers=tuple(data["approvers"]),
            approver_groups=tuple(data["approver_groups"]),
            approvals_required=data["approvals_required"],
            timeout_minutes=_kept_minutes(data["timeout_hours"], self.initial.get("timeout_minutes")),
            escalate_after_minutes=_kept_minutes(
                data.get("escalate_after_hours"), self.initial.get("escalate_after_minutes")
            ),
            escalation_approvers=tuple(data["escalation_approvers"]),
            escalation_groups=tuple(data["escalation_groups"]),
        )


# Where a stage refusal is shown, when the form asks for it in other units.
STAGE_FIELD_OF_SETTING = {"timeout_minutes": "timeout_hours", "escalate_after_minutes": "escalate_after_hours"}


class BaseStageFormSet(forms.BaseFormSet):
    """The role's stages in order. A blank extra form adds a stage; "Remove" drops one."""

    def kept_forms(self) -> list[StageForm]:
        # A stage that exists, or a blank one filled in; not one marked for removal.
        named = [form for form in self.forms if form.initial or form.has_changed()]
        return [form for form in named if not self._should_delete_form(form)]

    def plans(self) -> list[rules.StagePlan]:
        return [form.plan() for form in self.kept_forms()]

    def add_refusal(self, refusal: ValidationError) -> None:
        """Each stage problem beside its field in that stage's form; others above the stages."""
        if not hasattr(refusal, "error_dict"):
            return
        kept = self.kept_forms()
        for error in refusal.error_dict.get("stages", []):
            params = error.params or {}
            number, field = params.get("stage"), STAGE_FIELD_OF_SETTING.get(params.get("field"), params.get("field"))
            if number is not None and number <= len(kept) and field in kept[number - 1].fields:
                kept[number - 1].add_error(field, error)
            else:
                self._non_form_errors = self.non_form_errors() + error.messages


StageFormSet = forms.formset_factory(
    StageForm, formset=BaseStageFormSet, extra=1, can_delete=True, max_num=rules.MAX_STAGES, validate_max=True
)


class StagePeople:
    """The users and groups every stage form offers, read once for the whole formset (each form
    reading them again made the settings page cost four queries per stage): active users and
    anyone already named, so that saving never drops an approver silently."""

    def __init__(self, named_user_ids):
        self.users = get_user_model().objects.filter(Q(is_active=True) | Q(pk__in=named_user_ids)).order_by("username")
        self.user_choices = [(user.pk, user.get_username()) for user in self.users]
        self.group_choices = [(group.pk, group.name) for group in Group.objects.order_by("name")]


def stage_formset(data=None, *, role_settings: RoleSettings) -> BaseStageFormSet:
    initial = [
        {
            **{field: getattr(plan, field) for field in ("approvals_required", "timeout_minutes",
                                                         "escalate_after_minutes")},
            "approvers": list(plan.approvers),
            "approver_groups": list(plan.approver_groups),
            "escalation_approvers": list(plan.escalation_approvers),
            "escalation_groups": list(plan.escalation_groups),
            "timeout_hours": plan.timeout_minutes // 60,
            "escalate_after_hours": plan.escalate_after_minutes // 60 if plan.escalate_after_minutes else None,
        }
        for plan in stage_plans(role_settings)
    ]  # fmt: skip
    named = {user.pk for stage in initial for field in ("approvers", "escalation_approvers") for user in stage[field]}
    return StageFormSet(data, initial=initial, prefix="stages", form_kwargs={"people": StagePeople(named)})


# Assignments and scopes --------------------------------------------------------------------

USER_OR_GROUP = "Choose a user or a group to assign the role to (one of them, not both)."


def user_or_group(form: forms.BaseForm, cleaned: dict):
    """The holder an assignment form names: its user or its group, exactly one (else an error
    beside the user field). Shared by the console and the Django admin."""
    user, group = cleaned.get("principal"), cleaned.get("group")
    if (user is None) == (group is None):
        if "principal" not in form.errors and "group" not in form.errors:
            form.add_error("principal", ValidationError(USER_OR_GROUP, code="user_or_group"))
        return None
    return user or group


ASSIGNMENT_MODELS = {"eligible": EligibleAssignment, "active": ActiveAssignment}
EXPIRING_OUT_OF_RANGE = "Expiring within is a whole number of days from 1 to 365."
FILTER_IGNORED = "%(label)s: %(error)s That filter was ignored."


class UTCDateTimeField(forms.DateTimeField):
    """A datetime-local input read and shown as UTC, whatever the server's time zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def to_python(self, value):
        with timezone.override(UTC):
            return super().to_python(value)

    def prepare_value(self, value):
        with timezone.override(UTC):
            return super().prepare_value(value)


def _now_to_the_minute():
    return timezone.now().replace(second=0, microsecond=0)


class AssignmentForm(forms.Form):
    """A new eligible or active assignment. The role's assignment rules are checked here, as
    roles.admin.AssignmentForm does, so each message sits beside its field; the service checks
    them again under lock. Field names are the service's keyword names."""

    principal = forms.ModelChoiceField(label="User", queryset=get_user_model().objects.none(), required=False)
    group = forms.ModelChoiceField(
        label="Or a group", queryset=Group.objects.order_by("name"), required=False,
        help_text="Every member of the group holds the assignment while a member; leaving the group ends it.",
    )  # fmt: skip
    role = forms.ModelChoiceField(queryset=Role.objects.select_related("settings").order_by("name"))
    scope = forms.ModelChoiceField(queryset=Scope.objects.order_by("path"))
    kind = forms.ChoiceField(
        label="Assignment type",
        choices=AssignmentType.choices,
        widget=forms.RadioSelect,
        initial=AssignmentType.ELIGIBLE,
    )
    start_at = UTCDateTimeField(
        label="Start (UTC)", initial=_now_to_the_minute, help_text="Date and time in UTC; now unless you change it."
    )
    end_at = UTCDateTimeField(
        label="End (UTC)",
        required=False,
        help_text="Date and time in UTC. Leave empty for a permanent assignment, if the role's settings allow one.",
    )
    justification = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this person needs the role (up to 500 characters); "
        "required for active assignments of most roles.",
    )
    otp_token = forms.CharField(
        label="Verification code", required=False, max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text="For an active assignment of a role that requires multifactor authentication on active "
        "assignment: the code your authenticator app shows now (not needed within %(minutes)s minutes of your "
        "last code).",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["principal"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["otp_token"].help_text %= {"minutes": settings.PIM_MFA_MAX_AGE}
        self.fields["principal"].label_from_instance = lambda user: user.get_username()

    def clean(self):
        cleaned = super().clean()
        holder = user_or_group(self, cleaned)
        role, start_at, kind = cleaned.get("role"), cleaned.get("start_at"), cleaned.get("kind")
        if role is None or start_at is None or kind is None or "end_at" in self.errors:
            return cleaned
        rules.check_assignment_window(
            role_settings=role.settings,
            kind=kind,
            start_at=start_at,
            end_at=cleaned.get("end_at"),
            justification=cleaned.get("justification", ""),
        )
        if holder is not None and cleaned.get("scope") is not None:
            services.check_not_assigned(ASSIGNMENT_MODELS[kind], principal=holder, role=role, scope=cleaned["scope"],
                                        now=timezone.now())  # fmt: skip
        return cleaned

    def service_arguments(self) -> dict:
        """The keyword arguments of services.assign_eligible / assign_active (all but actor)."""
        return {
            "principal": self.cleaned_data["principal"] or self.cleaned_data["group"],
            **{name: self.cleaned_data[name] for name in ("role", "scope", "start_at", "end_at", "justification")},
        }

    def add_refusal(self, refusal: ValidationError) -> None:
        add_refusal(self, refusal)


class AssignmentFilterForm(forms.Form):
    """The list's GET filters. A filter with a bad value is dropped, and the page says so."""

    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any"), *AssignmentType.choices])
    role = forms.ModelChoiceField(
        label="Role", required=False, queryset=Role.objects.order_by("name"), to_field_name="slug", empty_label="Any"
    )
    user = forms.CharField(label="User", required=False, max_length=150)
    scope = forms.CharField(label="Scope", required=False, max_length=400, help_text="Assignments made at this path.")
    duration = forms.ChoiceField(
        label="Duration",
        required=False,
        choices=[("", "Any"), ("permanent", "Permanent"), ("time-bound", "Time-bound")],
    )
    expiring = forms.IntegerField(
        label="Expiring within (days)",
        required=False,
        min_value=1,
        max_value=365,
        error_messages={
            "invalid": EXPIRING_OUT_OF_RANGE,
            "min_value": EXPIRING_OUT_OF_RANGE,
            "max_value": EXPIRING_OUT_OF_RANGE,
        },
    )

    def problems(self) -> list[str]:
        """One sentence per filter that was ignored."""
        return [
            FILTER_IGNORED % {"label": self.fields[name].label, "error": " ".join(errors)}
            for name, errors in self.errors.items()
        ]

    def filters(self) -> dict:
        """The valid filters, by name; empty ones left out."""
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class ScopeForm(forms.Form):
    """A new scope; services.create_scope makes any missing scope above it."""

    path = forms.CharField(max_length=400, help_text="e.g. /subscriptions/prod/rg-web; missing parents are created.")
    name = forms.CharField(max_length=150, required=False, help_text="Optional display name.")

    def clean_path(self):
        path = self.cleaned_data["path"]
        try:
            rules.check_scope_path(path)
        except ValidationError as refusal:
            raise ValidationError(refusal.error_dict["path"]) from None
        return path


class AssignmentEndForm(forms.Form):
    end_at = UTCDateTimeField(
        label="New end (UTC)", required=False,
        help_text="Date and time in UTC. Leave empty to make it permanent, if the role's settings allow it.",
    )  # fmt: skip
