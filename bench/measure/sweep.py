"""4. The expiry sweep: assignments ended (and audited) per second."""

import cProfile
import re
import time
from collections import Counter
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from activations import tasks
from bench.measure.common import Plan, Profiles, median
from bench.report import Figure
from bench.seed import Seeded
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Scope


def _lapsed(seeded: Seeded, count: int) -> list[int]:
    """`count` activated assignments that ended a minute ago and were not yet swept."""
    now = timezone.now()
    scope = Scope.objects.get(path="/bench-sweep")
    rows = ActiveAssignment.objects.bulk_create(
        [
            ActiveAssignment(
                principal_id=user_id,
                role_id=seeded.sweep_role_id,
                scope=scope,
                start_at=now - timedelta(hours=1),
                end_at=now - timedelta(minutes=1),
                source=ActiveSource.ACTIVATION,
                justification="bench sweep",
            )
            for user_id in seeded.sweep_user_ids[:count]
        ]
    )
    return [row.pk for row in rows]


def _raw_update(ids: list[int]) -> None:
    table = connection.ops.quote_name(ActiveAssignment._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET ended_at = end_at, end_reason = 'expired' WHERE id = ANY(%s) AND ended_at IS NULL",  # noqa: S608
            [ids],
        )
        if cursor.rowcount != len(ids):
            raise RuntimeError(f"the raw update ended {cursor.rowcount} of {len(ids)}")


def _sweep(expected: int) -> None:
    summary = tasks.sweep()
    expired = int(re.match(r"expired (\d+)", summary).group(1))
    if expired != expected:
        raise RuntimeError(f"the sweep ended {expired} assignments, {expected} were due: {summary}")


def expiry_sweep(seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """activations.tasks.sweep() over assignments that ended a minute ago, against one bulk UPDATE ending
    as many, in alternating rounds in this process."""
    count = min(plan.sweep_assignments, len(seeded.sweep_user_ids))
    bases, values = [], []
    for _ in range(plan.sweep_rounds):
        ids = _lapsed(seeded, count)
        started = time.perf_counter()
        _raw_update(ids)
        bases.append(count / (time.perf_counter() - started))
        _lapsed(seeded, count)
        started = time.perf_counter()
        _sweep(count)
        values.append(count / (time.perf_counter() - started))
    ratios = [b / v for b, v in zip(bases, values, strict=True)]
    value = median(values)
    notes = [f"{count} assignments per round, {plan.sweep_rounds} rounds, activations.tasks.sweep() in-process"]
    notes.append(_profile_sweep(seeded, min(count, 500), profiles))
    return [
        Figure(
            number=4,
            name="Expiry sweep, assignments ended per second (audited)",
            value=value,
            unit="/s",
            baseline=median(bases),
            baseline_name="one bulk UPDATE of as many rows, no audit",
            ratio=median(ratios),
            ratio_means="bulk UPDATE ÷ sweep",
            goal="≥ 20,000/s",
            passed=value >= 20_000,
            rounds=[{"baseline": b, "figure": v, "ratio": r} for b, v, r in zip(bases, values, ratios, strict=True)],
            notes=notes,
        )
    ]


def _profile_sweep(seeded: Seeded, count: int, profiles: Profiles) -> str:
    """Where the sweep's time goes: one more round, timed with its statements counted, and
    another under cProfile for the listing."""
    statements: Counter = Counter()
    spent = {"execute": 0.0}

    def counting(execute, sql, params, many, context):
        statements[sql.split()[0].upper()] += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent["execute"] += time.perf_counter() - started

    real_commit = connection.connection.__class__.commit
    commits = {"seconds": 0.0, "count": 0}

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return real_commit(self)
        finally:
            commits["seconds"] += time.perf_counter() - started
            commits["count"] += 1

    _lapsed(seeded, count)
    connection.connection.__class__.commit = timed_commit
    try:
        with connection.execute_wrapper(counting):
            started = time.perf_counter()
            _sweep(count)
            elapsed = time.perf_counter() - started
    finally:
        connection.connection.__class__.commit = real_commit
    _lapsed(seeded, count)
    profile = cProfile.Profile()
    profile.runcall(_sweep, count)
    total = sum(statements.values())
    python = elapsed - spent["execute"] - commits["seconds"]
    summary = (
        f"where the time goes ({count} assignments, {elapsed / count * 1e6:.0f} µs each): "
        f"{total} SQL statements in all ({', '.join(f'{k} {v}' for k, v in statements.most_common())}) "
        f"taking {spent['execute'] / elapsed:.0%} of the time, {commits['count']} commits (fsync) "
        f"{commits['seconds'] / elapsed:.0%}, Python (ORM, notifications, hashing) {python / elapsed:.0%}; "
        f"batches of up to {tasks.EXPIRY_BATCH} assignments, each one transaction taking the audit chain head once"
    )
    profiles.add("4. activations.tasks.sweep()", summary, profile)
    return f"{summary} (cProfile in {profiles.path.name})"
