"""Two sweeps (two clusters' schedules, or a sweep and a one-off expiry) over the same lapsed
assignments on PostgreSQL: each takes the rows the other has not locked, so every assignment is
ended once, with one event, and neither waits for the other."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from activations import tasks
from audit.models import AuditEvent, OutboxMessage
from audit.verification import verify_chain
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role, Scope
from tests.activations.test_races_postgres import run_together
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_sweeps_at_once_end_each_lapsed_assignment_once(monkeypatch):
    monkeypatch.setattr(tasks, "EXPIRY_BATCH", 25)  # many small batches, so the two interleave
    role = Role.objects.get(slug="exchange-administrator")
    now = timezone.now()
    users = [UserFactory(username=f"holder{i:03}") for i in range(300)]
    root = Scope.objects.get(path="/")
    lapsed = ActiveAssignment.objects.bulk_create(
        ActiveAssignment(principal=user, role=role, scope=root, source=ActiveSource.ACTIVATION,
                         start_at=now - timedelta(hours=1), end_at=now - timedelta(seconds=i % 60 + 1))
        for i, user in enumerate(users)
    )  # fmt: skip

    outcomes = run_together(
        sweep=tasks.sweep,
        another_sweep=tasks.sweep,
        one_off=lambda: tasks.expire_assignment("active", lapsed[-1].pk),
    )

    assert outcomes["one_off"] in ("expired", "nothing to do")
    assert not ActiveAssignment.objects.open().exists()
    per_assignment = Counter(AuditEvent.objects.filter(action="assignment.expired").values_list("target_id", flat=True))
    assert len(per_assignment) == 300
    assert set(per_assignment.values()) == {1}
    assert verify_chain().ok


def test_two_tellers_at_once_write_each_holders_mail_once(monkeypatch):
    monkeypatch.setattr(tasks, "NOTICE_BATCH", 10)
    role = Role.objects.get(slug="exchange-administrator")
    now = timezone.now()
    root = Scope.objects.get(path="/")
    ActiveAssignment.objects.bulk_create(
        ActiveAssignment(principal=UserFactory(username=f"told{i:02}", email=f"told{i:02}@example.com"), role=role,
                         scope=root, source=ActiveSource.ACTIVATION, start_at=now - timedelta(hours=1),
                         end_at=now - timedelta(seconds=1), ended_at=now - timedelta(seconds=1), end_reason="expired",
                         expiry_notice_due=True)
        for i in range(60)
    )  # fmt: skip

    outcomes = run_together(one=tasks.tell_holders_of_expiry, other=tasks.tell_holders_of_expiry)

    assert sum(int(outcome.removeprefix("told ")) for outcome in outcomes.values()) == 60
    per_address = Counter(OutboxMessage.objects.values_list("address", flat=True))
    assert len(per_address) == 60
    assert set(per_address.values()) == {1}
    assert not ActiveAssignment.objects.filter(expiry_notice_due=True).exists()
