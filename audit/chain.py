"""The canonical form of an event and its hash. Verification and appending share these two
functions, so what is written is exactly what is checked."""

import hashlib
import json
from datetime import UTC, datetime
from json.encoder import encode_basestring  # the C escaper json.dumps(ensure_ascii=False) uses
from typing import Any

GENESIS_HASH = "0" * 64

# The fields that the hash covers, in the order they are listed in the canonical form.
HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_id",
    "actor_username",
    "action",
    "target_type",
    "target_id",
    "principal_id",
    "principal_username",
    "role",
    "scope",
    "justification",
    "client_ip",
    "user_agent",
    "data",
    "prev_hash",
)


# The canonical form is the compact JSON of the hashed fields with sorted keys, exactly what
# json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) writes (the test
# tests/audit/test_canonical_form.py holds it to that). It is written out here field by field
# with the same C string escaper json.dumps uses, in a third less time: verify_audit pays it
# once per event, a million times over a large log.
SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))
DATA_POSITION = SORTED_FIELDS.index("data")
OCCURRED_AT_POSITION = SORTED_FIELDS.index("occurred_at")
_FORM = "{" + ",".join(f'"{name}":%s' for name in SORTED_FIELDS) + "}"
_DATA = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_form(values: dict[str, Any]) -> bytes:
    """Sorted-key compact JSON of the hashed fields; timestamps as UTC with microseconds."""
    return canonical_form_of_row(tuple(values[name] for name in SORTED_FIELDS))


def canonical_form_of_row(row) -> bytes:
    """The canonical form of the hashed fields given in SORTED_FIELDS order."""
    row = list(row)
    row[DATA_POSITION] = canonical_data(row[DATA_POSITION])
    row[OCCURRED_AT_POSITION] = canonical_time(row[OCCURRED_AT_POSITION])
    return canonical_form_of_encoded_row(row)


def canonical_data(data: dict[str, Any]) -> str:
    """The canonical JSON of an event's `data`, as the canonical form holds it."""
    return _DATA.encode(data)


def canonical_time(moment: datetime) -> str:
    """An event's time as the canonical form holds it: UTC, microseconds, Z (2026-11-23T09:00:00.000000Z)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"  # isoformat ends in +00:00


# canonical_time written by PostgreSQL, for a column of `timestamp with time zone`: verification
# reads the time as this text, which is both cheaper to read than a datetime and cheaper than
# formatting one (a fifth of the Python time per event). tests/audit/test_canonical_form.py holds
# the two to the same text.
CANONICAL_TIME_SQL = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


def canonical_form_of_encoded_row(row) -> bytes:
    """canonical_form_of_row for a row whose data is already canonical_data(data) and whose
    time is canonical_time(occurred_at). Written out, not looped: this runs once per event
    verified, a million times over a large log."""
    (action, actor_id, actor_username, client_ip, data, justification, occurred_at, prev_hash, principal_id,
     principal_username, role, scope, sequence, target_id, target_type, user_agent) = row  # fmt: skip
    return (_FORM % (
        encode_basestring(action), "null" if actor_id is None else str(int(actor_id)),
        encode_basestring(actor_username), "null" if client_ip is None else encode_basestring(client_ip), data,
        encode_basestring(justification),
        encode_basestring(occurred_at), encode_basestring(prev_hash),
        "null" if principal_id is None else str(int(principal_id)), encode_basestring(principal_username),
        encode_basestring(role), encode_basestring(scope), str(int(sequence)), encode_basestring(target_id),
        encode_basestring(target_type), encode_basestring(user_agent),
    )).encode()  # fmt: skip


def link(rows: list[dict[str, Any]], *, sequence: int, prev_hash: str, occurred_at: datetime) -> list[dict[str, Any]]:
    """`rows` (each an event's hashed fields but its place in the chain) chained after the event
    `sequence` whose hash is `prev_hash`, all at `occurred_at`: each gets its sequence, time,
    prev_hash and hash. The time, and each data dict the rows share (a sweep's thousands of
    events share one), are put in canonical form once, not once per event."""
    time_text = canonical_time(occurred_at)
    encoded: dict[int, str] = {}  # id(data) -> canonical_data(data); the dicts live as long as `rows`
    linked = []
    for row in rows:
        sequence += 1
        values = {"sequence": sequence, "occurred_at": occurred_at, **row, "prev_hash": prev_hash}
        form = [values[name] for name in SORTED_FIELDS]
        key = id(form[DATA_POSITION])
        if key not in encoded:
            encoded[key] = canonical_data(form[DATA_POSITION])
        form[DATA_POSITION] = encoded[key]
        form[OCCURRED_AT_POSITION] = time_text
        prev_hash = values["hash"] = hashlib.sha256(canonical_form_of_encoded_row(form)).hexdigest()
        linked.append(values)
    return linked


def event_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_form(values)).hexdigest()


def values_of(event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def ensure_chain_head(**kwargs) -> None:
    """Create the genesis head row if it is missing (post_migrate, after a flush)."""
    from audit.models import AuditChainHead, AuditEvent

    using = kwargs.get("using", "default")
    if AuditChainHead.objects.using(using).exists():
        return
    last = AuditEvent.objects.using(using).order_by("-sequence").first()
    AuditChainHead.objects.using(using).get_or_create(
        id=1,
        defaults={
            "last_sequence": last.sequence if last else 0,
            "last_hash": last.hash if last else GENESIS_HASH,
        },
    )
