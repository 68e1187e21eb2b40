"""What the workflow tests share besides fixtures: the moment the clock stands still at and
a request_activation call with the activate page's usual answers."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from activations import services
from audit.models import AuditEvent
from roles.models import EligibleAssignment

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)  # a Sunday morning
JUSTIFICATION = "INC-4711 restore the CEO's mailbox"


def activate(actor, *eligibilities: EligibleAssignment, **overrides):
    """request_activation as the activate page calls it: 1 h, a justification, a fresh code."""
    values = {
        "duration": timedelta(hours=1),
        "justification": JUSTIFICATION,
        "mfa_verified_at": timezone.now(),
        **overrides,
    }
    return services.request_activation(actor=actor, eligibilities=list(eligibilities), **values)


def events(action: str) -> list[AuditEvent]:
    """The audit events with `action`, oldest first."""
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))
