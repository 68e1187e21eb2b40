"""Requests that can no longer go anywhere do not wait forever: the sweep fails them, once,
and tells the requester. Meanwhile nobody is asked to decide them."""

from datetime import timedelta

import pytest
from django.core import mail

from activations import services, tasks
from activations.choices import RequestStatus
from activations.selectors import pending_for_approver
from roles.services import remove_assignment
from tests.activations.helpers import START, activate, events
from tests.factories import EligibleAssignmentFactory


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def test_a_pending_request_whose_eligibility_was_removed_leaves_the_inbox_and_fails_once(
    alice, bob, pim_admin, eligibility, with_approval, sync_tasks, django_capture_on_commit_callbacks
):
    [request] = activate(alice, eligibility)
    remove_assignment(actor=pim_admin, assignment=eligibility)

    assert list(pending_for_approver(user=bob)) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep().endswith("failed 1")
        assert tasks.sweep().endswith("failed 0")

    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED
    assert request.status_reason == services.ORPHANED_PENDING
    assert len(events("activation.failed")) == 1
    assert [m.to for m in mail.outbox if "could not go ahead" in m.body] == [[alice.email]]


def test_a_pending_request_whose_eligibility_ran_out_fails(alice, exchange_admin, with_approval, clock):
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin, end_at=START + timedelta(hours=1))
    [request] = activate(alice, eligibility, duration=timedelta(minutes=30))

    clock.move_to(START + timedelta(hours=1))
    tasks.sweep()

    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED


def test_a_scheduled_activation_deactivated_before_its_start_fails_and_is_never_announced(alice, eligibility, clock):
    [request] = activate(alice, eligibility, start_at=START + timedelta(hours=3))
    services.deactivate(actor=alice, assignment=request.assignment)

    clock.move_to(START + timedelta(hours=3, minutes=1))
    tasks.sweep()

    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED
    assert request.status_reason == services.ENDED_BEFORE_START
    assert events("assignment.started") == []


def test_a_request_still_pending_with_its_eligibility_in_effect_is_left_alone(alice, eligibility, with_approval):
    [request] = activate(alice, eligibility)

    tasks.sweep()

    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING_APPROVAL
