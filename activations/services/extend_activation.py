"""Extending an activated role: its holder adds time while it is active, at most the role's
maximum in total, with the activation's requirements (MFA, justification, ticket) and approval
stages; without approval the end moves at once."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from activations import rules
from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from activations.services.workflow import (
    ActivationsRefused,
    enter_stage,
    record_change_refusals,
    save_pending,
    settle,
    tell_approvers,
    tell_requester,
)
from audit import context
from audit.services import record_event
from roles import mfa
from roles import services as role_services
from roles.models import ActiveAssignment, EligibleAssignment
from roles.selectors import (
    stage_of,
)


def request_activation_extension(
    *, actor, assignment: ActiveAssignment, duration: timedelta, justification: str, ticket_system: str = "",
    ticket_number: str = "", mfa_verified_at: datetime | None = None, expected_end_at: datetime | None = None,
) -> ActivationRequest:  # fmt: skip
    """Extend the actor's activated role, in effect now, by `duration`, as long as it lasts at
    most the role's activation maximum in total; the same requirements as activating it. Without
    approval the end moves at once; with approval the request goes through the role's stages
    and the end moves on the last approval. `expected_end_at`: the end the holder saw (the extend
    page sends it), so a double submit or a retry is refused instead of adding the time twice.
    A refusal raises ActivationsRefused, changes nothing and leaves an extension.refused event."""
    try:
        with transaction.atomic(durable=True):
            return _request_activation_extension(
                actor=actor, assignment=assignment, duration=duration, justification=justification,
                ticket_system=ticket_system, ticket_number=ticket_number, mfa_verified_at=mfa_verified_at,
                expected_end_at=expected_end_at,
            )  # fmt: skip
    except ActivationsRefused as refusal:
        record_change_refusals(actor=actor, kind=RequestKind.EXTEND, assignment=assignment, refusal=refusal,
                                justification=justification)  # fmt: skip
        raise


def verify_extension_step_up(*, actor, assignment: ActiveAssignment, token: str) -> datetime:
    """verify_step_up for an activation's extension: the refusal is an extension.refused."""
    check = mfa.check_code(actor=actor, token=token, stage="activation")
    if check.device is not None:
        return timezone.now()
    refusal = ActivationsRefused([(None, rules.Problem("mfa_invalid", "otp_token", check.error, {}))])
    record_change_refusals(actor=actor, kind=RequestKind.EXTEND, assignment=assignment, refusal=refusal,
                            justification="")  # fmt: skip
    raise refusal


def activation_source(assignment: ActiveAssignment) -> EligibleAssignment | None:
    """The eligibility an activated role was activated from (its activation request's)."""
    source = ActivationRequest.objects.filter(assignment=assignment, kind=RequestKind.ACTIVATE)
    return EligibleAssignment.objects.filter(pk__in=source.values("eligibility")).first()


def _request_activation_extension(
    *, actor, assignment, duration, justification, ticket_system, ticket_number, mfa_verified_at, expected_end_at
) -> ActivationRequest:
    now = timezone.now()
    source = ActivationRequest.objects.filter(assignment_id=assignment.pk, kind=RequestKind.ACTIVATE)
    # Locks in activating's order: the eligibility, then the active assignment, then the audit chain.
    eligibility = (
        EligibleAssignment.objects.select_for_update(of=("self",)).select_related("role__settings", "scope")
        .filter(pk__in=source.values("eligibility")).first()
    )  # fmt: skip
    assignment = (
        ActiveAssignment.objects.select_for_update(of=("self",))
        .select_related("role__settings", "scope", "principal")
        .get(pk=assignment.pk)
    )
    pending = ActivationRequest.objects.filter(
        target_active=assignment, kind=RequestKind.EXTEND, status=RequestStatus.PENDING_APPROVAL
    ).exists()
    problems = rules.check_activation_extension(
        assignment=assignment, eligibility=eligibility, actor=actor, now=now, duration=duration,
        justification=justification, ticket_system=ticket_system, ticket_number=ticket_number,
        mfa_fresh=mfa.is_fresh(mfa_verified_at, now=now), pending=pending,
    )  # fmt: skip
    if not problems and expected_end_at is not None and expected_end_at != assignment.end_at:
        problems = [rules.Problem("end_changed", None, rules.EXTENSION_END_CHANGED, {
            "role": assignment.role.name, "seen": rules.fmt_time(expected_end_at),
            "end": rules.fmt_time(assignment.end_at)})]  # fmt: skip
    if problems:
        raise ActivationsRefused([(eligibility, problem) for problem in problems])

    needs_approval = assignment.role.settings.require_approval
    request = ActivationRequest(
        kind=RequestKind.EXTEND,
        requester=actor,
        eligibility=eligibility,
        target_active=assignment,
        role=assignment.role,
        scope=assignment.scope,
        start_at=assignment.end_at,  # the added time begins where the activation ends now
        duration_minutes=int(duration.total_seconds() // 60),
        justification=justification,
        ticket_system=ticket_system.strip(),
        ticket_number=ticket_number.strip(),
        mfa_verified_at=mfa_verified_at,
        client_ip=context.current().client_ip,
        status=RequestStatus.PENDING_APPROVAL if needs_approval else RequestStatus.APPROVED,
    )
    first_stage = stage_of(role=assignment.role, position=1) if needs_approval else None
    if first_stage is not None:
        enter_stage(request, first_stage, now=now)
    save_pending(request, names={"role": assignment.role.name, "scope": assignment.scope.path, "kind": "extension"})
    record_event(
        actor=actor, action="extension.requested", target=request, justification=justification,
        data={"assignment_id": assignment.pk, "duration_minutes": request.duration_minutes,
              "end_at": assignment.end_at, "approval": needs_approval,
              "ticket": f"{request.ticket_system} {request.ticket_number}".strip()},
    )  # fmt: skip
    if needs_approval:
        tell_approvers(request, first_stage)
    else:
        _extend_activation(actor=actor, request=request, assignment=assignment)
    return request


def _extend_activation(*, actor, request: ActivationRequest, assignment: ActiveAssignment) -> None:
    """Move the activation's end by the request's duration (roles.services.extend_activation
    audits assignment.extended and moves the expiry schedule)."""
    role_services.extend_activation(
        actor=actor, assignment=assignment, end_at=assignment.end_at + timedelta(minutes=request.duration_minutes)
    )
    request.status = RequestStatus.PROVISIONED
    request.save(update_fields=["status"])


def finish_activation_extension(*, actor, request: ActivationRequest, eligibility, now: datetime):
    """The last approval of an activation's extension (from _decide): extend, unless the
    activation has ended, the eligibility is gone, or the role's maximum no longer allows it."""
    assignment = ActiveAssignment.objects.select_related("role__settings", "scope").get(pk=request.target_active_id)
    names = {"requester": request.requester.get_username(), "role": request.role.name, "scope": request.scope.path}
    failure = None
    if not assignment.is_in_effect(now):
        failure = rules.ACTIVATION_ENDED_BEFORE_DECISION % names
    elif not eligibility.is_in_effect(now) or not eligibility.is_held_by(request.requester):
        failure = rules.ELIGIBILITY_ENDED % names
    else:
        problems = rules.activation_extension_window_problems(
            assignment=assignment, eligibility=eligibility, role_settings=assignment.role.settings,
            duration=timedelta(minutes=request.duration_minutes),
        )  # fmt: skip
        failure = problems[0].message % problems[0].params if problems else None
    if failure is not None:
        request.status_reason = failure
        settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action="extension.failed", target=request, data={"reason": failure})
        tell_requester(request, f"could not be granted: {failure}")
        return request
    request.decided_at = now
    request.save(update_fields=["decided_at"])
    _extend_activation(actor=actor, request=request, assignment=assignment)
    new_end = assignment.end_at + timedelta(minutes=request.duration_minutes)
    tell_requester(request, f"was approved: {request.role.name} is active until {rules.fmt_time(new_end)}.")
    return request
