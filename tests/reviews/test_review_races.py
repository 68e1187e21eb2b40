"""On PostgreSQL, with real row locks: two workers applying or starting the same occurrence at
the same moment do each thing once."""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from roles.models import EligibleAssignment, ReviewItem
from roles.reviews import services
from roles.reviews.choices import NoResponse, OccurrenceStatus
from roles.reviews.services import applying, running
from tests.factories import EligibleAssignmentFactory
from tests.reviews.conftest import review_values

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_twice_at_once(work) -> list[str]:
    outcomes = []

    def worker():
        try:
            outcomes.append(str(work()))
        except Exception as error:  # noqa: BLE001  reported by the assertion below
            outcomes.append(f"error: {error!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def both_wait_at(monkeypatch, module, name: str) -> None:
    """The first call of `module.name` in each thread waits for the other thread's (2 s at most)."""
    barrier = threading.Barrier(2, timeout=2)
    real = getattr(module, name)

    def wait_then_call(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wait_then_call)


def test_two_applies_at_once_remove_each_assignment_once(monkeypatch, pim_admin, bob, alice, carol, exchange_admin):
    for user in (alice, carol):
        EligibleAssignmentFactory(principal=user, role=exchange_admin)
    review = services.create_review(
        actor=pim_admin, values=review_values(reviewers=[bob], no_response=NoResponse.REMOVE)
    )
    occurrence = review.occurrences.get()
    services.start_occurrence(occurrence_id=occurrence.pk, now=timezone.now() + timedelta(seconds=1))
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    both_wait_at(monkeypatch, applying, "_apply_item")

    outcomes = run_twice_at_once(lambda: services.apply_results(actor=pim_admin, occurrence=occurrence))

    assert not [outcome for outcome in outcomes if outcome.startswith("error")], outcomes
    assert sorted(int(outcome) for outcome in outcomes) in ([0, 2], [1, 1])  # each item applied by one of them
    assert AuditEvent.objects.filter(action="review.applied").count() == 2
    assert AuditEvent.objects.filter(action="review.results_applied").count() == 1
    assert not EligibleAssignment.objects.open().filter(role=exchange_admin).exists()
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLIED


def test_two_starts_at_once_take_one_snapshot(monkeypatch, pim_admin, bob, alice, exchange_admin):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    review = services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))
    occurrence = review.occurrences.get()
    both_wait_at(monkeypatch, running.ReviewOccurrence.objects, "select_for_update")
    later = timezone.now() + timedelta(seconds=1)

    outcomes = run_twice_at_once(lambda: services.start_occurrence(occurrence_id=occurrence.pk, now=later))

    assert sorted(outcomes) == ["False", "True"]
    assert ReviewItem.objects.filter(occurrence=occurrence).count() == 1
    assert AuditEvent.objects.filter(action="review.started").count() == 1
    assert review.occurrences.count() == 1  # one-time: no second occurrence planned twice
