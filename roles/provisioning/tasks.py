"""django-q2 tasks for provisioning: take ids, call the engine, return a short summary."""

from django.utils import timezone

from audit.alerts import scan_rule
from roles.provisioning import drift, engine


def attempt_grant(grant_id: int) -> str:
    """Queued after the commit that made a step due: one attempt, at once."""
    return engine.attempt(grant_id=grant_id, now=timezone.now())


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
