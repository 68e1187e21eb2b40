"""Ending an activated role early: the holder may, at once; nobody else may through this path,
and an administrator's assignment is not theirs to end. Removing the eligibility ends what
was activated from it."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from activations import services
from roles import services as role_services
from roles.choices import EndReason
from roles.models import ActiveAssignment
from roles.selectors import access_decision
from tests.activations.helpers import START, activate, events
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

LATER = START + timedelta(minutes=20)


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def assignment(alice, eligibility, clock) -> ActiveAssignment:
    [request] = activate(alice, eligibility)
    clock.move_to(LATER, tick=False)
    return request.assignment


def allowed_at(at) -> bool:
    return access_decision(username="alice", role_slug="exchange-administrator", at=at).allowed


def test_the_holder_deactivates_an_activated_role_and_access_ends_at_once(alice, assignment):
    assert allowed_at(LATER)

    services.deactivate(actor=alice, assignment=assignment)

    assignment.refresh_from_db()
    assert (assignment.ended_at, assignment.end_reason, assignment.ended_by) == (LATER, EndReason.DEACTIVATED, alice)
    assert not allowed_at(LATER)
    [deactivated] = events("assignment.deactivated")
    assert deactivated.actor == alice
    assert deactivated.target_id == str(assignment.pk)


def test_after_deactivating_the_holder_can_activate_again(alice, eligibility, assignment):
    services.deactivate(actor=alice, assignment=assignment)

    [request] = activate(alice, eligibility)

    assert request.assignment.start_at == LATER


@pytest.mark.parametrize("who", ["bob", "pim_admin"])
def test_nobody_else_can_deactivate_someone_elses_role(assignment, who, request):
    someone_else = request.getfixturevalue(who)

    with pytest.raises(ValidationError) as refused:
        services.deactivate(actor=someone_else, assignment=assignment)

    assert refused.value.messages == ["Only the holder can deactivate this role assignment."]
    assignment.refresh_from_db()
    assert assignment.ended_at is None
    assert allowed_at(LATER)
    assert events("assignment.deactivated") == []


def test_an_assignment_from_an_administrator_cannot_be_deactivated_by_its_holder(alice, exchange_admin, clock):
    standing = ActiveAssignmentFactory(principal=alice, role=exchange_admin)

    with pytest.raises(ValidationError) as refused:
        services.deactivate(actor=alice, assignment=standing)

    assert refused.value.messages == [
        "Exchange Administrator was assigned to you by an administrator, not activated; "
        "ask a Privileged Role Administrator to remove it."
    ]
    standing.refresh_from_db()
    assert standing.ended_at is None
    assert allowed_at(START)


def test_an_assignment_that_has_already_ended_cannot_be_deactivated(alice, assignment, clock):
    clock.move_to(START + timedelta(hours=1), tick=False)

    with pytest.raises(ValidationError, match="This role assignment has already ended."):
        services.deactivate(actor=alice, assignment=assignment)

    assert events("assignment.deactivated") == []


def test_deactivating_twice_is_refused_the_second_time(alice, assignment):
    services.deactivate(actor=alice, assignment=assignment)

    with pytest.raises(ValidationError, match="already ended"):
        services.deactivate(actor=alice, assignment=assignment)

    assert len(events("assignment.deactivated")) == 1


def test_removing_the_eligibility_ends_the_role_activated_from_it(alice, pim_admin, eligibility, assignment):
    assert role_services.remove_assignment(actor=pim_admin, assignment=eligibility) is True

    assignment.refresh_from_db()
    assert (assignment.ended_at, assignment.end_reason, assignment.ended_by) == (LATER, EndReason.REMOVED, pim_admin)
    assert not allowed_at(LATER)
    assert sorted(e.target_type for e in events("assignment.removed")) == [
        "roles.activeassignment",
        "roles.eligibleassignment",
    ]


def test_removing_the_eligibility_leaves_an_administrators_assignment_alone(alice, pim_admin, exchange_admin, clock):
    scoped = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    standing = ActiveAssignmentFactory(principal=alice, role=exchange_admin, end_at=START + timedelta(days=30))

    role_services.remove_assignment(actor=pim_admin, assignment=scoped)

    standing.refresh_from_db()
    assert standing.ended_at is None
    assert allowed_at(START)
