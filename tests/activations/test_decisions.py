"""Approvers decide: never on their own request, only while they are approvers, once each;
enough distinct approvals grant the role, any deny ends the request, a decided request
stays decided."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import ValidationError
from django_q.models import Schedule

from activations import services
from activations.choices import Decision, RequestStatus
from activations.exceptions import AlreadyDecided
from activations.models import Approval
from roles import services as role_services
from roles.models import ActiveAssignment
from roles.rules import StagePlan
from roles.selectors import access_decision, is_approver, stage_deciders
from tests.activations.helpers import START, activate, events
from tests.factories import EligibleAssignmentFactory

DECIDED_AT = START + timedelta(minutes=10)


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def pending(alice, eligibility, with_approval, clock):
    """alice's request for Exchange Administrator, 1 h, waiting for bob or carol until 11:00."""
    [request] = activate(alice, eligibility)
    clock.move_to(DECIDED_AT, tick=False)
    return request


def first_stage(role):
    return role.settings.stages.get(position=1)


def decide(actor, request, decision=Decision.APPROVE, justification=""):
    return services.decide_request(actor=actor, request=request, decision=decision, justification=justification)


def assert_still_pending(request) -> None:
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING_APPROVAL
    assert request.assignment is None
    assert not ActiveAssignment.objects.filter(principal=request.requester).exists()


def test_an_approval_from_a_named_approver_grants_the_role_at_once(
    alice, bob, pending, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = decide(bob, pending, justification="Checked INC-4711")

    assert request.status == RequestStatus.PROVISIONED
    assert request.decided_at == DECIDED_AT
    assignment = ActiveAssignment.objects.get(principal=alice)
    assert (assignment.start_at, assignment.end_at) == (DECIDED_AT, DECIDED_AT + timedelta(hours=1))
    assert access_decision(username="alice", role_slug="exchange-administrator", at=DECIDED_AT).allowed
    [approved] = events("activation.approved")
    assert approved.actor == bob
    assert approved.justification == "Checked INC-4711"
    assert approved.data["approvals"] == approved.data["required"] == 1
    assert len(events("assignment.activated")) == 1
    assert Schedule.objects.filter(name=f"pim.expire.active.{assignment.pk}").exists()
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "was approved and is active now." in message.body


def test_an_approver_through_a_group_can_approve(carol, pending):
    request = decide(carol, pending)

    assert request.status == RequestStatus.PROVISIONED


def test_nobody_approves_their_own_request(alice, pending, exchange_admin):
    first_stage(exchange_admin).approvers.add(alice)

    with pytest.raises(ValidationError) as refused:
        decide(alice, pending)

    assert refused.value.messages == ["You cannot approve or deny your own request."]
    assert_still_pending(pending)
    assert not Approval.objects.exists()
    [refusal] = events("approval.refused")
    assert refusal.data["rule"] == "own_request"


def test_nobody_approves_their_own_request_through_an_approver_group(alice, pending, with_approval):
    alice.groups.add(with_approval)

    with pytest.raises(ValidationError) as refused:
        decide(alice, pending)

    assert refused.value.messages == ["You cannot approve or deny your own request."]
    assert_still_pending(pending)


def test_nobody_denies_their_own_request_either(alice, pending, exchange_admin):
    first_stage(exchange_admin).approvers.add(alice)

    with pytest.raises(ValidationError, match="your own request"):
        decide(alice, pending, Decision.DENY, justification="Changed my mind")

    assert_still_pending(pending)


def test_someone_who_is_not_an_approver_cannot_decide(dave, pending):
    with pytest.raises(ValidationError) as refused:
        decide(dave, pending)

    assert refused.value.messages == [
        "You are not an approver of Exchange Administrator, so you cannot decide this request."
    ]
    assert_still_pending(pending)
    assert events("approval.refused")[0].data["rule"] == "not_approver"


def test_an_approver_removed_after_the_request_arrived_cannot_decide(
    pim_admin, bob, pending, exchange_admin, with_approval
):
    role_services.update_role_settings(
        actor=pim_admin, role=exchange_admin, changes={}, stages=[StagePlan(approver_groups=(with_approval,))]
    )

    with pytest.raises(ValidationError, match="You are not an approver of Exchange Administrator"):
        decide(bob, pending)

    assert_still_pending(pending)


def test_an_approver_who_left_the_approver_group_cannot_decide(carol, pending, with_approval):
    carol.groups.remove(with_approval)

    with pytest.raises(ValidationError, match="You are not an approver of Exchange Administrator"):
        decide(carol, pending)

    assert_still_pending(pending)


def test_a_disabled_approver_cannot_decide(bob, pending):
    bob.is_active = False
    bob.save(update_fields=["is_active"])

    with pytest.raises(ValidationError, match="You are not an approver"):
        decide(bob, pending)

    assert_still_pending(pending)


@pytest.mark.parametrize("justification", ["", "  "])
def test_a_deny_needs_a_justification(bob, pending, justification):
    with pytest.raises(ValidationError) as refused:
        decide(bob, pending, Decision.DENY, justification=justification)

    assert refused.value.messages == ["Say why you deny the request (1 to 500 characters)."]
    assert_still_pending(pending)
    assert not Approval.objects.exists()


def test_a_deny_ends_the_request(alice, bob, pending, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = decide(bob, pending, Decision.DENY, justification="No change window today")

    assert request.status == RequestStatus.DENIED
    assert request.decided_at == DECIDED_AT
    assert not ActiveAssignment.objects.exists()
    [denied] = events("activation.denied")
    assert (denied.actor, denied.justification) == (bob, "No change window today")
    assert events("activation.approved") == []
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "was denied by bob: No change window today" in message.body


@pytest.mark.parametrize("second", [Decision.APPROVE, Decision.DENY])
def test_a_decided_request_stays_decided(bob, carol, pending, second):
    decide(bob, pending, Decision.DENY, justification="No change window today")

    with pytest.raises(AlreadyDecided) as refused:
        decide(carol, pending, second, justification="Looks fine")

    assert refused.value.messages == ["This request was already decided: it is denied."]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.DENIED
    assert Approval.objects.count() == 1
    assert events("approval.refused")[0].data["rule"] == "already_decided"


def test_an_approved_request_cannot_be_approved_again(bob, carol, pending):
    decide(bob, pending)

    with pytest.raises(AlreadyDecided, match="already decided: it is granted"):
        decide(carol, pending)

    assert ActiveAssignment.objects.count() == 1
    assert len(events("assignment.activated")) == 1


@pytest.fixture
def two_approvals(pim_admin, bob, carol, exchange_admin, with_approval):
    role_services.update_role_settings(
        actor=pim_admin,
        role=exchange_admin,
        changes={},
        stages=[StagePlan(approvers=(bob, carol), approvals_required=2)],
    )


def test_two_required_approvals_need_two_distinct_approvers(alice, bob, carol, eligibility, two_approvals, clock):
    [request] = activate(alice, eligibility)
    clock.move_to(DECIDED_AT, tick=False)

    first = decide(bob, request)
    assert first.status == RequestStatus.PENDING_APPROVAL
    assert not ActiveAssignment.objects.filter(principal=alice).exists()
    with pytest.raises(AlreadyDecided) as again:
        decide(bob, request)
    assert again.value.messages == ["You have already decided this request."]

    second = decide(carol, request)

    assert second.status == RequestStatus.PROVISIONED
    assert ActiveAssignment.objects.filter(principal=alice).count() == 1
    assert [(e.actor, e.data["approvals"]) for e in events("activation.approved")] == [(bob, 1), (carol, 2)]
    assert len(events("assignment.activated")) == 1


def test_a_deny_after_one_of_two_approvals_ends_the_request(alice, bob, carol, eligibility, two_approvals, clock):
    [request] = activate(alice, eligibility)
    decide(bob, request)

    denied = decide(carol, request, Decision.DENY, justification="Not during the freeze")

    assert denied.status == RequestStatus.DENIED
    assert not ActiveAssignment.objects.filter(principal=alice).exists()


def test_a_decision_at_the_deadline_is_refused_as_timed_out(bob, pending, clock):
    clock.move_to(START + timedelta(hours=2), tick=False)

    with pytest.raises(AlreadyDecided) as refused:
        decide(bob, pending)

    assert refused.value.messages == [
        "This request timed out at 2026-11-22 11:00 UTC without a decision; the requester must ask again."
    ]
    assert_still_pending(pending)  # the sweep records the time-out
    assert events("approval.refused")[0].data["rule"] == "timed_out"


def test_a_decision_a_second_before_the_deadline_counts(bob, pending, clock):
    clock.move_to(START + timedelta(hours=2) - timedelta(seconds=1), tick=False)

    assert decide(bob, pending).status == RequestStatus.PROVISIONED


def test_approving_after_the_eligibility_was_removed_fails_the_request(
    alice, bob, pim_admin, eligibility, pending, sync_tasks, django_capture_on_commit_callbacks
):
    role_services.remove_assignment(actor=pim_admin, assignment=eligibility)

    with django_capture_on_commit_callbacks(execute=True):
        request = decide(bob, pending)

    assert request.status == RequestStatus.FAILED
    assert (
        request.status_reason
        == "alice is no longer eligible for Exchange Administrator at /, so the request cannot be granted."
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED
    assert request.assignment is None
    assert not ActiveAssignment.objects.filter(principal=request.requester).exists()
    assert not access_decision(username="alice", role_slug="exchange-administrator", at=DECIDED_AT).allowed
    assert len(events("activation.failed")) == 1
    assert events("assignment.activated") == []
    [message] = mail.outbox
    assert "could not be granted" in message.body


def test_approving_after_the_eligibility_ended_fails_the_request(alice, bob, exchange_admin, with_approval, clock):
    short = EligibleAssignmentFactory(principal=alice, role=exchange_admin, end_at=START + timedelta(hours=1))
    [request] = activate(alice, short)
    clock.move_to(START + timedelta(hours=1), tick=False)

    assert decide(bob, request).status == RequestStatus.FAILED
    assert not ActiveAssignment.objects.exists()


def test_an_activation_approved_late_still_ends_with_the_eligibility(alice, bob, exchange_admin, with_approval, clock):
    short = EligibleAssignmentFactory(principal=alice, role=exchange_admin, end_at=START + timedelta(hours=1))
    [request] = activate(alice, short)
    clock.move_to(START + timedelta(minutes=45), tick=False)

    decide(bob, request)

    assert ActiveAssignment.objects.get(principal=alice).end_at == START + timedelta(hours=1)


def test_an_unknown_decision_is_refused(bob, pending):
    with pytest.raises(ValidationError, match="Choose approve or deny."):
        decide(bob, pending, "maybe")

    assert_still_pending(pending)


def test_a_group_approver_is_named_in_the_approvers_of_the_role(carol, exchange_admin, with_approval):
    # The approvers' mail uses the same rule as the decision.
    assert is_approver(user=carol, role=exchange_admin)
    deciders = stage_deciders(stage=first_stage(exchange_admin))
    assert list(deciders.values_list("username", flat=True)) == ["bob", "carol"]
    assert Group.objects.get(name="Mail approvers").user_set.get() == carol
