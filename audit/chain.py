"""The canonical form of an event and its hash. Verification and appending share these two
functions, so what is written is exactly what is checked."""

import hashlib
import json
from datetime import UTC, datetime
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


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_form(values: dict[str, Any]) -> bytes:
    """Sorted-key compact JSON of the hashed fields; timestamps as UTC with microseconds."""
    doc = {name: values[name] for name in HASHED_FIELDS}
    doc["occurred_at"] = _timestamp(doc["occurred_at"])
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
