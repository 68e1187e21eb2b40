"""/api/v1/audit-events/: the audit log for the people who may read it, newest first. Here rather
than in audit/ because deciding who reads the log needs roles (audit imports no domain app)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import BasePermission

from audit.models import AuditEvent
from audit.selectors import filtered_events
from pimsite.api_auth import MayUseApi
from roles.builtin import ROOT_SCOPE_PATH
from roles.selectors import holds_role

# Active at '/': Entra's readers of the audit history.
AUDIT_READER_SLUGS = (
    "global-administrator",
    "privileged-role-administrator",
    "security-administrator",
    "security-reader",
)
NEEDS_AUDIT_READER = (
    "Reading the audit log needs an active Global Administrator, Privileged Role Administrator, Security "
    "Administrator or Security Reader assignment at /; activate one from My roles first."
)
UNTIL_BEFORE_SINCE = "until must be after since."


class AuditReader(BasePermission):
    """An active Global Administrator, Privileged Role Administrator, Security Administrator or
    Security Reader at '/' right now. One query."""

    message = NEEDS_AUDIT_READER
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        return holds_role(user=request.user, role_slugs=AUDIT_READER_SLUGS, at=timezone.now(),
                          scope_path=ROOT_SCOPE_PATH)  # fmt: skip


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_username", read_only=True,
                                  help_text="The username at the time; empty for the system.")  # fmt: skip
    principal = serializers.CharField(source="principal_username", read_only=True,
                                      help_text="The username at the time; empty when none.")  # fmt: skip

    class Meta:
        model = AuditEvent
        fields = ("sequence", "occurred_at", "actor", "action", "target_type", "target_id", "principal", "role",
                  "scope", "justification", "client_ip", "data", "hash", "prev_hash")  # fmt: skip
        read_only_fields = fields


class AuditFilterSerializer(serializers.Serializer):
    """The list's query parameters; every one given narrows the list (an empty one does not)."""

    actor = serializers.CharField(required=False, allow_blank=True, max_length=150, help_text="A username.")
    principal = serializers.CharField(required=False, allow_blank=True, max_length=150, help_text="A username.")
    role = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="A role slug.")
    scope = serializers.CharField(required=False, allow_blank=True, max_length=400, help_text="A scope path, exactly.")
    action = serializers.CharField(
        required=False, allow_blank=True, max_length=64,
        help_text="An action, e.g. activation.approved; ending in '.' it is a prefix: activation. gives them all.",
    )  # fmt: skip
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; events at or after it.")
    until = serializers.DateTimeField(required=False, help_text="ISO 8601; events before it.")

    def validate(self, values: dict) -> dict:
        if "since" in values and "until" in values and values["until"] <= values["since"]:
            raise serializers.ValidationError({"until": [UNTIL_BEFORE_SINCE]})
        return values


class AuditEvents(generics.ListAPIView):
    """The audit log, newest first (by sequence), with a cursor. Readers: active Global
    Administrator, Privileged Role Administrator, Security Administrator or Security Reader at
    '/'; anyone else who signed in gets 403, anyone without credentials 401. A bad filter is a
    400 naming the parameter."""

    serializer_class = AuditEventSerializer
    permission_classes = [MayUseApi, AuditReader]  # the API's default first: 401 before 403

    @extend_schema(parameters=[AuditFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = AuditFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data
        action = wanted.get("action")
        return filtered_events(
            actor=wanted.get("actor", ""),
            principal=wanted.get("principal", ""),
            role=wanted.get("role", ""),
            scope=wanted.get("scope", ""),
            actions=(action,) if action else (),
            since=wanted.get("since"),
            until=wanted.get("until"),
        )


urlpatterns_v1 = [("audit-events/", AuditEvents, "api-audit-events")]
