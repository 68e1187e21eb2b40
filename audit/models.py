"""The append-only, hash-chained audit log.

Every state change in PIM writes one or more events in the same transaction (see
`audit.services.record_event`). Each event carries the hash of the one before it, so any
edit, deletion or insertion in the middle breaks the chain and `manage.py verify_audit`
names the first broken sequence number.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


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
        raise AppendOnlyError("Audit events are appended one at a time through audit.services.record_event.")


class AuditEvent(models.Model):
    """One thing that happened: who did what to which holding, when, from where and why."""

    sequence = models.PositiveBigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Names as they were at the time, so renames and the hash do not depend on the user table.
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    principal_username = models.CharField(max_length=150, blank=True)
    # Slug and path, not foreign keys: the log outlives roles and scopes, and `audit`
    # imports no domain app.
    role = models.CharField(max_length=100, blank=True, db_index=True)
    scope = models.CharField(max_length=400, blank=True)
    justification = models.TextField(blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        # Django's internal paths (related lookups, the delete collector) use the base manager;
        # it must refuse changes as `objects` does.
        base_manager_name = "objects"
        indexes = [
            # "Everything about this holding", used by timelines and the admin filters.
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
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
