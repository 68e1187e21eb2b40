"""Personal API tokens. A token is shown once, when it is made; only its SHA-256 is stored (it is
a long random string, so a fast hash is enough to make a stolen table useless)."""

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

TOKEN_PREFIX = "pim_"  # noqa: S105  the visible start of every token, not a secret


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenPermission(models.TextChoices):
    API = "api", "Act as me through the API (MFA-protected actions still need a code)"
    CHECK = "check", "Ask access decisions (/api/v1/check/) for other applications"


class ApiTokenQuerySet(models.QuerySet):
    def usable(self, at):
        """Not revoked, not expired, of an active user."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=at, user__is_active=True)


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, shown in lists so the owner can tell tokens apart.
    hint = models.CharField(max_length=12, editable=False)
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="apitoken_expires_after"),
            models.UniqueConstraint(
                fields=["user", "name"], condition=Q(revoked_at__isnull=True), name="apitoken_one_live_name_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…) of {self.user}"

    def audit_fields(self) -> dict:
        return {"principal": self.user}

    def allows(self, permission: str) -> bool:
        return permission in self.permissions
