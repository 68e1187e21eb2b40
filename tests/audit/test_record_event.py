"""record_event appends one event to the hash chain: what an auditor reads back is what was hashed."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction

from audit import chain
from audit.models import AuditChainHead, AuditEvent
from audit.services import record_event
from audit.verification import verify_chain
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_events_get_sequence_1_2_3_each_linking_to_the_one_before():
    first = record_event(actor=None, action="test.first")
    second = record_event(actor=None, action="test.second")
    third = record_event(actor=None, action="test.third")

    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    head = AuditChainHead.objects.get()
    assert (head.last_sequence, head.last_hash) == (3, third.hash)


def test_each_stored_hash_is_the_hash_of_the_stored_values():
    alice = UserFactory(username="alice")
    record_event(actor=alice, action="test.hashed", principal=alice, role="global-reader", scope="/",
                 justification="INC-4711", data={"n": 1})  # fmt: skip
    record_event(actor=None, action="test.hashed")

    for event in AuditEvent.objects.order_by("sequence"):
        assert event.hash == chain.event_hash(chain.values_of(event))


def test_occurred_at_is_stored_in_utc():
    record_event(actor=None, action="test.when")

    stored = AuditEvent.objects.get()
    assert stored.occurred_at.utcoffset() == datetime.timedelta(0)


def test_actor_and_principal_usernames_are_kept_as_they_were_at_the_time():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    record_event(actor=bob, action="assignment.created", principal=alice)

    alice.username = "alice.renamed"
    alice.save()
    stored = AuditEvent.objects.get()
    assert (stored.actor_id, stored.actor_username) == (bob.pk, "bob")
    assert (stored.principal_id, stored.principal_username) == (alice.pk, "alice")
    assert verify_chain().ok


def test_data_with_datetimes_and_decimals_reads_back_exactly_as_it_was_hashed():
    data = {
        "until": datetime.datetime(2026, 11, 22, 9, 0, 0, 123456, tzinfo=datetime.UTC),
        "day": datetime.date(2026, 11, 22),
        "amount": Decimal("12.50"),
        "ratio": 0.1,
        "big": 1e16,
        "negative_zero": -0.0,
        "nested": {"b": [1, "two"], "a": None},
    }
    record_event(actor=None, action="test.data", data=data)

    stored = AuditEvent.objects.get()
    assert stored.data["until"] == "2026-11-22T09:00:00.123Z"
    assert stored.data["amount"] == "12.50"
    assert stored.data["nested"] == {"a": None, "b": [1, "two"]}
    assert stored.hash == chain.event_hash(chain.values_of(stored))
    assert verify_chain().ok


def test_a_rolled_back_transaction_takes_its_event_and_the_head_move_with_it():
    first = record_event(actor=None, action="test.kept")

    with pytest.raises(RuntimeError), transaction.atomic():
        record_event(actor=None, action="test.rolled_back")
        raise RuntimeError("the change that this event describes failed")

    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.kept"]
    assert AuditChainHead.objects.get().last_sequence == 1
    after = record_event(actor=None, action="test.after")
    assert (after.sequence, after.prev_hash) == (2, first.hash)
    report = verify_chain()
    assert (report.ok, report.count) == (True, 2)
