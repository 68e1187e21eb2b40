"""The administration endpoints under /api/v1/: roles and their settings, scopes, eligible and
active assignments. Thin: parse, call the same service or selector as the /manage/ console,
render. Roles are named by slug, scopes by path, users by username (a group as "group:NAME").

Who may call: an active Privileged Role Administrator or Global Administrator at '/' right now
(roles.permissions.PIMAdministrator), through a token made for "api" or an OTP-verified
session. Anyone else who signed in gets 403 on a collection and 404 on an object; without
credentials, 401. Bad input is a 400 naming the field, the rule and the range, and changes
nothing; a change the object's state forbids (already ended, still in use) is a 409."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from roles import mfa, notifications, rules, selectors, services
from roles.bulk import GROUP_PREFIX, PRINCIPAL_DISABLED, UNKNOWN_GROUP, UNKNOWN_PRINCIPAL
from roles.choices import Tier
from roles.forms import NAME_TAKEN, SLUG_TAKEN, AssignmentFilterForm
from roles.models import ActiveAssignment, Assignment, EligibleAssignment, Role, RoleSettings, Scope
from roles.permissions import PIMAdministrator
from roles.throttling import ScopedRateThrottle

UNKNOWN_ROLE = "No role has the slug '%(value)s'; GET /api/v1/roles/ lists them."
UNKNOWN_SCOPE = "No scope has the path '%(value)s'; create it with POST /api/v1/scopes/ first."
UNKNOWN_APPROVER = "No active user has the username '%(value)s'."
UNKNOWN_APPROVER_GROUP = "No group is named '%(value)s'."
TIER_CHOICES = f"Tier is one of: {', '.join(Tier.values)}."
MFA_CODE_NEEDED = (
    "%(role)s requires multifactor authentication on active assignment: send 'otp' with the code your "
    "authenticator app shows now (a token alone never proves a second factor)."
)
# The services' argument names that the API calls otherwise.
API_FIELD = {"stages": "approval_stages", "otp_token": "otp"}
FILTERS = ("role", "user", "scope", "duration", "expiring")  # AssignmentFilterForm's, but for "type"


class Conflict(APIException):
    """409: the object's current state forbids the change (already ended, still in use)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this."
    default_code = "conflict"


class Administration:
    """Mixin of every view here: the API's default permissions (a signed-in caller; a token
    only if made for "api"), then PIMAdministrator. `hides_objects`: a non-administrator gets
    404 rather than 403, for views of one object."""

    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, PIMAdministrator]
    hides_objects = False


def _renamed(refusal: DjangoValidationError) -> DjangoValidationError:
    """A service's refusal with its fields named as the API names them (API_FIELD)."""
    if not hasattr(refusal, "error_dict"):
        return refusal
    return DjangoValidationError({API_FIELD.get(field, field): errors for field, errors in refusal.error_dict.items()})


# Roles -----------------------------------------------------------------------------------------


class RoleSerializer(serializers.ModelSerializer):
    eligible_permanent = serializers.IntegerField(read_only=True, help_text="Eligible assignments in effect now.")
    eligible_time_bound = serializers.IntegerField(read_only=True)
    active_permanent = serializers.IntegerField(read_only=True, help_text="Active assignments in effect now.")
    active_time_bound = serializers.IntegerField(read_only=True)

    class Meta:
        model = Role
        fields = ("slug", "name", "tier", "description", "is_builtin", "created_at", "eligible_permanent",
                  "eligible_time_bound", "active_permanent", "active_time_bound")  # fmt: skip
        read_only_fields = fields


class RoleCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=150)
    tier = serializers.ChoiceField(choices=Tier.choices, error_messages={"invalid_choice": TIER_CHOICES})
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_slug(self, slug: str) -> str:
        if Role.objects.filter(slug=slug).exists():
            raise serializers.ValidationError(SLUG_TAKEN)
        return slug

    def validate_name(self, name: str) -> str:
        if Role.objects.filter(name=name).exclude(pk=getattr(self.instance, "pk", None)).exists():
            raise serializers.ValidationError(NAME_TAKEN)
        return name


class RoleUpdateSerializer(RoleCreateSerializer):
    """Any of name, tier and description; the slug never changes. `instance`: the role."""

    slug = None
    name = serializers.CharField(max_length=150, required=False)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False,
                                   error_messages={"invalid_choice": TIER_CHOICES})  # fmt: skip
    description = serializers.CharField(required=False, allow_blank=True)


def _role(slug: str) -> Role:
    """The role with this slug and its counts; 404 otherwise."""
    role = selectors.roles_with_assignment_counts(at=timezone.now()).filter(slug=slug).first()
    if role is None:
        raise Http404
    return role


class Roles(Administration, generics.ListAPIView):
    """GET: every role, built-in and custom, with counts of assignments in effect now, newest
    first. POST: a custom role with the default settings (201). Administrators only: anyone else
    403."""

    serializer_class = RoleSerializer

    def get_queryset(self):
        return selectors.roles_with_assignment_counts(at=timezone.now())

    @extend_schema(request=RoleCreateSerializer, responses={201: RoleSerializer})
    def post(self, request):
        body = RoleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        role = services.create_role(actor=request.user, **body.validated_data)
        return Response(RoleSerializer(_role(role.slug)).data, status=status.HTTP_201_CREATED)


class RoleDetail(Administration, APIView):
    """GET one role. PATCH a custom role's name, tier or description (a built-in role's are
    read-only: 400). DELETE a custom role nobody holds or asked for (204); a built-in role is
    refused (400), one still in use is a 409. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(responses=RoleSerializer)
    def get(self, request, slug: str):
        return Response(RoleSerializer(_role(slug)).data)

    @extend_schema(request=RoleUpdateSerializer, responses=RoleSerializer)
    def patch(self, request, slug: str):
        role = _role(slug)
        if role.is_builtin:
            raise ApiValidationError({"non_field_errors": [services.BUILTIN_READ_ONLY % {"role": role.name}]})
        body = RoleUpdateSerializer(role, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = {"name": role.name, "tier": role.tier, "description": role.description} | body.validated_data
        services.update_role(actor=request.user, role=role, **values)
        return Response(RoleSerializer(_role(slug)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, slug: str):
        role = _role(slug)
        try:
            services.delete_role(actor=request.user, role=role)
        except DjangoValidationError as refusal:
            if getattr(refusal, "code", None) == "role_in_use":
                raise Conflict(" ".join(refusal.messages), code="role_in_use") from None
            raise
        return Response(status=status.HTTP_204_NO_CONTENT)


# Role settings ---------------------------------------------------------------------------------


class NotificationRuleSerializer(serializers.Serializer):
    default_recipients = serializers.BooleanField(required=False)
    additional_recipients = serializers.ListField(child=serializers.CharField(max_length=254), required=False,
                                                  help_text="Email addresses (at most 20).")  # fmt: skip
    critical_only = serializers.BooleanField(required=False)


class StageSerializer(serializers.Serializer):
    """One approval stage, with users by username and groups by name."""

    approvers = serializers.ListField(child=serializers.CharField(max_length=150), default=list)
    approver_groups = serializers.ListField(child=serializers.CharField(max_length=150), default=list)
    approvals_required = serializers.IntegerField(default=1)
    timeout_minutes = serializers.IntegerField(default=24 * 60)
    escalate_after_minutes = serializers.IntegerField(allow_null=True, default=None)
    escalation_approvers = serializers.ListField(child=serializers.CharField(max_length=150), default=list)
    escalation_groups = serializers.ListField(child=serializers.CharField(max_length=150), default=list)


USER_FIELDS = ("approvers", "escalation_approvers")
GROUP_FIELDS = ("approver_groups", "escalation_groups")


class RoleSettingsSerializer(serializers.Serializer):
    """Every setting of a role; durations in minutes or days as the field names say. Ranges are
    the service's (roles.rules), so a 400 names the same rule and range as the console."""

    role = serializers.SlugField(read_only=True)
    activation_max_minutes = serializers.IntegerField(required=False)
    require_mfa_on_activation = serializers.BooleanField(required=False)
    require_justification_on_activation = serializers.BooleanField(required=False)
    require_ticket_on_activation = serializers.BooleanField(required=False)
    ticket_number_pattern = serializers.CharField(max_length=200, required=False, allow_blank=True)
    require_approval = serializers.BooleanField(required=False)
    approval_stages = StageSerializer(many=True, required=False,
                                      help_text="In order; when given, they replace every stage.")  # fmt: skip
    allow_permanent_eligible = serializers.BooleanField(required=False)
    max_eligible_days = serializers.IntegerField(required=False)
    allow_permanent_active = serializers.BooleanField(required=False)
    max_active_days = serializers.IntegerField(required=False)
    require_mfa_on_active_assignment = serializers.BooleanField(required=False)
    require_justification_on_active_assignment = serializers.BooleanField(required=False)
    notification_rules = serializers.DictField(
        child=NotificationRuleSerializer(), required=False,
        help_text="By rule key (e.g. role.activated.approver): all nine on reading; on writing, the rules given "
        "change (the parts given), the others stay.",
    )  # fmt: skip
    updated_at = serializers.DateTimeField(read_only=True)


def _settings_body(role_settings: RoleSettings) -> dict:
    """Every setting, the nine notification rules as they apply, and the stages by name."""
    values = {field: getattr(role_settings, field) for field in services.SETTINGS_FIELDS}
    values["notification_rules"] = {
        rule.key: notifications.settings_of(role_settings.notification_rules, rule) for rule in notifications.RULES
    }
    return {
        "role": role_settings.role.slug,
        **values,
        "approval_stages": [plan.names() for plan in selectors.stage_plans(role_settings)],
        "updated_at": role_settings.updated_at,
    }


def _notification_rules(current: dict, given: dict) -> dict:
    """The role's stored rules with the parts given changed; as the console stores them, a rule
    back at Entra's defaults is left out. An unknown key is passed on for the service to name."""
    merged = dict(current or {})
    for key, parts in given.items():
        rule = notifications.RULES_BY_KEY.get(key)
        wanted = (notifications.settings_of(merged, rule) if rule else {}) | parts
        if wanted == notifications.DEFAULT:
            merged.pop(key, None)
        else:
            merged[key] = wanted
    return merged


def _stage_plans(stages: list[dict]) -> list[rules.StagePlan]:
    """The stages as the service takes them; 400 naming each unknown user or group. One query
    for users, one for groups."""
    usernames = {name for stage in stages for field in USER_FIELDS for name in stage[field]}
    group_names = {name for stage in stages for field in GROUP_FIELDS for name in stage[field]}
    User = get_user_model()
    active = User.objects.filter(**{f"{User.USERNAME_FIELD}__in": usernames}, is_active=True) if usernames else []
    users = {user.get_username(): user for user in active}
    groups = {group.name: group for group in Group.objects.filter(name__in=group_names)} if group_names else {}
    errors = {}
    for index, stage in enumerate(stages):
        for fields, found, message in ((USER_FIELDS, users, UNKNOWN_APPROVER),
                                       (GROUP_FIELDS, groups, UNKNOWN_APPROVER_GROUP)):  # fmt: skip
            for field in fields:
                unknown = [message % {"value": name} for name in stage[field] if name not in found]
                if unknown:
                    errors[f"approval_stages.{index}.{field}"] = unknown
    if errors:
        raise ApiValidationError(errors)
    return [
        rules.StagePlan(
            **{field: tuple(users[name] for name in stage[field]) for field in USER_FIELDS},
            **{field: tuple(groups[name] for name in stage[field]) for field in GROUP_FIELDS},
            approvals_required=stage["approvals_required"],
            timeout_minutes=stage["timeout_minutes"],
            escalate_after_minutes=stage["escalate_after_minutes"],
        )
        for stage in stages
    ]


class RoleSettingsDetail(Administration, APIView):
    """GET every setting of a role. PATCH any of them; `approval_stages`, when given, replace
    all stages. The whole result is checked by roles.services.update_role_settings (each broken
    rule named with its range, nothing saved) and audited as one settings.updated event.
    Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(responses=RoleSettingsSerializer)
    def get(self, request, slug: str):
        return Response(RoleSettingsSerializer(_settings_body(_role_settings(slug))).data)

    @extend_schema(request=RoleSettingsSerializer, responses=RoleSettingsSerializer)
    def patch(self, request, slug: str):
        role_settings = _role_settings(slug)
        body = RoleSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        changes = {field: given[field] for field in services.SETTINGS_FIELDS if field in given}
        if "notification_rules" in given:
            changes["notification_rules"] = _notification_rules(role_settings.notification_rules,
                                                                given["notification_rules"])  # fmt: skip
        stages = _stage_plans(given["approval_stages"]) if "approval_stages" in given else None
        try:
            role_settings = services.update_role_settings(
                actor=request.user, role=role_settings.role, changes=changes, stages=stages
            )
        except DjangoValidationError as refusal:
            raise _renamed(refusal) from None
        return Response(RoleSettingsSerializer(_settings_body(role_settings)).data)


def _role_settings(slug: str) -> RoleSettings:
    found = RoleSettings.objects.select_related("role").filter(role__slug=slug).first()
    if found is None:
        raise Http404
    return found


# Scopes ----------------------------------------------------------------------------------------


class ScopeSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="path", read_only=True)
    eligible_count = serializers.IntegerField(read_only=True, help_text="Eligible assignments in effect here now.")
    active_count = serializers.IntegerField(read_only=True, help_text="Active assignments in effect here now.")

    class Meta:
        model = Scope
        fields = ("path", "name", "parent", "eligible_count", "active_count")


class ScopeCreateSerializer(serializers.Serializer):
    path = serializers.CharField(trim_whitespace=True, help_text="e.g. /subscriptions/prod; missing parents are "
                                 "created.")  # fmt: skip
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class Scopes(Administration, generics.ListAPIView):
    """GET: every scope with counts of assignments in effect at it now, newest first. POST: a
    scope, and any missing scope above it (201); one already there is answered unchanged (200).
    Administrators only: anyone else 403."""

    serializer_class = ScopeSerializer

    def get_queryset(self):
        return selectors.scopes_with_assignment_counts(at=timezone.now())

    @extend_schema(request=ScopeCreateSerializer, responses={201: ScopeSerializer, 200: ScopeSerializer})
    def post(self, request):
        body = ScopeCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        existed = Scope.objects.filter(path=body.validated_data["path"]).exists()
        scope = services.create_scope(actor=request.user, **body.validated_data)
        scope = selectors.scopes_with_assignment_counts(at=timezone.now()).get(pk=scope.pk)
        return Response(ScopeSerializer(scope).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED)


# Assignments -----------------------------------------------------------------------------------


class AdminEligibleAssignmentSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text='"eligible" or "active".')
    principal = serializers.SlugRelatedField(slug_field="username", read_only=True,
                                             help_text="The user's username; null for a group's.")  # fmt: skip
    group = serializers.SlugRelatedField(slug_field="name", read_only=True,
                                         help_text="The group's name; null for a user's.")  # fmt: skip
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role_name = serializers.CharField(source="role.name", read_only=True)
    scope = serializers.SlugRelatedField(slug_field="path", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    ended_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EligibleAssignment
        fields = ("id", "kind", "principal", "group", "role", "role_name", "scope", "start_at", "end_at",
                  "justification", "created_at", "created_by", "ended_at", "end_reason", "ended_by")  # fmt: skip
        read_only_fields = fields


class AdminActiveAssignmentSerializer(AdminEligibleAssignmentSerializer):
    via_group = serializers.SlugRelatedField(slug_field="name", read_only=True,
                                             help_text="An activation through this group's eligibility.")  # fmt: skip

    class Meta(AdminEligibleAssignmentSerializer.Meta):
        model = ActiveAssignment
        fields = (*AdminEligibleAssignmentSerializer.Meta.fields, "source", "via_group")
        read_only_fields = fields


class AdminAssignmentCreateSerializer(serializers.Serializer):
    """Names resolved to rows in validate(): principal (a user or a Group), role (with its
    settings) and scope."""

    principal = serializers.CharField(max_length=160, help_text="A username, or group:NAME for a group.")
    role = serializers.SlugField(max_length=100)
    scope = serializers.CharField(max_length=400, default="/")
    start_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Now if empty.")
    end_at = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                       help_text="Empty: permanent, where the role's settings allow it.")  # fmt: skip
    justification = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, values: dict) -> dict:
        errors = {}
        name = values["principal"]
        if name.startswith(GROUP_PREFIX):
            principal = Group.objects.filter(name=name.removeprefix(GROUP_PREFIX)).first()
            if principal is None:
                errors["principal"] = [UNKNOWN_GROUP % {"value": name.removeprefix(GROUP_PREFIX)}]
        else:
            User = get_user_model()
            principal = User.objects.filter(**{User.USERNAME_FIELD: name}).first()
            if principal is None:
                errors["principal"] = [UNKNOWN_PRINCIPAL % {"value": name}]
            elif not principal.is_active:
                errors["principal"] = [PRINCIPAL_DISABLED % {"value": name}]
        role = Role.objects.select_related("settings").filter(slug=values["role"]).first()
        if role is None:
            errors["role"] = [UNKNOWN_ROLE % {"value": values["role"]}]
        scope = Scope.objects.filter(path=values["scope"]).first()
        if scope is None:
            errors["scope"] = [UNKNOWN_SCOPE % {"value": values["scope"]}]
        if errors:
            raise serializers.ValidationError(errors)
        return values | {"principal": principal, "role": role, "scope": scope}


class AdminActiveAssignmentCreateSerializer(AdminAssignmentCreateSerializer):
    otp = serializers.CharField(max_length=20, required=False, allow_blank=True, default="", write_only=True,
                                help_text="The code your authenticator app shows now, for a role that requires "
                                "multifactor authentication on active assignment.")  # fmt: skip


class AssignmentEndSerializer(serializers.Serializer):
    end_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="The new end; null: permanent, where allowed. Absent: unchanged."
    )


ASSIGNMENT_FILTERS = [
    OpenApiParameter("role", OpenApiTypes.STR, description="A role slug."),
    OpenApiParameter("user", OpenApiTypes.STR, description="A username, or a group's name."),
    OpenApiParameter("scope", OpenApiTypes.STR, description="A scope path: assignments made at exactly this scope."),
    OpenApiParameter("duration", OpenApiTypes.STR, enum=["permanent", "time-bound"]),
    OpenApiParameter("expiring", OpenApiTypes.INT, description="Ending within this many days (1 to 365)."),
]


def _filters(params) -> dict:
    """The list's query parameters, checked by the console's filter form; a bad one is a 400
    naming it (the console drops it with a message instead)."""
    form = AssignmentFilterForm({name: params[name] for name in FILTERS if name in params})
    if not form.is_valid():
        raise ApiValidationError({name: list(messages) for name, messages in form.errors.items()})
    return form.filters()


class EligibleAssignments(Administration, generics.ListAPIView):
    """GET: eligible assignments in effect or scheduled (not ended), newest first, with the
    console's filters. POST: make a user or a group eligible, within the role's assignment
    rules (201). Administrators only: anyone else 403."""

    model: type[Assignment] = EligibleAssignment
    serializer_class = AdminEligibleAssignmentSerializer
    create_serializer_class: type[AdminAssignmentCreateSerializer] = AdminAssignmentCreateSerializer

    @extend_schema(parameters=ASSIGNMENT_FILTERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.assignments_not_ended(model=self.model, at=timezone.now(),
                                               filters=_filters(self.request.query_params))  # fmt: skip

    @extend_schema(request=AdminAssignmentCreateSerializer, responses={201: AdminEligibleAssignmentSerializer})
    def post(self, request):
        body = self.create_serializer_class(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        values["start_at"] = values["start_at"] or timezone.now()
        # The role's rules and one open assignment per holder first, as the console's form does:
        # a refusal should not spend the caller's code. The service checks again under lock.
        rules.check_assignment_window(role_settings=values["role"].settings, kind=self.model.kind,
                                      start_at=values["start_at"], end_at=values["end_at"],
                                      justification=values["justification"])  # fmt: skip
        services.check_not_assigned(self.model, principal=values["principal"], role=values["role"],
                                    scope=values["scope"], now=timezone.now())  # fmt: skip
        try:
            assignment = self.assign(request, values)
        except DjangoValidationError as refusal:
            raise _renamed(refusal) from None
        return Response(self.serializer_class(_assignment(self.model, assignment.pk)).data,
                        status=status.HTTP_201_CREATED)  # fmt: skip

    def assign(self, request, values: dict) -> Assignment:
        return services.assign_eligible(actor=request.user, **values)


class ActiveAssignments(EligibleAssignments):
    """GET: active assignments in effect or scheduled (not ended; activations included), newest
    first, with the console's filters. POST: give a user or a group an active assignment within
    the role's rules (201); a role that requires MFA on active assignment needs `otp`, a current
    code (a browser session's own recent verification counts; a token never does).
    Administrators only: anyone else 403."""

    model = ActiveAssignment
    serializer_class = AdminActiveAssignmentSerializer
    create_serializer_class = AdminActiveAssignmentCreateSerializer
    throttle_scope = "otp"

    def get_throttles(self):
        # Codes are guessable only by trying: POSTs that may carry one are limited harder.
        throttles = super().get_throttles()
        return [*throttles, ScopedRateThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(request=AdminActiveAssignmentCreateSerializer, responses={201: AdminActiveAssignmentSerializer})
    def post(self, request):
        return super().post(request)

    def assign(self, request, values: dict) -> Assignment:
        role = values["role"]
        verified = mfa.otp_verified_at(request, values.pop("otp"), verify=lambda code: _check_code(request.user, code))
        if role.settings.require_mfa_on_active_assignment and not mfa.is_fresh(verified):
            raise ApiValidationError({"otp": [MFA_CODE_NEEDED % {"role": role.name}]})
        return services.assign_active(actor=request.user, mfa_verified_at=verified, **values)


def _check_code(actor, code: str):
    """Now, for a good code (checked, throttled, audited and single-use by roles.mfa)."""
    check = mfa.check_code(actor=actor, token=code, stage="active assignment")
    if check.device is None:
        raise ApiValidationError({"otp": [check.error]})
    return timezone.now()


def _assignment(model: type[Assignment], assignment_id: int) -> Assignment:
    """The assignment with this id, ended or not, with everything the serializer shows; 404 otherwise."""
    related = ["principal", "group", "role", "scope", "created_by", "ended_by"]
    if model is ActiveAssignment:
        related.append("via_group")
    found = model.objects.select_related(*related).filter(pk=assignment_id).first()
    if found is None:
        raise Http404
    return found


class EligibleAssignmentDetail(Administration, generics.GenericAPIView):
    """GET one eligible assignment (ended ones too). PATCH its end (null: permanent), within the
    role's rules. DELETE ends it now, and the activations made from it (204); one already ended
    is a 409. Administrators only: anyone else 404."""

    hides_objects = True
    model: type[Assignment] = EligibleAssignment
    serializer_class = AdminEligibleAssignmentSerializer

    def get(self, request, assignment_id: int):
        return Response(self.serializer_class(_assignment(self.model, assignment_id)).data)

    @extend_schema(request=AssignmentEndSerializer)
    def patch(self, request, assignment_id: int):
        assignment = _assignment(self.model, assignment_id)
        body = AssignmentEndSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if "end_at" not in body.validated_data:
            return Response(self.serializer_class(assignment).data)
        try:
            services.change_assignment_end(actor=request.user, assignment=assignment,
                                           end_at=body.validated_data["end_at"])  # fmt: skip
        except DjangoValidationError as refusal:
            if getattr(refusal, "code", None) == "already_ended":
                raise Conflict(services.ALREADY_ENDED, code="already_ended") from None
            raise
        return Response(self.serializer_class(_assignment(self.model, assignment_id)).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, assignment_id: int):
        if not services.remove_assignment(actor=request.user, assignment=_assignment(self.model, assignment_id)):
            raise Conflict(services.ALREADY_ENDED, code="already_ended")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActiveAssignmentDetail(EligibleAssignmentDetail):
    """GET one active assignment (ended ones too). PATCH the end (null: permanent) of one an
    administrator made; an activation's end is its holder's to extend (400). DELETE ends it now
    (204); one already ended is a 409. Administrators only: anyone else 404."""

    model = ActiveAssignment
    serializer_class = AdminActiveAssignmentSerializer


urlpatterns_v1 = [
    ("roles/", Roles, "api-roles"),
    ("roles/<slug:slug>/", RoleDetail, "api-role"),
    ("roles/<slug:slug>/settings/", RoleSettingsDetail, "api-role-settings"),
    ("scopes/", Scopes, "api-scopes"),
    ("eligible-assignments/", EligibleAssignments, "api-eligible-assignments"),
    ("eligible-assignments/<int:assignment_id>/", EligibleAssignmentDetail, "api-eligible-assignment"),
    ("active-assignments/", ActiveAssignments, "api-active-assignments"),
    ("active-assignments/<int:assignment_id>/", ActiveAssignmentDetail, "api-active-assignment"),
]
