"""Extend and renew. A holder asks to extend an eligible or administrator-made active assignment
that ends within 14 days, or to renew one that expired within 30 days; PIM administrators decide
(not the role's approvers), through decide_request. An activated role is extended by its holder
within the role's maximum in total, with the activation's requirements and approval stages."""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from activations import notifications, rules
from activations.choices import Decision, EndChoice, RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest, Approval
from activations.services.workflow import (
    EVENT_NOUNS,
    ActivationsRefused,
    action_name,
    lock_pending_for_decision,
    record_change_refusals,
    save_pending,
    settle,
    tell_requester,
)
from audit import context
from audit.services import record_event
from roles import services as role_services
from roles.models import ActiveAssignment, EligibleAssignment, RoleSettings
from roles.selectors import (
    administrators_to_notify,
    is_pim_administrator,
)


def request_extension(
    *, actor, assignment: EligibleAssignment | ActiveAssignment, justification: str,
    requested_end_at: datetime | None = None,
) -> ActivationRequest:  # fmt: skip
    """Ask the PIM administrators to extend the actor's own eligible or administrator-made
    active assignment, open and ending within 14 days, to `requested_end_at` (default: the
    role's maximum for that assignment type from now, or permanent where the role allows it).
    A refusal raises ActivationsRefused, changes nothing and leaves an extension.refused event."""
    return _request_assignment_change(actor=actor, assignment=assignment, kind=RequestKind.EXTEND,
                                      justification=justification, requested_end_at=requested_end_at)  # fmt: skip


def request_renewal(
    *, actor, assignment: EligibleAssignment | ActiveAssignment, justification: str,
    requested_end_at: datetime | None = None,
) -> ActivationRequest:  # fmt: skip
    """Ask the PIM administrators for a new assignment like the actor's own eligible or
    administrator-made active one that expired (not removed) at most 30 days ago, until
    `requested_end_at` (default as request_extension). Refusals as request_extension's."""
    return _request_assignment_change(actor=actor, assignment=assignment, kind=RequestKind.RENEW,
                                      justification=justification, requested_end_at=requested_end_at)  # fmt: skip


def _request_assignment_change(*, actor, assignment, kind: str, justification: str, requested_end_at):
    try:
        with transaction.atomic(durable=True):
            return _create_assignment_change(
                actor=actor, assignment=assignment, kind=kind, justification=justification,
                requested_end_at=requested_end_at,
            )  # fmt: skip
    except ActivationsRefused as refusal:
        record_change_refusals(actor=actor, kind=kind, assignment=assignment, refusal=refusal,
                                justification=justification)  # fmt: skip
        raise


def _create_assignment_change(*, actor, assignment, kind: str, justification: str, requested_end_at):
    now = timezone.now()
    model = type(assignment)
    # Settings, then the row: the order roles.services takes them in (change_assignment_end). A
    # double submit waits here for the first to commit, then finds its pending request.
    role_settings = RoleSettings.objects.select_for_update().select_related("role").get(role=assignment.role_id)
    assignment = (
        model.objects.select_for_update(of=("self",)).select_related("role", "scope", "principal", "group")
        .get(pk=assignment.pk)
    )  # fmt: skip
    about = {"target_active": assignment} if model is ActiveAssignment else {"eligibility": assignment}
    pending = (
        ActivationRequest.objects.decided_by_administrators()
        .filter(kind=kind, status=RequestStatus.PENDING_APPROVAL, **about)
        .exists()
    )
    end = requested_end_at
    if requested_end_at is None:
        end = rules.default_assignment_end(role_settings=role_settings, kind=model.kind, now=now)
    if kind == RequestKind.EXTEND:
        problems = rules.check_extension(
            assignment=assignment, actor=actor, now=now, role_settings=role_settings, justification=justification,
            end=end, end_is_default=requested_end_at is None, pending=pending,
        )  # fmt: skip
    else:
        held_again = (
            model.objects.not_ended(now)
            .filter(principal_id=assignment.principal_id, role=assignment.role, scope=assignment.scope)
            .first()
            if assignment.principal_id
            else None
        )
        problems = rules.check_renewal(
            assignment=assignment, actor=actor, now=now, role_settings=role_settings, justification=justification,
            end=end, pending=pending, held_again=held_again,
        )  # fmt: skip
    if problems:
        raise ActivationsRefused([(None, problem) for problem in problems])

    request = ActivationRequest(
        kind=kind,
        requester=actor,
        **about,
        role=assignment.role,
        scope=assignment.scope,
        # Where the asked-for time begins: the current end (extend) or now (renew).
        start_at=assignment.end_at if kind == RequestKind.EXTEND else now,
        requested_end_at=end,
        justification=justification,
        client_ip=context.current().client_ip,
        status=RequestStatus.PENDING_APPROVAL,
        decide_by=now + timedelta(days=rules.DECIDE_WITHIN_DAYS),
    )
    save_pending(request, names={"role": assignment.role.name, "scope": assignment.scope.path,
                                  "kind": EVENT_NOUNS[kind]})  # fmt: skip
    record_event(
        actor=actor, action=action_name(request, "requested"), target=request, justification=justification,
        data={"assignment_type": model.kind, "assignment_id": assignment.pk, "end_at": assignment.end_at,
              "requested_end_at": end},
    )  # fmt: skip
    _tell_administrators(request, assignment)
    return request


def _tell_administrators(request: ActivationRequest, assignment) -> None:
    """The PIM administrators (Global and Privileged Role Administrators, eligible or active;
    one activates to decide) learn of an extension or renewal request; not the requester."""
    who = request.requester.get_full_name() or request.requester.get_username()
    verb = "extend" if request.kind == RequestKind.EXTEND else "renew"
    ends = "ended" if request.kind == RequestKind.RENEW else "ends"
    link = notifications.request_link(request)
    # Entra's "Request to approve a role assignment renewal/extension" of the assignment's kind.
    notifications.notify(
        role=request.role,
        event=f"{assignment.kind}_assigned",
        audience="approver",
        action_required=True,
        recipients=administrators_to_notify().exclude(pk=request.requester_id),
        subject=f"[PIM] {request.requester.get_username()} asks to {verb} {request.role.name} ({assignment.kind})",
        body=(
            f"{who} asks to {verb} their {assignment.kind} assignment of {request.role.name} at {request.scope.path}, "
            f"which {ends} {_until(assignment.end_at)}, to last {_until(request.requested_end_at)}.\n\n"
            f"Justification: {request.justification}\n\n"
            f"A Privileged Role Administrator or Global Administrator decides before "
            f"{rules.fmt_time(request.decide_by)}: {link}\n"
        ),
        link=link,
    )


def _until(end: datetime | None) -> str:
    return "permanently" if end is None else f"until {rules.fmt_time(end)}"


def decide_assignment_change(
    *, actor, request: ActivationRequest, decision: str, justification: str, end_at, mfa_verified_at
):
    """An administrator decides an extension or renewal of an assignment (decide_request)."""
    now = timezone.now()
    request = lock_pending_for_decision(request, actor=actor)
    if not is_pim_administrator(user=actor, at=now):
        raise ActivationRefused("not_administrator", rules.NOT_ADMINISTRATOR)
    if request.decide_by is not None and request.decide_by <= now:
        raise AlreadyDecided("timed_out", rules.TIMED_OUT, params={"deadline": rules.fmt_time(request.decide_by)})
    if decision not in Decision.values:
        raise ActivationRefused("decision_invalid", "Choose approve or deny.", field="decision")
    if decision == Decision.DENY and not justification.strip():
        raise ActivationRefused("deny_justification_required", rules.DENY_NEEDS_JUSTIFICATION, field="justification")
    if len(justification) > rules.JUSTIFICATION_MAX_LENGTH:
        raise ActivationRefused("justification_too_long", rules.JUSTIFICATION_TOO_LONG, field="justification",
                                params={"length": len(justification)})  # fmt: skip

    # Every row lock before the first audit event (see lock_holdings); settings, then the row,
    # the order change_assignment_end and assign_eligible / assign_active take them in.
    role_settings = RoleSettings.objects.select_for_update().select_related("role").get(role=request.role_id)
    model = ActiveAssignment if request.target_active_id else EligibleAssignment
    assignment = (
        model.objects.select_for_update(of=("self",)).select_related("role", "scope", "principal")
        .get(pk=request.target_active_id or request.eligibility_id)
    )  # fmt: skip
    new_end = request.requested_end_at if end_at is EndChoice.AS_REQUESTED else end_at
    failure = _change_failure(request, assignment, now=now) if decision == Decision.APPROVE else None
    if decision == Decision.APPROVE and failure is None:
        # A bad end changes nothing: refused before the approval is written.
        problems = rules.check_decided_end(request_kind=request.kind, assignment=assignment,
                                           role_settings=role_settings, now=now, end=new_end)  # fmt: skip
        if problems:
            raise ActivationRefused(problems[0].rule, problems[0].message, field="end_at", params=problems[0].params)

    approval = Approval.objects.create(
        request=request, approver=actor, stage=request.stage, decision=decision, justification=justification
    )
    if decision == Decision.DENY:
        settle(request, status=RequestStatus.DENIED, now=now)
        record_event(actor=actor, action=action_name(request, "denied"), target=request, justification=justification)
        tell_requester(request, f"was denied by {actor.get_username()}: {justification}")
        return request
    if failure is not None:
        request.status_reason = failure
        settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action=action_name(request, "failed"), target=request, data={"reason": failure})
        tell_requester(request, f"could not be granted: {failure}")
        return request

    if request.kind == RequestKind.EXTEND:
        # The role's maximum counts from this decision: an extension is a fresh window (Entra's).
        role_services.change_assignment_end(actor=actor, assignment=assignment, end_at=new_end, window_start=now)
    else:
        where = {"actor": actor, "principal": assignment.principal, "role": assignment.role, "scope": assignment.scope,
                 "start_at": now, "end_at": new_end, "justification": request.justification}  # fmt: skip
        if model is ActiveAssignment:
            renewed = role_services.assign_active(**where, mfa_verified_at=mfa_verified_at)
        else:
            renewed = role_services.assign_eligible(**where)
        if model is ActiveAssignment:
            request.assignment = renewed
            request.save(update_fields=["assignment"])
    request.status = RequestStatus.PROVISIONED
    request.decided_at = now
    request.save(update_fields=["status", "decided_at"])
    record_event(
        actor=actor, action=action_name(request, "approved"), target=request, justification=justification,
        data={"approval_id": approval.pk, "end_at": new_end, "requested_end_at": request.requested_end_at},
    )  # fmt: skip
    tell_requester(request, f"was approved by {actor.get_username()}: the {assignment.kind} assignment now lasts "
                             f"{_until(new_end)}.")  # fmt: skip
    return request


def _change_failure(request: ActivationRequest, assignment, *, now: datetime) -> str | None:
    """Why an approved extension or renewal can no longer be carried out, or None."""
    if request.kind == RequestKind.EXTEND:
        if assignment.ended_at is not None or (assignment.end_at is not None and assignment.end_at <= now):
            return rules.EXTENSION_TARGET_ENDED
        return None
    try:  # renew: an administrator may have assigned the role again meanwhile
        role_services.check_not_assigned(type(assignment), principal=assignment.principal, role=assignment.role,
                                         scope=assignment.scope, now=now)  # fmt: skip
    except ValidationError as refusal:
        return refusal.messages[0]
    return None


def settle_orphaned_extensions(*, now: datetime) -> int:
    """Pending extensions of what has ended meanwhile (expired, deactivated or removed) fail,
    once each, and the requester is told (settle_orphaned_requests does it for activations)."""
    target_over = Q(target_active__ended_at__lte=now) | Q(target_active__end_at__lte=now)
    eligibility_over = Q(eligibility__ended_at__lte=now) | Q(eligibility__end_at__lte=now)
    orphaned = ActivationRequest.objects.filter(kind=RequestKind.EXTEND, status=RequestStatus.PENDING_APPROVAL).filter(
        target_over | eligibility_over
    )
    settled = 0
    for request_id in list(orphaned.values_list("pk", flat=True)):
        with transaction.atomic():
            claimed = ActivationRequest.objects.filter(pk=request_id, status=RequestStatus.PENDING_APPROVAL).update(
                status=RequestStatus.FAILED, status_reason=rules.EXTENSION_TARGET_ENDED, decided_at=now
            )
            if claimed != 1:
                continue
            request = ActivationRequest.objects.select_related("role", "scope", "requester").get(pk=request_id)
            record_event(actor=None, action="extension.failed", target=request,
                         data={"reason": rules.EXTENSION_TARGET_ENDED})  # fmt: skip
            tell_requester(request, f"could not go ahead: {rules.EXTENSION_TARGET_ENDED}")
        settled += 1
    return settled
