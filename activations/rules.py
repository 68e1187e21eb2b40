"""Pure checks of an activation request against the role's settings and the eligibility.
Each problem names its rule, its field and, where there is one, the allowed range."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from roles.rules import JUSTIFICATION_MAX_LENGTH, describe_minutes, fmt_time  # noqa: F401  fmt_time is used as rules.fmt_time

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
