"""django-q2 tasks for provisioning: take ids, call the engine, return a short summary."""

from django.utils import timezone

from audit.alerts import scan_rule
from audit.batches import each_in_time, summary
from roles.provisioning import drift, engine


def attempt_grant(*grant_ids: int) -> str:
    """Queued after the commit that made steps due: an attempt at each, at once, for as long as
    one run of run_due may take (what is left is due, and run_due takes it within a minute)."""
    outcomes = each_in_time(grant_ids, lambda pk: engine.attempt(grant_id=pk, now=timezone.now()),
                            budget=engine.DUE_TIME_BUDGET)  # fmt: skip
    return summary(outcomes)


def run_provisioning() -> str:
    """Every minute (schedule pim.provisioning): reconcile every target, then every due step."""
    now = timezone.now()
    reconciled = engine.reconcile_all(now=now)
    attempted = engine.run_due(now=now)
    return f"reconciled {dict(reconciled)}, attempted {dict(attempted)}"


def check_drift() -> str:
    """Every 10 minutes (schedule pim.provisioning.drift): compare every target, then bring the
    alert up to date at once rather than at the next 15-minute scan."""
    outcomes = drift.check_all(now=timezone.now())
    scan_rule("roles_assigned_outside_pim", now=timezone.now())
    return f"drift {dict(outcomes)}"
