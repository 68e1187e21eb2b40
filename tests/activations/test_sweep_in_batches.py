"""Thousands of assignments can end in the same minute. The sweep and the one-off expiry end
what is due in batches, each a few set-based statements under one lock of the audit chain: every
assignment still gets exactly one assignment.expired event and its holder one mail, and the
work takes the same number of queries for 3 assignments as for 12."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from activations import tasks
from audit.verification import verify_chain
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment
from tests.activations.helpers import START, events
from tests.factories import ActiveAssignmentFactory, UserFactory


def lapsed(role, count: int, *, ended_minutes_ago: int = 5, prefix: str = "holder") -> list[ActiveAssignment]:
    """`count` activations of `role`, each by its own user, that ended a second apart."""
    end = START - timedelta(minutes=ended_minutes_ago)
    return [
        ActiveAssignmentFactory(
            principal=UserFactory(username=f"{prefix}{i:02}", email=f"{prefix}{i:02}@example.com"),
            role=role,
            source=ActiveSource.ACTIVATION,
            start_at=end - timedelta(hours=1),
            end_at=end - timedelta(seconds=count - i),
        )
        for i in range(count)
    ]


@pytest.fixture
def delivered(sync_tasks, django_capture_on_commit_callbacks):
    """Run a task as a worker does: what it queues after commit runs, so its mail is sent."""

    def run(task, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return task(*args)

    return run


def test_the_sweep_ends_every_lapsed_assignment_once_across_batches(exchange_admin, clock, monkeypatch, delivered):
    monkeypatch.setattr(tasks, "EXPIRY_BATCH", 2)
    assignments = lapsed(exchange_admin, 5)

    assert delivered(tasks.sweep).startswith("expired 5,")

    for assignment in assignments:
        assignment.refresh_from_db()
        assert (assignment.ended_at, assignment.end_reason) == (assignment.end_at, EndReason.EXPIRED)
    expired = events("assignment.expired")
    assert [event.target_id for event in expired] == [str(a.pk) for a in assignments]  # oldest end first
    assert [event.principal_username for event in expired] == [f"holder{i:02}" for i in range(5)]
    assert {event.role for event in expired} == {"exchange-administrator"}
    assert verify_chain().ok
    assert sorted(message.to[0] for message in mail.outbox) == [f"holder{i:02}@example.com" for i in range(5)]
    assert all(message.subject == "[PIM] Exchange Administrator has expired" for message in mail.outbox)

    assert delivered(tasks.sweep).startswith("expired 0,")
    assert len(events("assignment.expired")) == 5
    assert len(mail.outbox) == 5


def test_the_one_off_expiry_also_ends_the_others_already_due_and_leaves_the_rest(exchange_admin, clock, delivered):
    first, second = lapsed(exchange_admin, 2)
    later = ActiveAssignmentFactory(
        principal=UserFactory(), role=exchange_admin, source=ActiveSource.ACTIVATION,
        start_at=START - timedelta(hours=1), end_at=START + timedelta(minutes=10),
    )  # fmt: skip

    assert delivered(tasks.expire_assignment, "active", first.pk) == "expired"
    assert delivered(tasks.expire_assignment, "active", second.pk) == "nothing to do"  # done by the first

    assert ActiveAssignment.objects.open().get() == later
    assert len(events("assignment.expired")) == 2
    assert len(mail.outbox) == 2


def test_the_holders_mail_is_delivered_a_few_messages_per_task(
    exchange_admin, clock, django_capture_on_commit_callbacks
):
    lapsed(exchange_admin, 45)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep()
    [telling] = [task.task for task in OrmQ.objects.all()]  # the mail comes after, in its own task
    assert telling["func"] == "activations.tasks.tell_holders_of_expiry"
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.tell_holders_of_expiry() == "told 45"

    queued = [task.task for task in OrmQ.objects.all()]
    deliveries = [task for task in queued if task["func"] == "audit.tasks.deliver_message"]
    assert [len(task["args"]) for task in deliveries] == [20, 20, 5]
    assert len({pk for task in deliveries for pk in task["args"]}) == 45


def test_the_sweep_takes_as_many_queries_for_12_assignments_as_for_3(exchange_admin, clock):
    def queries_to_sweep(count: int, prefix: str) -> int:
        lapsed(exchange_admin, count, prefix=prefix)
        with CaptureQueriesContext(connection) as captured:
            assert tasks.sweep().startswith(f"expired {count},")
        return len(captured)

    assert queries_to_sweep(3, "few") == queries_to_sweep(12, "many")
