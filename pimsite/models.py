"""Personal API tokens. A token is shown once, when it is made; only its SHA-256 is stored (it is
a long random string, so a fast hash is enough to make a stolen table useless)."""

import hashlib
from datetime import datetime
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q

from roles.reusable import ReusableQuery
from roles.until_changed import UntilChanged

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

    @classmethod
    def usable_with_secret(cls, secret: str, *, at: datetime) -> "ApiToken | None":
        """The token whose secret this is, if usable at `at`, with its user: what
        usable(at).select_related("user") finds. One query, its SQL written once per process,
        and none while this process keeps the answer: every API call with a token asks it first."""
        digest = token_digest(secret)
        token_fields, user_fields = _token_and_user_fields()
        row = _TOKENS.get(digest, at=at)  # roles.until_changed: until it expires or a write to it
        if row is None:
            generation = _TOKENS.generation()
            rows = _usable_token_with_user.rows(digest=digest, at=at)
            if not rows:
                return None
            row = rows[0]
            _TOKENS.remember(digest, row, generation=generation, at=at, until=row[token_fields.index("expires_at")])
        db = cls.objects.db  # new instances each time: nothing a request does to them is shared
        token = cls.from_db(db, token_fields, row[: len(token_fields)])
        token.user = get_user_model().from_db(db, user_fields, row[len(token_fields) :])
        return token

    @staticmethod
    def forget_kept(digest: str) -> None:
        """After writing a column the database trigger ignores (last_used_at), so that this
        process reads the token again rather than its old last_used_at."""
        _TOKENS.forget(digest)


@cache
def _token_and_user_fields() -> tuple[list[str], list[str]]:
    """The columns of a token and of its user, in the order Model.from_db takes them."""
    return ([field.attname for field in ApiToken._meta.concrete_fields],
            [field.attname for field in get_user_model()._meta.concrete_fields])  # fmt: skip


_TOKENS = UntilChanged("API tokens")


@ReusableQuery
def _usable_token_with_user(digest: str, at: datetime) -> models.QuerySet:
    token_fields, user_fields = _token_and_user_fields()
    return (
        ApiToken.objects.usable(at)
        .filter(digest=digest)
        .order_by()  # the digest is unique: no sort by created_at
        .values_list(*token_fields, *(f"user__{name}" for name in user_fields))
    )
