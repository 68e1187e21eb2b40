"""3. Exactness of expiry: activations that end at known instants, with a django-q2 cluster
running as in production. The decision endpoint is asked about each just before and at its
end_at (it must allow, then deny: access is computed from the clock, not from tasks); the side
effects (the ended mark with its assignment.expired event, and the revoke at a provisioning
target) come from the one-off schedule at end_at, the scheduler ticking about every 30 s."""

import json
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.utils import timezone

from audit.models import AuditEvent
from bench import load
from bench.measure.common import ROOT, Plan, Profiles, Server, median, stop
from bench.report import Figure
from bench.seed import Seeded
from roles.choices import Tier
from roles.models import ActiveAssignment, EligibleAssignment, Grant, Role, RoleSettings, Scope
from roles.provisioning import services as provisioning
from roles.scheduling import ensure_roles_schedules
from roles.services.activated import grant_activation

ROLE = "bench-expiry"
GROUP = "bench-expiry-holders"
BEFORE = 0.5  # seconds before end_at that the first question is asked
P95_GOAL, MAX_GOAL = 35.0, 65.0
WAIT_AFTER_LAST = 90.0  # seconds past the last end_at that side effects are waited for


def exactness(server: Server, seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    users = list(get_user_model().objects.filter(pk__in=seeded.sweep_user_ids[: plan.expiring]).order_by("pk"))
    role, scope, eligibilities = _role_with_a_target(users, seeded)
    log = Path(os.environ["BENCH_SCRATCH"]) / "qcluster.log"
    cluster = _start_cluster(log)
    try:
        first_end = time.time() + plan.expiry_lead_seconds
        ends = {}
        started = time.perf_counter()
        for i, user in enumerate(users):
            end_at = datetime.fromtimestamp(first_end + plan.expiry_spread_seconds * i / len(users), UTC)
            with transaction.atomic():  # its commit hooks schedule the expiry and queue the grant
                assignment = grant_activation(
                    actor=user, principal=user, eligibility=eligibilities[user.pk], start_at=timezone.now(),
                    end_at=end_at, justification="bench expiry",
                )  # fmt: skip
            ends[assignment.pk] = (user.username, end_at)
        made_in = time.perf_counter() - started
        if time.time() > first_end - 2:
            raise RuntimeError(f"making {len(users)} activations took {made_in:.1f} s, past the first end")
        granted_before = _wait_for_grants(role, len(users), until=first_end - 1)
        asked = _ask_around_ends(server, seeded, ends, role, scope)
        late, missing = _side_effects(ends, role, deadline=first_end + plan.expiry_spread_seconds + WAIT_AFTER_LAST)
    finally:
        stop(cluster)
        connections.close_all()
    return _figures(len(users), asked, late, missing, made_in=made_in, granted_before=granted_before, plan=plan)


def _role_with_a_target(users: list, seeded: Seeded) -> tuple[Role, Scope, dict]:
    """A role without approval, its holders provisioned into a Django group; each user eligible."""
    role = Role.objects.create(slug=ROLE, name="Bench Expiry", tier=Tier.HIGH, description="Expires on the second.")
    RoleSettings.objects.create(role=role, notification_rules={})
    scope = Scope.objects.get(path="/")
    admin = get_user_model().objects.get(pk=seeded.reader_id)
    provisioning.create_target(actor=admin, role=role, name="Bench expiry group", kind="django_group",
                               params={"group": GROUP})  # fmt: skip
    since = timezone.now() - timedelta(days=1)
    rows = EligibleAssignment.objects.bulk_create(
        EligibleAssignment(principal=user, role=role, scope=scope, start_at=since, justification="bench")
        for user in users
    )
    return role, scope, {row.principal_id: row for row in rows}


def _start_cluster(log: Path) -> subprocess.Popen:
    """`manage.py qcluster` with the production settings the server has; mail goes nowhere."""
    ensure_roles_schedules()  # pim.provisioning catches a lost attempt, as in production
    env = os.environ | {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    out = log.open("w")
    return subprocess.Popen(  # noqa: S603  our own manage.py
        [sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT, env=env, stdout=out, stderr=out
    )


def _wait_for_grants(role: Role, count: int, *, until: float) -> int:
    """The cluster grants the new holders while the ends approach; how many were granted in time."""
    granted = 0
    while time.time() < until:
        granted = Grant.objects.filter(target__role=role, granted_at__isnull=False).count()
        if granted >= count:
            break
        time.sleep(0.5)
    return granted


def _ask_around_ends(server: Server, seeded: Seeded, ends: dict, role: Role, scope: Scope) -> dict:
    """Ask about each activation BEFORE seconds before its end_at (allowed) and at its end_at
    (denied), in time order; a question that could not be asked in time before the end is not
    counted. Returns the counts and the wrong answers."""
    questions = sorted(
        [(end.timestamp() - BEFORE, True, user, end) for user, end in ends.values()]
        + [(end.timestamp(), False, user, end) for user, end in ends.values()]
    )
    auth = {"Authorization": f"Bearer {seeded.check_token}"}
    out = {"allowed_before": 0, "denied_at": 0, "not_asked_in_time": 0, "wrong": [], "at_delay": []}
    for when, expect_allowed, user, end in questions:
        pause = when - time.time()
        if pause > 0:
            time.sleep(pause)
        asked_at = time.time()
        if expect_allowed and asked_at >= end.timestamp() - 0.05:
            out["not_asked_in_time"] += 1
            continue
        raw = load.request_bytes("GET", "/api/v1/check/", host=server.host_header, headers=auth,
                                 query={"user": user, "role": role.slug, "scope": scope.path})  # fmt: skip
        answer = load.send(server.address, raw)
        allowed = json.loads(answer.body)["allowed"] if answer.status == 200 else None
        if expect_allowed:
            out["allowed_before"] += allowed is True
        else:
            out["denied_at"] += allowed is False
            out["at_delay"].append(asked_at - end.timestamp())
        if allowed is not expect_allowed:
            out["wrong"].append(f"{user} {'before' if expect_allowed else 'at'} {end:%H:%M:%S.%f}: {answer.status}")
    return out


def _side_effects(ends: dict, role: Role, *, deadline: float) -> tuple[list[float], int]:
    """Seconds from each end_at to the moment its side effects were all done: the expiry's audit
    event (written with the ended mark) and the revoke at the target. Waits until all are done
    or the deadline; returns the delays and how many were not done by then."""
    ids = list(ends)
    while True:
        expired = dict(
            ActiveAssignment.objects.filter(pk__in=ids, ended_at__isnull=False)
            .values_list("pk", "ended_at")
            .order_by()
        )  # fmt: skip
        events = dict(
            AuditEvent.objects.filter(action="assignment.expired", target_type="roles.activeassignment",
                                      target_id__in=[str(pk) for pk in expired])
            .values_list("target_id", "occurred_at")
        )  # fmt: skip
        revoked = dict(
            Grant.objects.filter(assignment_id__in=ids, revoked_at__isnull=False)
            .values_list("assignment_id", "revoked_at")
        )  # fmt: skip
        done = [pk for pk in ids if str(pk) in events and pk in revoked]
        if len(done) == len(ids) or time.time() > deadline:
            break
        time.sleep(1)
    late = [
        (max(events[str(pk)], revoked[pk]) - ends[pk][1]).total_seconds()
        for pk in done
    ]  # fmt: skip
    return late, len(ids) - len(done)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def _figures(count: int, asked: dict, late: list[float], missing: int, *, made_in: float, granted_before: int,
             plan: Plan) -> list[Figure]:  # fmt: skip
    wrong = len(asked["wrong"])
    at_delay = median(asked["at_delay"]) * 1000 if asked["at_delay"] else math.nan
    notes = [
        f"{count} activations (roles.services.grant_activation, the path an activation takes once its rules are "
        f"checked) made in {made_in:.1f} s, their ends spread over {plan.expiry_spread_seconds} s from "
        f"{plan.expiry_lead_seconds} s after the first was made; a django-group provisioning target on the role, "
        f"{granted_before} of {count} grants in place before the first end; one django-q2 cluster (manage.py "
        "qcluster, production settings) running throughout",
        f"GET /api/v1/check/ asked {BEFORE} s before each end_at ({asked['allowed_before']} allowed) and at it "
        f"({asked['denied_at']} denied; asked a median {at_delay:.1f} ms after end_at); "
        f"{asked['not_asked_in_time']} questions before an end could not be asked in time and are not counted"
        + (f"; wrong: {', '.join(asked['wrong'][:5])}" if wrong else ""),
        "side effects done = the assignment.expired event (written with the ended mark) and the grant revoked at the "
        f"target, whichever came last; {missing} not done within {WAIT_AFTER_LAST:.0f} s of the last end",
    ]
    p95, worst = _percentile(late, 95), (max(late) if late else math.nan)
    if missing:
        p95 = worst = math.inf
    scheduler_tick = 30.0
    return [
        Figure(number=3, name="Exactness of expiry: wrong access decisions around end_at", value=wrong,
               unit="", baseline=0, baseline_name="expected", ratio=wrong / max(1, 2 * count),
               ratio_means="wrong ÷ asked", goal="0 (denied from end_at on)", passed=wrong == 0, notes=notes),
        Figure(number=3, name="Expiry side effects after end_at, p95", value=p95, unit="s", baseline=scheduler_tick,
               baseline_name="django-q2 scheduler tick", ratio=p95 / scheduler_tick, ratio_means="p95 ÷ tick",
               goal=f"≤ {P95_GOAL:.0f} s", passed=p95 <= P95_GOAL),
        Figure(number=3, name="Expiry side effects after end_at, max", value=worst, unit="s", baseline=scheduler_tick,
               baseline_name="django-q2 scheduler tick", ratio=worst / scheduler_tick, ratio_means="max ÷ tick",
               goal=f"≤ {MAX_GOAL:.0f} s", passed=worst <= MAX_GOAL),
    ]  # fmt: skip
