"""Ending assignments: removal by an administrator and the recorded expiry, each audited once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from roles import services
from roles.choices import EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=2)


@pytest.fixture
def user_admin_role(db):
    return Role.objects.get(slug="user-administrator")


def test_removing_an_assignment_ends_it_now_and_audits_once(pim_admin, alice, user_admin_role, time_machine):
    time_machine.move_to(START, tick=False)
    eligibility = EligibleAssignmentFactory(principal=alice, role=user_admin_role)
    time_machine.move_to(START + timedelta(hours=1), tick=False)

    assert services.remove_assignment(actor=pim_admin, assignment=eligibility) is True

    eligibility.refresh_from_db()
    assert eligibility.ended_at == START + timedelta(hours=1)
    assert eligibility.end_reason == EndReason.REMOVED
    assert eligibility.ended_by == pim_admin
    assert not EligibleAssignment.objects.in_effect(timezone.now()).exists()
    event = AuditEvent.objects.get(action="assignment.removed")
    assert event.actor == pim_admin
    assert event.principal == alice
    assert event.data == {"assignment_type": "eligible"}


def test_removing_it_again_returns_false_and_writes_nothing(pim_admin, alice, user_admin_role):
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role)
    services.remove_assignment(actor=pim_admin, assignment=assignment)

    assert services.remove_assignment(actor=pim_admin, assignment=assignment) is False

    assert AuditEvent.objects.filter(action="assignment.removed").count() == 1


def test_removing_a_lapsed_assignment_records_its_expiry_instead(pim_admin, alice, user_admin_role, time_machine):
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role, start_at=START, end_at=END)
    time_machine.move_to(END + timedelta(minutes=1), tick=False)

    assert services.remove_assignment(actor=pim_admin, assignment=assignment) is False

    assignment.refresh_from_db()
    assert assignment.end_reason == EndReason.EXPIRED
    assert assignment.ended_at == END
    assert not AuditEvent.objects.filter(action="assignment.removed").exists()
    assert AuditEvent.objects.filter(action="assignment.expired").count() == 1


def test_recording_an_expiry_twice_writes_one_event(alice, user_admin_role, time_machine):
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role, start_at=START, end_at=END)
    time_machine.move_to(END, tick=False)

    first = services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=timezone.now())
    second = services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=timezone.now())

    assert (first, second) == (True, False)
    events = AuditEvent.objects.filter(action="assignment.expired")
    assert events.count() == 1
    assert events.get().actor is None
    assert events.get().principal == alice
    assignment.refresh_from_db()
    assert (assignment.ended_at, assignment.end_reason) == (END, EndReason.EXPIRED)


def test_an_expiry_is_not_recorded_before_the_end(alice, user_admin_role, time_machine):
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role, start_at=START, end_at=END)
    time_machine.move_to(END - timedelta(seconds=1), tick=False)

    assert services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=timezone.now()) is False

    assignment.refresh_from_db()
    assert assignment.ended_at is None
    assert not AuditEvent.objects.exists()


def test_a_permanent_assignment_never_expires(alice, user_admin_role):
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role, end_at=None)

    far_future = timezone.now() + timedelta(days=10000)
    assert services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=far_future) is False


def test_a_removed_assignment_is_not_recorded_as_expired_later(pim_admin, alice, user_admin_role, time_machine):
    time_machine.move_to(START, tick=False)
    assignment = ActiveAssignmentFactory(principal=alice, role=user_admin_role, start_at=START, end_at=END)
    services.remove_assignment(actor=pim_admin, assignment=assignment)
    time_machine.move_to(END + timedelta(minutes=1), tick=False)

    assert services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=timezone.now()) is False
    assignment.refresh_from_db()
    assert assignment.end_reason == EndReason.REMOVED
