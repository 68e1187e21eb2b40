"""A pending request ends without a decision two ways: the requester cancels it, or nobody
decides by its deadline and the sweep times it out, once, telling the requester."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from activations import services, tasks
from activations.choices import Decision, RequestStatus
from activations.exceptions import AlreadyDecided
from roles.models import ActiveAssignment
from tests.activations.helpers import START, activate, events
from tests.factories import EligibleAssignmentFactory

DEADLINE = START + timedelta(hours=2)  # the role's approval timeout is 2 h


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def pending(alice, eligibility, with_approval):
    [request] = activate(alice, eligibility)
    return request


# Time-out ----------------------------------------------------------------------------------


def test_a_request_nobody_decided_by_its_deadline_times_out_once(
    pending, clock, sync_tasks, django_capture_on_commit_callbacks
):
    clock.move_to(DEADLINE + timedelta(seconds=30), tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep() == "expired 0, started 0, timed out 1, escalated 0, failed 0"
        assert tasks.sweep() == "expired 0, started 0, timed out 0, escalated 0, failed 0"

    pending.refresh_from_db()
    assert pending.status == RequestStatus.TIMED_OUT
    assert pending.decided_at == DEADLINE + timedelta(seconds=30)
    assert pending.assignment is None
    [timed_out] = events("activation.timed_out")
    assert timed_out.actor is None
    assert timed_out.target_id == str(pending.pk)
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "[PIM] Your request for Exchange Administrator timed out"
    assert "no approver decided in time. You can ask again." in message.body


def test_a_request_is_not_timed_out_before_its_deadline(pending, clock):
    clock.move_to(DEADLINE - timedelta(seconds=1), tick=False)

    assert services.time_out_requests(now=DEADLINE - timedelta(seconds=1)) == 0

    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING_APPROVAL
    assert events("activation.timed_out") == []


def test_time_out_run_twice_for_the_same_moment_times_out_once(pending, clock):
    clock.move_to(DEADLINE, tick=False)

    assert services.time_out_requests(now=DEADLINE) == 1
    assert services.time_out_requests(now=DEADLINE) == 0

    assert len(events("activation.timed_out")) == 1


def test_a_decided_request_is_not_timed_out(bob, pending, clock):
    decide_at = DEADLINE - timedelta(minutes=1)
    clock.move_to(decide_at, tick=False)
    services.decide_request(actor=bob, request=pending, decision=Decision.DENY, justification="Not today")
    clock.move_to(DEADLINE, tick=False)

    assert services.time_out_requests(now=DEADLINE) == 0

    pending.refresh_from_db()
    assert pending.status == RequestStatus.DENIED


def test_a_timed_out_request_cannot_be_decided_any_more(bob, pending, clock):
    clock.move_to(DEADLINE, tick=False)
    tasks.sweep()

    with pytest.raises(AlreadyDecided, match="already decided: it is timed out"):
        services.decide_request(actor=bob, request=pending, decision=Decision.APPROVE)

    assert not ActiveAssignment.objects.filter(principal=pending.requester).exists()


def test_after_a_time_out_the_requester_can_ask_again(alice, eligibility, pending, clock):
    clock.move_to(DEADLINE, tick=False)
    tasks.sweep()

    [again] = activate(alice, eligibility)

    assert again.status == RequestStatus.PENDING_APPROVAL
    assert again.decide_by == DEADLINE + timedelta(hours=2)


# Cancel ------------------------------------------------------------------------------------


def test_the_requester_can_cancel_a_pending_request(alice, pending, clock):
    clock.move_to(START + timedelta(minutes=5), tick=False)

    request = services.cancel_request(actor=alice, request=pending)

    assert request.status == RequestStatus.CANCELED
    assert request.decided_at == START + timedelta(minutes=5)
    [canceled] = events("activation.canceled")
    assert canceled.actor == alice
    assert canceled.target_id == str(pending.pk)


def test_a_canceled_request_cannot_be_approved(bob, alice, pending):
    services.cancel_request(actor=alice, request=pending)

    with pytest.raises(AlreadyDecided, match="already decided: it is canceled"):
        services.decide_request(actor=bob, request=pending, decision=Decision.APPROVE)

    assert not ActiveAssignment.objects.filter(principal=alice).exists()


def test_after_canceling_the_requester_can_ask_again(alice, eligibility, pending):
    services.cancel_request(actor=alice, request=pending)

    [again] = activate(alice, eligibility)

    assert again.status == RequestStatus.PENDING_APPROVAL


@pytest.mark.parametrize("who", ["bob", "dave"])
def test_nobody_else_can_cancel_a_request(pending, who, request):
    someone_else = request.getfixturevalue(who)  # an approver of the role, and a bystander

    with pytest.raises(ValidationError) as refused:
        services.cancel_request(actor=someone_else, request=pending)

    assert refused.value.messages == ["Only the requester can cancel this request."]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PENDING_APPROVAL
    assert events("activation.canceled") == []


def test_a_decided_request_cannot_be_canceled(alice, bob, pending):
    services.decide_request(actor=bob, request=pending, decision=Decision.APPROVE)

    with pytest.raises(AlreadyDecided) as refused:
        services.cancel_request(actor=alice, request=pending)

    assert refused.value.messages == ["This request was already decided: it is granted."]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.PROVISIONED
    assert events("activation.canceled") == []
