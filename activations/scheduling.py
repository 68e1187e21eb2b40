"""One-off django-q2 schedules for the moments an assignment starts and ends. Only side effects
hang on them (marking, mail, audit); access is computed from time and never waits. The
scheduler ticks about every 30 s, and a sweep every minute catches anything missed."""

from django_q.models import Schedule

from roles.models import ActiveAssignment, EligibleAssignment

SWEEP_NAME = "pim.sweep"
KINDS = {"active": ActiveAssignment, "eligible": EligibleAssignment}


def _once(*, name: str, func: str, args: tuple, at) -> None:
    Schedule.objects.update_or_create(
        name=name,
        defaults={"func": func, "args": repr(args), "schedule_type": Schedule.ONCE, "repeats": -1, "next_run": at},
    )


def schedule_expiry(assignment) -> None:
    """Queue the end-of-assignment side effects at end_at (call after commit)."""
    if assignment.end_at is None:
        return
    _once(
        name=f"pim.expire.{assignment.kind}.{assignment.pk}",
        func="activations.tasks.expire_assignment",
        args=(assignment.kind, assignment.pk),
        at=assignment.end_at,
    )


def schedule_start(request) -> None:
    """Queue a scheduled activation's start side effects at its start (call after commit)."""
    _once(
        name=f"pim.start.{request.pk}",
        func="activations.tasks.start_activation",
        args=(request.pk,),
        at=request.assignment.start_at,
    )


def ensure_repeating_schedules() -> None:
    """The sweep that finishes whatever a one-off missed: expiries, starts, time-outs."""
    Schedule.objects.update_or_create(
        name=SWEEP_NAME,
        defaults={"func": "activations.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )
