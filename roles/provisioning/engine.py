"""Carrying out provisioning. `reconcile` makes the Grant rows say what should be granted now
(one row per target, active assignment in effect and user holding it, so a group's assignment
has one per member); `attempt` carries out one row's next step on its target. Both are safe to
run twice, late, or after a crash half-way.

An attempt claims its row with a lease (compare-and-swap on claimed_until), acts on the target,
then records the result if the lease is still its own; a worker that dies between acting and
recording leaves a lease that runs out, and the next attempt acts again, which every kind does
idempotently (and a webhook receiver sees the same idempotency key)."""

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from audit import outbox
from audit.batches import each_in_time
from audit.outbox import backoff
from audit.services import record_event
from roles.models import ActiveAssignment
from roles.notifications import site_url
from roles.provisioning import kinds
from roles.provisioning.choices import WANTED, GrantState
from roles.provisioning.models import Grant, Target

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # a grant that fails this often is "failed" (alert); a revoke keeps trying
LEASE = timedelta(minutes=2)  # longer than one attempt may take (connect and HTTP timeouts are 10 s)
DUE_BATCH = 200
DUE_TIME_BUDGET = 30.0  # seconds; the next run a minute later carries on
ATTEMPT_TASK = "roles.provisioning.tasks.attempt_grant"
ATTEMPTS_PER_TASK = 20  # a sweep that ends a thousand assignments queues fifty tasks, not a thousand


def queue_attempts(grant_ids: list[int]) -> None:
    """Queue attempts at these rows now (call after commit); the one-minute run_due catches a lost one."""
    for first in range(0, len(grant_ids), ATTEMPTS_PER_TASK):
        async_task(ATTEMPT_TASK, *grant_ids[first : first + ATTEMPTS_PER_TASK])


def _holders(assignment: ActiveAssignment) -> list:
    """The active users an active assignment gives access to: its user, or its group's members."""
    if assignment.group_id:
        return list(assignment.group.user_set.filter(is_active=True))
    return [assignment.principal] if assignment.principal.is_active else []


def reconcile(*, target: Target, now: datetime, assignments=None) -> Counter:
    """Bring target's rows in line with the assignments in effect now (all of the role's, or just
    `assignments`): a missing row is created pending, a revoked one wanted again is reopened, a
    row no longer wanted moves to revoking. Queues the attempts after commit."""
    outcomes: Counter = Counter()
    in_effect = (
        ActiveAssignment.objects.in_effect(now)
        .filter(role_id=target.role_id)
        .select_related("principal", "group", "role", "scope")
    )
    rows = Grant.objects.filter(target=target)
    if assignments is not None:
        ids = [assignment.pk for assignment in assignments]
        in_effect, rows = in_effect.filter(pk__in=ids), rows.filter(assignment_id__in=ids)
    wanted = {}
    if target.enabled:
        for assignment in in_effect:
            for user in _holders(assignment):
                wanted[(assignment.pk, user.pk)] = assignment
    changed = []
    with transaction.atomic():
        existing = {(row.assignment_id, row.user_id): row for row in rows.select_for_update()}
        for key, assignment in wanted.items():
            row = existing.get(key)
            if row is None:
                row = Grant.objects.create(
                    target=target,
                    assignment=assignment,
                    user_id=key[1],
                    next_attempt_at=now,
                    requested_at=max(assignment.start_at, assignment.created_at),
                )
                outcomes["created"] += 1
            elif row.state in (GrantState.REVOKING, GrantState.REVOKED):
                _move(row, GrantState.PENDING, now=now, new_key=row.state == GrantState.REVOKED)
                outcomes["reopened"] += 1
            else:
                continue
            changed.append(row.pk)
        for key, row in existing.items():
            if key not in wanted and row.state in WANTED:
                _move(row, GrantState.REVOKING, now=now)
                changed.append(row.pk)
                outcomes["revoking"] += 1
        if changed:
            transaction.on_commit(partial(queue_attempts, changed), robust=True)
    return outcomes


def _move(row: Grant, state: str, *, now: datetime, new_key: bool = False) -> None:
    """Start a new step (grant or revoke) on a row: its attempts count from zero again."""
    # A lease held by a worker in the middle of the other step stays: this step waits for it to
    # end (that worker's result no longer matches the row's state and is not recorded), so a
    # revoke never lands before a grant still in flight.
    row.state, row.attempts, row.next_attempt_at, row.last_error = state, 0, now, ""
    fields = ["state", "attempts", "next_attempt_at", "last_error"]
    if state == GrantState.PENDING:  # asked for again now: the time to grant counts from here
        row.requested_at, row.granted_at, row.revoked_at = now, None, None
        fields += ["requested_at", "granted_at", "revoked_at"]
    if new_key:  # access given again after a revoke: a receiver must not drop it as a repeat
        row.idempotency_key = uuid.uuid4()
        fields.append("idempotency_key")
    row.save(update_fields=[*fields, "updated_at"])


def reconcile_assignment(assignment: ActiveAssignment) -> None:
    """After an assignment is made or changed (roles.hooks.on_window_set): its role's targets, for it."""
    reconcile_assignments([assignment])


def reconcile_assignments(assignments: list) -> None:
    """After assignments ended (roles.hooks.on_ended): their roles' targets, for them; one query
    when none of their roles has a target."""
    active = [assignment for assignment in assignments if assignment.kind == ActiveAssignment.kind]
    if not active:
        return
    now = timezone.now()
    for target in Target.objects.filter(role_id__in={a.role_id for a in active}).select_related("role"):
        reconcile(target=target, now=now, assignments=[a for a in active if a.role_id == target.role_id])


def access_of(row: Grant) -> kinds.Access:
    kind = kinds.get(row.target.kind)
    assignment = row.assignment
    return kinds.Access(
        target=row.target,
        user=row.user,
        login=kind.login_of(row.target, row.user),
        role=assignment.role.slug,
        scope=assignment.scope.path,
        assignment_id=assignment.pk,
        until=assignment.end_at,
        idempotency_key=str(row.idempotency_key),
    )


def attempt(*, grant_id: int, now: datetime) -> str:
    """Carry out one row's step if it is due and nobody else is at it. Returns "granted",
    "revoked", "retrying", "failed" or "nothing to do". Call outside a transaction: the claim
    commits before the target is touched."""
    lease_until = now + LEASE
    claimable = Grant.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now),
        pk=grant_id,
        state__in=[GrantState.PENDING, GrantState.REVOKING],
        next_attempt_at__lte=now,
    )
    if claimable.update(claimed_until=lease_until) != 1:
        return "nothing to do"
    row = Grant.objects.select_related("target", "target__role", "assignment__role", "assignment__scope", "user").get(
        pk=grant_id
    )
    ours = Grant.objects.filter(pk=grant_id, claimed_until=lease_until, state=row.state)
    granting = row.state == GrantState.PENDING
    try:
        access = access_of(row)
        kind = kinds.get(row.target.kind)
        kind.grant(access) if granting else kind.revoke(access)
    except kinds.ProvisioningError as error:
        return _record_failure(row, ours, reason=str(error), granting=granting, now=now)
    except Exception as error:  # noqa: BLE001  a bug must not leave the claim to run out again and again
        logger.exception("grant %s: unexpected error", row.pk)
        return _record_failure(row, ours, reason=f"{type(error).__name__}: {error}", granting=granting, now=now)
    done_at = timezone.now()
    with transaction.atomic():
        state = GrantState.GRANTED if granting else GrantState.REVOKED
        stamp = {"granted_at": done_at} if granting else {"revoked_at": done_at}
        if not ours.update(state=state, attempts=F("attempts") + 1, claimed_until=None, last_error="", **stamp):
            return "nothing to do"  # our lease ran out and another worker has taken over
        row.refresh_from_db()
        data = {"target": row.target.name, "kind": row.target.kind, "login": access.login, "attempts": row.attempts}
        if granting:
            data["seconds_to_grant"] = round((done_at - row.requested_at).total_seconds(), 1)
        record_event(
            actor=None, action="provisioning.granted" if granting else "provisioning.revoked", target=row, data=data
        )
    return "granted" if granting else "revoked"


def _record_failure(row: Grant, ours, *, reason: str, granting: bool, now: datetime) -> str:
    attempts = row.attempts + 1
    reason = reason[:1000]
    gives_up = granting and attempts >= MAX_ATTEMPTS
    with transaction.atomic():
        moved = ours.update(
            attempts=attempts,
            last_error=reason,
            claimed_until=None,
            next_attempt_at=now + backoff(attempts),
            **({"state": GrantState.FAILED} if gives_up else {}),
        )
        if not moved:
            return "nothing to do"
        record_event(
            actor=None,
            action="provisioning.failed",
            target=row,
            data={
                "target": row.target.name,
                "kind": row.target.kind,
                "step": "grant" if granting else "revoke",
                "attempts": attempts,
                "error": reason,
                "final": gives_up,
            },
        )
        if gives_up:
            _tell_administrators(row, reason=reason, attempts=attempts)
    return "failed" if gives_up else "retrying"


def run_due(*, now: datetime) -> Counter:
    """Every due step, oldest first, as many as fit in one run of the one-minute schedule."""
    due = (
        Grant.objects.filter(state__in=[GrantState.PENDING, GrantState.REVOKING], next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )
    return each_in_time(list(due[:DUE_BATCH]), lambda pk: attempt(grant_id=pk, now=now), budget=DUE_TIME_BUDGET)


def reconcile_all(*, now: datetime) -> Counter:
    """Every target against every assignment in effect: catches what the hooks missed (a start
    in the future reached, a group's members changed, a lost task)."""
    outcomes: Counter = Counter()
    for target in Target.objects.select_related("role"):
        outcomes.update(reconcile(target=target, now=now))
    return outcomes


def _tell_administrators(row: Grant, *, reason: str, attempts: int) -> None:
    """A grant that will not be retried: the PIM administrators are mailed (critical), and the
    alert rule provisioning_failed lists it until it is granted or revoked."""
    from roles.selectors import administrators_to_notify

    user, target = row.user.get_username(), row.target
    outbox.queue(
        rule="provisioning.failed.admin",
        recipients=administrators_to_notify(),
        subject=f"Provisioning failed: {target.role.name} for {user} on {target.name}",
        body=(
            f"PIM could not grant {target.role.name} to {user} on {target.name} after {attempts} attempts: "
            f"{reason}\nAccess in PIM is as decided; the target lags until the grant is retried."
        ),
        link=site_url(reverse("manage:role-edit", args=[target.role.slug])),
        critical=True,
        data={"role": target.role.slug, "target": target.name, "user": user},
    )
