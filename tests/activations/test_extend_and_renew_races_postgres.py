"""Extend and renew under concurrent writers on PostgreSQL (the harness of test_races_postgres):
a double submit leaves one request, two administrators approving at once extend once, and a
double-submitted activation extension adds the time once."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from activations import rules, services
from activations.choices import Decision, RequestKind, RequestStatus
from activations.exceptions import AlreadyDecided
from activations.models import ActivationRequest
from activations.services import extend
from audit.models import AuditEvent
from roles.models import ActiveAssignment, Role
from tests.activations.helpers import activate
from tests.activations.test_races_postgres import pause_after, run_together
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, UserFactory, root_scope

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WHY = "Helpdesk rota continues into January"


def administrator(username: str):
    user = UserFactory(username=username)
    ActiveAssignmentFactory(
        principal=user, role=Role.objects.get(slug="privileged-role-administrator"), scope=root_scope(),
        start_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    return user


def ending_soon(user) -> ActiveAssignment:
    now = timezone.now()
    return ActiveAssignmentFactory(
        principal=user, role=Role.objects.get(slug="security-reader"), start_at=now - timedelta(days=100),
        end_at=now + timedelta(days=5), justification="Audit season",
    )  # fmt: skip


def test_a_double_submitted_extension_request_leaves_one_pending_request(monkeypatch):
    alice = UserFactory(username="alice")
    active = ending_soon(alice)
    pause_after(monkeypatch, rules, "check_extension", threading.Barrier(2, timeout=2))

    def ask():
        return services.request_extension(actor=alice, assignment=active, justification=WHY)

    outcomes = run_together(first=ask, second=ask)

    created = [o for o in outcomes.values() if isinstance(o, ActivationRequest)]
    refused = [o for o in outcomes.values() if isinstance(o, ValidationError)]
    assert len(created) == len(refused) == 1, outcomes
    assert refused[0].messages == [
        "You already have a pending extension request for Security Reader at /; wait for its decision or cancel it."
    ]
    assert ActivationRequest.objects.filter(kind=RequestKind.EXTEND).count() == 1
    assert AuditEvent.objects.filter(action="extension.requested").count() == 1


def test_two_administrators_approving_an_extension_at_once_extend_it_once(monkeypatch):
    alice, erin, frank = UserFactory(username="alice"), administrator("erin"), administrator("frank")
    active = ending_soon(alice)
    request = services.request_extension(actor=alice, assignment=active, justification=WHY)
    pause_after(monkeypatch, extend, "is_pim_administrator", threading.Barrier(2, timeout=2))

    def approve(admin):
        return lambda: services.decide_request(actor=admin, request=request, decision=Decision.APPROVE)

    outcomes = run_together(erin=approve(erin), frank=approve(frank))

    refused = [o for o in outcomes.values() if isinstance(o, ValidationError)]
    assert len(refused) == 1 and isinstance(refused[0], AlreadyDecided), outcomes
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
    assert request.approvals.count() == 1
    assert AuditEvent.objects.filter(action="assignment.updated").count() == 1
    assert AuditEvent.objects.filter(action="extension.approved").count() == 1


def test_a_double_submitted_activation_extension_adds_the_time_once(monkeypatch):
    alice = UserFactory(username="alice")
    eligibility = EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="exchange-administrator"))
    [activation] = activate(alice, eligibility)
    end = activation.assignment.end_at
    pause_after(monkeypatch, rules, "check_activation_extension", threading.Barrier(2, timeout=2))

    def extend():  # the extend page, posted twice: both carry the end it showed
        return services.request_activation_extension(
            actor=alice, assignment=activation.assignment, duration=timedelta(hours=1), justification=WHY,
            mfa_verified_at=timezone.now(), expected_end_at=end,
        )  # fmt: skip

    outcomes = run_together(first=extend, second=extend)

    refused = [o for o in outcomes.values() if isinstance(o, ValidationError)]
    assert len(refused) == 1, outcomes
    assert "was extended meanwhile" in refused[0].messages[0]
    assert ActiveAssignment.objects.get(pk=activation.assignment.pk).end_at == end + timedelta(hours=1)
    assert AuditEvent.objects.filter(action="assignment.extended").count() == 1
