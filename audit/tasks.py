"""django-q2 tasks for the outbox. Interfaces like views: take ids, call the outbox, return a
short summary. Safe to run twice or late: delivery claims each message by compare-and-swap."""

from django.utils import timezone

from audit import outbox


def deliver_message(message_id: int) -> str:
    """Queued once per message after the transaction that wrote it commits."""
    return outbox.deliver(message_id=message_id, now=timezone.now())


def deliver_due_messages() -> str:
    """Every minute: retries whose backoff has passed, and anything the one-off tasks missed."""
    outcomes = outbox.deliver_due(now=timezone.now())
    return f"sent {outcomes['sent']}, retrying {outcomes['retrying']}, failed {outcomes['failed']}"
