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


def verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Recompute every hash in sequence order. Streams with .iterator(): constant memory."""
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
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and head.last_sequence > count:
        return ChainReport(count, count + 1, f"events {count + 1} to {head.last_sequence} are missing from the end")
    if head is not None and head.last_sequence == count and count and head.last_hash != prev_hash:
        return ChainReport(count, count, "the last event does not match the chain head")
    return ChainReport(count)
