"""Every verification is recorded for the audit page's status line; a new break raises a
critical alert (an audit.chain_broken event and a critical notification)."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from audit import tasks
from audit.models import AuditEvent, ChainVerification, OutboxMessage, Webhook
from audit.selectors import last_verification
from audit.services import record_event
from tests.audit.test_verify_audit import tamper

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


@pytest.fixture
def events(time_machine):
    time_machine.move_to(T0, tick=False)
    for i in range(1, 4):
        record_event(actor=None, action="test.appended", justification=f"INC-{i}")


def test_never_verified_shows_nothing():
    assert last_verification() is None


def test_verify_audit_records_a_passing_run(events):
    call_command("verify_audit", stdout=StringIO())

    verification = last_verification()
    assert (verification.verified_at, verification.ok, verification.count) == (T0, True, 3)
    assert (verification.first_break_sequence, verification.message) == (None, "OK: 3 events verified")


def test_a_break_is_recorded_and_raises_one_critical_alert(events, time_machine):
    Webhook.objects.create(name="soc", url="https://hooks.example.com/soc", rules=["audit.chain_broken"])
    tamper("UPDATE audit_auditevent SET justification = 'routine' WHERE sequence = 2")

    with pytest.raises(CommandError):
        call_command("verify_audit", stdout=StringIO())
    time_machine.move_to(T0 + timedelta(days=1), tick=False)
    tasks.verify_audit_chain()  # the same break the next day: recorded, not alerted again

    verification = last_verification()
    assert (verification.ok, verification.first_break_sequence) == (False, 2)
    assert verification.message == "BROKEN at sequence 2: its content does not match its hash"
    assert ChainVerification.objects.count() == 2
    [alert] = AuditEvent.objects.filter(action="audit.chain_broken")
    assert alert.data == {"sequence": 2, "reason": "its content does not match its hash"}
    [message] = OutboxMessage.objects.filter(rule="audit.chain_broken")
    assert message.critical and message.webhook.name == "soc"


def test_the_daily_task_records_the_result(events):
    assert tasks.verify_audit_chain() == "OK: 3 events verified"

    assert last_verification().ok


def test_setup_schedules_verifies_the_chain_daily(db):
    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())  # again: still one schedule

    schedule = Schedule.objects.get(name="pim.audit.verify")
    assert schedule.schedule_type == Schedule.DAILY
    assert import_string(schedule.func) is tasks.verify_audit_chain
