"""The active assignments activations produce (roles.services' side of the workflow in
`activations`): grant, deactivate, extend, and end what a member held through a group they left."""

from datetime import datetime

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from roles import hooks, rules
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment, EligibleAssignment
from roles.services.assignments import (
    ALREADY_ENDED,
    close_lapsed,
    end_now,
    record_expiry,
    save_new,
)

NOT_YOURS = "Only the holder can deactivate this role assignment."


NOT_ACTIVATED = (
    "%(role)s was assigned to you by an administrator, not activated; ask a Privileged Role Administrator to remove it."
)


def grant_activation(
    *, actor, principal, eligibility: EligibleAssignment, start_at: datetime, end_at: datetime, justification: str
) -> ActiveAssignment:
    """The active assignment an activation of `eligibility` by `principal` produces (a member of
    its group, for a group's). The caller (activations.services) has checked the activation
    rules and holds the eligibility's row lock."""
    close_lapsed(ActiveAssignment, principal=principal, role=eligibility.role, scope=eligibility.scope,
                  now=timezone.now())  # fmt: skip
    assignment = ActiveAssignment(
        principal=principal,
        via_group=eligibility.group,
        role=eligibility.role,
        scope=eligibility.scope,
        start_at=start_at,
        end_at=end_at,
        justification=justification,
        created_by=actor,
        source=ActiveSource.ACTIVATION,
    )
    save_new(assignment, code="already_active")
    record_event(
        actor=actor, action="assignment.activated", target=assignment, data={"start_at": start_at, "end_at": end_at}
    )
    hooks.window_set(assignment)
    return assignment


def deactivate_assignment(*, actor, assignment: ActiveAssignment) -> ActiveAssignment:
    """The holder ends an activated role early; access ends at once."""
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .select_related("role", "scope", "principal")
            .get(pk=assignment.pk)
        )
        if assignment.principal_id != actor.pk:
            raise ValidationError(NOT_YOURS, code="not_holder")
        if assignment.source != ActiveSource.ACTIVATION:
            raise ValidationError(NOT_ACTIVATED, code="not_activated", params={"role": assignment.role.name})
        if assignment.ended_at is not None or (assignment.end_at is not None and assignment.end_at <= now):
            raise ValidationError(ALREADY_ENDED, code="already_ended")
        end_now(assignment, actor=actor, now=now, reason=EndReason.DEACTIVATED, action="assignment.deactivated")
    return assignment


EXTEND_NOT_LATER = "The new end (%(end)s) must be later than the current end (%(current)s)."


def extend_activation(*, actor, assignment: ActiveAssignment, end_at: datetime) -> ActiveAssignment:
    """Move an activated role's end later, to `end_at`; audited (assignment.extended, with the
    old and new end) and the expiry schedule follows (hooks.window_set). The caller
    (activations.services) has checked the activation rules: the role's maximum in total, the
    eligibility's end, MFA, justification, approval."""
    now = timezone.now()
    with transaction.atomic():
        assignment = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .select_related("role", "scope", "principal")
            .get(pk=assignment.pk)
        )
        if assignment.source != ActiveSource.ACTIVATION:
            raise ValidationError(NOT_ACTIVATED, code="not_activated", params={"role": assignment.role.name})
        if assignment.ended_at is not None or assignment.end_at <= now:
            raise ValidationError(ALREADY_ENDED, code="already_ended")
        if end_at <= assignment.end_at:
            raise ValidationError(
                {"end_at": ValidationError(EXTEND_NOT_LATER, code="end_not_later", params={
                    "end": rules.fmt_time(end_at), "current": rules.fmt_time(assignment.end_at)})}
            )  # fmt: skip
        old_end = assignment.end_at
        assignment.end_at = end_at
        assignment.save(update_fields=["end_at"])
        record_event(
            actor=actor, action="assignment.extended", target=assignment,
            data={"assignment_type": assignment.kind, "end_at": [old_end, end_at]},
        )  # fmt: skip
        hooks.window_set(assignment)
    return assignment


LEFT_GROUP = "%(user)s is no longer a member of %(group)s."


def end_access_through_group(*, actor, user, group: Group) -> int:
    """`user` has left `group`: end now what they activated through it (access already ended
    with the membership, see AssignmentQuerySet.held_by; this records it). Returns how many."""
    now = timezone.now()
    ended = 0
    with transaction.atomic():
        through = (
            ActiveAssignment.objects.select_for_update(of=("self",))
            .open()
            .filter(principal=user, via_group=group)
            .select_related("role", "scope", "principal", "via_group")
            .order_by("pk")
        )
        reason = LEFT_GROUP % {"user": user.get_username(), "group": group.name}
        for assignment in through:
            if assignment.end_at <= now:
                record_expiry(model=ActiveAssignment, assignment_id=assignment.pk, now=now)
                continue
            end_now(assignment, actor=actor, now=now, reason=EndReason.REMOVED, action="assignment.removed",
                     data={"reason": reason, "via_group": group.name})  # fmt: skip
            ended += 1
    return ended
