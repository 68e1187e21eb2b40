"""`in_effect(at)` is the one definition of holding a role: exact to the second, whether or
not any task has recorded the end."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from roles import services
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.selectors import holds_role
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def security_reader(db):
    return Role.objects.get(slug="security-reader")


def holds_security_reader(user) -> bool:
    return holds_role(user=user, role_slugs=("security-reader",), at=timezone.now())


def test_an_active_assignment_is_in_effect_one_second_before_its_end_and_not_at_it(
    alice, security_reader, time_machine
):
    assignment = ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=END)

    time_machine.move_to(END - SECOND, tick=False)
    assert holds_security_reader(alice)
    assert list(ActiveAssignment.objects.in_effect(timezone.now())) == [assignment]
    assert assignment.is_in_effect(timezone.now())

    time_machine.move_to(END, tick=False)
    assert not holds_security_reader(alice)
    assert not ActiveAssignment.objects.in_effect(timezone.now()).exists()
    assert not assignment.is_in_effect(timezone.now())


def test_the_end_holds_to_the_microsecond(alice, security_reader):
    ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=END)

    assert ActiveAssignment.objects.in_effect(END - timedelta(microseconds=1)).exists()
    assert not ActiveAssignment.objects.in_effect(END).exists()


def test_recording_the_expiry_does_not_change_when_it_ended(alice, security_reader, time_machine):
    assignment = ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=END)
    time_machine.move_to(END + timedelta(minutes=5), tick=False)
    services.record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=timezone.now())

    assignment.refresh_from_db()
    assert assignment.ended_at == END
    assert ActiveAssignment.objects.in_effect(END - SECOND).exists()
    assert not ActiveAssignment.objects.in_effect(END).exists()


def test_a_removed_assignment_is_not_in_effect_from_its_removal_on(alice, security_reader, pim_admin, time_machine):
    time_machine.move_to(START, tick=False)
    assignment = ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=None)
    time_machine.move_to(START + timedelta(minutes=10), tick=False)
    services.remove_assignment(actor=pim_admin, assignment=assignment)

    assert not holds_security_reader(alice)
    assert ActiveAssignment.objects.in_effect(START + timedelta(minutes=10) - SECOND).exists()


def test_an_assignment_starting_in_the_future_is_not_yet_in_effect(alice, security_reader, time_machine):
    time_machine.move_to(START - SECOND, tick=False)
    ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=END)

    assert not holds_security_reader(alice)
    time_machine.move_to(START, tick=False)
    assert holds_security_reader(alice)


def test_a_permanent_assignment_stays_in_effect(alice, security_reader, time_machine):
    ActiveAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=None)

    time_machine.move_to(START + timedelta(days=3650), tick=False)
    assert holds_security_reader(alice)


def test_an_eligibility_follows_the_same_window(alice, security_reader):
    EligibleAssignmentFactory(principal=alice, role=security_reader, start_at=START, end_at=END)

    assert not EligibleAssignment.objects.in_effect(START - SECOND).exists()
    assert EligibleAssignment.objects.in_effect(START).exists()
    assert EligibleAssignment.objects.in_effect(END - SECOND).exists()
    assert not EligibleAssignment.objects.in_effect(END).exists()


def test_being_eligible_is_not_holding_the_role(alice, security_reader):
    EligibleAssignmentFactory(principal=alice, role=security_reader)

    assert not holds_security_reader(alice)


def test_an_inactive_account_holds_nothing(alice, security_reader):
    ActiveAssignmentFactory(principal=alice, role=security_reader)
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    assert not holds_security_reader(alice)
