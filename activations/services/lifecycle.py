"""What happens to requests and activated roles over time: cancel, time out, escalate, fail the
ones that can no longer go anywhere, start scheduled activations, deactivate."""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from activations import rules
from activations.choices import RequestKind, RequestStatus
from activations.exceptions import ActivationRefused, AlreadyDecided
from activations.models import ActivationRequest
from activations.services.workflow import (
    action_name,
    settle,
    tell_approvers,
    tell_requester,
)
from audit.services import record_event
from roles import services as role_services
from roles.models import ActiveAssignment
from roles.selectors import (
    stage_of,
)


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
        settle(request, status=RequestStatus.CANCELED, now=timezone.now())
        record_event(actor=actor, action=action_name(request, "canceled"), target=request)
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
            record_event(actor=None, action=action_name(request, "timed_out"), target=request)
            tell_requester(request, "timed out: no approver decided in time. You can ask again.")
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
            record_event(actor=None, action=action_name(request, "escalated"), target=request, data={"stage": stage})
            tell_approvers(request, stage_of(role=request.role, position=stage), escalation=True)
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
                tell_requester(request, f"could not go ahead: {reason}")
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
        tell_requester(request, f"is active now, until {rules.fmt_time(request.assignment.end_at)}.")
    return True


def deactivate(*, actor, assignment: ActiveAssignment) -> ActiveAssignment:
    """The holder ends an activated role early; access ends at once."""
    with transaction.atomic(durable=True):
        return role_services.deactivate_assignment(actor=actor, assignment=assignment)
