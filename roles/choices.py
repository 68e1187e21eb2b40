from django.db import models


class Tier(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    STANDARD = "standard", "Standard"


class EndReason(models.TextChoices):
    EXPIRED = "expired", "Expired"
    DEACTIVATED = "deactivated", "Deactivated"
    REMOVED = "removed", "Removed"
    REVIEWED = "reviewed", "Removed by an access review"


class ActiveSource(models.TextChoices):
    ADMIN = "admin", "Assigned by an administrator"
    ACTIVATION = "activation", "Activated"


class AssignmentType(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    ACTIVE = "active", "Active"
