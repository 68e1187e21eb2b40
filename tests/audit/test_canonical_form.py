"""The canonical form that every event's hash covers is written out field by field for speed;
it must stay byte for byte the sorted-key compact JSON it is defined as, or chains written
before and after would not verify alike."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import chain


def reference_form(values: dict) -> bytes:
    """The definition: json.dumps of the hashed fields, sorted keys, compact, UTF-8 as is."""
    doc = {name: values[name] for name in chain.HASHED_FIELDS}
    doc["occurred_at"] = doc["occurred_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


texts = st.text()  # any code point: quotes, backslashes, control characters, U+2028, emoji
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
events = st.fixed_dictionaries(
    {
        "sequence": st.integers(min_value=1, max_value=2**63 - 1),
        "occurred_at": st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]),
        ),  # fmt: skip
        "actor_id": st.none() | st.integers(min_value=1, max_value=2**31),
        "actor_username": texts,
        "action": texts,
        "target_type": texts,
        "target_id": texts,
        "principal_id": st.none() | st.integers(min_value=1, max_value=2**31),
        "principal_username": texts,
        "role": texts,
        "scope": texts,
        "justification": texts,
        "client_ip": st.none() | st.ip_addresses().map(str),
        "user_agent": texts,
        "data": st.dictionaries(texts, json_values, max_size=5),
        "prev_hash": st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    }
)


@settings(max_examples=400, deadline=None)
@given(events)
def test_the_canonical_form_is_the_sorted_compact_json_of_the_hashed_fields(values):
    assert chain.canonical_form(values) == reference_form(values)


def test_a_known_event_keeps_the_hash_it_had_when_the_chain_format_was_set():
    values = {
        "sequence": 7, "occurred_at": datetime(2026, 11, 23, 10, 11, 12, 345678, tzinfo=UTC), "actor_id": None,
        "actor_username": "", "action": "assignment.expired", "target_type": "roles.activeassignment",
        "target_id": "4711", "principal_id": 12, "principal_username": "alice", "role": "exchange-administrator",
        "scope": "/", "justification": 'INC-4711 "urgent"\n', "client_ip": None, "user_agent": "",
        "data": {"assignment_type": "active", "ratio": 0.5}, "prev_hash": "0" * 64,
    }  # fmt: skip

    assert chain.canonical_form(values).startswith(b'{"action":"assignment.expired","actor_id":null,')
    assert b'"justification":"INC-4711 \\"urgent\\"\\n"' in chain.canonical_form(values)
    assert b'"occurred_at":"2026-11-23T10:11:12.345678Z"' in chain.canonical_form(values)
    # As computed by the json.dumps implementation this chain format started with.
    assert chain.event_hash(values) == "fc27f59153088ad1537afe8e8e182020ab33de2ce4a54ed1dd581fdfa7d89955"


@pytest.mark.postgres
@pytest.mark.django_db
@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1, 1, 1, 12), max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))]),
    )
)  # fmt: skip
def test_postgresql_writes_an_events_time_as_the_canonical_form_does(moment):
    # verify_audit reads occurred_at as the server formats it (chain.CANONICAL_TIME_SQL):
    # any difference would report every event as altered.
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + chain.CANONICAL_TIME_SQL % {"expressions": "%s::timestamptz"}, [moment])
        [(written,)] = cursor.fetchall()

    assert written == chain.canonical_time(moment)
