"""The just-in-time workflow: activate (one or many roles), decide, cancel, time out,
deactivate. One function per change: keyword-only arguments, acting user first, its own
durable transaction, rows locked, audit events inside; mail and schedules after commit."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from activations import mfa, notifications, rules, scheduling
from activations.choices import Decision, RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest, Approval
from audit import context
from audit.services import record_event
from roles import services as role_services
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment, RoleSettings
from roles.selectors import administrators_to_notify, may_decide_at_stage, stage_deciders, stage_of


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
    notifications.notify(
        role=request.role,
        audience="approver",
        action_required=True,
        link=notifications.request_link(request),
        recipients=recipients,
        subject=f"[PIM] {request.requester.get_username()} asks to activate {request.role.name}{where}",
        body=(
            f"{why}{request.requester.get_full_name() or request.requester.get_username()} asks to activate "
            f"{request.role.name} at {request.scope.path} for {request.duration_minutes} minutes{where}.\n\n"
            f"Justification: {request.justification or '(none)'}\n"
            f"Ticket: {request.ticket_system} {request.ticket_number}\n\n"
            f"Decide before {rules.fmt_time(request.decide_by)}: {notifications.request_link(request)}\n"
        ),
    )


# Decide ----------------------------------------------------------------------------------


def decide_request(*, actor, request: ActivationRequest, decision: str, justification: str = "") -> ActivationRequest:
    """One approver's approve or deny. Re-checked under the request's row lock: still pending,
    not the requester's own, the actor an approver of the role at this moment, and not
    decided by them before. Enough distinct approvals grant the role; any deny ends it."""
    try:
        with transaction.atomic(durable=True):
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
        record_event(actor=actor, action="activation.denied", target=request, justification=justification)
        _tell_requester(request, f"was denied by {actor.get_username()}: {justification}")
        return request

    # Counted under the request's lock: of two approvers deciding at once, the second sees the first.
    approvals = request.approvals.filter(stage=request.stage, decision=Decision.APPROVE).count()
    required = stage.approvals_required
    record_event(
        actor=actor, action="activation.approved", target=request, justification=justification,
        data={"approval_id": approval.pk, "stage": request.stage, "approvals": approvals, "required": required},
    )  # fmt: skip
    if approvals < required:
        return request
    next_stage = stage_of(role=request.role, position=request.stage + 1)
    if next_stage is not None:
        _enter_stage(request, next_stage, now=now)
        request.save(update_fields=["stage", "decide_by", "escalates_at", "escalated_at"])
        record_event(actor=actor, action="activation.stage_passed", target=request,
                     data={"stage": stage.position, "next_stage": next_stage.position,
                           "decide_by": request.decide_by})  # fmt: skip
        _tell_approvers(request, next_stage)
        return request

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
        body=f"Your request to activate {request.role.name} at {request.scope.path} {what}\n\n"
        f"{notifications.request_link(request)}\n",
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
        record_event(actor=actor, action="activation.canceled", target=request)
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
            record_event(actor=None, action="activation.timed_out", target=request)
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
            record_event(actor=None, action="activation.escalated", target=request, data={"stage": stage})
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
    pending = ActivationRequest.objects.filter(status=RequestStatus.PENDING_APPROVAL).filter(eligibility_over)
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
