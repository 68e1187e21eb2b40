"""django-q2 tasks. Interfaces like views: take ids, call a service, return a short summary.
Each is safe to run twice, late, or after a crash half-way (the services compare-and-swap)."""

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from activations import services
from activations.scheduling import KINDS
from audit import outbox
from roles.choices import ActiveSource
from roles.models import ActiveAssignment
from roles.notifications import notice, site_url
from roles.selectors import members_of
from roles.services import record_expiries

# Assignments ended per transaction: one lock of the audit chain's head, a few statements. The
# head stays locked while the batch is written (a few hundred milliseconds at most).
EXPIRY_BATCH = 2000
NOTICE_BATCH = 500  # holders told per transaction
TELL_TASK = "activations.tasks.tell_holders_of_expiry"


def expire_assignment(kind: str, assignment_id: int) -> str:
    """One-off schedule at end_at: ends this assignment and every other of its kind due by now, so
    that a thousand ending together are a few transactions and the rest of their tasks find
    nothing to do. "expired" when this one was ended by this run."""
    ended = _expire_due(KINDS[kind], now=timezone.now())
    return "expired" if assignment_id in ended else "nothing to do"


def start_activation(request_id: int) -> str:
    """One-off schedule at a scheduled activation's start."""
    return "started" if services.start_scheduled(request_id=request_id, now=timezone.now()) else "nothing to do"


def sweep() -> str:
    """Every minute: finish whatever the one-offs missed."""
    now = timezone.now()
    expired = sum(len(_expire_due(model, now=now)) for model in KINDS.values())
    if not expired and ActiveAssignment.objects.filter(expiry_notice_due=True).exists():
        _queue_telling()  # a telling task was lost (a crash, a broker down): again
    due = services.due_to_start(now=now)
    started = sum(services.start_scheduled(request_id=pk, now=now) for pk in list(due.values_list("pk", flat=True)))
    timed_out = services.time_out_requests(now=now)
    escalated = services.escalate_requests(now=now)
    failed = services.settle_orphaned_requests(now=now) + services.settle_orphaned_extensions(now=now)
    return f"expired {expired}, started {started}, timed out {timed_out}, escalated {escalated}, failed {failed}"


def tell_holders_of_expiry() -> str:
    """Queued after an expiry ended active assignments, and by every sweep while any is owed:
    each holder's "has expired" mail, written with the owed mark cleared, so each is told once
    whatever crashed in between."""
    told = 0
    while True:
        with transaction.atomic():
            owed = list(
                ActiveAssignment.objects.filter(expiry_notice_due=True)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("principal", "group", "role__settings", "scope")
                .order_by("ended_at", "pk")[:NOTICE_BATCH]
            )  # fmt: skip
            _tell_holders_of_expiry(owed)
            ActiveAssignment.objects.filter(pk__any_of=[assignment.pk for assignment in owed]).update(
                expiry_notice_due=False
            )
        told += len(owed)
        if len(owed) < NOTICE_BATCH:
            return f"told {told}"


def _expire_due(model, *, now) -> set[int]:
    """Every assignment of `model` past its end, in batches; the ids of those this run ended.
    The holders' mail follows in its own task (tell_holders_of_expiry), off the sweep's path."""
    ended: set[int] = set()
    while True:
        batch = record_expiries(model=model, now=now, limit=EXPIRY_BATCH)
        ended.update(assignment.pk for assignment in batch)
        if len(batch) < EXPIRY_BATCH:
            break
    if ended and model is ActiveAssignment:
        _queue_telling()
    return ended


def _queue_telling() -> None:
    transaction.on_commit(lambda: async_task(TELL_TASK), robust=True)


def _tell_holders_of_expiry(ended: list) -> None:
    """One message per holder of each ended active assignment, written in one go."""
    link = site_url(reverse("activations:my-roles"))
    notices = [
        notice(
            role=assignment.role,
            event="activated" if assignment.source == ActiveSource.ACTIVATION else "active_assigned",
            audience="assignee",
            link=link,
            recipients=members_of(assignment),
            subject=f"[PIM] {assignment.role.name} has expired",
            body=(
                f"Your {assignment.role.name} assignment at {assignment.scope.path} ended at "
                f"{assignment.end_at:%Y-%m-%d %H:%M} UTC.\n"
            ),
        )
        for assignment in ended
        if isinstance(assignment, ActiveAssignment)
    ]
    outbox.queue_many([wanted for wanted in notices if wanted is not None])
