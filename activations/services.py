"""The just-in-time workflow: activate (one or many roles), decide, cancel, time out,
deactivate. One function per change: keyword-only arguments, acting user first, its own
durable transaction, rows locked, audit events inside; mail and schedules after commit."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from activations import notifications, rules, scheduling
from activations.choices import Decision, EndChoice, RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest, Approval
from audit import context
from audit.services import record_event
from roles import mfa
from roles import services as role_services
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment, RoleSettings
from roles.selectors import (
    administrators_to_notify,
    is_pim_administrator,
    may_decide_at_stage,
    stage_deciders,
    stage_of,
)


class ActivationsRefused(ValidationError):
    """Some of the roles asked for cannot be activated; none was. Carries each problem."""

    def __init__(self, problems: list[tuple[EligibleAssignment | None, rules.Problem]]):
        self.problems = problems
        errors: dict[str, list[ValidationError]] = {}
        seen = set()
        for _, problem in problems:
            # A rule that is not about one role (a start in the past) is said once, not per role.
            key = (problem.field, problem.rule, tuple(sorted((problem.params or {}).items())))
            if key in seen:
                continue
            seen.add(key)
            error = ValidationError(problem.message, code=problem.rule, params=problem.params)
            errors.setdefault(problem.field or "__all__", []).append(error)
        super().__init__(errors)


# Activate --------------------------------------------------------------------------------


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
        _record_refusals(actor=actor, refusal=refusal, justification=justification)
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
    _record_refusals(actor=actor, refusal=refusal, justification="")
    raise refusal


def _record_refusals(*, actor, refusal: "ActivationsRefused", justification: str) -> None:
    for eligibility, problem in refusal.problems:
        record_event(
            actor=actor,
            action="activation.refused",
            target=eligibility,
            justification=justification[: rules.JUSTIFICATION_MAX_LENGTH],
            data={
                "rule": problem.rule,
                "message": problem.message % problem.params if problem.params else problem.message,
            },
        )


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

    _lock_holdings(list(locked.values()), holder=actor)
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
            _enter_stage(request, first_stage, now=now)
        request.save()
        record_event(
            actor=actor,
            action="activation.requested",
            target=request,
            data={"start_at": start, "duration_minutes": request.duration_minutes, "approval": needs_approval,
                  "ticket": f"{request.ticket_system} {request.ticket_number}".strip()},
        )  # fmt: skip
        if needs_approval:
            _tell_approvers(request, first_stage)
        else:
            _grant(actor=actor, request=request, eligibility=eligibility, now=now)
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


def _lock_holdings(eligibilities: Sequence[EligibleAssignment], *, holder) -> None:
    """Lock the open active assignments of these eligibilities' roles, before the first audit
    event. record_event holds the audit chain head until commit; grant_activation may then close
    a lapsed one, while the expiry task holds that row and waits for the head: a deadlock."""
    holdings = Q(pk__in=[])
    for eligibility in eligibilities:
        holdings |= Q(principal_id=holder.pk, role_id=eligibility.role_id, scope_id=eligibility.scope_id)
    list(ActiveAssignment.objects.select_for_update().open().filter(holdings).order_by("pk").values_list("pk"))


def _grant(*, actor, request: ActivationRequest, eligibility: EligibleAssignment, now: datetime) -> None:
    """Create the active assignment; in effect at once, or exactly at a scheduled start."""
    start = max(request.start_at, now).replace(microsecond=0)  # whole seconds: ends read as 18:30:00
    end = start + timedelta(minutes=request.duration_minutes)
    if eligibility.end_at is not None:
        end = min(end, eligibility.end_at)
    assignment = role_services.grant_activation(
        actor=actor, principal=request.requester, eligibility=eligibility, start_at=start, end_at=end,
        justification=request.justification,
    )  # fmt: skip
    request.assignment = assignment
    request.status = RequestStatus.APPROVED if start > now else RequestStatus.PROVISIONED
    request.save(update_fields=["assignment", "status"])
    _alert_administrators(request, assignment)
    # The expiry schedule comes from the roles hook (activations.apps); the start is ours.
    if start > now:
        transaction.on_commit(lambda: scheduling.schedule_start(request))


def _alert_administrators(request: ActivationRequest, assignment: ActiveAssignment) -> None:
    """Entra's role activation alert, to the PIM administrators (not the requester)."""
    who = request.requester.get_username()
    approved = ", ".join(request.approvals.values_list("approver__username", flat=True)) or "no approval needed"
    notifications.notify(
        role=request.role, audience="admin", link=notifications.request_link(request),
        recipients=administrators_to_notify().exclude(pk=request.requester_id),
        subject=f"[PIM] {who} activated {request.role.name} at {request.scope.path}",
        body=(
            f"{who} activated {request.role.name} at {request.scope.path} from {rules.fmt_time(assignment.start_at)} "
            f"until {rules.fmt_time(assignment.end_at)}.\n\n"
            f"Justification: {request.justification or '(none)'}\n"
            f"Ticket: {request.ticket_system} {request.ticket_number}\n"
            f"Approved by: {approved}\n\n{notifications.request_link(request)}\n"
        ),
    )  # fmt: skip


def _enter_stage(request: ActivationRequest, stage: ApprovalStage, *, now: datetime) -> None:
    """The request now waits in `stage`: its deadline and escalation time are fixed from the
    stage's settings at this moment (who may decide is read again at each decision)."""
    request.stage = stage.position
    request.decide_by = now + timedelta(minutes=stage.timeout_minutes)
    request.escalates_at = (
        now + timedelta(minutes=stage.escalate_after_minutes) if stage.escalate_after_minutes is not None else None
    )
    request.escalated_at = None


def _tell_approvers(request: ActivationRequest, stage: ApprovalStage | None, *, escalation: bool = False) -> None:
    if stage is None:
        return
    recipients = (
        stage_deciders(stage=stage, only_escalation=escalation)
        .exclude(pk=request.requester_id)
        .exclude(pk__in=request.approvals.values("approver"))
    )
    stages = request.role.settings.stages.count()
    where = f" (approval stage {stage.position} of {stages})" if stages > 1 else ""
    why = "Nobody has decided yet, so you are asked too.\n\n" if escalation else ""
    verb = request.get_kind_display().lower()  # activate, or extend an activation
    how_long = f"{'by' if request.kind == RequestKind.EXTEND else 'for'} {request.duration_minutes} minutes"
    notifications.notify(
        role=request.role,
        audience="approver",
        action_required=True,
        link=notifications.request_link(request),
        recipients=recipients,
        subject=f"[PIM] {request.requester.get_username()} asks to {verb} {request.role.name}{where}",
        body=(
            f"{why}{request.requester.get_full_name() or request.requester.get_username()} asks to {verb} "
            f"{request.role.name} at {request.scope.path} {how_long}{where}.\n\n"
            f"Justification: {request.justification or '(none)'}\n"
            f"Ticket: {request.ticket_system} {request.ticket_number}\n\n"
            f"Decide before {rules.fmt_time(request.decide_by)}: {notifications.request_link(request)}\n"
        ),
    )


# Decide ----------------------------------------------------------------------------------


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
                return _decide_assignment_change(actor=actor, request=request, decision=decision,
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
    request = (
        ActivationRequest.objects.select_for_update(of=("self",))
        .select_related("role", "scope", "requester")
        .get(pk=request.pk)
    )
    if request.status != RequestStatus.PENDING_APPROVAL:
        raise AlreadyDecided("already_decided", rules.ALREADY_DECIDED,
                             params={"status": request.get_status_display().lower()})  # fmt: skip
    if actor.pk == request.requester_id:
        raise ActivationRefused("own_request", rules.OWN_REQUEST)
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
    # commit, while removing the eligibility takes its row first and the head second (see _lock_holdings).
    eligibility = (
        EligibleAssignment.objects.select_for_update(of=("self",))
        .select_related("role__settings", "scope", "principal")
        .get(pk=request.eligibility_id)
    )
    _lock_holdings([eligibility], holder=request.requester)
    approval = Approval.objects.create(
        request=request, approver=actor, stage=request.stage, decision=decision, justification=justification
    )
    if decision == Decision.DENY:
        _settle(request, status=RequestStatus.DENIED, now=now)
        record_event(actor=actor, action=_action(request, "denied"), target=request, justification=justification)
        _tell_requester(request, f"was denied by {actor.get_username()}: {justification}")
        return request

    # Counted under the request's lock: of two approvers deciding at once, the second sees the first.
    approvals = request.approvals.filter(stage=request.stage, decision=Decision.APPROVE).count()
    required = stage.approvals_required
    record_event(
        actor=actor, action=_action(request, "approved"), target=request, justification=justification,
        data={"approval_id": approval.pk, "stage": request.stage, "approvals": approvals, "required": required},
    )  # fmt: skip
    if approvals < required:
        return request
    next_stage = stage_of(role=request.role, position=request.stage + 1)
    if next_stage is not None:
        _enter_stage(request, next_stage, now=now)
        request.save(update_fields=["stage", "decide_by", "escalates_at", "escalated_at"])
        record_event(actor=actor, action=_action(request, "stage_passed"), target=request,
                     data={"stage": stage.position, "next_stage": next_stage.position,
                           "decide_by": request.decide_by})  # fmt: skip
        _tell_approvers(request, next_stage)
        return request

    if request.kind == RequestKind.EXTEND:  # an activation's extension (Extend and renew, below)
        return _finish_activation_extension(actor=actor, request=request, eligibility=eligibility, now=now)
    start = max(request.start_at, now)
    # Still eligible: the eligibility in effect, and still theirs (a group member may have left).
    if not eligibility.is_in_effect(start) or not eligibility.is_held_by(request.requester):
        names = {"requester": request.requester.get_username(), "role": request.role.name, "scope": request.scope.path}
        request.status_reason = rules.ELIGIBILITY_ENDED % names
        _settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action="activation.failed", target=request, data={"reason": request.status_reason})
        _tell_requester(request, f"could not be granted: {request.status_reason}")
        return request
    request.decided_at = now
    request.save(update_fields=["decided_at"])
    _grant(actor=actor, request=request, eligibility=eligibility, now=now)
    _tell_requester(request, "was approved" + (" and is active now." if request.status == RequestStatus.PROVISIONED
                                               else f"; it starts at {rules.fmt_time(request.start_at)}."))  # fmt: skip
    return request


def _settle(request: ActivationRequest, *, status: str, now: datetime) -> None:
    request.status = status
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "status_reason"])


def _tell_requester(request: ActivationRequest, what: str) -> None:
    notifications.notify(
        role=request.role,
        audience="assignee",
        link=notifications.request_link(request),
        recipients=[request.requester],
        subject=f"[PIM] Your request for {request.role.name} {what.split(':')[0].split(';')[0]}",
        body=f"Your request to {request.get_kind_display().lower()} {request.role.name} at {request.scope.path} "
        f"{what}\n\n{notifications.request_link(request)}\n",
    )


# Cancel and time out -----------------------------------------------------------------------


def cancel_request(*, actor, request: ActivationRequest) -> ActivationRequest:
    """The requester withdraws a pending request."""
    with transaction.atomic(durable=True):
        request = (
            ActivationRequest.objects.select_for_update(of=("self",)).select_related("role", "scope", "requester")
            .get(pk=request.pk)
        )  # fmt: skip
        if request.requester_id != actor.pk:
            raise ActivationRefused("not_requester", rules.NOT_YOUR_REQUEST)
        if request.status != RequestStatus.PENDING_APPROVAL:
            raise AlreadyDecided("already_decided", rules.ALREADY_DECIDED,
                                 params={"status": request.get_status_display().lower()})  # fmt: skip
        _settle(request, status=RequestStatus.CANCELED, now=timezone.now())
        record_event(actor=actor, action=_action(request, "canceled"), target=request)
    return request


def time_out_requests(*, now: datetime) -> int:
    """Pending requests past their deadline become timed out, once each; the requester is told."""
    timed_out = 0
    overdue = ActivationRequest.objects.filter(status=RequestStatus.PENDING_APPROVAL, decide_by__lte=now)
    for request_id in overdue.values_list("pk", flat=True):
        with transaction.atomic():
            # Compare-and-swap: a decision or another sweep that got there first wins.
            claimed = ActivationRequest.objects.filter(
                pk=request_id, status=RequestStatus.PENDING_APPROVAL, decide_by__lte=now
            ).update(status=RequestStatus.TIMED_OUT, decided_at=now)
            if claimed != 1:
                continue
            request = ActivationRequest.objects.select_related("role", "scope", "requester").get(pk=request_id)
            record_event(actor=None, action=_action(request, "timed_out"), target=request)
            _tell_requester(request, "timed out: no approver decided in time. You can ask again.")
        timed_out += 1
    return timed_out


def escalate_requests(*, now: datetime) -> int:
    """Pending requests whose stage has reached its escalation time: the escalation approvers
    are told, once per stage (they may decide from escalates_at on, told or not)."""
    escalated = 0
    due = ActivationRequest.objects.filter(
        status=RequestStatus.PENDING_APPROVAL, escalates_at__lte=now, escalated_at__isnull=True
    )
    for request_id, stage in list(due.values_list("pk", "stage")):
        with transaction.atomic():
            claimed = ActivationRequest.objects.filter(
                pk=request_id, stage=stage, status=RequestStatus.PENDING_APPROVAL, escalated_at__isnull=True
            ).update(escalated_at=now)
            if claimed != 1:
                continue
            request = ActivationRequest.objects.select_related("role", "scope", "requester").get(pk=request_id)
            record_event(actor=None, action=_action(request, "escalated"), target=request, data={"stage": stage})
            _tell_approvers(request, stage_of(role=request.role, position=stage), escalation=True)
        escalated += 1
    return escalated


ORPHANED_PENDING = "The eligibility this request was for has ended, so it can no longer be granted."
ENDED_BEFORE_START = "The role was ended before its scheduled start, so it never became active."


def settle_orphaned_requests(*, now: datetime) -> int:
    """Requests that can no longer go anywhere fail, once each, and the requester is told:
    pending ones whose eligibility has ended, and scheduled ones whose assignment was ended
    (deactivated or removed) before it started. Compare-and-swap per request: no lock order."""
    member = get_user_model().groups.through.objects.filter(
        user_id=OuterRef("requester_id"), group_id=OuterRef("eligibility__group_id")
    )
    left_group = Q(eligibility__group__isnull=False) & ~Q(Exists(member))
    eligibility_over = Q(eligibility__ended_at__lte=now) | Q(eligibility__end_at__lte=now) | left_group
    # Activations only: settle_orphaned_extensions does extensions; a renewal's eligibility has ended by design.
    pending = ActivationRequest.objects.filter(status=RequestStatus.PENDING_APPROVAL, kind=RequestKind.ACTIVATE).filter(
        eligibility_over
    )
    never_started = ActivationRequest.objects.filter(
        status=RequestStatus.APPROVED, assignment__ended_at__isnull=False,
        assignment__ended_at__lte=F("assignment__start_at"),
    )  # fmt: skip
    settled = 0
    for candidates, from_status, reason in (
        (pending, RequestStatus.PENDING_APPROVAL, ORPHANED_PENDING),
        (never_started, RequestStatus.APPROVED, ENDED_BEFORE_START),
    ):
        for request_id in list(candidates.values_list("pk", flat=True)):
            with transaction.atomic():
                claimed = ActivationRequest.objects.filter(pk=request_id, status=from_status).update(
                    status=RequestStatus.FAILED, status_reason=reason, decided_at=now
                )
                if claimed != 1:
                    continue
                request = ActivationRequest.objects.select_related("role", "scope", "requester").get(pk=request_id)
                record_event(actor=None, action="activation.failed", target=request, data={"reason": reason})
                _tell_requester(request, f"could not go ahead: {reason}")
            settled += 1
    return settled


def due_to_start(*, now: datetime) -> QuerySet[ActivationRequest]:
    """Approved requests whose assignment has reached its start. An assignment deactivated or
    removed before its start never began: it is not announced (start_scheduled, the sweep)."""
    return ActivationRequest.objects.filter(status=RequestStatus.APPROVED, assignment__start_at__lte=now).filter(
        Q(assignment__ended_at__isnull=True) | Q(assignment__ended_at__gt=F("assignment__start_at"))
    )


def start_scheduled(*, request_id: int, now: datetime) -> bool:
    """The side effects of a scheduled activation reaching its start: once. Access itself did
    not wait for this; it is computed from the assignment's start_at."""
    with transaction.atomic():
        claimed = due_to_start(now=now).filter(pk=request_id).update(status=RequestStatus.PROVISIONED)
        if claimed != 1:
            return False
        request = ActivationRequest.objects.select_related("role", "scope", "requester", "assignment").get(
            pk=request_id
        )
        record_event(actor=None, action="assignment.started", target=request.assignment)
        _tell_requester(request, f"is active now, until {rules.fmt_time(request.assignment.end_at)}.")
    return True


# Deactivate --------------------------------------------------------------------------------


def deactivate(*, actor, assignment: ActiveAssignment) -> ActiveAssignment:
    """The holder ends an activated role early; access ends at once."""
    with transaction.atomic(durable=True):
        return role_services.deactivate_assignment(actor=actor, assignment=assignment)


# Extend and renew ----------------------------------------------------------------------------
# A holder asks to extend an eligible or administrator-made active assignment that ends within
# 14 days, or to renew one that expired within 30 days; PIM administrators decide (not the
# role's approvers), through decide_request. An activated role is extended by its holder within
# the role's maximum in total, with the activation's requirements and approval stages.

# The audit noun of each kind of request: activation.approved, extension.approved, renewal.approved.
EVENT_NOUNS = {
    RequestKind.ACTIVATE: "activation",
    RequestKind.DEACTIVATE: "deactivation",
    RequestKind.EXTEND: "extension",
    RequestKind.RENEW: "renewal",
}


def _action(request: ActivationRequest, verb: str) -> str:
    """The audit action of a step of `request`, named after its kind."""
    return f"{EVENT_NOUNS[request.kind]}.{verb}"


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
        _record_change_refusals(actor=actor, kind=kind, assignment=assignment, refusal=refusal,
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
    _save_pending(request, names={"role": assignment.role.name, "scope": assignment.scope.path,
                                  "kind": EVENT_NOUNS[kind]})  # fmt: skip
    record_event(
        actor=actor, action=_action(request, "requested"), target=request, justification=justification,
        data={"assignment_type": model.kind, "assignment_id": assignment.pk, "end_at": assignment.end_at,
              "requested_end_at": end},
    )  # fmt: skip
    _tell_administrators(request, assignment)
    return request


def _save_pending(request: ActivationRequest, *, names: dict) -> None:
    """Insert a pending request; the one-pending constraints turn a double submit that got past
    the check (SQLite has no row locks) into the same refusal."""
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        problem = rules.Problem("already_pending", None, rules.CHANGE_PENDING, names)
        raise ActivationsRefused([(None, problem)]) from None


def _record_change_refusals(*, actor, kind: str, assignment, refusal: ActivationsRefused, justification: str) -> None:
    for _, problem in refusal.problems:
        record_event(
            actor=actor,
            action=f"{EVENT_NOUNS[kind]}.refused",
            target=assignment,
            justification=justification[: rules.JUSTIFICATION_MAX_LENGTH],
            data={"rule": problem.rule, "message": problem.message % problem.params if problem.params else
                  problem.message},
        )  # fmt: skip


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


def _decide_assignment_change(
    *, actor, request: ActivationRequest, decision: str, justification: str, end_at, mfa_verified_at
):
    """An administrator decides an extension or renewal of an assignment (decide_request)."""
    now = timezone.now()
    request = (
        ActivationRequest.objects.select_for_update(of=("self",))
        .select_related("role", "scope", "requester")
        .get(pk=request.pk)
    )
    if request.status != RequestStatus.PENDING_APPROVAL:
        raise AlreadyDecided("already_decided", rules.ALREADY_DECIDED,
                             params={"status": request.get_status_display().lower()})  # fmt: skip
    if actor.pk == request.requester_id:
        raise ActivationRefused("own_request", rules.OWN_REQUEST)
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

    # Every row lock before the first audit event (see _lock_holdings); settings, then the row,
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
        _settle(request, status=RequestStatus.DENIED, now=now)
        record_event(actor=actor, action=_action(request, "denied"), target=request, justification=justification)
        _tell_requester(request, f"was denied by {actor.get_username()}: {justification}")
        return request
    if failure is not None:
        request.status_reason = failure
        _settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action=_action(request, "failed"), target=request, data={"reason": failure})
        _tell_requester(request, f"could not be granted: {failure}")
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
        actor=actor, action=_action(request, "approved"), target=request, justification=justification,
        data={"approval_id": approval.pk, "end_at": new_end, "requested_end_at": request.requested_end_at},
    )  # fmt: skip
    _tell_requester(request, f"was approved by {actor.get_username()}: the {assignment.kind} assignment now lasts "
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


# Extend an activation


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
        _record_change_refusals(actor=actor, kind=RequestKind.EXTEND, assignment=assignment, refusal=refusal,
                                justification=justification)  # fmt: skip
        raise


def verify_extension_step_up(*, actor, assignment: ActiveAssignment, token: str) -> datetime:
    """verify_step_up for an activation's extension: the refusal is an extension.refused."""
    check = mfa.check_code(actor=actor, token=token, stage="activation")
    if check.device is not None:
        return timezone.now()
    refusal = ActivationsRefused([(None, rules.Problem("mfa_invalid", "otp_token", check.error, {}))])
    _record_change_refusals(actor=actor, kind=RequestKind.EXTEND, assignment=assignment, refusal=refusal,
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
        _enter_stage(request, first_stage, now=now)
    _save_pending(request, names={"role": assignment.role.name, "scope": assignment.scope.path, "kind": "extension"})
    record_event(
        actor=actor, action="extension.requested", target=request, justification=justification,
        data={"assignment_id": assignment.pk, "duration_minutes": request.duration_minutes,
              "end_at": assignment.end_at, "approval": needs_approval,
              "ticket": f"{request.ticket_system} {request.ticket_number}".strip()},
    )  # fmt: skip
    if needs_approval:
        _tell_approvers(request, first_stage)
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


def _finish_activation_extension(*, actor, request: ActivationRequest, eligibility, now: datetime):
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
        _settle(request, status=RequestStatus.FAILED, now=now)
        record_event(actor=actor, action="extension.failed", target=request, data={"reason": failure})
        _tell_requester(request, f"could not be granted: {failure}")
        return request
    request.decided_at = now
    request.save(update_fields=["decided_at"])
    _extend_activation(actor=actor, request=request, assignment=assignment)
    new_end = assignment.end_at + timedelta(minutes=request.duration_minutes)
    _tell_requester(request, f"was approved: {request.role.name} is active until {rules.fmt_time(new_end)}.")
    return request


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
            _tell_requester(request, f"could not go ahead: {rules.EXTENSION_TARGET_ENDED}")
        settled += 1
    return settled
