"""Every change to targets and grants made by a person: keyword-only arguments, acting user
first, one transaction, rows locked, the audit event inside. (What the tasks do is in engine.)"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.alerts import scan_rule
from audit.services import record_event
from roles.models import Role
from roles.provisioning import drift, engine, kinds
from roles.provisioning.choices import GrantState
from roles.provisioning.models import Grant, Target

NAME_REQUIRED = "Name: required, at most 100 characters."
NAME_TAKEN = "Name: this role already has a target named '%(name)s'."
TARGET_IN_USE = (
    "Target '%(name)s' still has %(count)s grant(s) not revoked. Turn it off first: PIM revokes them; then delete it."
)
TARGET_OFF = "Target '%(name)s' is turned off: PIM neither grants there nor checks it. Turn it on first."
NOT_RETRYABLE = "This grant is %(state)s: there is nothing to retry (a pending, failed or revoking one can be)."


def _check(*, name: str, kind: str, params: dict) -> dict:
    errors = {}
    if not name.strip() or len(name) > 100:
        errors["name"] = [ValidationError(NAME_REQUIRED, code="name_required")]
    try:
        params = kinds.check_kind(kind).check_params(params if isinstance(params, dict) else {})
    except ValidationError as refusal:
        errors.update(refusal.error_dict)
    if errors:
        raise ValidationError(errors)
    return params


def _audit_data(target: Target) -> dict:
    return {
        "target": target.name,
        "kind": target.kind,
        "params": target.params,
        "enabled": target.enabled,
        "revoke_outside_grants": target.revoke_outside_grants,
    }


def create_target(
    *, actor, role: Role, name: str, kind: str, params: dict, enabled: bool = True, revoke_outside_grants: bool = False
) -> Target:
    """Bind `role` to a target; its current holders are granted there (after commit)."""
    params = _check(name=name, kind=kind, params=params)
    with transaction.atomic():
        target = Target(
            role=role,
            name=name.strip(),
            kind=kind,
            params=params,
            enabled=enabled,
            revoke_outside_grants=revoke_outside_grants,
        )
        try:
            with transaction.atomic():
                target.save()
        except IntegrityError:
            raise ValidationError(
                {"name": ValidationError(NAME_TAKEN, code="name_taken", params={"name": name.strip()})}
            ) from None
        record_event(actor=actor, action="provisioning.target_created", target=target, data=_audit_data(target))
        engine.reconcile(target=target, now=timezone.now())
    return target


def update_target(
    *, actor, target: Target, name: str, params: dict, enabled: bool, revoke_outside_grants: bool
) -> Target:
    """Change a target. Turning it off revokes what it granted; on again, grants again."""
    with transaction.atomic():
        target = Target.objects.select_for_update().select_related("role").get(pk=target.pk)
        params = _check(name=name, kind=target.kind, params=params)
        before = _audit_data(target)
        target.name, target.params, target.enabled = name.strip(), params, enabled
        target.revoke_outside_grants = revoke_outside_grants
        try:
            with transaction.atomic():
                target.save()
        except IntegrityError:
            raise ValidationError(
                {"name": ValidationError(NAME_TAKEN, code="name_taken", params={"name": name.strip()})}
            ) from None
        after = _audit_data(target)
        changes = {key: [before[key], after[key]] for key in after if before[key] != after[key]}
        if changes:
            record_event(
                actor=actor,
                action="provisioning.target_updated",
                target=target,
                data={"target": target.name, "changes": changes},
            )
        engine.reconcile(target=target, now=timezone.now())
    return target


def delete_target(*, actor, target: Target) -> None:
    """Delete a target none of whose grants is still in place (turn it off first)."""
    with transaction.atomic():
        target = Target.objects.select_for_update().select_related("role").get(pk=target.pk)
        live = target.grants.exclude(state=GrantState.REVOKED).count()
        if live:
            raise ValidationError(TARGET_IN_USE, code="target_in_use", params={"name": target.name, "count": live})
        record_event(actor=actor, action="provisioning.target_deleted", target=target, data=_audit_data(target))
        target.grants.all().delete()
        target.delete()


def retry_grant(*, actor, grant: Grant) -> Grant:
    """Try a failed grant (or a revoke that keeps failing) again now, with a fresh count of attempts."""
    with transaction.atomic():
        grant = (
            Grant.objects.select_for_update()
            .select_related("target", "assignment__role", "assignment__scope", "user")
            .get(pk=grant.pk)
        )
        if grant.state not in (GrantState.FAILED, GrantState.REVOKING, GrantState.PENDING):
            raise ValidationError(
                NOT_RETRYABLE, code="not_retryable", params={"state": grant.get_state_display().lower()}
            )
        state = GrantState.REVOKING if grant.state == GrantState.REVOKING else GrantState.PENDING
        now = timezone.now()
        Grant.objects.filter(pk=grant.pk).update(state=state, attempts=0, next_attempt_at=now, claimed_until=None)
        record_event(
            actor=actor,
            action="provisioning.retried",
            target=grant,
            data={
                "target": grant.target.name,
                "step": "revoke" if state == GrantState.REVOKING else "grant",
                "last_error": grant.last_error,
            },
        )
        transaction.on_commit(lambda: engine.queue_attempts([grant.pk]), robust=True)
    grant.refresh_from_db()
    return grant


def check_drift_now(*, actor, target: Target):
    """The drift check of one target, on demand (the schedule runs it every 10 minutes)."""
    if not target.enabled:
        raise ValidationError(TARGET_OFF, code="target_off", params={"name": target.name})
    outcomes = drift.check_target(target=target, now=timezone.now())
    scan_rule("roles_assigned_outside_pim", now=timezone.now())  # the alert follows at once
    target.refresh_from_db()
    record_event(actor=actor, action="provisioning.drift_checked", target=target, data={
        "target": target.name, "outside_grants": target.outside_grants, "error": target.drift_error,
        "outcomes": dict(outcomes)})  # fmt: skip
    return outcomes
