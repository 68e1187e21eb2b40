"""The append-only, hash-chained audit log.

Every state change in PIM writes one or more events in the same transaction (see
`audit.services.record_event`). Each event carries the hash of the one before it, so any
edit, deletion or insertion in the middle breaks the chain and `manage.py verify_audit`
names the first broken sequence number.

Notifications leave through the outbox below (`audit.outbox`): webhooks and one row per message.
"""

import secrets
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import connections, models
from django.utils import timezone

from audit.choices import Channel, DeliveryStatus


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove a recorded audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")

    # Bulk paths that would bypass record_event and the chain.
    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be updated.")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are appended through audit.services.record_event, chained.")

    def _insert_chained(self, rows: list[dict]) -> None:
        """For audit.services only: insert events it has just chained, under the head's lock, as
        field values (each converted as its field says): no model instance per event, which for
        a sweep's thousands of events was half the time. PostgreSQL takes them by COPY."""
        fields = list(self.model._meta.concrete_fields)
        connection = connections[self.db]
        quote = connection.ops.quote_name
        table, columns = quote(self.model._meta.db_table), ", ".join(quote(field.column) for field in fields)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY adapts times, numbers and text itself; only the JSON column needs its field.
                # A sweep's rows share one data dict: its JSON is written once (by id, while `rows` holds it).
                data = self.model._meta.get_field("data")
                written: dict[int, Any] = {}
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        key = id(row["data"])
                        if key not in written:
                            written[key] = data.get_db_prep_save(row["data"], connection)
                        copy.write_row([written[key] if field is data else row[field.attname] for field in fields])
            else:
                params = [[field.get_db_prep_save(row[field.attname], connection) for field in fields] for row in rows]
                placeholders = ", ".join(["%s"] * len(fields))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", params)  # noqa: S608


class AuditEvent(models.Model):
    """One thing that happened: who did what to which holding, when, from where and why."""

    sequence = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Names as they were at the time, so renames and the hash do not depend on the user table.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    principal_username = models.CharField(max_length=150, blank=True)
    # Slug and path, not foreign keys: the log outlives roles and scopes, and `audit`
    # imports no domain app.
    role = models.CharField(max_length=100, blank=True)
    scope = models.CharField(max_length=400, blank=True)
    justification = models.TextField(blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    # Not unique, and no index: nothing looks an event up by its hash, and each index on a
    # random value costs every append a write in a random place (the chain, not a constraint,
    # is what makes each hash belong to one event: verify_audit recomputes them all).
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        # Django's internal paths (related lookups, the delete collector) use the base manager;
        # it must refuse changes as `objects` does.
        base_manager_name = "objects"
        # Every index is written by every append (a sweep appends thousands at once), so each
        # one here serves a query that needs it, and no field asks for db_index, which on
        # PostgreSQL would add a second, LIKE-only index to each text column.
        indexes = [
            # "Everything about this holding", used by timelines and the admin filters.
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            # The audit page's action filter: exact actions and prefixes ("activation."). The
            # pattern operator class serves both, whatever the database's collation.
            models.Index(fields=["action"], name="audit_action_idx", opclasses=["varchar_pattern_ops"]),
            # The audit page's role filter (exact slugs).
            models.Index(fields=["role"], name="audit_role_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="audit_sequence_positive"),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        return f"#{self.sequence} {self.action} by {who}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only: they cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only: they cannot be deleted.")


class AuditChainHead(models.Model):
    """The single row that serialises appends: writers lock it, read the last sequence and
    hash, insert the next event and move the head, all in one transaction."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_single_chain_head")]

    def __str__(self) -> str:
        return f"chain head at #{self.last_sequence}"


# Notifications ---------------------------------------------------------------------------------


def new_webhook_secret() -> str:
    """The default signing key of a new webhook (the migration refers to this function by name)."""
    return secrets.token_urlsafe(32)


def validate_rule_keys(value) -> None:
    """A webhook's `rules`: a JSON list of rule keys such as "role.activated.approver"."""
    if not isinstance(value, list) or not all(isinstance(key, str) and key.strip() for key in value):
        raise ValidationError(
            'Give a list of rule keys, such as ["role.activated.approver"], or [] for every rule.',
            code="rules_invalid",
        )


class Webhook(models.Model):
    """An outgoing webhook: every notification whose rule it lists (every one when `rules` is
    empty) is POSTed to `url` as JSON, signed with HMAC-SHA256 under `secret`."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField("URL", max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    # Shown read-only on the webhook's own admin page, never in a list or an audit event.
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    rules = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_rule_keys],
        help_text='Rule keys to send, e.g. ["role.activated.approver"]; [] sends every rule.',
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def listens_to(self, rule: str) -> bool:
        return not self.rules or rule in self.rules

    def audit_fields(self) -> dict[str, Any]:
        return {}


class OutboxMessageQuerySet(models.QuerySet):
    def due(self, at: datetime) -> "OutboxMessageQuerySet":
        """Pending and due, or claimed by a worker whose lease ran out (it crashed or hung)."""
        return self.filter(
            models.Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=at)
            | models.Q(status=DeliveryStatus.SENDING, claimed_until__lte=at)
        )


class OutboxMessage(models.Model):
    """One notification to one address (a person's email or a webhook), written in the
    transaction of the change it tells about and delivered by a task after that commits."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    rule = models.CharField(max_length=100, db_index=True)
    # The person an email is for; their notifications page lists these rows.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    address = models.CharField(max_length=500)  # the email address, or the webhook's URL
    # Deleting a webhook keeps its history; its undelivered messages then fail (see outbox.deliver).
    webhook = models.ForeignKey(Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    link = models.URLField(max_length=500, blank=True)  # where the recipient acts
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    critical = models.BooleanField(default=False)
    # Sent with every attempt, so a receiver can drop a repeat (after a crash between send and mark).
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)  # a worker's lease while sending
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # OutboxMessageQuerySet.due(), run by the one-minute delivery schedule.
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            # The notifications page: one person's messages, newest first.
            models.Index(fields=["recipient", "-created_at"], name="outbox_recipient_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(channel__in=Channel.values), name="outbox_channel_valid"),
            models.CheckConstraint(condition=models.Q(status__in=DeliveryStatus.values), name="outbox_status_valid"),
            # "Never sent twice" reads sent_at: it is set exactly when the message is sent.
            models.CheckConstraint(
                condition=models.Q(status=DeliveryStatus.SENT, sent_at__isnull=False)
                | (~models.Q(status=DeliveryStatus.SENT) & models.Q(sent_at__isnull=True)),
                name="outbox_sent_at_iff_sent",
            ),
            # A claimed message carries its lease, or a crashed worker's claim would never run out.
            models.CheckConstraint(
                condition=~models.Q(status=DeliveryStatus.SENDING) | models.Q(claimed_until__isnull=False),
                name="outbox_sending_has_lease",
            ),
            models.CheckConstraint(
                condition=models.Q(channel=Channel.WEBHOOK) | models.Q(webhook__isnull=True),
                name="outbox_email_has_no_webhook",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.webhook or self.address}: {self.subject}"

    def audit_fields(self) -> dict[str, Any]:
        return {"principal": self.recipient}


# SIEM forwarding, retention and verification ---------------------------------------------------


class SiemCursor(models.Model):
    """How far the SIEM forwarder got for one destination (`audit.siem.forward`): every event up
    to `last_sequence` was acknowledged there. A new destination starts from the first event."""

    destination = models.CharField(max_length=500, unique=True)  # "tcp://host:514", "https://host/path"
    last_sequence = models.PositiveBigIntegerField(default=0)
    # A forwarder's lease while sending: a second worker started by an overlapping schedule run
    # finds it and leaves, so events go out once and in order (see audit.siem.forward).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.destination} at #{self.last_sequence}"


class AuditCheckpoint(models.Model):
    """Where the chain starts after pruning: the sequence and hash of the last pruned event,
    signed with a key derived from SECRET_KEY, so `verify_audit` can start here and a row
    written by someone without the key is refused (see audit.retention)."""

    sequence = models.PositiveBigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    pruned_count = models.PositiveBigIntegerField(default=0)
    signature = models.CharField(max_length=64)

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return f"checkpoint at #{self.sequence}"


class ChainVerification(models.Model):
    """One run of the chain verification (the verify_audit command or the daily schedule); the
    newest is shown on the audit page (audit.selectors.last_verification)."""

    verified_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    count = models.PositiveBigIntegerField(default=0)  # events verified
    first_break_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-verified_at", "-pk"]
        constraints = [
            # A failed run names where the chain breaks; a passing one names nothing.
            models.CheckConstraint(
                condition=models.Q(ok=True, first_break_sequence__isnull=True)
                | models.Q(ok=False, first_break_sequence__isnull=False),
                name="audit_verification_break_iff_failed",
            ),
        ]

    def __str__(self) -> str:
        return f"{'OK' if self.ok else 'BROKEN'} at {self.verified_at:%Y-%m-%d %H:%M}"


# Security alerts -------------------------------------------------------------------------------


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    DISMISSED = "dismissed", "Dismissed"
    RESOLVED = "resolved", "Resolved"


# Open or dismissed: the rule's current alert. Resolved ones are history.
LIVE_ALERT_STATUSES = (AlertStatus.OPEN, AlertStatus.DISMISSED)


class AlertRuleSetting(models.Model):
    """What a Privileged Role Administrator changed about one alert rule (audit.alerts): whether
    it runs, and its thresholds. No row: the rule's defaults."""

    rule_key = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    thresholds = models.JSONField(default=dict, blank=True)  # {threshold key: int}; missing keys: default
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.rule_key} ({'on' if self.enabled else 'off'})"

    def audit_fields(self) -> dict[str, Any]:
        return {}


class Alert(models.Model):
    """One rule's finding while its condition lasts: raised once, updated by each scan, and
    resolved when a scan finds nothing. `items` are what it is about:
    [{"key": ..., "label": ..., "fix": bool}]."""

    rule_key = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=10)
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    items = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.CharField(max_length=500, blank=True)
    dismissed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=AlertStatus.values), name="alert_status_valid"),
            # audit.alerts finds "the rule's current alert" with one lookup, and a scan racing
            # an event-driven raise must not open a second one.
            models.UniqueConstraint(
                fields=["rule_key"], condition=models.Q(status__in=LIVE_ALERT_STATUSES), name="alert_one_live_per_rule"
            ),
            models.CheckConstraint(
                condition=~models.Q(status=AlertStatus.DISMISSED) | models.Q(dismissed_until__isnull=False),
                name="alert_dismissal_has_end",
            ),
        ]
        indexes = [
            # The navigation's open-alert count on every reader's page.
            models.Index(fields=["status"], name="alert_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_key} ({self.status})"

    def audit_fields(self) -> dict[str, Any]:
        return {}
