from django.db import models


class GrantState(models.TextChoices):
    PENDING = "pending", "Pending"
    GRANTED = "granted", "Granted"
    FAILED = "failed", "Failed"
    REVOKING = "revoking", "Revoking"
    REVOKED = "revoked", "Revoked"


# Rows whose access should exist on the target (or be on its way there).
WANTED = (GrantState.PENDING, GrantState.GRANTED, GrantState.FAILED)
