"""Multi-stage approval: stages run in order, each needs its number of distinct approvals from
its own approvers, each has its own deadline, and an escalation adds approvers to a stage
nobody decided in time. Nobody approves their own request in any stage, and one person
decides at most once per request."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from activations import services, tasks
from activations.choices import Decision, RequestStatus
from activations.exceptions import AlreadyDecided
from activations.selectors import pending_for_approver
from roles import services as role_services
from roles.models import ActiveAssignment
from roles.rules import StagePlan
from roles.selectors import access_decision
from tests.activations.helpers import START, activate, events
from tests.conftest import make_user, verify_session
from tests.factories import EligibleAssignmentFactory


@pytest.fixture
def erin(db):
    return make_user("erin")


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def stages(role, *plans, actor=None):
    role_services.update_role_settings(actor=actor, role=role, changes={"require_approval": True}, stages=list(plans))


@pytest.fixture
def two_stages(exchange_admin, bob, carol, dave, erin):
    """Stage 1: two of bob, carol and dave within 2 h; stage 2: erin within 1 h."""
    stages(
        exchange_admin,
        StagePlan(approvers=(bob, carol, dave), approvals_required=2, timeout_minutes=120),
        StagePlan(approvers=(erin,), timeout_minutes=60),
    )


def decide(actor, request, decision=Decision.APPROVE, justification=""):
    return services.decide_request(actor=actor, request=request, decision=decision, justification=justification)


def holds_exchange(at) -> bool:
    return access_decision(username="alice", role_slug="exchange-administrator", at=at).allowed


def test_two_of_three_then_one_of_one_grants_only_after_both_stages(
    alice, bob, carol, erin, eligibility, two_stages, clock
):
    [request] = activate(alice, eligibility)

    assert decide(bob, request).status == RequestStatus.PENDING_APPROVAL
    request = decide(carol, request)
    assert (request.status, request.stage) == (RequestStatus.PENDING_APPROVAL, 2)
    assert request.decide_by == START + timedelta(hours=1)  # stage 2's own timeout, from now
    assert not holds_exchange(START)
    [passed] = events("activation.stage_passed")
    assert passed.data["stage"] == 1 and passed.data["next_stage"] == 2

    request = decide(erin, request)

    assert request.status == RequestStatus.PROVISIONED
    assert holds_exchange(START)
    assert [(a.stage, a.approver.username) for a in request.approvals.order_by("pk")] == [
        (1, "bob"), (1, "carol"), (2, "erin"),
    ]  # fmt: skip


def test_a_later_stage_approver_cannot_decide_before_their_stage(alice, erin, eligibility, two_stages):
    [request] = activate(alice, eligibility)

    with pytest.raises(ValidationError, match="You are not an approver of Exchange Administrator"):
        decide(erin, request)

    assert not pending_for_approver(user=erin).exists()
    assert not request.approvals.exists()


def test_once_a_stage_has_its_approvals_its_other_approvers_no_longer_decide(
    alice, bob, carol, dave, erin, eligibility, two_stages
):
    [request] = activate(alice, eligibility)
    decide(bob, request)
    decide(carol, request)

    with pytest.raises(ValidationError, match="You are not an approver"):
        decide(dave, request)
    assert not pending_for_approver(user=dave).exists()
    assert list(pending_for_approver(user=erin)) == [request]


def test_one_person_decides_at_most_once_even_when_named_in_two_stages(alice, bob, carol, exchange_admin, eligibility):
    stages(exchange_admin, StagePlan(approvers=(bob,)), StagePlan(approvers=(bob, carol)))
    [request] = activate(alice, eligibility)
    decide(bob, request)

    with pytest.raises(AlreadyDecided, match="You have already decided this request."):
        decide(bob, request)

    assert decide(carol, request).status == RequestStatus.PROVISIONED


def test_nobody_approves_their_own_request_in_a_later_stage(alice, bob, exchange_admin, eligibility):
    stages(exchange_admin, StagePlan(approvers=(bob,)), StagePlan(approvers=(alice, bob)))
    [request] = activate(alice, eligibility)
    decide(bob, request)

    with pytest.raises(ValidationError, match="your own request"):
        decide(alice, request)

    assert not pending_for_approver(user=alice).exists()


def test_a_denial_in_a_later_stage_ends_the_request(alice, bob, carol, erin, eligibility, two_stages):
    [request] = activate(alice, eligibility)
    decide(bob, request)
    decide(carol, request)

    request = decide(erin, request, Decision.DENY, justification="Not during the freeze")

    assert request.status == RequestStatus.DENIED
    assert not ActiveAssignment.objects.filter(principal=alice).exists()


def test_a_stage_nobody_completes_in_time_times_the_request_out(
    alice, bob, carol, eligibility, two_stages, clock, django_capture_on_commit_callbacks
):
    [request] = activate(alice, eligibility)
    clock.move_to(START + timedelta(minutes=30), tick=False)
    decide(bob, request)
    decide(carol, request)  # stage 2 now has until 10:30

    clock.move_to(START + timedelta(minutes=89), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert "timed out 0" in tasks.sweep()
    clock.move_to(START + timedelta(minutes=90), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert "timed out 1" in tasks.sweep()

    request.refresh_from_db()
    assert request.status == RequestStatus.TIMED_OUT
    assert not holds_exchange(START + timedelta(minutes=90))


@pytest.fixture
def escalating(exchange_admin, bob, dave):
    """One approval from bob within 4 h; after 1 h without a decision dave may decide too."""
    stages(exchange_admin, StagePlan(approvers=(bob,), timeout_minutes=240, escalate_after_minutes=60,
                                     escalation_approvers=(dave,)))  # fmt: skip


def test_escalation_approvers_may_decide_only_from_the_escalation_time(alice, dave, eligibility, escalating, clock):
    [request] = activate(alice, eligibility)
    assert request.escalates_at == START + timedelta(hours=1)

    clock.move_to(START + timedelta(minutes=59), tick=False)
    assert not pending_for_approver(user=dave).exists()
    with pytest.raises(ValidationError, match="You are not an approver"):
        decide(dave, request)

    clock.move_to(START + timedelta(hours=1), tick=False)
    assert list(pending_for_approver(user=dave)) == [request]
    assert decide(dave, request).status == RequestStatus.PROVISIONED


def test_escalation_tells_the_escalation_approvers_once(
    alice, dave, eligibility, escalating, clock, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility)
    mail.outbox.clear()  # bob's mail about the request

    clock.move_to(START + timedelta(hours=1, seconds=5), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert "escalated 1" in tasks.sweep()
    with django_capture_on_commit_callbacks(execute=True):
        assert "escalated 0" in tasks.sweep()

    [message] = mail.outbox
    assert message.to == ["dave@example.com"]
    assert "Nobody has decided yet, so you are asked too." in message.body
    assert f"/requests/{request.pk}/" in message.body
    [escalated] = events("activation.escalated")
    assert escalated.data == {"stage": 1}


def test_settings_changed_while_pending_apply_at_the_next_decision(
    alice, bob, carol, exchange_admin, eligibility, pim_admin
):
    stages(exchange_admin, StagePlan(approvers=(bob, carol)))
    [request] = activate(alice, eligibility)
    stages(exchange_admin, StagePlan(approvers=(bob, carol), approvals_required=2), actor=pim_admin)

    assert decide(bob, request).status == RequestStatus.PENDING_APPROVAL  # now needs two
    assert decide(carol, request).status == RequestStatus.PROVISIONED


def test_settings_changed_after_a_decision_leave_it_decided(alice, bob, carol, exchange_admin, eligibility, pim_admin):
    stages(exchange_admin, StagePlan(approvers=(bob,)))
    [request] = activate(alice, eligibility)
    decide(bob, request)

    stages(exchange_admin, StagePlan(approvers=(carol,)), StagePlan(approvers=(bob,)), actor=pim_admin)

    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
    assert holds_exchange(START)


def test_the_inbox_and_the_request_page_show_the_stage_and_let_the_approver_decide_there(
    client, alice, bob, carol, erin, eligibility, two_stages
):
    [request] = activate(alice, eligibility)
    decide(bob, request)
    decide(carol, request)
    verify_session(client, erin)

    inbox = client.get(reverse("activations:approvals"))
    assertContains(inbox, "Stage 2 of 2: 0 of 1 approval")

    page = client.get(reverse("activations:request", args=[request.pk]))
    assertContains(page, "Your decision")
    assertContains(page, "Stage 1: bob approved")
    response = client.post(reverse("activations:decide", args=[request.pk]),
                           {"decision": "approve", "next": "request"}, follow=True)  # fmt: skip

    assert response.redirect_chain[-1][0] == reverse("activations:request", args=[request.pk])
    assertContains(response, "You approved alice&#x27;s request for Exchange Administrator.")
    assertNotContains(response, "Your decision")
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
