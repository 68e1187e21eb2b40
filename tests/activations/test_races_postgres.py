"""Concurrent writers on PostgreSQL: real threads, released together, each on its own
connection. Each service pauses after its checks until the other thread has reached its own
checks too (or 2 s pass): without the row locks both would pass their checks and both would
write; with them the second waits for the first to commit and then sees what it did."""

import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from activations import services, tasks
from activations.choices import Decision, RequestStatus
from activations.exceptions import AlreadyDecided
from activations.models import ActivationRequest
from activations.services import activate as activate_service
from activations.services import decide
from audit.models import AuditEvent
from roles import services as role_services
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment, Role, RoleSettings
from roles.services import assignments as role_assignments
from tests.activations.helpers import activate
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(**calls: Callable[[], object]) -> dict[str, object]:
    """Start one thread per call, release them at the same moment, and return each call's
    result, or the ValidationError it raised. Any other error (a deadlock) fails the test."""
    start = threading.Barrier(len(calls), timeout=10)
    outcomes: dict[str, object] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            start.wait()
            outcomes[name] = call()
        except Exception as error:  # noqa: BLE001  reported below, whatever it is
            outcomes[name] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == sorted(calls), outcomes
    errors = [o for o in outcomes.values() if isinstance(o, Exception) and not isinstance(o, ValidationError)]
    assert not errors, outcomes
    return outcomes


def pause_after(monkeypatch, target, name: str, checkpoint: threading.Barrier, *, when=lambda *a, **kw: True):
    """Make target.name wait at `checkpoint` (at most its timeout) after doing its work."""
    real = getattr(target, name)

    def paused(*args, **kwargs):
        result = real(*args, **kwargs)
        if when(*args, **kwargs):
            with contextlib.suppress(threading.BrokenBarrierError):
                checkpoint.wait()
        return result

    monkeypatch.setattr(target, name, paused)


def pause_before(monkeypatch, target, name: str, checkpoint: threading.Barrier, *, when=lambda *a, **kw: True):
    """Make target.name wait at `checkpoint` (at most its timeout) before doing its work."""
    real = getattr(target, name)

    def paused(*args, **kwargs):
        if when(*args, **kwargs):
            with contextlib.suppress(threading.BrokenBarrierError):
                checkpoint.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, paused)


def of_an_eligibility(assignment, **kwargs) -> bool:
    return assignment.kind == "eligible"


def audits(action: str):
    return lambda **kwargs: kwargs["action"] == action


def exchange_administrator() -> Role:
    return Role.objects.get(slug="exchange-administrator")


def needs_approval(role: Role, *approvers, required: int = 1, require: bool = True) -> None:
    RoleSettings.objects.filter(role=role).update(require_approval=require)
    stage = ApprovalStage.objects.create(role_settings_id=role.pk, position=1, approvals_required=required)
    stage.approvers.set(approvers)


def test_two_approvers_approving_at_once_grant_the_role_once(monkeypatch):
    alice, bob, carol = (UserFactory(username=name) for name in ("alice", "bob", "carol"))
    role = exchange_administrator()
    needs_approval(role, bob, carol)
    [request] = activate(alice, EligibleAssignmentFactory(principal=alice, role=role))
    pause_after(monkeypatch, decide, "may_decide_at_stage", threading.Barrier(2, timeout=2))

    def approve(approver):
        return lambda: services.decide_request(actor=approver, request=request, decision=Decision.APPROVE)

    outcomes = run_together(bob=approve(bob), carol=approve(carol))

    granted = [o for o in outcomes.values() if isinstance(o, ActivationRequest)]
    refused = [o for o in outcomes.values() if isinstance(o, ValidationError)]
    assert len(granted) == len(refused) == 1, outcomes
    assert isinstance(refused[0], AlreadyDecided)
    assert refused[0].messages == ["This request was already decided: it is granted."]
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
    assert request.approvals.count() == 1
    assert ActiveAssignment.objects.filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.activated").count() == 1
    assert AuditEvent.objects.filter(action="activation.approved").count() == 1


def test_the_two_approvals_of_a_two_of_two_stage_given_at_once_grant_the_role_once(monkeypatch):
    alice, bob, carol = (UserFactory(username=name) for name in ("alice", "bob", "carol"))
    role = exchange_administrator()
    needs_approval(role, bob, carol, required=2)
    [request] = activate(alice, EligibleAssignmentFactory(principal=alice, role=role))
    # Each pauses once it has checked it may decide; without the request's row lock both would
    # count one approval (their own) and the request would stay at "1 of 2" for ever.
    pause_after(monkeypatch, decide, "may_decide_at_stage", threading.Barrier(2, timeout=2))

    def approve(approver):
        return lambda: services.decide_request(actor=approver, request=request, decision=Decision.APPROVE)

    outcomes = run_together(bob=approve(bob), carol=approve(carol))

    assert all(isinstance(outcome, ActivationRequest) for outcome in outcomes.values()), outcomes
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
    assert request.approvals.count() == 2
    assert ActiveAssignment.objects.filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.activated").count() == 1
    counted = sorted(event.data["approvals"] for event in AuditEvent.objects.filter(action="activation.approved"))
    assert counted == [1, 2]


@pytest.mark.parametrize(
    ("require_approval", "second_message"),
    [(False, "is already active for you at /"), (True, "You already have a pending request for")],
)
def test_a_double_submitted_activation_creates_one_request(monkeypatch, require_approval, second_message):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    role = exchange_administrator()
    needs_approval(role, bob, require=require_approval)
    eligibility = EligibleAssignmentFactory(principal=alice, role=role)
    pause_after(monkeypatch, activate_service, "_holding_problems", threading.Barrier(2, timeout=2))

    outcomes = run_together(first=lambda: activate(alice, eligibility), second=lambda: activate(alice, eligibility))

    created = [o for o in outcomes.values() if isinstance(o, list)]
    refused = [o for o in outcomes.values() if isinstance(o, ValidationError)]
    assert len(created) == len(refused) == 1, outcomes
    [message] = refused[0].messages
    assert message.startswith(("Exchange Administrator " + second_message, second_message)), message
    assert ActivationRequest.objects.count() == 1
    assert ActiveAssignment.objects.filter(principal=alice).count() == (0 if require_approval else 1)
    assert AuditEvent.objects.filter(action="activation.requested").count() == 1
    assert AuditEvent.objects.filter(action="activation.refused").count() == 1


def test_removing_an_eligibility_while_it_is_activated_leaves_no_active_assignment_behind(monkeypatch):
    alice, admin = UserFactory(username="alice"), UserFactory(username="pimadmin")
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_administrator())
    checkpoint = threading.Barrier(2, timeout=2)
    pause_after(monkeypatch, activate_service, "_holding_problems", checkpoint)
    pause_after(monkeypatch, role_assignments, "end_now", checkpoint, when=of_an_eligibility)

    outcomes = run_together(
        activate=lambda: activate(alice, eligibility),
        remove=lambda: role_services.remove_assignment(actor=admin, assignment=eligibility),
    )

    assert outcomes["remove"] is True
    eligibility.refresh_from_db()
    assert eligibility.end_reason == EndReason.REMOVED
    if isinstance(outcomes["activate"], ValidationError):  # the removal went first
        assert outcomes["activate"].messages[0].startswith("You are not eligible for Exchange Administrator")
        assert not ActiveAssignment.objects.exists()
    else:  # the activation went first; the removal ended it
        assert ActiveAssignment.objects.get().end_reason == EndReason.REMOVED
    covering = EligibleAssignment.objects.open().filter(
        principal=OuterRef("principal"), role=OuterRef("role"), scope=OuterRef("scope")
    )
    orphans = ActiveAssignment.objects.open().filter(source=ActiveSource.ACTIVATION).exclude(Exists(covering))
    assert not orphans.exists()
    assert not ActiveAssignment.objects.open().filter(principal=alice).exists()


# Lock order: record_event holds the audit chain head until commit, so a service that writes
# an audit event and then waits for a row lock deadlocks with one that holds that row and
# waits to write its event. Each pair below pauses both at the point where that would happen.


def test_approving_while_the_eligibility_is_removed_does_not_deadlock(monkeypatch):
    alice, bob, admin = (UserFactory(username=name) for name in ("alice", "bob", "pimadmin"))
    role = exchange_administrator()
    needs_approval(role, bob)
    eligibility = EligibleAssignmentFactory(principal=alice, role=role)
    [request] = activate(alice, eligibility)
    checkpoint = threading.Barrier(2, timeout=2)
    # The approval pauses once its approval is audited; the removal once it holds the eligibility.
    pause_after(monkeypatch, decide, "record_event", checkpoint, when=audits("activation.approved"))
    pause_before(monkeypatch, role_assignments, "end_now", checkpoint, when=of_an_eligibility)

    outcomes = run_together(
        approve=lambda: services.decide_request(actor=bob, request=request, decision=Decision.APPROVE),
        remove=lambda: role_services.remove_assignment(actor=admin, assignment=eligibility),
    )

    assert outcomes["remove"] is True
    request.refresh_from_db()
    assert request.status in (RequestStatus.PROVISIONED, RequestStatus.FAILED)
    assert not ActiveAssignment.objects.open().filter(principal=alice).exists()


def test_expiring_an_activation_while_its_eligibility_is_removed_does_not_deadlock(monkeypatch):
    alice, admin = UserFactory(username="alice"), UserFactory(username="pimadmin")
    role = exchange_administrator()
    now = timezone.now()
    eligibility = EligibleAssignmentFactory(principal=alice, role=role, start_at=now - timedelta(hours=3))
    lapsed = ActiveAssignmentFactory(
        principal=alice, role=role, source=ActiveSource.ACTIVATION,
        start_at=now - timedelta(hours=2), end_at=now - timedelta(seconds=5),
    )  # fmt: skip
    checkpoint = threading.Barrier(2, timeout=2)
    # The expiry pauses once it has claimed the row; the removal once it has audited the eligibility's end.
    pause_before(monkeypatch, role_assignments, "record_events", checkpoint, when=audits("assignment.expired"))
    pause_after(monkeypatch, role_assignments, "end_now", checkpoint, when=of_an_eligibility)

    outcomes = run_together(
        expire=lambda: tasks.expire_assignment("active", lapsed.pk),
        remove=lambda: role_services.remove_assignment(actor=admin, assignment=eligibility),
    )

    assert outcomes["remove"] is True
    assert outcomes["expire"] in ("expired", "nothing to do")  # the removal may record the expiry itself
    lapsed.refresh_from_db()
    assert (lapsed.ended_at, lapsed.end_reason) == (lapsed.end_at, EndReason.EXPIRED)
    assert AuditEvent.objects.filter(action="assignment.expired").count() == 1


def test_activating_again_while_the_last_activation_is_expired_does_not_deadlock(monkeypatch):
    alice = UserFactory(username="alice")
    role = exchange_administrator()
    now = timezone.now()
    eligibility = EligibleAssignmentFactory(principal=alice, role=role, start_at=now - timedelta(hours=3))
    lapsed = ActiveAssignmentFactory(
        principal=alice, role=role, source=ActiveSource.ACTIVATION,
        start_at=now - timedelta(hours=2), end_at=now - timedelta(seconds=5),
    )  # fmt: skip
    checkpoint = threading.Barrier(2, timeout=2)
    # The expiry pauses once it has claimed the row; the activation once its request is audited.
    pause_before(monkeypatch, role_assignments, "record_events", checkpoint, when=audits("assignment.expired"))
    pause_after(monkeypatch, activate_service, "record_event", checkpoint, when=audits("activation.requested"))

    outcomes = run_together(
        expire=lambda: tasks.expire_assignment("active", lapsed.pk),
        activate=lambda: activate(alice, eligibility),
    )

    assert isinstance(outcomes["activate"], list), outcomes
    assert ActiveAssignment.objects.open().filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.expired").count() == 1
