"""Access ends at end_at to the second, whatever ran. The expiry's side effects (ended_at, one
assignment.expired event, the holder's mail) come from the one-off task or the sweep, and
running either twice, late, or again after a crash half-way leaves the same result."""

from datetime import timedelta

import pytest
from django.core import mail

from activations import services, tasks
from audit.services import record_events
from roles.choices import EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.selectors import access_decision
from tests.activations.helpers import START, activate, events
from tests.factories import EligibleAssignmentFactory

ENDS = START + timedelta(hours=1)


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def assignment(alice, eligibility) -> ActiveAssignment:
    [request] = activate(alice, eligibility)
    return request.assignment


@pytest.fixture
def mail_at_once(sync_tasks, django_capture_on_commit_callbacks):
    """Run each task as a worker would: its on-commit mail is sent when it returns."""

    def run(task, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return task(*args)

    return run


def allowed_at(at) -> bool:
    return access_decision(username="alice", role_slug="exchange-administrator", at=at).allowed


def test_access_ends_at_end_at_to_the_second_before_any_task_runs(assignment, clock):
    clock.move_to(ENDS - timedelta(seconds=1), tick=False)
    assert allowed_at(ENDS - timedelta(seconds=1))

    clock.move_to(ENDS, tick=False)

    decision = access_decision(username="alice", role_slug="exchange-administrator", at=ENDS)
    assert not decision.allowed
    assert decision.reason == "alice holds no active exchange-administrator assignment at / or above"
    assignment.refresh_from_db()
    assert assignment.ended_at is None  # nothing has recorded the expiry yet


def test_the_expiry_task_before_end_at_does_nothing(assignment, clock):
    clock.move_to(ENDS - timedelta(seconds=1), tick=False)

    assert tasks.expire_assignment("active", assignment.pk) == "nothing to do"

    assignment.refresh_from_db()
    assert assignment.ended_at is None
    assert events("assignment.expired") == []


def test_the_expiry_task_run_twice_records_one_expiry_and_mails_the_holder_once(assignment, clock, mail_at_once):
    clock.move_to(ENDS + timedelta(seconds=20), tick=False)  # the scheduler ticks a little late

    assert mail_at_once(tasks.expire_assignment, "active", assignment.pk) == "expired"
    assert mail_at_once(tasks.expire_assignment, "active", assignment.pk) == "nothing to do"

    assignment.refresh_from_db()
    assert assignment.ended_at == ENDS  # when access ended, not when the task ran
    assert assignment.end_reason == EndReason.EXPIRED
    [expired] = events("assignment.expired")
    assert expired.actor is None
    assert expired.target_id == str(assignment.pk)
    assert expired.data == {"assignment_type": "active"}
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "[PIM] Exchange Administrator has expired"
    assert "ended at 2026-11-22 10:00 UTC" in message.body


def test_after_a_crash_before_the_audit_event_the_rerun_records_the_expiry_once(
    assignment, clock, monkeypatch, mail_at_once
):
    clock.move_to(ENDS, tick=False)
    calls = []

    def crash_the_first_time(**kwargs):
        calls.append(kwargs["action"])
        if len(calls) == 1:
            raise ConnectionError("worker lost its database connection")
        return record_events(**kwargs)

    monkeypatch.setattr("roles.services.assignments.record_events", crash_the_first_time)

    with pytest.raises(ConnectionError):
        mail_at_once(tasks.expire_assignment, "active", assignment.pk)
    assignment.refresh_from_db()
    assert assignment.ended_at is None  # the state change rolled back with the event
    clock.move_to(ENDS + timedelta(minutes=2), tick=False)  # django-q2 retries later
    assert mail_at_once(tasks.expire_assignment, "active", assignment.pk) == "expired"

    assignment.refresh_from_db()
    assert assignment.ended_at == ENDS
    assert len(events("assignment.expired")) == 1
    assert len(mail.outbox) == 1


def test_after_a_crash_before_the_holder_is_told_the_next_sweep_still_tells_them_once(
    assignment, clock, monkeypatch, mail_at_once
):
    clock.move_to(ENDS, tick=False)
    real_notice = tasks.notice
    calls = []

    def crash_the_first_time(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise ConnectionError("worker lost its database connection")
        return real_notice(**kwargs)

    monkeypatch.setattr(tasks, "notice", crash_the_first_time)

    # The expiry commits on its own; the task that writes the mail runs after it, and crashes.
    assert mail_at_once(tasks.expire_assignment, "active", assignment.pk) == "expired"
    assignment.refresh_from_db()
    assert (assignment.ended_at, assignment.expiry_notice_due) == (ENDS, True)  # the mail is still owed
    assert mail.outbox == []

    clock.move_to(ENDS + timedelta(minutes=1), tick=False)
    assert mail_at_once(tasks.sweep).startswith("expired 0,")  # and queues the telling again
    assert mail_at_once(tasks.sweep).startswith("expired 0,")

    assignment.refresh_from_db()
    assert assignment.expiry_notice_due is False
    assert len(events("assignment.expired")) == 1
    assert len(mail.outbox) == 1


def test_the_sweep_finishes_expiries_no_one_off_ran_once(alice, assignment, clock, mail_at_once):
    billing = EligibleAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="billing-administrator"), end_at=ENDS
    )
    clock.move_to(ENDS + timedelta(seconds=50), tick=False)

    assert mail_at_once(tasks.sweep) == "expired 2, started 0, timed out 0, escalated 0, failed 0"
    assert mail_at_once(tasks.sweep) == "expired 0, started 0, timed out 0, escalated 0, failed 0"
    assert mail_at_once(tasks.expire_assignment, "active", assignment.pk) == "nothing to do"

    assignment.refresh_from_db()
    billing.refresh_from_db()
    assert (assignment.ended_at, assignment.end_reason) == (ENDS, EndReason.EXPIRED)
    assert (billing.ended_at, billing.end_reason) == (ENDS, EndReason.EXPIRED)
    assert sorted(e.data["assignment_type"] for e in events("assignment.expired")) == ["active", "eligible"]
    [message] = mail.outbox  # the holder of the active assignment; an eligibility ending mails nobody
    assert message.to == ["alice@example.com"]


def test_an_eligibility_reaching_its_end_is_expired_once_by_its_task(alice, exchange_admin, clock):
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin, end_at=ENDS)
    clock.move_to(ENDS - timedelta(seconds=1), tick=False)
    assert EligibleAssignment.objects.in_effect(ENDS - timedelta(seconds=1)).filter(pk=eligibility.pk).exists()
    clock.move_to(ENDS, tick=False)
    assert not EligibleAssignment.objects.in_effect(ENDS).filter(pk=eligibility.pk).exists()

    assert tasks.expire_assignment("eligible", eligibility.pk) == "expired"
    assert tasks.expire_assignment("eligible", eligibility.pk) == "nothing to do"

    eligibility.refresh_from_db()
    assert eligibility.ended_at == ENDS
    assert len(events("assignment.expired")) == 1


def test_an_assignment_deactivated_before_its_end_is_not_expired(alice, assignment, clock):
    services.deactivate(actor=alice, assignment=assignment)
    clock.move_to(ENDS, tick=False)

    assert tasks.expire_assignment("active", assignment.pk) == "nothing to do"
    assert tasks.sweep() == "expired 0, started 0, timed out 0, escalated 0, failed 0"

    assignment.refresh_from_db()
    assert assignment.end_reason == EndReason.DEACTIVATED
    assert events("assignment.expired") == []
