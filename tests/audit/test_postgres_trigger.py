"""On PostgreSQL the table itself refuses UPDATE, DELETE and TRUNCATE, whoever asks."""

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.services import record_event
from audit.verification import verify_chain

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def events():
    for i in range(1, 4):
        record_event(actor=None, action="test.recorded", justification=f"INC-{i}")
    return _stored()


def _stored():
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", "justification", "hash"))


def _refused(sql: str) -> None:
    """Run `sql` in a savepoint and expect the trigger to refuse it."""
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def test_a_raw_update_is_refused_and_changes_nothing(events):
    _refused("UPDATE audit_auditevent SET justification = 'routine check' WHERE sequence = 2")

    assert _stored() == events
    assert verify_chain().ok


def test_a_raw_delete_is_refused_and_removes_nothing(events):
    _refused("DELETE FROM audit_auditevent WHERE sequence = 3")
    _refused("DELETE FROM audit_auditevent")

    assert _stored() == events
    assert verify_chain().ok


def test_truncate_is_refused_unless_the_session_allows_it_and_removes_nothing(events):
    with connection.cursor() as cursor:
        # The throw-away test database allows TRUNCATE for Django's flush (tests/conftest.py);
        # a production database never does. Take that allowance back for this transaction.
        cursor.execute("SET LOCAL pim.audit_allow_truncate = 'off'")
        # TRUNCATE waits for no deferred foreign-key checks: run this transaction's now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    _refused("TRUNCATE audit_auditevent")
    _refused("TRUNCATE audit_auditevent, audit_auditchainhead")

    assert _stored() == events
    assert verify_chain().ok


def test_appending_still_works_alongside_the_trigger(events):
    event = record_event(actor=None, action="test.after_refusals")

    assert event.sequence == 4
    assert verify_chain().count == 4
