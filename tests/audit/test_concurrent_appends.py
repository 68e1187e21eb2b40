"""Writers that append at the same moment queue on the chain head and never fork the chain;
the log also survives Django's flush between transactional tests."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit import chain
from audit.models import AuditChainHead, AuditEvent
from audit.services import record_event
from audit.verification import verify_chain
from tests.factories import UserFactory

THREADS = 8
EVENTS_PER_THREAD = 25


def _in_threads(n: int, work) -> list[BaseException]:
    """Run work(i) in n threads that start together; each closes its own connection."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as error:  # noqa: BLE001  reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer is still waiting"
    return errors


@pytest.mark.postgres
def test_concurrent_writers_never_fork_the_chain(transactional_db):
    actors = [UserFactory(username=f"writer{i}") for i in range(THREADS)]

    def append(i: int) -> None:
        for n in range(EVENTS_PER_THREAD):
            with transaction.atomic():
                record_event(actor=actors[i], action="test.concurrent", data={"writer": i, "n": n})

    errors = _in_threads(THREADS, append)

    assert errors == []
    total = THREADS * EVENTS_PER_THREAD
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == list(range(1, total + 1))
    assert AuditChainHead.objects.get().last_sequence == total
    report = verify_chain()
    assert (report.ok, report.count) == (True, total)
    for i in range(THREADS):  # each writer's own events stay in the order it wrote them
        mine = AuditEvent.objects.filter(actor=actors[i]).order_by("sequence").values_list("data__n", flat=True)
        assert list(mine) == list(range(EVENTS_PER_THREAD))


@pytest.mark.postgres
def test_an_event_appended_while_verify_audit_runs_is_not_reported_as_a_break(transactional_db):
    for _ in range(3):
        record_event(actor=None, action="test.before")
    canonical_form = chain.canonical_form_of_encoded_row
    other_writer_errors, started = [], []

    def form_while_another_writer_appends(row):
        if not started:  # once, while the walk is under way
            started.append(True)
            other_writer_errors.append(_in_threads(1, lambda i: record_event(actor=None, action="test.during")))
        return canonical_form(row)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(chain, "canonical_form_of_encoded_row", form_while_another_writer_appends)
        report = verify_chain()

    assert other_writer_errors == [[]]
    assert report.ok, report.reason
    assert AuditEvent.objects.count() == 4
    assert verify_chain().count == 4


@pytest.mark.postgres
def test_after_the_flush_that_follows_transactional_tests_the_chain_starts_again(transactional_db):
    # Runs after the tests above: Django flushed the log behind them (TRUNCATE, which the
    # trigger lets through on the test database only) and post_migrate put the head back.
    assert AuditEvent.objects.count() == 0
    head = AuditChainHead.objects.get()
    assert (head.last_sequence, head.last_hash) == (0, chain.GENESIS_HASH)

    event = record_event(actor=None, action="test.after_flush")

    assert (event.sequence, event.prev_hash) == (1, chain.GENESIS_HASH)
    assert verify_chain().ok


def test_flush_empties_the_log_and_the_chain_starts_again_at_genesis(transactional_db):
    for _ in range(3):
        record_event(actor=None, action="test.before_flush")

    call_command("flush", interactive=False, verbosity=0)

    assert AuditEvent.objects.count() == 0
    assert AuditChainHead.objects.get().last_sequence == 0
    event = record_event(actor=None, action="test.after_flush")
    assert (event.sequence, event.prev_hash) == (1, chain.GENESIS_HASH)
    report = verify_chain()
    assert (report.ok, report.count) == (True, 1)
