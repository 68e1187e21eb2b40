"""Appending to the audit log. `record_event` is the only way an event is written."""

import ipaddress
import json
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from audit import chain, context
from audit.models import AuditChainHead, AuditEvent


class Auditable(Protocol):
    """A model that knows which principal, role, scope and justification its events concern.
    Domain models implement it so that `audit` never has to know them."""

    def audit_fields(self) -> dict[str, Any]: ...


USER_AGENT_MAX_LENGTH = AuditEvent._meta.get_field("user_agent").max_length


def _json_number(text: str) -> float | int:
    # PostgreSQL's jsonb keeps numbers as numeric and writes 1e+16 back as 10000000000000000
    # (read as an int) and -0.0 as 0.0; hash what the column will give back.
    value = float(text)
    if abs(value) >= 1e16:
        return int(Decimal(text))
    return value if value != 0 else 0.0


def _normalised(data: dict[str, Any] | None) -> dict[str, Any]:
    # What the JSON column gives back on reading must equal what was hashed on writing.
    return json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder), parse_float=_json_number)


def _client_ip(value: str | None) -> str | None:
    # Stored as the column stores it (Django rewrites IPv6 to its short form, PostgreSQL's inet
    # refuses anything that is not an address), so the stored value is the hashed one.
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value)
        return clean_ipv6_address(value) if address.version == 6 else str(address)
    except (ValueError, ValidationError):
        return None


def record_event(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    principal=None,
    role: str = "",
    scope: str = "",
    justification: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction when there is one.

    Principal, role, scope and justification default to what `target.audit_fields()` says.
    The chain head is locked until the surrounding transaction ends, so concurrent writers
    queue here and never fork the chain; if that transaction rolls back, so does the event.
    """
    fields = _event_fields(actor=actor, action=action, target=target, principal=principal, role=role, scope=scope,
                           justification=justification, data=_normalised(data))  # fmt: skip
    return _append([fields])[0]


def record_events(*, actor, action: str, subjects: list[dict[str, Any]], data: dict[str, Any] | None = None) -> int:
    """Append one `action` event per subject, in order, under one lock of the chain head and one
    batched INSERT: what a sweep that ends thousands of assignments at once writes. A subject
    holds what record_event reads from a target (see `subject_of`): target_type, target_id,
    principal_id, principal_username, role, scope, justification. Returns how many were written."""
    data = _normalised(data)
    common = _event_fields(actor=actor, action=action, target=None, data=data)
    _append([common | subject for subject in subjects], keep=False)
    return len(subjects)


def subject_of(target) -> dict[str, Any]:
    """The subject fields record_event writes for `target` (its audit_fields and identity)."""
    fields = _event_fields(actor=None, action="", target=target, data={})
    return {name: fields[name] for name in SUBJECT_FIELDS}


SUBJECT_FIELDS = ("target_type", "target_id", "principal_id", "principal_username", "role", "scope", "justification")


def _event_fields(
    *, actor, action: str, target, data: dict[str, Any], principal=None, role="", scope="", justification=""
) -> dict[str, Any]:
    """An event's hashed fields, but for its place in the chain (sequence, occurred_at, prev_hash)."""
    fields: dict[str, Any] = {}
    if target is not None and hasattr(target, "audit_fields"):
        fields = target.audit_fields()
    principal = principal if principal is not None else fields.get("principal")
    request = context.current()
    return {
        "actor_id": actor.pk if actor is not None else None,
        "actor_username": actor.get_username() if actor is not None else "",
        "action": action,
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "principal_id": principal.pk if principal is not None else None,
        "principal_username": principal.get_username() if principal is not None else "",
        "role": role or fields.get("role", ""),
        "scope": scope or fields.get("scope", ""),
        "justification": justification or fields.get("justification", ""),
        "client_ip": _client_ip(request.client_ip),
        "user_agent": request.user_agent[:USER_AGENT_MAX_LENGTH],
        "data": data,
    }


def _append(rows: list[dict[str, Any]], *, keep: bool = True) -> list[AuditEvent]:
    """Chain `rows` after the head, write them and move the head, in one transaction. Returns
    the events as model instances if `keep`, else nothing (a bulk write skips building them)."""
    if not rows:
        return []
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            chain.ensure_chain_head()
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        occurred_at = timezone.now()  # read under the lock, so time never runs backwards along the chain
        chained = chain.link(rows, sequence=head.last_sequence, prev_hash=head.last_hash, occurred_at=occurred_at)
        sequence, prev_hash = chained[-1]["sequence"], chained[-1]["hash"]
        events = [AuditEvent(**values) for values in chained] if keep else []
        if keep and len(events) == 1:
            events[0].save()
        else:
            AuditEvent.objects.all()._insert_chained(chained)
        AuditChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=prev_hash)
    return events
