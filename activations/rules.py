"""Pure checks of an activation request against the role's settings and the eligibility.
Each problem names its rule, its field and, where there is one, the allowed range."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError

from roles.choices import ActiveSource, EndReason
from roles.rules import JUSTIFICATION_MAX_LENGTH, check_assignment_window, describe_minutes, fmt_time  # noqa: F401  fmt_time is used as rules.fmt_time

MIN_ACTIVATION_MINUTES = 30

NOT_ELIGIBLE = "You are not eligible for %(role)s at %(scope)s at %(when)s."
START_IN_PAST = "The start cannot be in the past; choose now or a later time (it was %(when)s)."
DURATION_OUT_OF_RANGE = "%(role)s can be activated for %(low)s to %(high)s; you asked for %(asked)s."
BEYOND_ELIGIBILITY = (
    "Your eligibility for %(role)s ends at %(end)s; from the start you chose you can activate it for at most %(most)s."
)
JUSTIFICATION_REQUIRED = "%(role)s requires a justification (1 to 500 characters)."
JUSTIFICATION_TOO_LONG = "A justification can be at most 500 characters; this one has %(length)s."
TICKET_PATTERN_MISMATCH = "%(role)s needs a ticket number matching %(pattern)s; %(number)s does not match."
TICKET_REQUIRED = "%(role)s requires ticket information: both the ticket system and the ticket number."
MFA_REQUIRED = (
    "%(role)s requires a verification code: your last one was more than %(minutes)s minutes ago. "
    "Enter the code your authenticator app shows now."
)
ALREADY_ACTIVE = (
    "%(role)s is already active for you at %(scope)s (until %(until)s); extend it instead of activating again."
)
ALREADY_PENDING = "You already have a pending request for %(role)s at %(scope)s; wait for its decision or cancel it."

# Decisions
ALREADY_DECIDED = "This request was already decided: it is %(status)s."
ALREADY_DECIDED_BY_YOU = "You have already decided this request."
OWN_REQUEST = "You cannot approve or deny your own request."
NOT_APPROVER = "You are not an approver of %(role)s, so you cannot decide this request."
DENY_NEEDS_JUSTIFICATION = "Say why you deny the request (1 to 500 characters)."
TIMED_OUT = "This request timed out at %(deadline)s without a decision; the requester must ask again."
ELIGIBILITY_ENDED = "%(requester)s is no longer eligible for %(role)s at %(scope)s, so the request cannot be granted."

# Cancel
NOT_YOUR_REQUEST = "Only the requester can cancel this request."


@dataclass(frozen=True)
class Problem:
    rule: str
    field: str | None
    message: str
    params: dict


def check_activation(
    *,
    eligibility,
    actor,
    now: datetime,
    start: datetime,
    duration: timedelta,
    justification: str,
    ticket_system: str,
    ticket_number: str,
    mfa_fresh: bool,
) -> list[Problem]:
    """Everything wrong with activating `eligibility` as asked; empty when it may go ahead."""
    role, scope = eligibility.role, eligibility.scope
    role_settings = role.settings
    names = {"role": role.name, "scope": scope.path}
    if not eligibility.is_held_by(actor) or not eligibility.is_in_effect(start):
        return [Problem("not_eligible", None, NOT_ELIGIBLE, {**names, "when": fmt_time(start)})]
    problems = []
    minutes = int(duration.total_seconds() // 60)
    high = role_settings.activation_max_minutes
    if not MIN_ACTIVATION_MINUTES <= minutes <= high:
        problems.append(Problem("duration_out_of_range", "duration", DURATION_OUT_OF_RANGE, {
            **names, "low": describe_minutes(MIN_ACTIVATION_MINUTES), "high": describe_minutes(high),
            "asked": describe_minutes(minutes)}))  # fmt: skip
    elif eligibility.end_at is not None and start + duration > eligibility.end_at:
        most = int((eligibility.end_at - start).total_seconds() // 60)
        problems.append(Problem("beyond_eligibility", "duration", BEYOND_ELIGIBILITY, {
            **names, "end": fmt_time(eligibility.end_at), "most": describe_minutes(max(most, 0))}))  # fmt: skip
    if role_settings.require_justification_on_activation and not justification.strip():
        problems.append(Problem("justification_required", "justification", JUSTIFICATION_REQUIRED, names))
    if len(justification) > JUSTIFICATION_MAX_LENGTH:
        problems.append(Problem("justification_too_long", "justification", JUSTIFICATION_TOO_LONG,
                                {"length": len(justification)}))  # fmt: skip
    if role_settings.require_ticket_on_activation and not (ticket_system.strip() and ticket_number.strip()):
        problems.append(Problem("ticket_required", "ticket_number", TICKET_REQUIRED, names))
    elif (
        role_settings.require_ticket_on_activation
        and role_settings.ticket_number_pattern
        and not re.fullmatch(role_settings.ticket_number_pattern, ticket_number.strip())
    ):
        problems.append(Problem("ticket_number_mismatch", "ticket_number", TICKET_PATTERN_MISMATCH,
                                {**names, "pattern": role_settings.ticket_number_pattern,
                                 "number": ticket_number.strip()[:50]}))  # fmt: skip
    if role_settings.require_mfa_on_activation and not mfa_fresh:
        problems.append(Problem("mfa_required", "otp_token", MFA_REQUIRED,
                                {**names, "minutes": settings.PIM_MFA_MAX_AGE}))  # fmt: skip
    return problems


# Extend and renew ----------------------------------------------------------------------------
# Entra's windows: an assignment may be extended from 14 days before its end, and renewed up
# to 30 days after it expired; an administrator decides within 14 days. An activated role is
# extended by its holder within the role's activation maximum, counted in total.

EXTEND_FROM_DAYS = 14
RENEW_UNTIL_DAYS = 30
DECIDE_WITHIN_DAYS = 14

NOT_YOUR_ASSIGNMENT = "Only its holder can ask to %(verb)s it: %(role)s at %(scope)s is assigned to %(holder)s."
EXTEND_ACTIVATION_INSTEAD = (
    "%(role)s at %(scope)s is activated, not assigned by an administrator; extend the activation from My roles, "
    "within the role's maximum duration."
)
EXTEND_PERMANENT = "%(role)s at %(scope)s is permanent; there is nothing to extend."
EXTEND_TOO_EARLY = (
    "%(role)s at %(scope)s ends at %(end)s; you can ask to extend it from %(days)s days before its end, "
    "that is from %(from)s."
)
EXTEND_ENDED = (
    "%(role)s at %(scope)s has already ended (%(end)s); ask to renew it instead, within %(days)s days after its end."
)
RENEW_ACTIVATION = "%(role)s at %(scope)s was activated; activate it again instead of renewing it."
RENEW_NOT_ENDED = (
    "%(role)s at %(scope)s has not ended yet (it ends %(end)s); ask to extend it instead, "
    "from %(days)s days before its end."
)
RENEW_NOT_EXPIRED = "%(role)s at %(scope)s was %(reason)s, not expired; only an expired assignment can be renewed."
RENEW_TOO_LATE = (
    "%(role)s at %(scope)s ended at %(end)s; it could be renewed for %(days)s days after its end, until %(until)s. "
    "Ask a Privileged Role Administrator for a new assignment."
)
HELD_AGAIN = "You hold %(role)s at %(scope)s again (%(kind)s, %(until)s); there is nothing to renew."
CHANGE_PENDING = (
    "You already have a pending %(kind)s request for %(role)s at %(scope)s; wait for its decision or cancel it."
)
CHANGE_JUSTIFICATION_REQUIRED = "Say why you need %(role)s longer (1 to 500 characters)."
REQUESTED_END_NOT_LATER = "The end you ask for (%(end)s) must be later than the current end (%(current)s)."
REQUESTED_END_IN_PAST = "The end you ask for (%(end)s) must be in the future."
NOTHING_TO_GAIN = (
    "%(role)s allows %(kind)s assignments of at most %(days)s days from now, which is no later than the current "
    "end (%(end)s); there is nothing to extend yet."
)
# Deciding an extension or renewal
NOT_ADMINISTRATOR = (
    "Only an active Privileged Role Administrator or Global Administrator can decide extension and renewal requests."
)
DECIDED_END_NOT_LATER = "The new end (%(end)s) must be later than the current end (%(current)s)."
DECIDED_END_IN_PAST = "The new end (%(end)s) must be in the future."
EXTENSION_TARGET_ENDED = "The assignment this request would extend has ended, so it can no longer be extended."

# Extending an activation
NOT_ACTIVATED = (
    "%(role)s at %(scope)s was assigned by an administrator, not activated; ask to extend the assignment instead, "
    "from %(days)s days before its end."
)
ACTIVATION_NOT_IN_EFFECT = (
    "%(role)s at %(scope)s is not active now (%(state)s); only an activation in effect can be extended."
)
EXTENSION_AT_MAXIMUM = (
    "%(role)s allows at most %(high)s in total, and %(granted)s are already granted, so it cannot be extended; "
    "activate it again after it ends."
)
EXTENSION_BEYOND_MAXIMUM = (
    "%(role)s allows at most %(high)s in total; %(granted)s are already granted, so you can add at most %(left)s."
)
EXTENSION_TOO_SHORT = "Extend by at least 1 min; %(role)s can be extended by at most %(left)s."
EXTENSION_BEYOND_ELIGIBILITY = (
    "Your eligibility for %(role)s ends at %(end)s; you can extend this activation by at most %(most)s."
)
EXTENSION_END_CHANGED = (
    "%(role)s was extended meanwhile: it is active until %(end)s, not %(seen)s. Nothing was added; "
    "extend it again if you still need more time."
)
ACTIVATION_ENDED_BEFORE_DECISION = (
    "The activation of %(role)s at %(scope)s ended before the decision, so it could not be extended."
)
# check_activation's rules about a new activation's window; an extension has its own (above).
ACTIVATION_WINDOW_RULES = frozenset({"duration_out_of_range", "beyond_eligibility"})


def _names(assignment) -> dict:
    return {"role": assignment.role.name, "scope": assignment.scope.path}


def _describe_end(end: datetime | None) -> str:
    return "permanently" if end is None else f"until {fmt_time(end)}"


def default_assignment_end(*, role_settings, kind: str, now: datetime) -> datetime | None:
    """The end an extension or renewal asks for when the holder names none: permanent if the
    role allows it for this assignment type ("eligible" or "active"), else its maximum from now."""
    if kind == "eligible":
        allow_permanent, days = role_settings.allow_permanent_eligible, role_settings.max_eligible_days
    else:
        allow_permanent, days = role_settings.allow_permanent_active, role_settings.max_active_days
    return None if allow_permanent else now + timedelta(days=days)


def check_extension(
    *, assignment, actor, now: datetime, role_settings, justification: str, end: datetime | None,
    end_is_default: bool, pending: bool,
) -> list[Problem]:  # fmt: skip
    """Everything wrong with asking to extend an eligible or administrator-made active
    assignment to `end`; empty when the request may go to the administrators."""
    names = _names(assignment)
    if assignment.principal_id != actor.pk:
        return [Problem("not_holder", None, NOT_YOUR_ASSIGNMENT, {**names, "verb": "extend",
                                                                   "holder": assignment.holder_name})]  # fmt: skip
    if getattr(assignment, "source", None) == ActiveSource.ACTIVATION:
        return [Problem("activation_extends_itself", None, EXTEND_ACTIVATION_INSTEAD, names)]
    if assignment.ended_at is not None or (assignment.end_at is not None and assignment.end_at <= now):
        ended = assignment.ended_at or assignment.end_at
        return [Problem("already_ended", None, EXTEND_ENDED, {**names, "end": fmt_time(ended),
                                                              "days": RENEW_UNTIL_DAYS})]  # fmt: skip
    if assignment.end_at is None:
        return [Problem("permanent", None, EXTEND_PERMANENT, names)]
    opens = assignment.end_at - timedelta(days=EXTEND_FROM_DAYS)
    if now < opens:
        when = {"end": fmt_time(assignment.end_at), "days": EXTEND_FROM_DAYS, "from": fmt_time(opens)}
        return [Problem("extend_too_early", None, EXTEND_TOO_EARLY, {**names, **when})]
    problems = _change_problems(assignment, kind="extension", pending=pending, justification=justification)
    if end is not None and end <= assignment.end_at:
        if end_is_default:
            days = role_settings.max_eligible_days if assignment.kind == "eligible" else role_settings.max_active_days
            problems.append(Problem("nothing_to_gain", "requested_end_at", NOTHING_TO_GAIN, {
                **names, "kind": assignment.kind, "days": days, "end": fmt_time(assignment.end_at)}))  # fmt: skip
        else:
            problems.append(Problem("requested_end_not_later", "requested_end_at", REQUESTED_END_NOT_LATER,
                                    {"end": fmt_time(end), "current": fmt_time(assignment.end_at)}))  # fmt: skip
        return problems
    return problems + window_problems(role_settings=role_settings, kind=assignment.kind, now=now, end=end,
                                      field="requested_end_at")  # fmt: skip


def check_renewal(
    *, assignment, actor, now: datetime, role_settings, justification: str, end: datetime | None, pending: bool,
    held_again=None,
) -> list[Problem]:  # fmt: skip
    """Everything wrong with asking to renew an eligible or administrator-made active
    assignment that expired, up to `end`. `held_again`: an open assignment of the same
    holder, role and scope, if there is one."""
    names = _names(assignment)
    if assignment.principal_id != actor.pk:
        return [Problem("not_holder", None, NOT_YOUR_ASSIGNMENT, {**names, "verb": "renew",
                                                                   "holder": assignment.holder_name})]  # fmt: skip
    if getattr(assignment, "source", None) == ActiveSource.ACTIVATION:
        return [Problem("activation_renews_itself", None, RENEW_ACTIVATION, names)]
    ended_early = assignment.ended_at is not None and assignment.end_reason != EndReason.EXPIRED
    if ended_early:
        reason = "deactivated" if assignment.end_reason == EndReason.DEACTIVATED else "removed by an administrator"
        return [Problem("not_expired", None, RENEW_NOT_EXPIRED, {**names, "reason": reason})]
    if assignment.end_at is None or assignment.end_at > now:
        return [Problem("not_ended", None, RENEW_NOT_ENDED, {**names, "end": _describe_end(assignment.end_at),
                                                             "days": EXTEND_FROM_DAYS})]  # fmt: skip
    closes = assignment.end_at + timedelta(days=RENEW_UNTIL_DAYS)
    if now > closes:
        when = {"end": fmt_time(assignment.end_at), "days": RENEW_UNTIL_DAYS, "until": fmt_time(closes)}
        return [Problem("renew_too_late", None, RENEW_TOO_LATE, {**names, **when})]
    if held_again is not None:
        return [Problem("held_again", None, HELD_AGAIN, {**names, "kind": held_again.kind,
                                                         "until": _describe_end(held_again.end_at)})]  # fmt: skip
    problems = _change_problems(assignment, kind="renewal", pending=pending, justification=justification)
    if end is not None and end <= now:
        return problems + [Problem("requested_end_in_past", "requested_end_at", REQUESTED_END_IN_PAST,
                                   {"end": fmt_time(end)})]  # fmt: skip
    return problems + window_problems(role_settings=role_settings, kind=assignment.kind, now=now, end=end,
                                      field="requested_end_at")  # fmt: skip


def _change_problems(assignment, *, kind: str, pending: bool, justification: str) -> list[Problem]:
    names = _names(assignment)
    problems = []
    if pending:
        problems.append(Problem("already_pending", None, CHANGE_PENDING, {**names, "kind": kind}))
    if not justification.strip():
        problems.append(Problem("justification_required", "justification", CHANGE_JUSTIFICATION_REQUIRED, names))
    elif len(justification) > JUSTIFICATION_MAX_LENGTH:
        problems.append(Problem("justification_too_long", "justification", JUSTIFICATION_TOO_LONG,
                                {"length": len(justification)}))  # fmt: skip
    return problems


def window_problems(*, role_settings, kind: str, now: datetime, end: datetime | None, field: str) -> list[Problem]:
    """The role's assignment rules (permanence, maximum days) for a window from `now` to `end`:
    roles.rules.check_assignment_window, as problems under `field`. An extension or renewal
    is a fresh window, counted from now (the moment it is asked for, and again when decided).
    The justification is checked on its own (_change_problems), so only the window counts here."""
    try:
        check_assignment_window(role_settings=role_settings, kind=kind, start_at=now, end_at=end,
                                justification="(checked on its own)")  # fmt: skip
    except ValidationError as refusal:
        return [Problem(error.code, field, error.message, error.params or {})
                for error in refusal.error_dict.get("end_at", [])]  # fmt: skip
    return []


def check_decided_end(*, request_kind: str, assignment, role_settings, now: datetime, end: datetime | None):
    """What is wrong with the end an administrator approves an extension or renewal with."""
    if end is not None and end <= now:
        return [Problem("end_in_past", "end_at", DECIDED_END_IN_PAST, {"end": fmt_time(end)})]
    if request_kind == "extend" and assignment.end_at is not None and end is not None and end <= assignment.end_at:
        return [Problem("end_not_later", "end_at", DECIDED_END_NOT_LATER,
                        {"end": fmt_time(end), "current": fmt_time(assignment.end_at)})]  # fmt: skip
    return window_problems(role_settings=role_settings, kind=assignment.kind, now=now, end=end, field="end_at")


def check_activation_extension(
    *, assignment, eligibility, actor, now: datetime, duration: timedelta, justification: str, ticket_system: str,
    ticket_number: str, mfa_fresh: bool, pending: bool,
) -> list[Problem]:  # fmt: skip
    """Everything wrong with extending an activated role by `duration`: the holder's own, in
    effect now, within the role's maximum in total and the eligibility's end, and the same
    requirements as activating it (justification, ticket and its pattern, a fresh code)."""
    names = _names(assignment)
    if assignment.principal_id != actor.pk:
        return [Problem("not_holder", None, NOT_YOUR_ASSIGNMENT, {**names, "verb": "extend",
                                                                   "holder": assignment.holder_name})]  # fmt: skip
    if assignment.source != ActiveSource.ACTIVATION or eligibility is None:
        return [Problem("not_activated", None, NOT_ACTIVATED, {**names, "days": EXTEND_FROM_DAYS})]
    if not assignment.is_in_effect(now):
        state = f"it starts at {fmt_time(assignment.start_at)}" if assignment.start_at > now else "it has ended"
        return [Problem("not_in_effect", None, ACTIVATION_NOT_IN_EFFECT, {**names, "state": state})]
    problems = []
    if pending:
        problems.append(Problem("already_pending", None, CHANGE_PENDING, {**names, "kind": "extension"}))
    problems += activation_extension_window_problems(
        assignment=assignment, eligibility=eligibility, role_settings=assignment.role.settings, duration=duration
    )
    # The requirements of activating, as check_activation states them. Its rules about a new
    # activation's window speak of a fresh start and duration; the ones above replace them.
    same_as_activating = check_activation(
        eligibility=eligibility, actor=actor, now=now, start=now, duration=duration, justification=justification,
        ticket_system=ticket_system, ticket_number=ticket_number, mfa_fresh=mfa_fresh,
    )  # fmt: skip
    return problems + [problem for problem in same_as_activating if problem.rule not in ACTIVATION_WINDOW_RULES]


def activation_extension_window_problems(*, assignment, eligibility, role_settings, duration: timedelta):
    """The role's activation maximum, counted from the activation's start to its new end, and
    the eligibility's end. Checked when asked and again when the last approval comes."""
    names = _names(assignment)
    minutes = int(duration.total_seconds() // 60)
    high = role_settings.activation_max_minutes
    granted = int((assignment.end_at - assignment.start_at).total_seconds() // 60)
    left = high - granted
    amounts = {**names, "high": describe_minutes(high), "granted": describe_minutes(granted),
               "left": describe_minutes(max(left, 0))}  # fmt: skip
    if left <= 0:
        return [Problem("at_maximum", "duration", EXTENSION_AT_MAXIMUM, amounts)]
    if minutes < 1:
        return [Problem("duration_out_of_range", "duration", EXTENSION_TOO_SHORT, amounts)]
    if minutes > left:
        return [Problem("beyond_maximum", "duration", EXTENSION_BEYOND_MAXIMUM, amounts)]
    if eligibility.end_at is not None and assignment.end_at + duration > eligibility.end_at:
        most = int((eligibility.end_at - assignment.end_at).total_seconds() // 60)
        return [Problem("beyond_eligibility", "duration", EXTENSION_BEYOND_ELIGIBILITY, {
            **names, "end": fmt_time(eligibility.end_at), "most": describe_minutes(max(most, 0))})]  # fmt: skip
    return []
