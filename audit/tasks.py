"""django-q2 tasks for the outbox, the SIEM forwarder, pruning and chain verification.
Interfaces like views: take ids, call a service, return a short summary. Safe to run twice or
late: delivery claims each message, and the forwarder its cursor, by compare-and-swap."""

from django.utils import timezone

from audit import alerts, outbox, retention, siem
from audit import verification as verification_service
from audit.batches import each_in_time, summary


def deliver_message(*message_ids: int) -> str:
    """Queued after the transaction that wrote the messages commits, a few per task: each is
    sent, for as long as one run of deliver_due may take (deliver_due sends the rest)."""
    outcomes = each_in_time(message_ids, lambda pk: outbox.deliver(message_id=pk, now=timezone.now()),
                            budget=outbox.DUE_TIME_BUDGET)  # fmt: skip
    return summary(outcomes)


def deliver_due_messages() -> str:
    """Every minute: retries whose backoff has passed, and anything the one-off tasks missed."""
    outcomes = outbox.deliver_due(now=timezone.now())
    return f"sent {outcomes['sent']}, retrying {outcomes['retrying']}, failed {outcomes['failed']}"


def forward_to_siem() -> str:
    """Every minute while a SIEM destination is set: ship the events after its cursor."""
    return siem.forward(now=timezone.now())


def prune_audit_log() -> str:
    """Daily while PIM_AUDIT_RETENTION_DAYS is set: prune and leave a signed checkpoint."""
    deleted = retention.prune(now=timezone.now())
    return f"pruned {deleted} events"


def verify_audit_chain() -> str:
    """Daily: verify the chain and record the result; a new break raises a critical alert."""
    _report, verification = verification_service.verify_and_record(now=timezone.now())
    return verification.message


def scan_alerts() -> str:
    """Every 15 minutes: run the enabled alert rules; raise, update and resolve their alerts."""
    outcomes = alerts.run_scan(now=timezone.now())
    return ", ".join(f"{what} {count}" for what, count in sorted(outcomes.items())) or "no rules"
