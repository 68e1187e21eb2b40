"""Provisioning under /api/v1/: where a role is provisioned (its targets), how each holder's grant
there stands, and the caller's own grants. Thin: parse, call the same service or selector as the
console (roles.provisioning.services and selectors), render.

Administrators (roles.permissions.PIMAdministrator): /roles/<slug>/targets/... to list, create,
read, change, delete and drift-check a role's targets and list their grants; /grants/<id>/retry/;
/target-kinds/. Anyone else who signed in gets 404 under /roles/<slug>/ and on a grant, 403 on
/target-kinds/. Any caller: /me/grants/, their own grants only, so a script can wait until the
access it was given is real on every target. Bad input is a 400 naming the field, the rule and
the range, and changes nothing; a target still granting (delete) or a grant that is not failing
(retry) is a 409."""

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from roles.api import Administration, Conflict
from roles.models import Role
from roles.provisioning import kinds, selectors, services
from roles.provisioning.choices import GrantState
from roles.provisioning.models import Grant, Target
from roles.provisioning.services import NAME_REQUIRED

KIND_REQUIRED = "Kind: required; GET /api/v1/target-kinds/ lists the kinds of this site."
KIND_FIXED = (
    "Kind: a target's kind cannot change (this one is %(kind)s). Create a target of the new kind, turn this one "
    "off, then delete it."
)
# The services' refusals that say the object's state forbids the change: 409, not 400.
STATE_CONFLICTS = {"target_in_use", "not_retryable"}
COUNTED_STATES = (GrantState.PENDING, GrantState.GRANTED, GrantState.FAILED, GrantState.REVOKING)


def _conflict(refusal: DjangoValidationError) -> Exception:
    """A refusal because of the target's or grant's state, as a 409; any other passes on (400)."""
    code = getattr(refusal, "code", None)
    if code in STATE_CONFLICTS:
        return Conflict(" ".join(refusal.messages), code=code)
    return refusal


def seconds_to_grant(grant: Grant) -> float | None:
    """From the request to the grant on the target, as the provisioning.granted event records it
    (roles.provisioning.engine.attempt); None while no grant has landed for the current step."""
    if grant.granted_at is None or grant.state in (GrantState.PENDING, GrantState.FAILED):
        return None
    return round((grant.granted_at - grant.requested_at).total_seconds(), 1)


# Serializers -----------------------------------------------------------------------------------


class GrantCountsSerializer(serializers.Serializer):
    # selectors.targets_with_counts' annotations, read from the target itself (source="*").
    pending = serializers.IntegerField(help_text="Waiting for their first or next attempt.")
    granted = serializers.IntegerField(help_text="In place on the target.")
    failed = serializers.IntegerField(help_text="Given up after the attempts; POST /grants/<id>/retry/ tries again.")
    revoking = serializers.IntegerField(help_text="Being taken away.")


class TargetSerializer(serializers.ModelSerializer):
    role = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    params = serializers.DictField(read_only=True, help_text="As the kind cleaned them; secrets are never here.")
    grants = GrantCountsSerializer(source="*", read_only=True, help_text="How many of its grants are in each state.")
    outside_grants = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="Logins the last drift check found holding the role there without PIM.",
    )  # fmt: skip
    drift_checked_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                                 help_text="The last drift check; null before the first.")  # fmt: skip
    drift_error = serializers.CharField(read_only=True, help_text="Why the last drift check could not run; empty "
                                        "when it ran.")  # fmt: skip

    class Meta:
        model = Target
        fields = ("id", "role", "name", "kind", "params", "enabled", "revoke_outside_grants", "grants",
                  "drift_checked_at", "outside_grants", "drift_error", "created_at", "updated_at")  # fmt: skip
        read_only_fields = fields


class TargetCreateSerializer(serializers.Serializer):
    """A new target. What is left out takes the default shown."""

    # Types only: the rules (name's length and uniqueness, a known kind, the kind's parameters)
    # are services.create_target's, so one 400 names every broken one with its range.

    name = serializers.CharField(allow_blank=True, help_text="At most 100 characters; unique within the role.",
                                 error_messages={"required": NAME_REQUIRED, "null": NAME_REQUIRED})  # fmt: skip
    kind = serializers.CharField(allow_blank=True, help_text="A key from GET /api/v1/target-kinds/.",
                                 error_messages={"required": KIND_REQUIRED, "null": KIND_REQUIRED})  # fmt: skip
    params = serializers.DictField(
        required=False, default=dict, help_text="The kind's parameters; GET /api/v1/target-kinds/ shows an example."
    )
    enabled = serializers.BooleanField(
        required=False, default=True, help_text="Off: nothing is granted there, and what was is revoked."
    )
    revoke_outside_grants = serializers.BooleanField(
        required=False, default=False,
        help_text="When the drift check finds the role granted there by someone other than PIM, revoke it "
        "(audited). Off: raise an alert only.",
    )  # fmt: skip


class TargetUpdateSerializer(TargetCreateSerializer):
    """Any of the fields; the rest stay. `params`: the keys given change (null removes one),
    the others stay. `kind` cannot change."""

    name = serializers.CharField(required=False, allow_blank=True,
                                 help_text="At most 100 characters; unique within the role.")  # fmt: skip
    kind = serializers.CharField(required=False, allow_blank=True,
                                 help_text="Only the target's own kind: a kind never changes.")  # fmt: skip
    params = serializers.DictField(required=False, help_text="The keys given change (null removes one); the "
                                   "others stay.")  # fmt: skip
    enabled = serializers.BooleanField(required=False)
    revoke_outside_grants = serializers.BooleanField(required=False)


class GrantSerializer(serializers.ModelSerializer):
    """One holder's access on one target, and where it stands."""

    # Reads user and assignment.scope: load them with the rows (selectors.grants_of_target does).

    user = serializers.CharField(source="user.get_username", read_only=True, help_text="The holder's username.")
    target = serializers.IntegerField(source="target_id", read_only=True)
    assignment = serializers.IntegerField(source="assignment_id", read_only=True,
                                          help_text="The active assignment it comes from.")  # fmt: skip
    scope = serializers.CharField(source="assignment.scope.path", read_only=True)
    seconds_to_grant = serializers.SerializerMethodField(help_text="From the request to the grant on the target; "
                                                         "null while pending or failed.")  # fmt: skip

    class Meta:
        model = Grant
        fields = ("id", "user", "target", "assignment", "scope", "state", "attempts", "last_error", "requested_at",
                  "granted_at", "revoked_at", "seconds_to_grant")  # fmt: skip
        read_only_fields = fields

    def get_seconds_to_grant(self, grant: Grant) -> float | None:
        return seconds_to_grant(grant)


class MyGrantSerializer(serializers.ModelSerializer):
    """The caller's access on one target, from one of their active assignments."""

    # Reads target and assignment (with role and scope): _grants_of loads them.

    role = serializers.CharField(source="assignment.role.slug", read_only=True)
    role_name = serializers.CharField(source="assignment.role.name", read_only=True)
    scope = serializers.CharField(source="assignment.scope.path", read_only=True)
    assignment = serializers.IntegerField(
        source="assignment_id", read_only=True, help_text="The active assignment (GET /api/v1/me/active-assignments/)."
    )
    target = serializers.CharField(source="target.name", read_only=True, help_text="The target's name.")
    seconds_to_grant = serializers.SerializerMethodField(help_text="From the request to the grant on the target; "
                                                         "null while pending or failed.")  # fmt: skip

    class Meta:
        model = Grant
        fields = ("id", "role", "role_name", "scope", "assignment", "target", "state", "last_error", "granted_at",
                  "seconds_to_grant")  # fmt: skip
        read_only_fields = fields

    def get_seconds_to_grant(self, grant: Grant) -> float | None:
        return seconds_to_grant(grant)


class TargetKindSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="What `kind` takes.")
    label = serializers.CharField()
    params_help = serializers.CharField(help_text="The kind's own description of its parameters.")
    params_example = serializers.SerializerMethodField(help_text="The example that params_help opens with, as an "
                                                       "object; null when it opens with none.")  # fmt: skip

    @extend_schema_field({"type": "object", "additionalProperties": {}, "nullable": True})
    def get_params_example(self, kind: dict) -> dict | None:
        try:
            example, _ = json.JSONDecoder().raw_decode(kind["params_help"].lstrip())
        except ValueError:
            return None
        return example if isinstance(example, dict) else None


DriftCheckSerializer = inline_serializer("TargetDriftCheck", {
    "outcomes": serializers.DictField(child=serializers.IntegerField(),
                                      help_text="What the check did: outside grant, granted again, revoked outside "
                                      "grant, unreachable, not listable."),
    "outside_grants": serializers.ListField(child=serializers.CharField(),
                                            help_text="Logins holding the role there without PIM (left in place)."),
    "drift_error": serializers.CharField(help_text="Why the check could not run; empty when it ran."),
    "drift_checked_at": serializers.DateTimeField(),
})  # fmt: skip


# Reads -----------------------------------------------------------------------------------------


def _role(slug: str) -> Role:
    role = Role.objects.filter(slug=slug).first()
    if role is None:
        raise Http404
    return role


def _target(slug: str, target_id: int) -> Target:
    """The role's target with this id (and its role); 404 otherwise. One query."""
    found = Target.objects.select_related("role").filter(role__slug=slug, pk=target_id).first()
    if found is None:
        raise Http404
    return found


def _target_with_counts(role: Role, target_id: int) -> Target:
    found = selectors.targets_with_counts(role=role).select_related("role").filter(pk=target_id).first()
    if found is None:
        raise Http404
    return found


def _grant(grant_id: int) -> Grant:
    """The grant with what GrantSerializer shows; 404 otherwise."""
    found = Grant.objects.select_related("user", "assignment__scope").filter(pk=grant_id).first()
    if found is None:
        raise Http404
    return found


# Administrators --------------------------------------------------------------------------------


class Targets(Administration, generics.ListAPIView):
    """GET: the role's targets, newest first, each with how many of its grants are in each state
    and what its last drift check found. POST: bind the role to a target (201); its current
    holders are granted there at once. Administrators only: anyone else 404."""

    serializer_class = TargetSerializer
    hides_objects = True

    def get_queryset(self):
        return selectors.targets_with_counts(role=_role(self.kwargs["slug"])).select_related("role")

    @extend_schema(summary="List a role's provisioning targets")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Create a provisioning target", request=TargetCreateSerializer,
                   responses={201: TargetSerializer})  # fmt: skip
    def post(self, request, slug: str):
        role = _role(slug)
        body = TargetCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target = services.create_target(actor=request.user, role=role, **body.validated_data)
        return Response(TargetSerializer(_target_with_counts(role, target.pk)).data, status=status.HTTP_201_CREATED)


class TargetDetail(Administration, APIView):
    """GET one target. PATCH any of name, params, enabled and revoke_outside_grants (the rest
    stay; params key by key); turning it off revokes what it granted, on again grants again. The
    kind never changes (400). DELETE a target none of whose grants is still in place (204);
    otherwise 409: turn it off first. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Read a provisioning target", responses=TargetSerializer)
    def get(self, request, slug: str, target_id: int):
        return Response(TargetSerializer(_target_with_counts(_role(slug), target_id)).data)

    @extend_schema(summary="Change a provisioning target", request=TargetUpdateSerializer, responses=TargetSerializer)
    def patch(self, request, slug: str, target_id: int):
        target = _target(slug, target_id)
        body = TargetUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        if given.pop("kind", target.kind) != target.kind:
            raise ApiValidationError({"kind": [KIND_FIXED % {"kind": target.kind}]})
        values = {"name": target.name, "enabled": target.enabled,
                  "revoke_outside_grants": target.revoke_outside_grants} | given  # fmt: skip
        params = target.params | given.get("params", {})
        values["params"] = {key: value for key, value in params.items() if value is not None}
        services.update_target(actor=request.user, target=target, **values)
        return Response(TargetSerializer(_target_with_counts(target.role, target_id)).data)

    @extend_schema(summary="Delete a provisioning target", request=None, responses={204: None})
    def delete(self, request, slug: str, target_id: int):
        target = _target(slug, target_id)
        try:
            services.delete_target(actor=request.user, target=target)
        except DjangoValidationError as refusal:
            raise _conflict(refusal) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class TargetGrants(Administration, generics.ListAPIView):
    """The target's grants, newest first: whose, from which assignment, where each stands, its
    attempts and last error, and how long granting took. Administrators only: anyone else 404."""

    serializer_class = GrantSerializer
    hides_objects = True

    @extend_schema(summary="List a provisioning target's grants")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.grants_of_target(target=_target(self.kwargs["slug"], self.kwargs["target_id"]))


class TargetDriftCheck(Administration, APIView):
    """Compare the target's real holders with PIM's grants now (the schedule does it every 10
    minutes): a grant the target lost is granted again; a login holding the role there without
    PIM is listed, and revoked if the target says so. Audited. Administrators only: anyone else
    404."""

    hides_objects = True

    @extend_schema(summary="Check a provisioning target for drift now", request=None,
                   responses=DriftCheckSerializer)  # fmt: skip
    def post(self, request, slug: str, target_id: int):
        target = _target(slug, target_id)
        outcomes = services.check_drift_now(actor=request.user, target=target)
        # The check records what it found with .update(): read it back rather than trust the object.
        target.refresh_from_db(fields=["outside_grants", "drift_error", "drift_checked_at"])
        return Response({
            "outcomes": dict(outcomes),
            "outside_grants": target.outside_grants,
            "drift_error": target.drift_error,
            "drift_checked_at": serializers.DateTimeField().to_representation(target.drift_checked_at),
        })  # fmt: skip


class RetryGrant(Administration, APIView):
    """Try a failed grant (or a revoke that keeps failing) again now, with a fresh count of
    attempts: it is pending (or revoking) on return, and a worker takes it at once. A grant in
    place or revoked is a 409. Administrators only: anyone else 404."""

    hides_objects = True

    @extend_schema(summary="Retry a failed grant", request=None, responses=GrantSerializer)
    def post(self, request, grant_id: int):
        try:
            services.retry_grant(actor=request.user, grant=_grant(grant_id))
        except DjangoValidationError as refusal:
            raise _conflict(refusal) from None
        return Response(GrantSerializer(_grant(grant_id)).data)


class TargetKinds(Administration, APIView):
    """The kinds of target this site knows, by label, each with an example of its parameters.
    Administrators only: anyone else 403."""

    @extend_schema(summary="List the kinds of provisioning target", responses=TargetKindSerializer(many=True))
    def get(self, request):
        found = [{"key": key, "label": label, "params_help": kinds.get(key).params_help}
                 for key, label in kinds.choices()]  # fmt: skip
        return Response(TargetKindSerializer(found, many=True).data)


# Any caller ------------------------------------------------------------------------------------


class MyGrants(APIView):
    """The caller's grants from the active assignments they hold now, on every target of those
    roles: a script that activated a role polls this until each is granted. Another user's
    grants are never shown, a group's assignment shows only the caller's own."""

    @extend_schema(summary="List the caller's grants", responses=MyGrantSerializer(many=True))
    def get(self, request):
        return Response(
            MyGrantSerializer(selectors.grants_of_user(user=request.user, at=timezone.now()), many=True).data
        )


urlpatterns_v1 = [
    ("roles/<slug:slug>/targets/", Targets, "api-role-targets"),
    ("roles/<slug:slug>/targets/<int:target_id>/", TargetDetail, "api-role-target"),
    ("roles/<slug:slug>/targets/<int:target_id>/grants/", TargetGrants, "api-role-target-grants"),
    ("roles/<slug:slug>/targets/<int:target_id>/check-drift/", TargetDriftCheck, "api-role-target-check-drift"),
    ("grants/<int:grant_id>/retry/", RetryGrant, "api-grant-retry"),
    ("target-kinds/", TargetKinds, "api-target-kinds"),
    ("me/grants/", MyGrants, "api-me-grants"),
]
