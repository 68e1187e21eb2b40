"""Retention: pruning deletes events older than PIM_AUDIT_RETENTION_DAYS behind a signed
checkpoint, and verify_audit still verifies the rest, still catches tampering, and refuses a
forged checkpoint."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django_q.models import Schedule

from audit import retention
from audit.models import AuditCheckpoint, AuditEvent
from audit.services import record_event
from tests.audit.test_verify_audit import tamper

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=100)


@pytest.fixture
def log(time_machine, settings):
    """Three events 100 days ago, two 10 days ago; retention 30 days."""
    settings.PIM_AUDIT_RETENTION_DAYS = 30
    time_machine.move_to(T0, tick=False)
    for i in range(1, 4):
        record_event(actor=None, action="test.appended", justification=f"old-{i}")
    time_machine.move_to(NOW - timedelta(days=10), tick=False)
    for i in range(4, 6):
        record_event(actor=None, action="test.appended", justification=f"recent-{i}")
    time_machine.move_to(NOW, tick=False)


def verify_audit() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def broken() -> str:
    with pytest.raises(CommandError) as excinfo:
        verify_audit()
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def sequences() -> list[int]:
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))


def test_pruning_then_verify_audit_is_ok_from_the_checkpoint(log):
    assert retention.prune(now=NOW) == 3

    assert sequences() == [4, 5, 6]  # 6: audit.pruned
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.sequence, checkpoint.pruned_count) == (3, 3)
    assert AuditEvent.objects.get(sequence=4).prev_hash == checkpoint.hash
    pruned = AuditEvent.objects.get(action="audit.pruned")
    assert (pruned.data["through_sequence"], pruned.data["deleted"], pruned.data["retention_days"]) == (3, 3, 30)
    assert verify_audit() == "OK: 3 events verified from the checkpoint at sequence 3\n"


def test_pruning_twice_prunes_once(log):
    retention.prune(now=NOW)

    assert retention.prune(now=NOW) == 0
    assert AuditCheckpoint.objects.count() == 1


def test_a_second_prune_starts_from_the_first_checkpoint(log, time_machine):
    retention.prune(now=NOW)
    later = NOW + timedelta(days=45)
    time_machine.move_to(later, tick=False)

    assert retention.prune(now=later) == 3  # 4, 5 and the first audit.pruned

    assert list(AuditCheckpoint.objects.values_list("sequence", flat=True)) == [6, 3]
    assert verify_audit() == "OK: 1 events verified from the checkpoint at sequence 6\n"


def test_without_a_retention_setting_nothing_is_pruned(log, settings):
    settings.PIM_AUDIT_RETENTION_DAYS = None

    assert retention.prune(now=NOW) == 0
    assert sequences() == [1, 2, 3, 4, 5]


def test_an_event_inside_the_window_stops_pruning_even_before_older_ones(time_machine, settings):
    # The clock went back between events 1 and 2: event 2 looks older than event 1.
    time_machine.move_to(NOW - timedelta(days=5), tick=False)
    record_event(actor=None, action="test.appended")
    time_machine.move_to(T0, tick=False)
    record_event(actor=None, action="test.appended")

    assert retention.prune(now=NOW, days=30) == 0
    assert verify_audit().startswith("OK: 2 events verified")


def test_tampering_after_pruning_is_detected(log):
    retention.prune(now=NOW)

    tamper("UPDATE audit_auditevent SET justification = 'routine' WHERE sequence = 5")

    assert broken() == "BROKEN at sequence 5: its content does not match its hash"


def test_a_first_remaining_event_that_does_not_link_to_the_checkpoint_is_detected(log):
    retention.prune(now=NOW)

    tamper("UPDATE audit_auditevent SET prev_hash = %s WHERE sequence = 4", ["f" * 64])

    assert broken() == "BROKEN at sequence 4: it does not link to the checkpoint at sequence 3"


def test_deleting_the_first_remaining_event_is_detected(log):
    retention.prune(now=NOW)

    tamper("DELETE FROM audit_auditevent WHERE sequence = 4")

    assert broken() == "BROKEN at sequence 4: event 4 is missing"


def test_a_forged_checkpoint_is_detected(log):
    retention.prune(now=NOW)
    # Someone deletes event 4 and moves the checkpoint over it, without the signing key.
    tamper("DELETE FROM audit_auditevent WHERE sequence = 4")
    AuditCheckpoint.objects.filter(sequence=3).update(sequence=4, hash=AuditEvent.objects.get(sequence=5).prev_hash)

    assert broken() == (
        "BROKEN at sequence 4: the checkpoint at sequence 4 is not signed with this installation's "
        "SECRET_KEY (forged or altered)"
    )


def test_removing_the_checkpoint_is_detected(log):
    retention.prune(now=NOW)

    AuditCheckpoint.objects.all().delete()

    assert broken() == "BROKEN at sequence 1: event 1 is missing"


def test_a_checkpoint_signed_with_a_previous_secret_key_still_verifies(log, settings):
    retention.prune(now=NOW)

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 50  # noqa: S105

    assert verify_audit().startswith("OK: 3 events verified")


def test_the_prune_schedule_exists_only_while_retention_is_set(settings):
    settings.PIM_AUDIT_RETENTION_DAYS = 365
    call_command("setup_schedules", stdout=StringIO())
    assert Schedule.objects.get(name="pim.audit.prune").schedule_type == Schedule.DAILY

    settings.PIM_AUDIT_RETENTION_DAYS = None
    call_command("setup_schedules", stdout=StringIO())
    assert not Schedule.objects.filter(name="pim.audit.prune").exists()


@pytest.mark.postgres
def test_on_postgresql_the_trigger_lets_only_the_checkpointed_prune_through(log):
    retention.prune(now=NOW)

    # Without the session switch, even rows a checkpoint covers cannot be deleted...
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence = 4")
    # ...with it, rows beyond the newest checkpoint still cannot, nor can any row be updated.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pim.audit_allow_prune = 'on'")
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence = 4")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pim.audit_allow_prune = 'on'")
        cursor.execute("UPDATE audit_auditevent SET justification = 'x' WHERE sequence = 4")

    assert sequences() == [4, 5, 6]
    assert verify_audit().startswith("OK: 3 events verified")
