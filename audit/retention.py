"""Pruning the audit log to PIM_AUDIT_RETENTION_DAYS without losing the means to verify it.

`prune` deletes the oldest events in one transaction, after recording a signed checkpoint: the
sequence and hash of the last event it deletes. `audit.verification.verify_chain` starts from
the newest checkpoint, so the remaining chain still verifies, and a checkpoint written without
SECRET_KEY (or changed afterwards) is refused. On PostgreSQL the append-only trigger lets this
one DELETE through (audit migration 0007): the session switch pim.audit_allow_prune, only for
rows a checkpoint covers.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils.crypto import constant_time_compare, salted_hmac

from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audit.services import record_event

SIGNING_SALT = "pim.audit.checkpoint"


def checkpoint_signature(*, sequence: int, hash: str, secret: str | None = None) -> str:
    """HMAC-SHA256 of "sequence:hash" under a key derived from SECRET_KEY (or `secret`)."""
    return salted_hmac(SIGNING_SALT, f"{sequence}:{hash}", secret=secret, algorithm="sha256").hexdigest()


def signature_ok(checkpoint: AuditCheckpoint) -> bool:
    """Signed with SECRET_KEY or one of SECRET_KEY_FALLBACKS (so rotating the key keeps old
    checkpoints valid while the old key stays listed)."""
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(
        constant_time_compare(
            checkpoint_signature(sequence=checkpoint.sequence, hash=checkpoint.hash, secret=secret),
            checkpoint.signature,
        )
        for secret in secrets
    )


def newest_checkpoint() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-sequence").first()


def prune(*, now: datetime, days: int | None = None) -> int:
    """Delete the events older than `days` (default PIM_AUDIT_RETENTION_DAYS; None keeps
    everything) and leave a signed checkpoint at the last one deleted. Only a run of events
    from the start is deleted: an event inside the window stops it, even if a later one is
    older (a clock that went back). Returns how many events were deleted; audited as
    audit.pruned. Safe to run twice: the second run finds nothing old enough."""
    days = settings.PIM_AUDIT_RETENTION_DAYS if days is None else days
    if not days:
        return 0
    cutoff = now - timedelta(days=days)
    with transaction.atomic():
        # Serialises prunes (and, briefly, appends): two prunes would write the same checkpoint.
        AuditChainHead.objects.select_for_update().filter(pk=1).first()
        previous = newest_checkpoint()
        after = previous.sequence if previous else 0
        kept = AuditEvent.objects.filter(sequence__gt=after, occurred_at__gte=cutoff).order_by("sequence")
        first_kept = kept.values_list("sequence", flat=True).first()
        old = AuditEvent.objects.filter(sequence__gt=after)
        if first_kept is not None:
            old = old.filter(sequence__lt=first_kept)
        last = old.order_by("-sequence").first()
        if last is None:
            return 0
        AuditCheckpoint.objects.create(
            sequence=last.sequence,
            hash=last.hash,
            created_at=now,
            pruned_count=last.sequence - after,
            signature=checkpoint_signature(sequence=last.sequence, hash=last.hash),
        )
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Ends with this transaction; the trigger checks it and the checkpoint just written.
                cursor.execute("SET LOCAL pim.audit_allow_prune = 'on'")
            # Raw SQL: the model refuses every delete (AuditEventQuerySet.delete).
            cursor.execute("DELETE FROM audit_auditevent WHERE sequence <= %s", [last.sequence])
            deleted = cursor.rowcount
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL pim.audit_allow_prune = 'off'")
        record_event(actor=None, action="audit.pruned", data={
            "through_sequence": last.sequence, "deleted": deleted, "retention_days": days,
            "cutoff": cutoff.isoformat()})  # fmt: skip
    return deleted
