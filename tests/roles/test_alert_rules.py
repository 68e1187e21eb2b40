"""The alert rules about roles (roles.alert_rules): each fires at its threshold and not below,
notifies once, resolves when its condition is gone, and fixes through the audited services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit import alerts
from audit.models import Alert, AlertStatus, AuditEvent, OutboxMessage
from roles import services
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings
from tests.conftest import make_user
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def live(rule_key: str) -> Alert | None:
    return Alert.objects.filter(rule_key=rule_key, status__in=[AlertStatus.OPEN, AlertStatus.DISMISSED]).first()


def scan(now=None) -> None:
    alerts.run_scan(now=now or timezone.now())


# Too many Global Administrators ----------------------------------------------------------------

GA_RULE = "too_many_global_administrators"


def test_three_global_administrators_raise_the_alert_and_two_do_not(pim_admin):
    first, second = ActiveAssignmentFactory.create_batch(2, role=role("global-administrator"))
    scan()
    assert live(GA_RULE) is None  # 2: below the count of 3

    EligibleAssignmentFactory(role=role("global-administrator"))
    scan()
    scan()  # again: one alert, one notification

    alert = live(GA_RULE)
    assert (alert.severity, len(alert.items)) == ("low", 3)
    assert OutboxMessage.objects.filter(rule=f"alert.{GA_RULE}", recipient=pim_admin).count() == 1


def test_global_administrators_under_the_share_do_not_raise_it(pim_admin):
    ActiveAssignmentFactory.create_batch(3, role=role("global-administrator"))
    EligibleAssignmentFactory.create_batch(27, role=role("helpdesk-administrator"))  # 3 of 31: under 10 %
    scan()
    assert live(GA_RULE) is None

    ActiveAssignment.objects.filter(role__slug="helpdesk-administrator").delete()
    EligibleAssignment.objects.filter(role__slug="helpdesk-administrator")[:1].get().delete()  # 3 of 30: 10 %
    scan()
    assert live(GA_RULE) is not None


def test_removing_a_global_administrator_from_the_alert_resolves_it(pim_admin):
    assignments = ActiveAssignmentFactory.create_batch(3, role=role("global-administrator"),
                                                       end_at=timezone.now() + timedelta(days=1))  # fmt: skip
    scan()

    alerts.fix(actor=pim_admin, alert=live(GA_RULE), item_key=f"active:{assignments[0].pk}", now=timezone.now())

    assignments[0].refresh_from_db()
    assert assignments[0].ended_at is not None
    assert AuditEvent.objects.filter(action="assignment.removed", actor=pim_admin).count() == 1
    assert live(GA_RULE) is None


# Roles that don't require MFA on activation ----------------------------------------------------

MFA_RULE = "roles_without_mfa_on_activation"


def test_a_role_without_mfa_raises_the_alert_and_the_fix_turns_it_on(pim_admin):
    scan()
    assert live(MFA_RULE) is None  # every built-in role asks for MFA

    RoleSettings.objects.filter(role__slug="helpdesk-administrator").update(require_mfa_on_activation=False)
    scan()
    alert = live(MFA_RULE)
    assert [item["label"] for item in alert.items] == ["Helpdesk Administrator (Standard)"]

    alerts.fix(actor=pim_admin, alert=alert, item_key="role:helpdesk-administrator", now=timezone.now())

    assert RoleSettings.objects.get(role__slug="helpdesk-administrator").require_mfa_on_activation
    [event] = AuditEvent.objects.filter(action="settings.updated", actor=pim_admin)
    assert event.data == {"changes": {"require_mfa_on_activation": [False, True]}}
    assert Alert.objects.get(rule_key=MFA_RULE).status == AlertStatus.RESOLVED


def test_a_dismissed_mfa_alert_reopens_after_the_dismissal_if_still_true(pim_admin, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    RoleSettings.objects.filter(role__slug="helpdesk-administrator").update(require_mfa_on_activation=False)
    scan(now)
    alerts.dismiss(actor=pim_admin, alert=live(MFA_RULE), reason="Lab tenant", days=1, now=now)

    scan(now + timedelta(hours=23))
    assert live(MFA_RULE).status == AlertStatus.DISMISSED
    scan(now + timedelta(days=1))

    assert live(MFA_RULE).status == AlertStatus.OPEN
    assert OutboxMessage.objects.filter(rule=f"alert.{MFA_RULE}").count() == 2  # raised, reopened


# Potential stale accounts ----------------------------------------------------------------------

STALE_RULE = "stale_accounts_in_privileged_roles"


def test_an_account_unused_for_30_days_is_stale_and_one_second_less_is_not(db, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    user = UserFactory(username="sleepy", last_login=now - timedelta(days=30) + timedelta(seconds=1))
    EligibleAssignmentFactory(principal=user, role=role("user-administrator"), start_at=now - timedelta(days=60))
    scan(now)
    assert live(STALE_RULE) is None

    time_machine.move_to(now + timedelta(seconds=2), tick=False)
    scan(now + timedelta(seconds=2))
    [item] = live(STALE_RULE).items
    assert item["label"].startswith("sleepy: last signed in ")

    user.last_login = now + timedelta(seconds=2)  # signs in: gone on the next scan
    user.save(update_fields=["last_login"])
    scan(now + timedelta(seconds=3))
    assert live(STALE_RULE) is None


# Too many permanent active assignments for a critical role -------------------------------------

PERMANENT_RULE = "permanent_active_critical_roles"


def test_two_permanent_administrators_raise_the_alert_but_a_break_glass_account_does_not_count(pim_admin):
    ga = make_user("ga")
    ActiveAssignmentFactory(principal=ga, role=role("global-administrator"), end_at=None)
    emergency = make_user("emergency")
    services.flag_break_glass(actor=ga, user=emergency, reason="Sealed envelope")  # a second permanent GA
    scan()
    assert live(PERMANENT_RULE) is None  # one permanent GA besides break-glass, one permanent PRA

    other = ActiveAssignmentFactory(role=role("privileged-role-administrator"), end_at=None)
    scan()

    alert = live(PERMANENT_RULE)
    assert {item["key"] for item in alert.items} == {f"active:{other.pk}",
        f"active:{ActiveAssignment.objects.get(principal=pim_admin).pk}"}  # fmt: skip
    alerts.fix(actor=ga, alert=alert, item_key=f"active:{other.pk}", now=timezone.now())
    assert live(PERMANENT_RULE) is None
    assert AuditEvent.objects.filter(action="assignment.removed", actor=ga).count() == 1


# Event-driven and registered-only --------------------------------------------------------------


def test_every_break_glass_sign_in_is_listed_on_one_critical_alert(client, django_capture_on_commit_callbacks):
    ga = make_user("ga", email="ga@example.com")
    ActiveAssignmentFactory(principal=ga, role=role("global-administrator"), end_at=None)
    emergency = make_user("emergency")
    services.flag_break_glass(actor=ga, user=emergency, reason="Sealed envelope")

    client.force_login(emergency)
    client.logout()
    client.force_login(emergency)

    alert = live("break_glass_sign_in")
    assert (alert.severity, len(alert.items)) == ("critical", 2)
    # The sign-in's own critical notification (pimsite.signals) is the only one: no second copy.
    assert not OutboxMessage.objects.filter(rule="alert.break_glass_sign_in", subject__contains="alert raised").exists()
