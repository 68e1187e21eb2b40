"""Drift: what a target really grants against what PIM says it should. A login holding the
role there with no PIM grant behind it is "assigned outside PIM" (the alert
roles_assigned_outside_pim lists it, and the target may revoke it); a grant PIM recorded that
the target no longer shows is granted again."""

import uuid
from collections import Counter
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Q

from audit.services import record_event
from roles.provisioning import engine, kinds
from roles.provisioning.choices import GrantState
from roles.provisioning.models import Grant, Target


def check_target(*, target: Target, now: datetime) -> Counter:
    """Compare one target; record what it found on the target (the alert rule reads it). A grant
    given again gets a new idempotency key: the receiver did the old one, and must do this one."""
    outcomes: Counter = Counter()
    try:
        kind = kinds.get(target.kind)
        actual = kind.list_grants(target)
    except kinds.ProvisioningError as error:
        Target.objects.filter(pk=target.pk).update(drift_checked_at=now, drift_error=str(error)[:1000])
        outcomes["unreachable"] += 1
        return outcomes
    if actual is None:  # the target cannot list its holders
        Target.objects.filter(pk=target.pk).update(drift_checked_at=now, drift_error="", outside_grants=[])
        outcomes["not listable"] += 1
        return outcomes
    rows = list(Grant.objects.filter(target=target).exclude(state=GrantState.REVOKED).select_related("user"))
    # Logins PIM grants or is about to (a revoke in progress still counts: it is PIM's to finish).
    ours = {kind.login_of(target, row.user) for row in rows}
    outside = sorted(actual - ours)
    for row in rows:
        if (
            row.state == GrantState.GRANTED
            and kind.login_of(target, row.user) not in actual
            and row.claimed_until is None
        ):
            with transaction.atomic():
                moved = Grant.objects.filter(
                    Q(claimed_until__isnull=True) | Q(claimed_until__lte=now), pk=row.pk, state=GrantState.GRANTED
                ).update(
                    state=GrantState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    idempotency_key=uuid.uuid4(),
                    requested_at=now,
                    granted_at=None,
                )
                if moved:
                    record_event(
                        actor=None,
                        action="provisioning.drift_missing",
                        target=row,
                        data={"target": target.name, "login": kind.login_of(target, row.user)},
                    )
                    transaction.on_commit(partial(engine.queue_attempts, [row.pk]), robust=True)
                    outcomes["granted again"] += moved
    remaining = []
    for login in outside:
        with transaction.atomic():
            record_event(
                actor=None,
                action="provisioning.outside_grant",
                target=target,
                data={"target": target.name, "login": login, "revoked": target.revoke_outside_grants},
            )
        if target.revoke_outside_grants:
            access = kinds.Access(
                target=target,
                user=None,
                login=login,
                role=target.role.slug,
                scope="",
                assignment_id=0,
                until=None,
                idempotency_key=f"drift-{target.pk}-{login}",
            )
            try:
                kind.revoke(access)
            except kinds.ProvisioningError as error:
                remaining.append(login)
                record_event(
                    actor=None,
                    action="provisioning.failed",
                    target=target,
                    data={"target": target.name, "step": "revoke outside grant", "login": login, "error": str(error)},
                )
            else:
                record_event(
                    actor=None,
                    action="provisioning.revoked",
                    target=target,
                    data={"target": target.name, "login": login, "outside_pim": True},
                )
                outcomes["revoked outside grant"] += 1
                continue
        else:
            remaining.append(login)
        outcomes["outside grant"] += 1
    Target.objects.filter(pk=target.pk).update(drift_checked_at=now, drift_error="", outside_grants=remaining)
    return outcomes


def check_all(*, now: datetime) -> Counter:
    outcomes: Counter = Counter()
    for target in Target.objects.filter(enabled=True).select_related("role"):
        outcomes.update(check_target(target=target, now=now))
    return outcomes
