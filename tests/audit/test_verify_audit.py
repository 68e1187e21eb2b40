"""`manage.py verify_audit` says OK on an intact log and names the first broken sequence
number after any edit, deletion or forgery that bypassed record_event."""

from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit import chain
from audit.models import AuditEvent
from audit.services import record_event
from audit.verification import verify_chain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def verify_audit() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def broken() -> CommandError:
    with pytest.raises(CommandError) as excinfo:
        verify_audit()
    assert excinfo.value.returncode == 1
    return excinfo.value


def tamper(sql: str, params=()) -> None:
    """Change the table behind the ORM's back, as someone with database access would. On
    PostgreSQL they have to switch the append-only trigger off first (the table owner can)."""
    if connection.vendor == "postgresql":
        disable_trigger()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def disable_trigger() -> None:
    with connection.cursor() as cursor:
        # ALTER TABLE waits for no deferred foreign-key checks: run this transaction's now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update_delete")


def append(n: int) -> list[AuditEvent]:
    alice = UserFactory(username="alice")
    for i in range(1, n + 1):
        record_event(actor=alice, action="test.appended", justification=f"INC-{i}", data={"i": i})
    return list(AuditEvent.objects.order_by("sequence"))


def forge(**overrides) -> AuditEvent:
    """An event written with the model directly, hashed correctly, bypassing the chain head."""
    last = AuditEvent.objects.order_by("-sequence").first()
    values = {
        "sequence": last.sequence + 1, "occurred_at": last.occurred_at, "actor_id": None, "actor_username": "",
        "action": "assignment.removed", "target_type": "", "target_id": "", "principal_id": None,
        "principal_username": "", "role": "global-administrator", "scope": "/", "justification": "",
        "client_ip": None, "user_agent": "", "data": {}, "prev_hash": last.hash,
    }  # fmt: skip
    values.update(overrides)
    values["hash"] = chain.event_hash(values)
    event = AuditEvent(**values)
    event.save()
    return event


def test_an_empty_log_verifies():
    assert verify_audit() == "OK: 0 events verified\n"


def test_an_intact_log_verifies_with_its_event_count():
    append(5)

    assert verify_audit() == "OK: 5 events verified\n"


def test_an_edited_justification_is_reported_at_its_sequence_number():
    append(5)
    tamper("UPDATE audit_auditevent SET justification = %s WHERE sequence = %s", ["routine check", 3])

    error = broken()

    assert str(error) == "BROKEN at sequence 3: its content does not match its hash"


def test_an_edit_with_a_recomputed_hash_is_reported_at_the_next_event():
    events = append(5)
    values = {**chain.values_of(events[2]), "justification": "routine check"}
    tamper("UPDATE audit_auditevent SET justification = %s, hash = %s WHERE sequence = %s",
           ["routine check", chain.event_hash(values), 3])  # fmt: skip

    assert str(broken()) == "BROKEN at sequence 4: it does not link to the event before it"


def test_a_deleted_middle_event_is_reported_as_missing():
    append(5)
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [3])

    assert str(broken()) == "BROKEN at sequence 3: event 3 is missing"


def test_a_deleted_first_event_is_reported_as_missing():
    append(3)
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [1])

    assert str(broken()) == "BROKEN at sequence 1: event 1 is missing"


def test_a_deleted_last_event_is_reported_because_the_chain_head_says_it_exists():
    append(5)
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [5])

    assert str(broken()) == "BROKEN at sequence 5: event 5 is missing from the end"


def test_several_deleted_last_events_are_reported_as_a_range():
    append(5)
    tamper("DELETE FROM audit_auditevent WHERE sequence >= %s", [4])

    assert str(broken()) == "BROKEN at sequence 4: events 4 to 5 are missing from the end"


def test_a_forged_event_that_does_not_link_is_reported():
    append(3)
    forge(prev_hash="f" * 64)

    assert str(broken()) == "BROKEN at sequence 4: it does not link to the event before it"


def test_a_forged_event_that_links_but_was_not_appended_through_the_head_is_reported():
    append(3)
    forge()

    assert str(broken()) == "BROKEN at sequence 4: event 4 is beyond the chain head and was not appended through it"


def test_a_replaced_last_event_is_reported_against_the_chain_head():
    events = append(3)
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [3])
    forge(prev_hash=events[1].hash, justification="approved by the CISO")

    assert str(broken()) == "BROKEN at sequence 3: the last event does not match the chain head"


class CountingCursor:
    """A chunked cursor that records how many rows each fetch brought back."""

    def __init__(self, cursor, fetched: list[int]):
        self._cursor, self._fetched = cursor, fetched

    def fetchmany(self, size):
        rows = self._cursor.fetchmany(size)
        self._fetched.append(len(rows))
        return rows

    def __getattr__(self, name):
        return getattr(self._cursor, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._cursor.close()


def test_verification_streams_the_log_in_chunks_and_still_counts_every_event():
    append(5)
    fetched: list[int] = []
    chunked_cursor = connection.chunked_cursor

    with mock.patch.object(connection, "chunked_cursor", lambda: CountingCursor(chunked_cursor(), fetched)):
        report = verify_chain(chunk_size=2)

    assert (report.ok, report.count) == (True, 5)
    assert fetched[:3] == [2, 2, 1]  # never more than a chunk in memory


def test_a_break_in_a_later_chunk_is_still_found():
    append(5)
    tamper("UPDATE audit_auditevent SET justification = %s WHERE sequence = %s", ["routine check", 5])

    report = verify_chain(chunk_size=2)

    assert (report.broken_at, report.count) == (5, 4)


@pytest.mark.postgres
def test_an_owner_who_switches_the_trigger_off_to_edit_an_event_is_still_caught():
    append(5)
    disable_trigger()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET justification = 'routine check' WHERE sequence = 2")

    assert AuditEvent.objects.get(sequence=2).justification == "routine check"
    assert str(broken()) == "BROKEN at sequence 2: its content does not match its hash"
