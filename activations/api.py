"""The workflow's endpoints under /api/v1/: the caller's roles, activation requests (one or
several at once), approvals, deactivate and extend, and the access decision for other
applications. Thin: parse, call the same service or selector as the pages, render."""

from datetime import timedelta

from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from activations import selectors, services
from activations.choices import Decision, RequestStatus
from activations.models import ActivationRequest
from roles import mfa
from roles.models import ActiveAssignment, EligibleAssignment
from roles.selectors import cached_access_decision, is_pim_administrator
from roles.throttling import ScopedRateThrottle

NOT_ELIGIBLE = "You are not eligible for %(role)s at %(scope)s now; My roles lists what you are eligible for."
SHARED_FIELDS = ("duration_minutes", "justification", "ticket_system", "ticket_number", "start_at", "otp")
ITEMS_DIFFER = (
    "Activating several roles at once takes one duration, justification, ticket, start and code for all; "
    "these items differ in %(fields)s. Send separate requests instead."
)
MFA_CODE_NEEDED = (
    "Multifactor authentication is required to activate %(roles)s: send 'otp' with the code your authenticator "
    "app shows now (a token alone never proves a second factor)."
)


# Serializers -----------------------------------------------------------------------------------


class EligibleAssignmentSerializer(serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role_name = serializers.CharField(source="role.name", read_only=True)
    scope = serializers.SlugRelatedField(slug_field="path", read_only=True)
    via_group = serializers.CharField(source="group.name", read_only=True, default=None)
    max_duration_minutes = serializers.IntegerField(source="role.settings.activation_max_minutes", read_only=True)
    requires = serializers.SerializerMethodField()

    class Meta:
        model = EligibleAssignment
        fields = ("id", "role", "role_name", "scope", "start_at", "end_at", "via_group", "max_duration_minutes",
                  "requires")  # fmt: skip

    def get_requires(self, assignment) -> dict:
        settings = assignment.role.settings
        return {
            "mfa": settings.require_mfa_on_activation,
            "justification": settings.require_justification_on_activation,
            "ticket": settings.require_ticket_on_activation,
            "approval": settings.require_approval,
        }


class ActiveAssignmentSerializer(serializers.ModelSerializer):
    """`group`: held by a group (the caller is a member); `via_group`: the caller activated it
    through a group's eligibility. Only the caller's own activations can be deactivated."""

    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role_name = serializers.CharField(source="role.name", read_only=True)
    scope = serializers.SlugRelatedField(slug_field="path", read_only=True)
    group = serializers.CharField(source="group.name", read_only=True, default=None)
    via_group = serializers.CharField(source="via_group.name", read_only=True, default=None)
    can_deactivate = serializers.SerializerMethodField()

    class Meta:
        model = ActiveAssignment
        fields = ("id", "role", "role_name", "scope", "start_at", "end_at", "source", "group", "via_group",
                  "can_deactivate")  # fmt: skip

    def get_can_deactivate(self, assignment) -> bool:
        request = self.context.get("request")
        return assignment.source == "activation" and request is not None and assignment.principal_id == request.user.pk


class ActivationRequestSerializer(serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    role_name = serializers.CharField(source="role.name", read_only=True)
    scope = serializers.SlugRelatedField(slug_field="path", read_only=True)
    requester = serializers.CharField(source="requester.get_username", read_only=True)
    end_at = serializers.SerializerMethodField()

    class Meta:
        model = ActivationRequest
        fields = ("id", "kind", "status", "status_reason", "role", "role_name", "scope", "requester", "start_at",
                  "end_at", "duration_minutes", "justification", "ticket_system", "ticket_number", "stage", "decide_by",
                  "created_at", "decided_at", "assignment")  # fmt: skip

    def get_end_at(self, request) -> str | None:
        if request.assignment_id:
            end = request.assignment.end_at
        elif request.duration_minutes:
            end = request.start_at + timedelta(minutes=request.duration_minutes)
        else:
            end = request.requested_end_at
        return serializers.DateTimeField().to_representation(end) if end else None


class ActivationItemSerializer(serializers.Serializer):
    role = serializers.SlugField(max_length=100)
    scope = serializers.CharField(max_length=400, default="/")
    duration_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
    justification = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    ticket_system = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    ticket_number = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    start_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    otp = serializers.CharField(max_length=20, required=False, allow_blank=True, default="", write_only=True)


class DecisionSerializer(serializers.Serializer):
    justification = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ExtendSerializer(serializers.Serializer):
    duration_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60)
    justification = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    ticket_system = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    ticket_number = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    otp = serializers.CharField(max_length=20, required=False, allow_blank=True, default="", write_only=True)


# Views -----------------------------------------------------------------------------------------


class MeView(APIView):
    """The caller, with their eligible and active assignments (their own and their groups')."""

    @extend_schema(responses=inline_serializer("Me", {
        "username": serializers.CharField(), "full_name": serializers.CharField(), "email": serializers.EmailField(),
        "is_pim_administrator": serializers.BooleanField(),
        "eligible_assignments": EligibleAssignmentSerializer(many=True),
        "active_assignments": ActiveAssignmentSerializer(many=True),
    }))  # fmt: skip
    def get(self, request):
        now = timezone.now()
        user = request.user
        return Response({
            "username": user.get_username(),
            "full_name": user.get_full_name(),
            "email": user.email,
            "is_pim_administrator": is_pim_administrator(user=user, at=now),
            "eligible_assignments": EligibleAssignmentSerializer(selectors.eligible_roles_for(user=user, at=now),
                                                                 many=True).data,
            "active_assignments": ActiveAssignmentSerializer(selectors.active_roles_for(user=user, at=now),
                                                             context={"request": request},
                                                             many=True).data,
        })  # fmt: skip


class MyEligibleAssignments(generics.ListAPIView):
    serializer_class = EligibleAssignmentSerializer

    def get_queryset(self):
        return selectors.eligible_roles_for(user=self.request.user, at=timezone.now())


class MyActiveAssignments(generics.ListAPIView):
    serializer_class = ActiveAssignmentSerializer

    def get_queryset(self):
        return selectors.active_roles_for(user=self.request.user, at=timezone.now())


class ActivationRequests(generics.ListAPIView):
    """GET: the caller's requests (?status=). POST: activate one role (an object) or several at
    once (a list of objects sharing duration, justification, ticket, start and code): all or
    nothing."""

    serializer_class = ActivationRequestSerializer
    throttle_scope = "otp"

    def get_throttles(self):
        # Codes are guessable only by trying: POSTs that may carry one are limited harder.
        throttles = super().get_throttles()
        return [*throttles, ScopedRateThrottle()] if self.request.method == "POST" else throttles

    @extend_schema(parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=RequestStatus.values)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        requests = ActivationRequest.objects.filter(requester=self.request.user).select_related(
            "role", "scope", "requester", "assignment"
        )
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in RequestStatus.values:
                raise ApiValidationError({"status": [f"Status is one of: {', '.join(RequestStatus.values)}."]})
            requests = requests.filter(status=wanted)
        return requests

    @extend_schema(request=ActivationItemSerializer, responses={201: ActivationRequestSerializer(many=True)})
    def post(self, request):
        many = isinstance(request.data, list)
        items = ActivationItemSerializer(data=request.data, many=many)
        items.is_valid(raise_exception=True)
        values = items.validated_data if many else [items.validated_data]
        if not values:
            raise ApiValidationError({"non_field_errors": ["Send at least one role to activate."]})
        differing = sorted({field for field in SHARED_FIELDS for item in values if item[field] != values[0][field]})
        if differing:
            raise ApiValidationError({"non_field_errors": [ITEMS_DIFFER % {"fields": ", ".join(differing)}]})
        eligibilities = _eligibilities(request.user, values, many=many)
        first = values[0]
        needs_code = [e.role.name for e in eligibilities if e.role.settings.require_mfa_on_activation]
        try:
            verified = mfa.otp_verified_at(request, first["otp"], verify=lambda token: services.verify_step_up(
                actor=request.user, eligibilities=eligibilities, token=token))  # fmt: skip
            if needs_code and not mfa.is_fresh(verified):
                raise ApiValidationError({"otp": [MFA_CODE_NEEDED % {"roles": ", ".join(needs_code)}]})
            created = services.request_activation(
                actor=request.user, eligibilities=eligibilities, duration=timedelta(minutes=first["duration_minutes"]),
                start_at=first["start_at"], justification=first["justification"],
                ticket_system=first["ticket_system"], ticket_number=first["ticket_number"], mfa_verified_at=verified,
            )  # fmt: skip
        except services.ActivationsRefused as refusal:
            raise ApiValidationError(_item_errors(refusal, eligibilities, many=many)) from None
        data = ActivationRequestSerializer(created, many=True).data
        return Response(data if many else data[0], status=status.HTTP_201_CREATED)


def _eligibilities(user, values: list[dict], *, many: bool) -> list[EligibleAssignment]:
    """Each item's eligibility: the caller's (or their group's), in effect now, for that role
    at that very scope. One query."""
    now = timezone.now()
    wanted = Q(pk__in=[])
    for item in values:
        wanted |= Q(role__slug=item["role"], scope__path=item["scope"])
    found = {
        (e.role.slug, e.scope.path): e
        for e in EligibleAssignment.objects.in_effect(now).held_by(user).filter(wanted)
        .select_related("role__settings", "scope")
    }  # fmt: skip
    errors = {}
    for index, item in enumerate(values):
        if (item["role"], item["scope"]) not in found:
            key = f"{index}.role" if many else "role"
            errors[key] = [NOT_ELIGIBLE % {"role": item["role"], "scope": item["scope"]}]
    if errors:
        raise ApiValidationError(errors)
    return [found[(item["role"], item["scope"])] for item in values]


def _item_errors(refusal, eligibilities, *, many: bool) -> dict:
    """The service's problems, each under its item's index (for a list) and field."""
    index_of = {e.pk: index for index, e in enumerate(eligibilities)}
    errors: dict[str, list[str]] = {}
    for eligibility, problem in refusal.problems:
        field = problem.field or "non_field_errors"
        field = {"otp_token": "otp", "duration": "duration_minutes"}.get(field, field)
        message = problem.message % problem.params if problem.params else problem.message
        key = f"{index_of[eligibility.pk]}.{field}" if many and eligibility is not None else field
        if message not in errors.setdefault(key, []):
            errors[key].append(message)
    return errors


def _visible_request(request, request_id: int) -> ActivationRequest:
    """404 for a request the caller may not see, so ids cannot be probed."""
    found = ActivationRequest.objects.select_related("role", "scope", "requester", "assignment").filter(
        pk=request_id
    ).first()  # fmt: skip
    if found is None or not selectors.can_view_request(user=request.user, request=found):
        raise Http404
    return found


class ActivationRequestDetail(APIView):
    @extend_schema(responses=ActivationRequestSerializer)
    def get(self, request, request_id: int):
        return Response(ActivationRequestSerializer(_visible_request(request, request_id)).data)


class CancelRequest(APIView):
    @extend_schema(request=None, responses=ActivationRequestSerializer)
    def post(self, request, request_id: int):
        activation = _visible_request(request, request_id)
        if activation.requester_id != request.user.pk:
            raise Http404
        canceled = services.cancel_request(actor=request.user, request=activation)
        return Response(ActivationRequestSerializer(canceled).data)


class Decide(APIView):
    """Approve or deny: the same rules as the approvals page (never one's own, one decision
    per person, the approver of the current stage, a justification to deny)."""

    decision = Decision.APPROVE

    @extend_schema(request=DecisionSerializer, responses=ActivationRequestSerializer)
    def post(self, request, request_id: int):
        activation = _visible_request(request, request_id)
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = services.decide_request(actor=request.user, request=activation, decision=self.decision,
                                          justification=body.validated_data["justification"])  # fmt: skip
        return Response(ActivationRequestSerializer(decided).data)


class Approvals(generics.ListAPIView):
    """Requests waiting for the caller's decision, oldest deadline first."""

    serializer_class = ActivationRequestSerializer
    pagination_class = None  # an inbox: everything waiting, in deadline order

    def get_queryset(self):
        return selectors.pending_for_approver(user=self.request.user).select_related("assignment")


def _own_active(request, assignment_id: int) -> ActiveAssignment:
    return get_object_or_404(ActiveAssignment.objects.select_related("role__settings", "scope"), pk=assignment_id,
                             principal=request.user)  # fmt: skip


class Deactivate(APIView):
    @extend_schema(request=None, responses=ActiveAssignmentSerializer)
    def post(self, request, assignment_id: int):
        assignment = services.deactivate(actor=request.user, assignment=_own_active(request, assignment_id))
        return Response(ActiveAssignmentSerializer(assignment, context={"request": request}).data)


class Extend(APIView):
    """Add time to an activated role, within the role's maximum in total, with the activation's
    requirements; 201 with the extension request (granted at once, or waiting for approval)."""

    throttle_scope = "otp"
    throttle_classes = [ScopedRateThrottle]

    @extend_schema(request=ExtendSerializer, responses={201: ActivationRequestSerializer})
    def post(self, request, assignment_id: int):
        assignment = _own_active(request, assignment_id)
        body = ExtendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        try:
            verified = mfa.otp_verified_at(request, values["otp"], verify=lambda token: (
                services.verify_extension_step_up(actor=request.user, assignment=assignment, token=token)))  # fmt: skip
            extension = services.request_activation_extension(
                actor=request.user, assignment=assignment, duration=timedelta(minutes=values["duration_minutes"]),
                justification=values["justification"], ticket_system=values["ticket_system"],
                ticket_number=values["ticket_number"], mfa_verified_at=verified,
            )  # fmt: skip
        except services.ActivationsRefused as refusal:
            raise ApiValidationError(_item_errors(refusal, [], many=False)) from None
        return Response(ActivationRequestSerializer(extension).data, status=status.HTTP_201_CREATED)


class MayAskAccessDecisions(BasePermission):
    """A token made with the 'check' permission, or a PIM administrator's session."""

    message = (
        "Access decisions need a token made with the 'check' permission (API tokens page), or a PIM "
        "administrator's session."
    )

    def has_permission(self, request, view) -> bool:
        if request.auth is not None:
            return request.auth.allows("check")
        return is_pim_administrator(user=request.user, at=timezone.now())


class Check(APIView):
    """May this user act with this role at this scope now, and until when? Exact to the second,
    from roles.selectors.access_decision (the same answer as `manage.py check_access`), kept in
    memory while it holds (roles.until_changed)."""

    token_permission = "check"  # noqa: S105  the name of a permission, not a secret
    permission_classes = [MayAskAccessDecisions]

    @extend_schema(
        parameters=[
            OpenApiParameter("user", OpenApiTypes.STR, required=True),
            OpenApiParameter("role", OpenApiTypes.STR, required=True, description="A role slug."),
            OpenApiParameter("scope", OpenApiTypes.STR, description="A scope path; '/' by default."),
        ],
        responses=inline_serializer("AccessDecision", {
            "allowed": serializers.BooleanField(),
            "until": serializers.DateTimeField(allow_null=True, required=False, help_text="Allowed: null = permanent."),
            "assignment": serializers.IntegerField(required=False, help_text="Allowed: the assignment that lasts."),
            "via": serializers.CharField(required=False, help_text="Allowed: activation, admin or group."),
            "reason": serializers.CharField(required=False, help_text="Not allowed: why."),
        }),
    )  # fmt: skip
    def get(self, request):
        params = request.query_params
        missing = {name: ["This parameter is required."] for name in ("user", "role") if not params.get(name)}
        if missing:
            raise ApiValidationError(missing)
        decision = cached_access_decision(username=params["user"], role_slug=params["role"],
                                          scope_path=params.get("scope") or "/", at=timezone.now())  # fmt: skip
        if not decision.allowed:
            return Response({"allowed": False, "reason": decision.reason})
        return Response({"allowed": True, "until": decision.until, "assignment": decision.assignment_id,
                         "via": decision.via})  # fmt: skip


urlpatterns_v1 = [
    ("check/", Check, "api-check"),  # first of all the API's routes: asked for every request a gateway serves
    ("me/", MeView, "api-me"),
    ("me/eligible-assignments/", MyEligibleAssignments, "api-me-eligible"),
    ("me/active-assignments/", MyActiveAssignments, "api-me-active"),
    ("activation-requests/", ActivationRequests, "api-activation-requests"),
    ("activation-requests/<int:request_id>/", ActivationRequestDetail, "api-activation-request"),
    ("activation-requests/<int:request_id>/cancel/", CancelRequest, "api-activation-request-cancel"),
    ("activation-requests/<int:request_id>/approve/", Decide, "api-activation-request-approve"),
    (
        "activation-requests/<int:request_id>/deny/",
        type("Deny", (Decide,), {"decision": Decision.DENY}),
        "api-activation-request-deny",
    ),
    ("approvals/", Approvals, "api-approvals"),
    ("active-assignments/<int:assignment_id>/deactivate/", Deactivate, "api-active-assignment-deactivate"),
    ("active-assignments/<int:assignment_id>/extend/", Extend, "api-active-assignment-extend"),
]
