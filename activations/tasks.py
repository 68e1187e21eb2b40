"""django-q2 tasks. Interfaces like views: take ids, call a service, return a short summary.
Each is safe to run twice, late, or after a crash half-way (the services compare-and-swap)."""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from activations import services
from activations.notifications import notify, site_url
from activations.scheduling import KINDS
from roles.choices import ActiveSource
from roles.models import ActiveAssignment
from roles.selectors import members_of
from roles.services import record_expiry


def expire_assignment(kind: str, assignment_id: int) -> str:
    """One-off schedule at end_at."""
    model = KINDS[kind]
    with transaction.atomic():  # the mail is queued with the expiry or not at all: a rerun sends it
        if not record_expiry(model=model, assignment_id=assignment_id, now=timezone.now()):
            return "nothing to do"
        _tell_holder_of_expiry(model, assignment_id)
    return "expired"


def start_activation(request_id: int) -> str:
    """One-off schedule at a scheduled activation's start."""
    return "started" if services.start_scheduled(request_id=request_id, now=timezone.now()) else "nothing to do"


def sweep() -> str:
    """Every minute: finish whatever the one-offs missed."""
    now = timezone.now()
    expired = 0
    for model in KINDS.values():
        lapsed = model.objects.open().filter(end_at__lte=now).values_list("pk", flat=True)
        for assignment_id in list(lapsed):
            with transaction.atomic():  # as in expire_assignment
                if not record_expiry(model=model, assignment_id=assignment_id, now=now):
                    continue
                _tell_holder_of_expiry(model, assignment_id)
            expired += 1
    due = services.due_to_start(now=now)
    started = sum(services.start_scheduled(request_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))
    timed_out = services.time_out_requests(now=now)
    escalated = services.escalate_requests(now=now)
    failed = services.settle_orphaned_requests(now=now) + services.settle_orphaned_extensions(now=now)
    return f"expired {expired}, started {started}, timed out {timed_out}, escalated {escalated}, failed {failed}"


def _tell_holder_of_expiry(model, assignment_id: int) -> None:
    if model is not ActiveAssignment:
        return
    assignment = ActiveAssignment.objects.select_related("principal", "group", "role", "scope").get(pk=assignment_id)
    activated = assignment.source == ActiveSource.ACTIVATION
    notify(
        role=assignment.role,
        event="activated" if activated else "active_assigned",
        audience="assignee",
        link=site_url(reverse("activations:my-roles")),
        recipients=members_of(assignment),
        subject=f"[PIM] {assignment.role.name} has expired",
        body=(
            f"Your {assignment.role.name} assignment at {assignment.scope.path} ended at "
            f"{assignment.end_at:%Y-%m-%d %H:%M} UTC.\n"
        ),
    )
