"""Targets and grants. Imported by roles.models: the tables belong to the roles app."""

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from roles.models import ActiveAssignment, Role
from roles.provisioning.choices import GrantState


class Target(models.Model):
    """Where a role is provisioned: a kind (roles.provisioning.kinds) and its parameters. Secrets
    never live here: a kind that needs one names the environment variable that holds it."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="targets")
    name = models.CharField(max_length=100, help_text="How pages, mails and the audit log name it.")
    kind = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    revoke_outside_grants = models.BooleanField(
        default=False,
        help_text="When the drift check finds this role granted on the target by someone other than PIM, "
        "revoke it (audited). Off: raise an alert only.",
    )
    # The last drift check (roles.provisioning.drift): when, what it found, or why it could not run.
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    outside_grants = models.JSONField(default=list, blank=True, help_text="Logins holding the role there without PIM.")
    drift_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["role__name", "name"]
        constraints = [models.UniqueConstraint(fields=["role", "name"], name="target_name_unique_per_role")]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"

    def audit_fields(self) -> dict:
        return {"role": self.role.slug}


class Grant(models.Model):
    """One user's access from one active assignment on one target, and where it stands. The
    idempotency key is the same on every attempt, so a target (a webhook receiver) can drop a
    repeat after a worker died between acting and recording."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="grants")
    assignment = models.ForeignKey(ActiveAssignment, on_delete=models.PROTECT, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=16, choices=GrantState.choices, default=GrantState.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts at the current step (grant or revoke).")
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker is at it until then.")
    last_error = models.CharField(max_length=1000, blank=True)
    idempotency_key = models.UUIDField(default=uuid.uuid4, editable=False)
    requested_at = models.DateTimeField(help_text="When the access was asked for (the assignment's start).")
    granted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["target", "assignment", "user"], name="grant_once_per_target"),
            models.CheckConstraint(condition=Q(state__in=GrantState.values), name="grant_state_valid"),
            models.CheckConstraint(
                condition=~Q(state=GrantState.GRANTED) | Q(granted_at__isnull=False), name="grant_granted_at"
            ),
            models.CheckConstraint(
                condition=~Q(state=GrantState.REVOKED) | Q(revoked_at__isnull=False), name="grant_revoked_at"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="grant_due_idx"),
            models.Index(fields=["assignment", "state"], name="grant_assignment_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.target}: {self.get_state_display()}"

    def audit_fields(self) -> dict:
        return {"principal": self.user, "role": self.assignment.role.slug, "scope": self.assignment.scope.path}

    @property
    def is_being_revoked(self) -> bool:
        return self.state in (GrantState.REVOKING, GrantState.REVOKED)


class ManagedGroup(models.Model):
    """A Django group under PIM (Entra's PIM for groups): its membership and its ownership are two
    roles, each eligible and activated like any other and provisioned through a Django-group
    target: membership into the group itself, ownership into a separate owners group."""

    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="pim_management")
    member_role = models.OneToOneField(Role, on_delete=models.PROTECT, related_name="+")
    owner_role = models.OneToOneField(Role, on_delete=models.PROTECT, related_name="+")
    owners_group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="+")
    brought_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    brought_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return f"{self.group.name} (under PIM)"

    def audit_fields(self) -> dict:
        return {"role": self.member_role.slug}
