"""Through the ORM a recorded event can be neither changed nor removed, and the bulk paths
that would bypass record_event are closed."""

import pytest

from audit.models import AppendOnlyError, AuditEvent
from audit.services import record_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    record_event(actor=None, action="test.one", justification="INC-1")
    record_event(actor=None, action="test.two", justification="INC-2")
    return list(AuditEvent.objects.order_by("sequence"))


def _stored():
    return list(AuditEvent.objects.order_by("sequence").values_list("sequence", "justification", "hash"))


def test_saving_a_changed_event_is_refused_and_changes_nothing(events):
    before = _stored()
    events[0].justification = "nothing happened"

    with pytest.raises(AppendOnlyError, match="append-only"):
        events[0].save()

    assert _stored() == before


def test_deleting_an_event_is_refused_and_removes_nothing(events):
    before = _stored()

    with pytest.raises(AppendOnlyError, match="append-only"):
        events[1].delete()

    assert _stored() == before


def test_updating_events_through_a_queryset_is_refused_and_changes_nothing(events):
    before = _stored()

    with pytest.raises(AppendOnlyError, match="append-only"):
        AuditEvent.objects.update(justification="nothing happened")
    with pytest.raises(AppendOnlyError, match="append-only"):
        AuditEvent.objects.filter(sequence=1).update(justification="nothing happened")

    assert _stored() == before


def test_deleting_events_through_a_queryset_is_refused_and_removes_nothing(events):
    before = _stored()

    with pytest.raises(AppendOnlyError, match="append-only"):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError, match="append-only"):
        AuditEvent.objects.filter(sequence=2).delete()

    assert _stored() == before


def test_bulk_create_is_refused_and_adds_nothing(events):
    before = _stored()
    forged = AuditEvent(sequence=3, occurred_at=events[1].occurred_at, action="test.forged",
                        prev_hash=events[1].hash, hash="f" * 64)  # fmt: skip

    with pytest.raises(AppendOnlyError, match="record_event"):
        AuditEvent.objects.bulk_create([forged])

    assert _stored() == before


def test_bulk_update_is_refused_and_changes_nothing(events):
    before = _stored()
    for event in events:
        event.justification = "nothing happened"

    with pytest.raises(AppendOnlyError, match="append-only"):
        AuditEvent.objects.bulk_update(events, ["justification"])

    assert _stored() == before


def test_the_base_manager_that_django_uses_internally_refuses_too(events):
    before = _stored()

    with pytest.raises(AppendOnlyError):
        AuditEvent._base_manager.filter(pk=events[0].pk).update(justification="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent._base_manager.filter(pk=events[0].pk).delete()

    assert _stored() == before
