"""The database backs up the workflow's rules: one pending request per eligibility, one
decision per approver per request."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from activations.choices import Decision, RequestKind, RequestStatus
from activations.models import ActivationRequest, Approval
from roles.models import Role
from tests.factories import EligibleAssignmentFactory


@pytest.fixture
def eligibility(alice):
    return EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="exchange-administrator"))


def make_request(eligibility, **extra) -> ActivationRequest:
    values = {
        "requester": eligibility.principal,
        "eligibility": eligibility,
        "role": eligibility.role,
        "scope": eligibility.scope,
        "start_at": timezone.now(),
        "duration_minutes": 60,
        "justification": "INC-4711 mailbox restore",
        **extra,
    }
    return ActivationRequest.objects.create(**values)


def test_a_second_pending_request_for_the_same_eligibility_is_refused(eligibility):
    make_request(eligibility)

    with pytest.raises(IntegrityError), transaction.atomic():
        make_request(eligibility)

    assert ActivationRequest.objects.count() == 1


def test_a_new_request_is_allowed_once_the_pending_one_is_settled(eligibility):
    make_request(eligibility, status=RequestStatus.DENIED)
    make_request(eligibility, status=RequestStatus.CANCELED)

    make_request(eligibility)

    assert ActivationRequest.objects.filter(status=RequestStatus.PENDING_APPROVAL).count() == 1


def test_a_pending_activation_and_a_pending_extension_can_wait_side_by_side(eligibility):
    make_request(eligibility, kind=RequestKind.ACTIVATE)

    make_request(eligibility, kind=RequestKind.EXTEND)

    assert ActivationRequest.objects.count() == 2


def test_an_approver_decides_at_most_once_per_request(eligibility, bob):
    request = make_request(eligibility)
    Approval.objects.create(request=request, approver=bob, decision=Decision.APPROVE)

    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(request=request, approver=bob, decision=Decision.DENY, stage=2)

    assert Approval.objects.count() == 1


def test_two_approvers_can_each_decide_on_the_same_request(eligibility, bob, carol):
    request = make_request(eligibility)

    Approval.objects.create(request=request, approver=bob, decision=Decision.APPROVE)
    Approval.objects.create(request=request, approver=carol, decision=Decision.DENY)

    assert request.approvals.count() == 2


@pytest.mark.parametrize(
    "values",
    [{"duration_minutes": 0}, {"status": "maybe"}, {"kind": "elevate"}],
    ids=["zero duration", "unknown status", "unknown kind"],
)
def test_the_database_refuses_a_request_outside_the_workflow(eligibility, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_request(eligibility, **values)


@pytest.mark.parametrize("values", [{"decision": "perhaps"}, {"stage": 0}], ids=["unknown decision", "stage 0"])
def test_the_database_refuses_an_approval_outside_the_workflow(eligibility, bob, values):
    request = make_request(eligibility)

    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(**{"request": request, "approver": bob, "decision": Decision.APPROVE, **values})


def test_a_request_names_what_is_asked(eligibility):
    request = make_request(eligibility, start_at=timezone.now() + timedelta(hours=1))

    assert str(request) == "Activate Exchange Administrator at / for alice (Pending approval)"
