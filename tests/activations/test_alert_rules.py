"""The alert rules about activations (activations.alert_rules): too frequent activation, raised
within seconds of the activation, and eligible administrators who never activate."""

from datetime import timedelta

import pytest
from django.utils import timezone

from activations import alert_rules
from activations.services import request_activation
from audit import alerts
from audit.models import Alert, AlertStatus, AuditEvent, OutboxMessage
from roles.choices import ActiveSource, EndReason
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, RoleFactory

pytestmark = pytest.mark.django_db

FREQUENT = "roles_activated_too_frequently"
UNUSED = "administrators_not_using_roles"


def live(rule_key: str) -> Alert | None:
    return Alert.objects.filter(rule_key=rule_key, status__in=[AlertStatus.OPEN, AlertStatus.DISMISSED]).first()


def activated(user, role, at):
    """An activation at `at`, deactivated a minute later (one open assignment per role at a time)."""
    return ActiveAssignmentFactory(principal=user, role=role, source=ActiveSource.ACTIVATION, start_at=at,
                                   end_at=at + timedelta(minutes=5), ended_at=at + timedelta(minutes=1),
                                   end_reason=EndReason.DEACTIVATED)  # fmt: skip


def test_three_activations_in_an_hour_raise_the_alert_and_two_do_not(alice, pim_admin, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    role = RoleFactory(name="Exchange Operator")
    activated(alice, role, now - timedelta(minutes=59))
    activated(alice, role, now - timedelta(minutes=30))
    alert_rules.activation_granted()
    assert live(FREQUENT) is None

    activated(alice, role, now)
    alert_rules.activation_granted()
    alert_rules.activation_granted()

    [item] = live(FREQUENT).items
    assert item["label"] == "alice activated Exchange Operator 3 times in 60 minutes"
    assert OutboxMessage.objects.filter(rule=f"alert.{FREQUENT}", recipient=pim_admin).count() == 1
    # An hour after the first, only two are inside the window: resolved.
    alerts.run_scan(now=now + timedelta(minutes=1))
    assert live(FREQUENT) is None


def test_activating_through_the_service_checks_at_once(mfa_client, alice, django_capture_on_commit_callbacks):
    eligibility = EligibleAssignmentFactory(principal=alice)
    eligibility.role.settings.require_mfa_on_activation = False
    eligibility.role.settings.save()
    for _ in range(2):
        activated(alice, eligibility.role, timezone.now() - timedelta(minutes=10))
    alerts.update_settings(actor=None, changes={FREQUENT: {"thresholds": {"activations": 3, "window_minutes": 60}}})

    with django_capture_on_commit_callbacks(execute=True):
        request_activation(actor=alice, eligibilities=[eligibility], duration=timedelta(minutes=30),
                           justification="INC-1 check the alert", mfa_verified_at=timezone.now())  # fmt: skip

    assert live(FREQUENT) is not None


def test_an_eligibility_unused_for_30_days_raises_the_alert_and_the_fix_removes_it(alice, pim_admin, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    role = RoleFactory(name="Exchange Operator")
    eligibility = EligibleAssignmentFactory(principal=alice, role=role, start_at=now - timedelta(days=90))
    activated(alice, role, now - timedelta(days=30) + timedelta(seconds=1))
    alerts.run_scan(now=now)
    assert live(UNUSED) is None  # activated 30 days less one second ago

    later = now + timedelta(seconds=1)
    time_machine.move_to(later, tick=False)
    alerts.run_scan(now=later)
    alert = live(UNUSED)
    assert [item["key"] for item in alert.items] == [f"eligible:{eligibility.pk}"]

    alerts.fix(actor=pim_admin, alert=alert, item_key=f"eligible:{eligibility.pk}", now=later)
    eligibility.refresh_from_db()
    assert eligibility.ended_at is not None
    assert AuditEvent.objects.filter(action="assignment.removed", actor=pim_admin).count() == 1
    assert live(UNUSED) is None
