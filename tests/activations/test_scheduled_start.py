"""A scheduled activation is in effect exactly from its start, computed from time; the
start_activation task and the sweep only record it (status, audit, mail), once."""

import importlib
from datetime import timedelta

import pytest
from django.core import mail
from django_q.models import Schedule

from activations import scheduling, services, tasks
from activations.choices import Decision, RequestStatus
from roles import services as role_services
from roles.models import ActiveAssignment
from roles.selectors import access_decision
from tests.activations.helpers import START, activate, events
from tests.factories import EligibleAssignmentFactory

STARTS = START + timedelta(hours=2)
ENDS = STARTS + timedelta(hours=1)


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def scheduled(alice, eligibility, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility, start_at=STARTS)
    return request


def allowed_at(at) -> bool:
    return access_decision(username="alice", role_slug="exchange-administrator", at=at).allowed


def test_a_scheduled_activation_creates_an_assignment_starting_then(alice, scheduled):
    assert scheduled.status == RequestStatus.APPROVED
    assignment = ActiveAssignment.objects.get(principal=alice)
    assert scheduled.assignment == assignment
    assert (assignment.start_at, assignment.end_at) == (STARTS, ENDS)
    assert events("activation.requested")[0].data["start_at"] == "2026-11-22T11:00:00Z"


def test_the_start_and_the_expiry_are_scheduled_after_commit(scheduled):
    start = Schedule.objects.get(name=f"pim.start.{scheduled.pk}")
    assert (start.func, start.args, start.next_run) == (
        "activations.tasks.start_activation",
        repr((scheduled.pk,)),
        STARTS,
    )
    expiry = Schedule.objects.get(name=f"pim.expire.active.{scheduled.assignment_id}")
    assert expiry.next_run == ENDS


def test_access_begins_exactly_at_the_start_without_any_task(scheduled, clock):
    assert not allowed_at(START)
    clock.move_to(STARTS - timedelta(seconds=1), tick=False)
    assert not allowed_at(STARTS - timedelta(seconds=1))

    clock.move_to(STARTS, tick=False)

    decision = access_decision(username="alice", role_slug="exchange-administrator", at=STARTS)
    assert (decision.allowed, decision.until) == (True, ENDS)
    scheduled.refresh_from_db()
    assert scheduled.status == RequestStatus.APPROVED  # no task has run


def test_the_start_task_before_the_start_does_nothing(scheduled, clock):
    clock.move_to(STARTS - timedelta(seconds=1), tick=False)

    assert tasks.start_activation(scheduled.pk) == "nothing to do"

    scheduled.refresh_from_db()
    assert scheduled.status == RequestStatus.APPROVED
    assert events("assignment.started") == []


def test_the_start_task_run_twice_records_the_start_once(
    scheduled, clock, sync_tasks, django_capture_on_commit_callbacks
):
    clock.move_to(STARTS, tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_activation(scheduled.pk) == "started"
        assert tasks.start_activation(scheduled.pk) == "nothing to do"

    scheduled.refresh_from_db()
    assert scheduled.status == RequestStatus.PROVISIONED
    [started] = events("assignment.started")
    assert started.target_id == str(scheduled.assignment_id)
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "is active now, until 2026-11-22 12:00 UTC" in message.body


def test_the_sweep_records_a_start_the_one_off_missed_once(scheduled, clock):
    clock.move_to(STARTS + timedelta(seconds=40), tick=False)

    assert tasks.sweep() == "expired 0, started 1, timed out 0, escalated 0, failed 0"
    assert tasks.sweep() == "expired 0, started 0, timed out 0, escalated 0, failed 0"
    assert tasks.start_activation(scheduled.pk) == "nothing to do"

    scheduled.refresh_from_db()
    assert scheduled.status == RequestStatus.PROVISIONED
    assert len(events("assignment.started")) == 1


def test_an_approved_request_with_a_scheduled_start_waits_for_its_start(
    alice, bob, eligibility, with_approval, clock, django_capture_on_commit_callbacks
):
    [request] = activate(alice, eligibility, start_at=STARTS)
    clock.move_to(START + timedelta(minutes=10), tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.decide_request(actor=bob, request=request, decision=Decision.APPROVE)

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert (request.assignment.start_at, request.assignment.end_at) == (STARTS, ENDS)
    assert Schedule.objects.filter(name=f"pim.start.{request.pk}").exists()
    assert not allowed_at(STARTS - timedelta(seconds=1))
    assert allowed_at(STARTS)


def test_every_scheduled_func_can_be_imported(scheduled):
    scheduling.ensure_repeating_schedules()

    funcs = set(Schedule.objects.values_list("func", flat=True))

    assert funcs == {
        "activations.tasks.expire_assignment",
        "activations.tasks.start_activation",
        "activations.tasks.sweep",
    }
    for func in funcs:
        module, name = func.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name))


@pytest.mark.parametrize("ended_by", ["holder", "administrator"])
def test_a_scheduled_activation_ended_before_its_start_is_not_announced_as_started(
    alice, pim_admin, eligibility, scheduled, ended_by, clock, sync_tasks, django_capture_on_commit_callbacks
):
    if ended_by == "holder":
        services.deactivate(actor=alice, assignment=scheduled.assignment)
    else:
        role_services.remove_assignment(actor=pim_admin, assignment=eligibility)
    clock.move_to(STARTS, tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.start_activation(scheduled.pk) == "nothing to do"
        assert tasks.sweep() == "expired 0, started 0, timed out 0, escalated 0, failed 1"

    assert not allowed_at(STARTS)
    assert events("assignment.started") == []
    # The requester hears that it never began, not that it is active.
    assert [m.subject for m in mail.outbox if "is active now" in m.body] == []
    assert len([m for m in mail.outbox if "never became active" in m.body]) == 1
