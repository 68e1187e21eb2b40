"""/api/v1/alerts/: the security alerts (audit.alerts) as JSON, for the same people as /alerts/.
Audit readers list and read the live (open or dismissed) alerts; Privileged Role Administrators
(and Global Administrators) also dismiss one and scan now, through the same audited services.

Who may call is asked as the rest of the API asks it (a token never proves a second factor, so
not pimsite.audit_views.acts_as_audit_reader, which needs an OTP-verified session): the audit
reader roles at '/' (pimsite.api_audit.AuditReader) and roles.permissions.PIMAdministrator."""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import alerts
from audit.models import LIVE_ALERT_STATUSES, Alert
from pimsite.api_audit import AuditReader
from pimsite.api_auth import MayUseApi
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE, holds_administrator_role

NEEDS_ALERT_READER = (
    "Reading security alerts needs an active Global Administrator, Privileged Role Administrator, Security "
    "Administrator or Security Reader assignment at /; activate one from My roles first."
)


class AlertReader(AuditReader):
    """The audit readers. Anyone else who signed in gets 403 on the collection, and 404 on a
    view of one alert (`hides_objects = True`), so ids cannot be probed."""

    message = NEEDS_ALERT_READER

    def has_permission(self, request, view) -> bool:
        if holds_administrator_role(request.user) or super().has_permission(request, view):
            return True
        if request.user.is_authenticated and getattr(view, "hides_objects", False):
            raise NotFound
        return False


def _require_administrator(request) -> None:
    if not holds_administrator_role(request.user):
        raise PermissionDenied(NEEDS_ACTIVE_ADMIN_ROLE)


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule_key", read_only=True, help_text="The rule's key.")
    title = serializers.SerializerMethodField(help_text="The rule's title (its key if the rule is gone).")
    dismissed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = ("id", "rule", "title", "severity", "status", "items", "first_seen", "last_seen", "dismissed_by",
                  "dismissed_until", "dismiss_reason")  # fmt: skip
        read_only_fields = fields

    def get_title(self, alert: Alert) -> str:
        rule = alerts.get_rule(alert.rule_key)
        return rule.title if rule is not None else alert.rule_key


class DismissSerializer(serializers.Serializer):
    """Checked by audit.alerts.dismiss, whose refusals are the 400's field errors."""

    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    days = serializers.IntegerField(required=False, help_text=f"{alerts.DISMISS_DAYS[0]} to {alerts.DISMISS_DAYS[1]}.")


ScanResultSerializer = inline_serializer(
    name="AlertScanResult",
    fields={"counts": serializers.DictField(child=serializers.IntegerField(),
                                            help_text="How many rules ended each way: raised, updated, ...")},
)  # fmt: skip


def _live_alerts():
    return Alert.objects.filter(status__in=LIVE_ALERT_STATUSES).select_related("dismissed_by")


def _alert(alert_id: int) -> Alert:
    alert = _live_alerts().filter(pk=alert_id).first()
    if alert is None:
        raise Http404
    return alert


class Alerts(generics.ListAPIView):
    """Open and dismissed alerts, newest first, with a cursor. Audit readers only: anyone else
    who signed in gets 403, anyone without credentials 401."""

    serializer_class = AlertSerializer
    permission_classes = [MayUseApi, AlertReader]  # the API's default first: 401 before 403

    def get_queryset(self):
        return _live_alerts()


class AlertDetail(APIView):
    """One open or dismissed alert. Audit readers only: anyone else 404."""

    permission_classes = [MayUseApi, AlertReader]
    hides_objects = True

    @extend_schema(responses=AlertSerializer)
    def get(self, request, alert_id: int):
        return Response(AlertSerializer(_alert(alert_id)).data)


class AlertDismiss(APIView):
    """Dismiss an open alert for `days` (1 to 90) with a reason; audited (alert.dismissed).
    Administrators only (a reader gets 403, anyone else 404). A missing reason, days out of
    range, or an alert no longer open is a 400 naming the field."""

    permission_classes = [MayUseApi, AlertReader]
    hides_objects = True

    @extend_schema(request=DismissSerializer, responses=AlertSerializer)
    def post(self, request, alert_id: int):
        alert = _alert(alert_id)
        _require_administrator(request)
        body = DismissSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        days = body.validated_data.get("days", "nothing")
        alerts.dismiss(actor=request.user, alert=alert, reason=body.validated_data["reason"], days=days,
                       now=timezone.now())  # fmt: skip
        return Response(AlertSerializer(_alert(alert_id)).data)


class AlertScan(APIView):
    """Run every enabled rule now, as the schedule does; returns how many rules ended each way.
    Administrators only: anyone else who signed in gets 403."""

    permission_classes = [MayUseApi, AlertReader]

    @extend_schema(request=None, responses=ScanResultSerializer)
    def post(self, request):
        _require_administrator(request)
        outcomes = alerts.run_scan(now=timezone.now())
        return Response({"counts": dict(outcomes)})


urlpatterns_v1 = [
    ("alerts/", Alerts, "api-alerts"),
    ("alerts/scan/", AlertScan, "api-alert-scan"),
    ("alerts/<int:alert_id>/", AlertDetail, "api-alert"),
    ("alerts/<int:alert_id>/dismiss/", AlertDismiss, "api-alert-dismiss"),
]
