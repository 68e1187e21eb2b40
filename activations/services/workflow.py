"""What the workflow's services share: the refusal they raise, entering an approval stage,
telling approvers and requesters, granting an approved activation, settling a request."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from activations import alert_rules, notifications, rules, scheduling
from activations.choices import RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest
from audit.services import record_event
from roles import services as role_services
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment
from roles.selectors import (
    administrators_to_notify,
    stage_deciders,
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


def record_refusals(*, actor, refusal: "ActivationsRefused", justification: str) -> None:
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


def lock_holdings(eligibilities: Sequence[EligibleAssignment], *, holder) -> None:
    """Lock the open active assignments of these eligibilities' roles, before the first audit
    event. record_event holds the audit chain head until commit; grant_activation may then close
    a lapsed one, while the expiry task holds that row and waits for the head: a deadlock."""
    holdings = Q(pk__in=[])
    for eligibility in eligibilities:
        holdings |= Q(principal_id=holder.pk, role_id=eligibility.role_id, scope_id=eligibility.scope_id)
    list(ActiveAssignment.objects.select_for_update().open().filter(holdings).order_by("pk").values_list("pk"))


def grant(*, actor, request: ActivationRequest, eligibility: EligibleAssignment, now: datetime) -> None:
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
    alert_administrators(request, assignment)
    # "Activated too frequently" within seconds, not at the next scan; robust: an alert that
    # fails must not fail the activation, which has committed by then.
    transaction.on_commit(alert_rules.activation_granted, robust=True)
    # The expiry schedule comes from the roles hook (activations.apps); the start is ours.
    if start > now:
        transaction.on_commit(lambda: scheduling.schedule_start(request))


def alert_administrators(request: ActivationRequest, assignment: ActiveAssignment) -> None:
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


def enter_stage(request: ActivationRequest, stage: ApprovalStage, *, now: datetime) -> None:
    """The request now waits in `stage`: its deadline and escalation time are fixed from the
    stage's settings at this moment (who may decide is read again at each decision)."""
    request.stage = stage.position
    request.decide_by = now + timedelta(minutes=stage.timeout_minutes)
    request.escalates_at = (
        now + timedelta(minutes=stage.escalate_after_minutes) if stage.escalate_after_minutes is not None else None
    )
    request.escalated_at = None


def tell_approvers(request: ActivationRequest, stage: ApprovalStage | None, *, escalation: bool = False) -> None:
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


def settle(request: ActivationRequest, *, status: str, now: datetime) -> None:
    request.status = status
    request.decided_at = now
    request.save(update_fields=["status", "decided_at", "status_reason"])


def tell_requester(request: ActivationRequest, what: str) -> None:
    notifications.notify(
        role=request.role,
        audience="assignee",
        link=notifications.request_link(request),
        recipients=[request.requester],
        subject=f"[PIM] Your request for {request.role.name} {what.split(':')[0].split(';')[0]}",
        body=f"Your request to {request.get_kind_display().lower()} {request.role.name} at {request.scope.path} "
        f"{what}\n\n{notifications.request_link(request)}\n",
    )


EVENT_NOUNS = {
    RequestKind.ACTIVATE: "activation",
    RequestKind.DEACTIVATE: "deactivation",
    RequestKind.EXTEND: "extension",
    RequestKind.RENEW: "renewal",
}


def action_name(request: ActivationRequest, verb: str) -> str:
    """The audit action of a step of `request`, named after its kind."""
    return f"{EVENT_NOUNS[request.kind]}.{verb}"


def save_pending(request: ActivationRequest, *, names: dict) -> None:
    """Insert a pending request; the one-pending constraints turn a double submit that got past
    the check (SQLite has no row locks) into the same refusal."""
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        problem = rules.Problem("already_pending", None, rules.CHANGE_PENDING, names)
        raise ActivationsRefused([(None, problem)]) from None


def record_change_refusals(*, actor, kind: str, assignment, refusal: ActivationsRefused, justification: str) -> None:
    for _, problem in refusal.problems:
        record_event(
            actor=actor,
            action=f"{EVENT_NOUNS[kind]}.refused",
            target=assignment,
            justification=justification[: rules.JUSTIFICATION_MAX_LENGTH],
            data={"rule": problem.rule, "message": problem.message % problem.params if problem.params else
                  problem.message},
        )  # fmt: skip


def lock_pending_for_decision(request: ActivationRequest, *, actor) -> ActivationRequest:
    """The request, locked, still waiting for a decision, and not `actor`'s own: what every
    decision (an approver's or an administrator's) checks first."""
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
    return request
