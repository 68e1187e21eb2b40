"""Asking to activate: in effect on return without approval, waiting with the approvers told
with approval, several roles all or none."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django_q.models import Schedule

from activations.choices import RequestStatus
from activations.models import ActivationRequest
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role, RoleSettings
from roles.selectors import access_decision
from tests.activations.helpers import JUSTIFICATION, START, activate, events
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def test_without_approval_the_role_is_active_when_the_call_returns(alice, eligibility):
    [request] = activate(alice, eligibility)

    assert request.status == RequestStatus.PROVISIONED
    assignment = ActiveAssignment.objects.get(principal=alice, role=eligibility.role)
    assert request.assignment == assignment
    assert (assignment.start_at, assignment.end_at) == (START, START + timedelta(hours=1))
    assert assignment.source == ActiveSource.ACTIVATION
    assert assignment.justification == JUSTIFICATION
    decision = access_decision(username="alice", role_slug="exchange-administrator", at=START)
    assert decision.allowed
    assert decision.until == START + timedelta(hours=1)


def test_an_activation_is_audited_as_requested_and_activated(alice, eligibility):
    [request] = activate(alice, eligibility)

    [requested] = events("activation.requested")
    assert requested.target_id == str(request.pk)
    assert requested.actor == requested.principal == alice
    assert requested.role == "exchange-administrator"
    assert requested.data["approval"] is False
    [activated] = events("assignment.activated")
    assert activated.target_id == str(request.assignment_id)
    assert activated.sequence > requested.sequence


def test_the_expiry_schedule_is_queued_only_after_the_transaction_commits(
    alice, eligibility, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [request] = activate(alice, eligibility)
        assert not Schedule.objects.exists()  # the transaction has not committed yet

    assert callbacks
    schedule = Schedule.objects.get(name=f"pim.expire.active.{request.assignment_id}")
    assert schedule.func == "activations.tasks.expire_assignment"
    assert schedule.args == repr(("active", request.assignment_id))
    assert schedule.schedule_type == Schedule.ONCE
    assert schedule.next_run == START + timedelta(hours=1)


def test_a_refused_activation_queues_no_schedule_and_no_mail(
    alice, eligibility, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        activate(alice, eligibility, justification="")

    assert callbacks == []
    assert not Schedule.objects.exists()
    assert mail.outbox == []


def test_with_approval_the_request_waits_and_the_approvers_are_told(
    alice, bob, carol, eligibility, with_approval, sync_tasks, django_capture_on_commit_callbacks
):
    alice.groups.add(with_approval)  # the requester approves too, but is not asked about her own request

    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility)

    assert request.status == RequestStatus.PENDING_APPROVAL
    assert request.decide_by == START + timedelta(hours=2)
    assert request.assignment is None
    assert not ActiveAssignment.objects.filter(principal=alice).exists()
    assert not access_decision(username="alice", role_slug="exchange-administrator", at=START).allowed
    assert events("activation.requested")[0].data["approval"] is True
    assert events("assignment.activated") == []
    assert sorted(address for message in mail.outbox for address in message.to) == [
        "bob@example.com", "carol@example.com",
    ]  # fmt: skip
    for message in mail.outbox:
        assert message.subject == "[PIM] alice asks to activate Exchange Administrator"
        assert JUSTIFICATION in message.body
        assert "Decide before 2026-11-22 11:00 UTC" in message.body
        assert f"/requests/{request.pk}/" in message.body  # opens the decision page directly


def test_several_roles_are_activated_with_one_call(alice, eligibility):
    helpdesk = EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="helpdesk-administrator"))

    requests = activate(alice, eligibility, helpdesk, duration=timedelta(hours=2))

    assert [r.status for r in requests] == [RequestStatus.PROVISIONED] * 2
    held = ActiveAssignment.objects.filter(principal=alice).order_by("role__slug")
    assert [(a.role.slug, a.end_at) for a in held] == [
        ("exchange-administrator", START + timedelta(hours=2)),
        ("helpdesk-administrator", START + timedelta(hours=2)),
    ]
    assert len(events("activation.requested")) == len(events("assignment.activated")) == 2


def test_one_role_over_its_maximum_refuses_them_all_and_names_that_role(alice, eligibility):
    helpdesk_role = Role.objects.get(slug="helpdesk-administrator")
    RoleSettings.objects.filter(role=helpdesk_role).update(activation_max_minutes=60)
    helpdesk = EligibleAssignmentFactory(principal=alice, role=helpdesk_role)

    with pytest.raises(ValidationError) as refused:
        activate(alice, eligibility, helpdesk, duration=timedelta(hours=2))

    assert refused.value.messages == ["Helpdesk Administrator can be activated for 30 min to 1 h; you asked for 2 h."]
    assert not ActivationRequest.objects.exists()
    assert not ActiveAssignment.objects.exists()
    assert events("activation.requested") == []
    [refusal] = events("activation.refused")
    assert refusal.role == "helpdesk-administrator"
    assert refusal.target_id == str(helpdesk.pk)
    assert refusal.data["rule"] == "duration_out_of_range"
    assert refusal.data["message"] == refused.value.messages[0]


def test_each_refused_role_is_audited_once_while_none_is_created(alice, eligibility):
    helpdesk_role = Role.objects.get(slug="helpdesk-administrator")
    RoleSettings.objects.filter(role=helpdesk_role).update(activation_max_minutes=60)
    helpdesk = EligibleAssignmentFactory(principal=alice, role=helpdesk_role)
    billing_role = Role.objects.get(slug="billing-administrator")
    billing = EligibleAssignmentFactory(principal=alice, role=billing_role)
    ActiveAssignmentFactory(principal=alice, role=billing_role, end_at=START + timedelta(hours=3))

    with pytest.raises(ValidationError) as refused:
        activate(alice, eligibility, helpdesk, billing, duration=timedelta(hours=2))

    assert sorted(refused.value.messages) == [
        "Billing Administrator is already active for you at / (until 2026-11-22 12:00 UTC); "
        "extend it instead of activating again.",
        "Helpdesk Administrator can be activated for 30 min to 1 h; you asked for 2 h.",
    ]
    assert not ActivationRequest.objects.exists()
    assert ActiveAssignment.objects.filter(principal=alice).count() == 1  # billing's, from before
    refusals = events("activation.refused")
    assert sorted((e.role, e.data["rule"]) for e in refusals) == [
        ("billing-administrator", "already_active"),
        ("helpdesk-administrator", "duration_out_of_range"),
    ]
    assert {e.justification for e in refusals} == {JUSTIFICATION}
