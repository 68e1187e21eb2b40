"""The alert framework (audit.alerts): a rule's findings raise one alert and one notification,
later scans update it, no findings resolve it, a dismissal lasts its days and a scan after that
reopens it; fixes go through the rule; settings out of range change nothing. And the pages."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import Schedule
from pytest_django.asserts import assertContains, assertNotContains

from audit import alerts, tasks
from audit.models import Alert, AlertRuleSetting, AlertStatus, AuditEvent, OutboxMessage
from audit.services import record_event
from tests.audit.test_verify_audit import tamper
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # after the cast was made at the real now


class FakeDomain:
    """What the test rule finds and what its fix did."""

    def __init__(self):
        self.findings: list[alerts.Finding] = []
        self.fixed: list[str] = []
        self.recipients: list = []
        self.seen_thresholds: dict = {}

    def scan(self, thresholds, now):
        self.seen_thresholds = thresholds
        return [f for f in self.findings if int(f.key.split("-")[1]) >= thresholds["at_least"]]

    def fix(self, *, actor, item_key):
        self.fixed.append(item_key)
        self.findings = [f for f in self.findings if f.key != item_key]


@pytest.fixture
def domain(pim_admin, time_machine, monkeypatch):
    """The test rule, alone in the registry: the real rules are tested with their apps."""
    time_machine.move_to(T0, tick=False)
    monkeypatch.setattr(alerts, "_rules", {})
    fake = FakeDomain()
    fake.recipients = [pim_admin]
    rule = alerts.register(alerts.AlertRule(
        key="test_rule", title="Test rule", description="Something is off.", why="Because.",
        how_to_fix="Fix it.", severity="medium", thresholds=(alerts.Threshold("at_least", "At least", 1, 1, 10),),
        scan=fake.scan, fix=fake.fix, fix_label="Repair", recipients=lambda: fake.recipients,
    ))  # fmt: skip
    assert rule is alerts.get_rule("test_rule")
    return fake


def live_alert() -> Alert:
    return Alert.objects.get(rule_key="test_rule", status__in=[AlertStatus.OPEN, AlertStatus.DISMISSED])


def test_findings_raise_one_alert_and_one_notification_however_often_it_scans(domain):
    domain.findings = [alerts.Finding("item-1", "first", fix=True)]

    alerts.run_scan(now=T0)
    domain.findings.append(alerts.Finding("item-2", "second"))
    alerts.run_scan(now=T0 + timedelta(minutes=15))

    alert = live_alert()
    assert (alert.status, alert.first_seen, alert.last_seen) == (AlertStatus.OPEN, T0, T0 + timedelta(minutes=15))
    assert [item["label"] for item in alert.items] == ["first", "second"]
    assert AuditEvent.objects.filter(action="alert.raised").count() == 1
    [message] = OutboxMessage.objects.filter(rule="alert.test_rule")
    assert message.address == "pimadmin@example.com"
    assert message.subject == "[PIM] Medium alert raised: Test rule"
    assert not message.critical


def test_no_findings_resolve_the_alert(domain):
    domain.findings = [alerts.Finding("item-1", "first")]
    alerts.run_scan(now=T0)

    domain.findings = []
    alerts.run_scan(now=T0 + timedelta(minutes=15))

    alert = Alert.objects.get(rule_key="test_rule")
    assert (alert.status, alert.resolved_at) == (AlertStatus.RESOLVED, T0 + timedelta(minutes=15))
    assert AuditEvent.objects.filter(action="alert.resolved").count() == 1


def test_a_dismissed_alert_reopens_only_after_its_dismissal_ends(domain, pim_admin, time_machine):
    domain.findings = [alerts.Finding("item-1", "first")]
    alerts.run_scan(now=T0)

    alerts.dismiss(actor=pim_admin, alert=live_alert(), reason="Known, planned migration", days=7, now=T0)
    alerts.run_scan(now=T0 + timedelta(days=7, seconds=-1))  # one second before the end: still dismissed
    assert live_alert().status == AlertStatus.DISMISSED
    alerts.run_scan(now=T0 + timedelta(days=7))

    alert = live_alert()
    assert alert.status == AlertStatus.OPEN
    assert Alert.objects.count() == 1
    assert AuditEvent.objects.filter(action="alert.dismissed", justification="Known, planned migration").count() == 1
    assert AuditEvent.objects.filter(action="alert.reopened").count() == 1
    assert OutboxMessage.objects.filter(rule="alert.test_rule").count() == 2  # raised, then reopened


@pytest.mark.parametrize(("reason", "days", "message"), [
    ("", 7, "Give a reason for dismissing this alert."),
    ("Known", 0, "An alert can be dismissed for 1 to 90 days; you asked for 0."),
    ("Known", 91, "An alert can be dismissed for 1 to 90 days; you asked for 91."),
])  # fmt: skip
def test_a_dismissal_without_reason_or_out_of_range_changes_nothing(domain, pim_admin, reason, days, message):
    domain.findings = [alerts.Finding("item-1", "first")]
    alerts.run_scan(now=T0)

    with pytest.raises(ValidationError) as refusal:
        alerts.dismiss(actor=pim_admin, alert=live_alert(), reason=reason, days=days, now=T0)

    assert message in refusal.value.messages
    assert live_alert().status == AlertStatus.OPEN
    assert not AuditEvent.objects.filter(action="alert.dismissed").exists()


def test_a_fix_goes_through_the_rule_and_the_alert_resolves_when_nothing_is_left(domain, pim_admin):
    domain.findings = [alerts.Finding("item-1", "first", fix=True)]
    alerts.run_scan(now=T0)

    alerts.fix(actor=pim_admin, alert=live_alert(), item_key="item-1", now=T0)

    assert domain.fixed == ["item-1"]
    assert AuditEvent.objects.filter(action="alert.item_fixed", actor=pim_admin).count() == 1
    assert Alert.objects.get(rule_key="test_rule").status == AlertStatus.RESOLVED


def test_an_item_without_a_fix_is_refused(domain, pim_admin):
    domain.findings = [alerts.Finding("item-1", "first", fix=False)]
    alerts.run_scan(now=T0)

    with pytest.raises(ValidationError, match="no fix"):
        alerts.fix(actor=pim_admin, alert=live_alert(), item_key="item-1", now=T0)
    assert domain.fixed == []


def test_thresholds_and_the_enabled_flag_are_used_by_the_scan(domain, pim_admin):
    domain.findings = [alerts.Finding("item-2", "two")]
    alerts.update_settings(actor=pim_admin, changes={"test_rule": {"enabled": True, "thresholds": {"at_least": 3}}})

    alerts.run_scan(now=T0)
    assert domain.seen_thresholds == {"at_least": 3}
    assert not Alert.objects.exists()  # 2 is below 3

    alerts.update_settings(actor=pim_admin, changes={"test_rule": {"enabled": False, "thresholds": {"at_least": 1}}})
    domain.seen_thresholds = {}
    alerts.run_scan(now=T0)
    assert domain.seen_thresholds == {}  # turned off: not scanned
    [event] = AuditEvent.objects.filter(action="alert.settings_updated").order_by("sequence")[:1]
    assert event.data == {"changes": {"test_rule": {"at_least": [1, 3]}}}


@pytest.mark.parametrize("given", ["0", "11", "three", ""])
def test_a_threshold_out_of_range_is_refused_naming_rule_and_range(domain, pim_admin, given):
    with pytest.raises(ValidationError) as refusal:
        alerts.update_settings(actor=pim_admin, changes={"test_rule": {"enabled": False,
                                                                       "thresholds": {"at_least": given}}})  # fmt: skip

    [message] = refusal.value.messages
    assert message.startswith("Test rule: At least must be a whole number from 1 to 10; you gave ")
    assert not AlertRuleSetting.objects.exists()
    assert not AuditEvent.objects.filter(action="alert.settings_updated").exists()


def test_an_event_driven_raise_adds_items_and_notifies_once(domain):
    alerts.raise_alert("test_rule", [alerts.Finding("item-1", "first")], now=T0)
    alerts.raise_alert("test_rule", [alerts.Finding("item-2", "second")], now=T0)

    assert [item["key"] for item in live_alert().items] == ["item-1", "item-2"]
    assert OutboxMessage.objects.filter(rule="alert.test_rule").count() == 1


def test_a_broken_audit_chain_raises_the_critical_alert(pim_admin, time_machine):
    time_machine.move_to(T0, tick=False)
    for i in range(3):
        record_event(actor=None, action="test.appended", justification=f"INC-{i}")
    tamper("UPDATE audit_auditevent SET justification = 'routine' WHERE sequence = 2")

    tasks.verify_audit_chain()
    tasks.verify_audit_chain()  # the same break again: no second alert

    [alert] = Alert.objects.filter(rule_key="audit_chain_broken")
    assert (alert.severity, alert.status) == ("critical", AlertStatus.OPEN)
    assert alert.items[0]["label"] == "BROKEN at sequence 2: its content does not match its hash"
    [message] = OutboxMessage.objects.filter(rule="alert.audit_chain_broken")
    assert message.critical and message.address == "pimadmin@example.com"


def test_setup_schedules_scans_alerts_every_15_minutes(db):
    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())  # again: still one schedule

    schedule = Schedule.objects.get(name="pim.alerts")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 15)
    assert callable(import_string(schedule.func))


def test_every_registered_rule_has_its_words():
    keys = {rule.key for rule in alerts.rules()}
    assert {"too_many_global_administrators", "roles_activated_too_frequently", "roles_without_mfa_on_activation",
            "administrators_not_using_roles", "stale_accounts_in_privileged_roles", "permanent_active_critical_roles",
            "roles_assigned_outside_pim", "break_glass_sign_in", "audit_chain_broken"} <= keys  # fmt: skip
    for rule in alerts.rules():
        assert rule.title and rule.description and rule.why and rule.how_to_fix


# Pages -----------------------------------------------------------------------------------------


def test_the_alerts_page_climbs_the_access_ladder(client, alice, pim_admin, domain):
    domain.findings = [alerts.Finding("item-1", "first", fix=True)]
    alerts.run_scan(now=T0)
    # Anonymous: sent to sign in.
    assert client.get(reverse("alerts:list")).status_code == 302
    # Signed in without a reader role: refused.
    verify_session(client, alice)
    assert client.get(reverse("alerts:list")).status_code == 403
    # A Privileged Role Administrator: the alert, its fix and the count in the navigation.
    verify_session(client, pim_admin)
    response = client.get(reverse("alerts:list"))
    assertContains(response, "Test rule")
    assertContains(response, "Medium (1)")
    assertContains(response, "Repair")
    assertContains(response, "Alerts (1)")
    assertContains(response, "1 open.")


def test_dismissing_from_the_page(client, pim_admin, domain):
    domain.findings = [alerts.Finding("item-1", "first")]
    alerts.run_scan(now=T0)
    verify_session(client, pim_admin)

    refused = client.post(reverse("alerts:dismiss", args=[live_alert().pk]), {"reason": "", "days": "7"}, follow=True)
    assertContains(refused, "Give a reason for dismissing this alert.")
    response = client.post(reverse("alerts:dismiss", args=[live_alert().pk]),
                           {"reason": "Planned", "days": "7"}, follow=True)  # fmt: skip

    assertContains(response, "Dismissed until 2027-03-08 09:00 UTC.")
    assertContains(response, "Alerts (0)")


def test_fixing_and_scanning_from_the_page(client, pim_admin, domain):
    domain.findings = [alerts.Finding("item-1", "first", fix=True)]
    verify_session(client, pim_admin)

    client.post(reverse("alerts:scan"))
    assert live_alert().status == AlertStatus.OPEN
    response = client.post(reverse("alerts:fix", args=[live_alert().pk]), {"item": "item-1"}, follow=True)

    assertContains(response, "Fixed.")
    assert domain.fixed == ["item-1"]


def test_the_settings_page_refuses_a_bad_threshold_and_saves_nothing(client, pim_admin, domain):
    verify_session(client, pim_admin)
    form = {f"{c.rule.key}-enabled": "on" for c in alerts.configs()}
    for config in alerts.configs():
        form |= {f"{config.rule.key}-{key}": value for key, value in config.thresholds.items()}

    response = client.post(reverse("alerts:settings"), form | {"test_rule-at_least": "42"})

    assert response.status_code == 400
    assertContains(response, "Test rule: At least must be a whole number from 1 to 10; you gave 42.", status_code=400)
    assert not AlertRuleSetting.objects.exists()
    response = client.post(reverse("alerts:settings"), form | {"test_rule-at_least": "4"}, follow=True)
    assertContains(response, "Saved 1 rule(s).")
    assert AlertRuleSetting.objects.get(rule_key="test_rule").thresholds["at_least"] == 4


def test_only_administrators_change_settings_or_act(client, pim_admin, alice, domain):
    verify_session(client, alice)
    assert client.get(reverse("alerts:settings")).status_code == 403
    assert client.post(reverse("alerts:scan")).status_code == 403


def test_readers_see_the_count_and_others_do_not(client, alice, pim_admin, domain):
    verify_session(client, alice)
    assertNotContains(client.get(reverse("home")), "Alerts (")
    verify_session(client, pim_admin)
    assertContains(client.get(reverse("home")), "Alerts (0)")
