"""Walking the chain from the first event to the head."""

from dataclasses import dataclass

from audit import chain
from audit.models import AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainReport:
    count: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _head() -> AuditChainHead | None:
    return AuditChainHead.objects.filter(pk=1).first()


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"event {first} is missing from the end"
    return f"events {first} to {last} are missing from the end"


def verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Recompute every hash in sequence order. Streams with .iterator(): constant memory.

    Writers keep appending while this runs, so the head is read before the walk (every event
    up to it was committed with it and must be there) and again after it (every event the
    walk saw must have been appended through the head by then, or it was forged)."""
    head_before = _head()
    expected_sequence = 1
    prev_hash = chain.GENESIS_HASH
    count = 0
    events = AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size)
    for event in events:
        if event.sequence != expected_sequence:
            return ChainReport(count, expected_sequence, f"event {expected_sequence} is missing")
        if event.prev_hash != prev_hash:
            return ChainReport(count, event.sequence, "it does not link to the event before it")
        if chain.event_hash(chain.values_of(event)) != event.hash:
            return ChainReport(count, event.sequence, "its content does not match its hash")
        prev_hash = event.hash
        expected_sequence += 1
        count += 1
    if head_before is None:
        return ChainReport(count)
    if head_before.last_sequence > count:
        return ChainReport(count, count + 1, _missing(count + 1, head_before.last_sequence))
    head = head_before if head_before.last_sequence == count else _head()
    if head is None or head.last_sequence < count:
        beyond = head.last_sequence + 1 if head is not None else head_before.last_sequence + 1
        return ChainReport(count, beyond, f"event {beyond} is beyond the chain head and was not appended through it")
    if head.last_sequence == count and count and head.last_hash != prev_hash:
        return ChainReport(count, count, "the last event does not match the chain head")
    return ChainReport(count)
