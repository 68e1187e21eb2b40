import enum

from django.db import models


class RequestStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CANCELED = "canceled", "Canceled"
    TIMED_OUT = "timed_out", "Timed out"
    PROVISIONED = "provisioned", "Granted"
    FAILED = "failed", "Failed"


# A request in one of these states is settled: nothing moves it any more.
FINAL_STATUSES = (
    RequestStatus.DENIED,
    RequestStatus.CANCELED,
    RequestStatus.TIMED_OUT,
    RequestStatus.PROVISIONED,
    RequestStatus.FAILED,
)


class RequestKind(models.TextChoices):
    ACTIVATE = "activate", "Activate"
    DEACTIVATE = "deactivate", "Deactivate"
    EXTEND = "extend", "Extend"
    RENEW = "renew", "Renew"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approved"
    DENY = "deny", "Denied"


class EndChoice(enum.Enum):
    """What services.decide_request's `end_at` is when the administrator names none (None
    already means permanent): the end the holder asked for."""

    AS_REQUESTED = "as requested"
