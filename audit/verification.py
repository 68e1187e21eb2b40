"""Walking the chain from the first event (or the newest pruning checkpoint) to the head, and
recording the outcome (`ChainVerification`), with a critical alert when it breaks."""

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connection, transaction
from django.db.models import CharField, F, Func
from django.utils import timezone

from audit import alerts, chain, outbox, retention
from audit.models import AppendOnlyError, AuditChainHead, AuditEvent, ChainVerification
from audit.services import record_event

logger = logging.getLogger(__name__)

_FORGED_CHECKPOINT = (
    "the checkpoint at sequence {sequence} is not signed with this installation's SECRET_KEY (forged or altered)"
)


@dataclass(frozen=True)
class ChainReport:
    count: int
    broken_at: int | None = None
    reason: str = ""
    base: int = 0  # the checkpoint the walk started from (0: the first event)

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _head() -> AuditChainHead | None:
    return AuditChainHead.objects.filter(pk=1).first()


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"event {first} is missing from the end"
    return f"events {first} to {last} are missing from the end"


_SEQUENCE = chain.SORTED_FIELDS.index("sequence")
_PREV_HASH = chain.SORTED_FIELDS.index("prev_hash")
_DATA = chain.DATA_POSITION
_OCCURRED_AT = chain.OCCURRED_AT_POSITION


class _CanonicalData(dict):
    """The JSON text PostgreSQL sends for a `data` column -> canonical_data of that value. Most
    events carry one of a few data shapes ({"device": ...}, {"assignment_type": "active"}), so
    each distinct text is decoded and re-encoded once, not once per event. Bounded: emptied
    when full, so a log of all-different data costs one lookup more per event, no memory."""

    LIMIT = 4096

    def __missing__(self, text: str) -> str:
        if len(self) >= self.LIMIT:
            self.clear()
        encoded = self[text] = chain.canonical_data(json.loads(text))
        return encoded


def _encoded_rows(base: int, chunk_size: int) -> Iterator[list]:
    """The events after `base`, oldest first, each as a list of its hashed columns in the
    canonical form's key order (data and time already as the form writes them), then its
    stored hash. Streamed: no model instance and no dict per event."""
    events = AuditEvent.objects.filter(sequence__gt=base).order_by("sequence")
    if connection.vendor != "postgresql":
        for row in events.values_list(*chain.SORTED_FIELDS, "hash").iterator(chunk_size=chunk_size):
            row = list(row)
            row[_DATA] = chain.canonical_data(row[_DATA])
            row[_OCCURRED_AT] = chain.canonical_time(row[_OCCURRED_AT])
            yield row
        return
    # On PostgreSQL, the same server-side cursor .iterator() opens, read directly, with the time
    # written by the server (chain.CANONICAL_TIME_SQL) and the JSON column as its text, which
    # _CanonicalData turns into its canonical form: no per-row converters, no datetime per event.
    occurred = Func(F("occurred_at"), template=chain.CANONICAL_TIME_SQL, output_field=CharField())
    columns = ["canonical_time" if name == "occurred_at" else name for name in chain.SORTED_FIELDS]
    rows = events.annotate(canonical_time=occurred).values_list(*columns, "hash")
    sql, params = rows.query.sql_with_params()
    canonical = _CanonicalData()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk_size):
            for row in batch:
                row = list(row)
                row[_DATA] = canonical[row[_DATA]]
                yield row


def verify_chain(*, chunk_size: int = 2000) -> ChainReport:
    """Recompute every hash in sequence order, from the newest pruning checkpoint when there
    is one (its signature checked first). Streams with .iterator(): constant memory.

    Writers keep appending while this runs, so the head is read before the walk (every event
    up to it was committed with it and must be there) and again after it (every event the
    walk saw must have been appended through the head by then, or it was forged)."""
    head_before = _head()
    checkpoint = retention.newest_checkpoint()
    if checkpoint is not None and not retention.signature_ok(checkpoint):
        return ChainReport(0, checkpoint.sequence, _FORGED_CHECKPOINT.format(sequence=checkpoint.sequence))
    base = checkpoint.sequence if checkpoint is not None else 0  # the last pruned event
    expected_sequence = base + 1
    prev_hash = checkpoint.hash if checkpoint is not None else chain.GENESIS_HASH
    count = 0
    sha256, form = hashlib.sha256, chain.canonical_form_of_encoded_row
    for hashed in _encoded_rows(base, chunk_size):
        stored_hash = hashed.pop()
        sequence = hashed[_SEQUENCE]
        if sequence != expected_sequence:
            return ChainReport(count, expected_sequence, f"event {expected_sequence} is missing")
        if hashed[_PREV_HASH] != prev_hash:
            reason = "it does not link to the event before it"
            if sequence == base + 1 and checkpoint is not None:
                reason = f"it does not link to the checkpoint at sequence {base}"
            return ChainReport(count, sequence, reason)
        if sha256(form(hashed)).hexdigest() != stored_hash:
            return ChainReport(count, sequence, "its content does not match its hash")
        prev_hash = stored_hash
        expected_sequence += 1
        count += 1
    last = expected_sequence - 1  # the newest sequence verified (or the checkpoint's)
    if head_before is None:
        return ChainReport(count, base=base)
    if head_before.last_sequence > last:
        return ChainReport(count, last + 1, _missing(last + 1, head_before.last_sequence))
    head = head_before if head_before.last_sequence == last else _head()
    if head is None or head.last_sequence < last:
        beyond = head.last_sequence + 1 if head is not None else head_before.last_sequence + 1
        return ChainReport(count, beyond, f"event {beyond} is beyond the chain head and was not appended through it")
    if head.last_sequence == last and last and head.last_hash != prev_hash:
        return ChainReport(count, last, "the last event does not match the chain head")
    return ChainReport(count, base=base)


# Recording the outcome -------------------------------------------------------------------------

CHAIN_BROKEN_RULE = "audit.chain_broken"


def verify_and_record(*, now: datetime) -> tuple[ChainReport, ChainVerification]:
    """Verify the chain and keep the outcome (the audit page shows the newest). A break that
    is new (the previous run passed, or broke elsewhere) raises a critical alert: an audit
    event audit.chain_broken and a critical notification."""
    report = verify_chain()
    previous = ChainVerification.objects.order_by("-verified_at", "-pk").first()
    message = _message(report)
    verification = ChainVerification.objects.create(
        verified_at=now, ok=report.ok, count=report.count, first_break_sequence=report.broken_at, message=message
    )
    if not report.ok and (previous is None or previous.ok or previous.first_break_sequence != report.broken_at):
        _alert(report, message)
    return report, verification


def _message(report: ChainReport) -> str:
    if not report.ok:
        return f"BROKEN at sequence {report.broken_at}: {report.reason}"
    since = f" from the checkpoint at sequence {report.base}" if report.base else ""
    return f"OK: {report.count} events verified{since}"


def _alert(report: ChainReport, message: str) -> None:
    # Each in its own savepoint: a chain broken badly enough (a forged row where the next event
    # would go) can make the audit event fail, and the notification must still go out.
    # Recipients are empty until alert routing exists: the enabled webhooks listening to
    # audit.chain_broken (or to every rule) receive it, and the log below always does.
    logger.critical("audit chain %s", message)
    try:
        with transaction.atomic():
            outbox.queue(rule=CHAIN_BROKEN_RULE, recipients=(), subject=f"Audit log chain {message}",
                         body=f"verify_audit found the audit log's hash chain {message}.", critical=True,
                         data={"sequence": report.broken_at, "reason": report.reason})  # fmt: skip
    except DatabaseError:
        logger.exception("could not queue the chain-broken notification")
    try:
        with transaction.atomic():
            record_event(actor=None, action=CHAIN_BROKEN_RULE,
                         data={"sequence": report.broken_at, "reason": report.reason})  # fmt: skip
    except (DatabaseError, AppendOnlyError):
        logger.exception("could not record audit.chain_broken")
    try:  # the /alerts/ page and the administrators' notification (audit.alerts)
        alerts.raise_alert(alerts.CHAIN_BROKEN.key, [alerts.Finding(f"sequence-{report.broken_at}", message)],
                           now=timezone.now())  # fmt: skip
    except (DatabaseError, AppendOnlyError):
        logger.exception("could not raise the chain-broken alert")
