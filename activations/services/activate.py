"""Asking to activate one or many eligible roles: every role checked first, none created if
any is refused; without approval the role is in effect on return (or at its scheduled start)."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from activations import rules
from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from activations.services.workflow import (
    ActivationsRefused,
    enter_stage,
    grant,
    lock_holdings,
    record_refusals,
    tell_approvers,
)
from audit import context
from audit.services import record_event
from roles import mfa
from roles.models import ActiveAssignment, EligibleAssignment
from roles.selectors import (
    stage_of,
)


def request_activation(
    *,
    actor,
    eligibilities: Sequence[EligibleAssignment],
    duration: timedelta,
    start_at: datetime | None = None,
    justification: str = "",
    ticket_system: str = "",
    ticket_number: str = "",
    mfa_verified_at: datetime | None = None,
) -> list[ActivationRequest]:
    """Ask to hold each eligible role from `start_at` (default now) for `duration`, with one
    justification, ticket and code for all. Every role is checked first: if any is refused,
    none is created. A role without approval is in effect when this returns (or at its
    scheduled start); one with approval waits, and its approvers are told."""
    try:
        with transaction.atomic(durable=True):
            return _request_activation(
                actor=actor, eligibilities=eligibilities, duration=duration, start_at=start_at,
                justification=justification, ticket_system=ticket_system, ticket_number=ticket_number,
                mfa_verified_at=mfa_verified_at,
            )  # fmt: skip
    except ActivationsRefused as refusal:
        # The business transaction rolled back; the refusal is still evidence.
        record_refusals(actor=actor, refusal=refusal, justification=justification)
        raise


def verify_step_up(*, actor, eligibilities: Sequence[EligibleAssignment], token: str) -> datetime:
    """Check a fresh code before activating roles that require MFA; returns when it was
    verified. A wrong, reused or throttled code is refused (one activation.refused per role).
    Runs before, not inside, the activation's transaction, so the device's throttling and
    replay guard are never rolled back."""
    check = mfa.check_code(actor=actor, token=token, stage="activation")
    if check.device is not None:
        return timezone.now()
    refusal = ActivationsRefused(
        [(eligibility, rules.Problem("mfa_invalid", "otp_token", check.error, {})) for eligibility in eligibilities]
    )
    record_refusals(actor=actor, refusal=refusal, justification="")
    raise refusal


def _request_activation(
    *, actor, eligibilities, duration, start_at, justification, ticket_system, ticket_number, mfa_verified_at
) -> list[ActivationRequest]:
    now = timezone.now()  # one clock reading for every check and row below
    in_past = start_at is not None and start_at < now - timedelta(minutes=1)
    start = max(start_at or now, now)
    asked = sorted({eligibility.pk for eligibility in eligibilities})
    # A double submit, or an administrator removing an eligibility, waits on these locks.
    # of=("self",): PostgreSQL won't lock the nullable side of an outer join.
    locked = {
        eligibility.pk: eligibility
        for eligibility in EligibleAssignment.objects.select_for_update(of=("self",))
        .select_related("role__settings", "scope", "principal")
        .filter(pk__in=asked)
        .order_by("pk")
    }
    mfa_fresh = mfa.is_fresh(mfa_verified_at, now=now)
    problems: list[tuple[EligibleAssignment | None, rules.Problem]] = []
    for pk in asked:
        eligibility = locked.get(pk)
        if eligibility is None:
            problems.append((None, rules.Problem("not_eligible", None, "That eligibility does not exist.", {})))
            continue
        found = [rules.Problem("start_in_past", "start_at", rules.START_IN_PAST,
                               {"when": rules.fmt_time(start_at)})] if in_past else []  # fmt: skip
        found += rules.check_activation(
            eligibility=eligibility, actor=actor, now=now, start=start, duration=duration,
            justification=justification, ticket_system=ticket_system, ticket_number=ticket_number,
            mfa_fresh=mfa_fresh,
        )  # fmt: skip
        found += _holding_problems(eligibility, holder=actor, now=now) if not found else []
        problems += [(eligibility, problem) for problem in found]
    if problems:
        raise ActivationsRefused(problems)

    lock_holdings(list(locked.values()), holder=actor)
    created = []
    for pk in asked:
        eligibility = locked[pk]
        role_settings = eligibility.role.settings
        needs_approval = role_settings.require_approval
        request = ActivationRequest(
            kind=RequestKind.ACTIVATE,
            requester=actor,
            eligibility=eligibility,
            role=eligibility.role,
            scope=eligibility.scope,
            start_at=start,
            duration_minutes=int(duration.total_seconds() // 60),
            justification=justification,
            ticket_system=ticket_system.strip(),
            ticket_number=ticket_number.strip(),
            mfa_verified_at=mfa_verified_at,
            client_ip=context.current().client_ip,
            status=RequestStatus.PENDING_APPROVAL if needs_approval else RequestStatus.APPROVED,
        )
        first_stage = stage_of(role=eligibility.role, position=1) if needs_approval else None
        if first_stage is not None:
            enter_stage(request, first_stage, now=now)
        request.save()
        record_event(
            actor=actor,
            action="activation.requested",
            target=request,
            data={"start_at": start, "duration_minutes": request.duration_minutes, "approval": needs_approval,
                  "ticket": f"{request.ticket_system} {request.ticket_number}".strip()},
        )  # fmt: skip
        if needs_approval:
            tell_approvers(request, first_stage)
        else:
            grant(actor=actor, request=request, eligibility=eligibility, now=now)
        created.append(request)
    return created


def _holding_problems(eligibility: EligibleAssignment, *, holder, now: datetime) -> list[rules.Problem]:
    names = {"role": eligibility.role.name, "scope": eligibility.scope.path}
    held = (
        ActiveAssignment.objects.not_ended(now)
        .filter(principal=holder, role=eligibility.role, scope=eligibility.scope)
        .first()
    )
    if held is not None:
        until = "permanent" if held.end_at is None else rules.fmt_time(held.end_at)
        return [rules.Problem("already_active", None, rules.ALREADY_ACTIVE, {**names, "until": until})]
    pending = ActivationRequest.objects.filter(
        eligibility=eligibility, requester=holder, kind=RequestKind.ACTIVATE, status=RequestStatus.PENDING_APPROVAL
    )
    if pending.exists():
        return [rules.Problem("already_pending", None, rules.ALREADY_PENDING, names)]
    return []
