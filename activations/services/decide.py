"""Approvers decide: stage by stage, N distinct approvals each, any denial ends the request;
nobody decides their own, and a decided request stays decided."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from activations import rules
from activations.choices import Decision, EndChoice, RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest, Approval
from activations.services.extend import decide_assignment_change
from activations.services.extend_activation import finish_activation_extension
from activations.services.workflow import (
    action_name,
    enter_stage,
    grant,
    lock_holdings,
    lock_pending_for_decision,
    settle,
    tell_approvers,
    tell_requester,
)
from audit.services import record_event
from roles.models import EligibleAssignment, RoleSettings
from roles.selectors import (
    may_decide_at_stage,
    stage_of,
)


def decide_request(
    *, actor, request: ActivationRequest, decision: str, justification: str = "",
    end_at: datetime | None | EndChoice = EndChoice.AS_REQUESTED, mfa_verified_at: datetime | None = None,
) -> ActivationRequest:  # fmt: skip
    """One approver's approve or deny. Re-checked under the request's row lock: still pending,
    not the requester's own, the actor an approver of the role at this moment, and not
    decided by them before. Enough distinct approvals grant the role; any deny ends it.
    Extend and renew of an assignment: a PIM administrator decides alone, and may approve it
    with another `end_at` than the one asked for (None: permanent); renewing an active
    assignment of a role that requires MFA on active assignment needs `mfa_verified_at` fresh."""
    if end_at is not EndChoice.AS_REQUESTED and not request.is_decided_by_administrators:
        raise ValueError("end_at is for extend and renew of an assignment; an activation's approvers do not set it")
    try:
        with transaction.atomic(durable=True):
            if request.is_decided_by_administrators:  # Extend and renew (below)
                return decide_assignment_change(actor=actor, request=request, decision=decision,
                                                 justification=justification, end_at=end_at,
                                                 mfa_verified_at=mfa_verified_at)  # fmt: skip
            return _decide(actor=actor, request=request, decision=decision, justification=justification)
    except ActivationRefused as refusal:
        record_event(
            actor=actor,
            action="approval.refused",
            target=request,
            data={"rule": refusal.rule, "message": refusal.messages[0], "decision": decision},
        )
        raise


def _decide(*, actor, request: ActivationRequest, decision: str, justification: str) -> ActivationRequest:
    now = timezone.now()
    request = lock_pending_for_decision(request, actor=actor)
    # The settings row is locked too: an approver removed a moment ago cannot slip through.
    RoleSettings.objects.select_for_update().get(role=request.role)
    stage = stage_of(role=request.role, position=request.stage)
    escalated = request.escalates_at is not None and request.escalates_at <= now
    if not may_decide_at_stage(user=actor, stage=stage, escalated=escalated):
        raise ActivationRefused("not_approver", rules.NOT_APPROVER, params={"role": request.role.name})
    if request.approvals.filter(approver=actor).exists():
        raise AlreadyDecided("already_decided", rules.ALREADY_DECIDED_BY_YOU)
    if request.decide_by is not None and request.decide_by <= now:
        raise AlreadyDecided("timed_out", rules.TIMED_OUT, params={"deadline": rules.fmt_time(request.decide_by)})
    if decision not in Decision.values:
        raise ActivationRefused("decision_invalid", "Choose approve or deny.", field="decision")
    if decision == Decision.DENY and not justification.strip():
        raise ActivationRefused("deny_justification_required", rules.DENY_NEEDS_JUSTIFICATION, field="justification")
    if len(justification) > rules.JUSTIFICATION_MAX_LENGTH:
        raise ActivationRefused("justification_too_long", rules.JUSTIFICATION_TOO_LONG, field="justification",
                                params={"length": len(justification)})  # fmt: skip

    # Every row lock before the first audit event: record_event holds the audit chain head until
    # commit, while removing the eligibility takes its row first and the head second (see lock_holdings).
    eligibility = (
        EligibleAssignment.objects.select_for_update(of=("self",))
        .select_related("role__settings", "scope", "principal")
        .get(pk=request.eligibility_id)
    )
    lock_holdings([eligibility], holder=request.requester)
    approval = Approval.objects.create(
        request=request, approver=actor, stage=request.stage, decision=decision, justification=justification
    )
    if decision == Decision.DENY:
        settle(request, status=RequestStatus.DENIED, now=now)
        record_event(actor=actor, action=action_name(request, "denied"), target=request, justification=justification)
        tell_requester(request, f"was denied by {actor.get_username()}: {justification}")
        return request

    # Counted under the request's lock: of two approvers deciding at once, the second sees the first.
    approvals = request.approvals.filter(stage=request.stage, decision=Decision.APPROVE).count()
    required = stage.approvals_required
    record_event(
        actor=actor, action=action_name(request, "approved"), target=request, justification=justification,
        data={"approval_id": approval.pk, "stage": request.stage, "approvals": approvals, "required": required},
    )  # fmt: skip
    if approvals < required:
        return request
    next_stage = stage_of(role=request.role, position=request.stage + 1)
    if next_stage is not None:
        enter_stage(request, next_stage, now=now)
        request.save(update_fields=["stage", "decide_by", "escalates_at", "escalated_at"])
        record_event(actor=actor, action=action_name(request, "stage_passed"), target=request,
                     data={"stage": stage.position, "next_stage": next_stage.position,
                           "decide_by": request.decide_by})  # fmt: skip
        tell_approvers(request, next_stage)
        return request

    if request.kind == RequestKind.EXTEND:  # an activation's extension (Extend and renew, below)
        return finish_activation_extension(actor=actor, request=request, eligibility=eligibility, now=now)
    start = max(request.start_at, now)
    # Still eligible: the eligibility in effect, and still theirs (a group member may have left).
    if not eligibility.is_in_effect(start) or not eligibility.is_held_by(request.requester):
        names = {"requester": request.requester.get_username(), "role": request.role.name, "scope": request.scope.path}
        request.status_reason = rules.ELIGIBILITY_ENDED % names
        settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action="activation.failed", target=request, data={"reason": request.status_reason})
        tell_requester(request, f"could not be granted: {request.status_reason}")
        return request
    request.decided_at = now
    request.save(update_fields=["decided_at"])
    grant(actor=actor, request=request, eligibility=eligibility, now=now)
    tell_requester(request, "was approved" + (" and is active now." if request.status == RequestStatus.PROVISIONED
                                               else f"; it starts at {rules.fmt_time(request.start_at)}."))  # fmt: skip
    return request
