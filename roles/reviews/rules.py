"""Pure checks on a review's settings. Each refusal names the field, the rule and the allowed
range; the services call them before anything is written."""

from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from roles.reviews import schedule
from roles.reviews.choices import EndType, NoResponse, Recurrence, ReviewedTypes, ReviewerType
from roles.reviews.models import INACTIVE_DAYS, MAX_EXTRA_RECIPIENTS

NAME_REQUIRED = "Name: required, at most 150 characters."
ROLES_REQUIRED = "Roles: choose at least one role to review."
INACTIVE_DAYS_OUT_OF_RANGE = "Inactive for: from %(low)s to %(high)s days, or empty for every holder; %(value)s given."
REVIEWERS_REQUIRED = "Reviewers: name at least one user or group to review."
FALLBACK_REQUIRED = (
    "Fallback reviewer: required when the role's approvers review; a role without approvers needs someone."
)
START_WITHIN_DAYS = 5 * 365
START_TOO_FAR = "Start date: at most five years ahead (%(latest)s); %(value)s is later."
START_IN_PAST = "Start date: today (%(today)s) or later; %(value)s has passed."
REMINDER_OUT_OF_RANGE = (
    "Reminder: from 1 day before the end to %(high)s days (less than the duration of %(duration)s days), "
    "or empty for no reminders; %(value)s given."
)
TOO_MANY_RECIPIENTS = "Extra recipients: at most %(max)s addresses; %(count)s given."
NOT_AN_ADDRESS = "Extra recipients: '%(value)s' is not an email address; list addresses separated by commas."
NOT_A_CHOICE = "%(label)s: '%(value)s' is not one of %(choices)s."

CHOICES = {
    "assignment_types": ("Assignment types", ReviewedTypes),
    "reviewer_type": ("Reviewers", ReviewerType),
    "recurrence": ("Recurrence", Recurrence),
    "end_type": ("End", EndType),
    "no_response": ("If reviewers don't respond", NoResponse),
}


def schedule_of(values: dict) -> schedule.Schedule:
    return schedule.Schedule(
        start_date=values["start_date"], time_zone=values["time_zone"], duration_days=values["duration_days"],
        recurrence=values["recurrence"], end_type=values["end_type"], end_date=values.get("end_date"),
        end_after_occurrences=values.get("end_after_occurrences"),
    )  # fmt: skip


def check_review(values: dict, *, today: date, starting: bool = True) -> None:
    """Refuse settings a review cannot run with. `values` holds every field; many-to-many ones
    as lists. `starting`: the first occurrence has yet to start, so the start date is checked."""
    errors: dict[str, list[ValidationError]] = {}

    def refuse(field: str, message: str, code: str, **params) -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code, params=params or None))

    for field, (label, choices) in CHOICES.items():
        if values[field] not in choices.values:
            refuse(field, NOT_A_CHOICE, "invalid_choice", label=label, value=values[field],
                   choices=", ".join(choices.values))  # fmt: skip
    if errors:
        raise ValidationError(errors)
    if not values["name"].strip() or len(values["name"]) > 150:
        refuse("name", NAME_REQUIRED, "name_required")
    if not values["roles"]:
        refuse("roles", ROLES_REQUIRED, "roles_required")
    inactive = values.get("inactive_days")
    if inactive is not None and not INACTIVE_DAYS[0] <= inactive <= INACTIVE_DAYS[1]:
        refuse("inactive_days", INACTIVE_DAYS_OUT_OF_RANGE, "inactive_days_out_of_range",
               low=INACTIVE_DAYS[0], high=INACTIVE_DAYS[1], value=inactive)  # fmt: skip
    if values["reviewer_type"] == ReviewerType.USERS and not (values["reviewers"] or values["reviewer_groups"]):
        refuse("reviewers", REVIEWERS_REQUIRED, "reviewers_required")
    if values["reviewer_type"] == ReviewerType.APPROVERS and values.get("fallback_reviewer") is None:
        refuse("fallback_reviewer", FALLBACK_REQUIRED, "fallback_required")
    if starting and values["start_date"] < today:
        refuse("start_date", START_IN_PAST, "start_in_past", today=today, value=values["start_date"])
    elif starting and values["start_date"] > today + timedelta(days=START_WITHIN_DAYS):
        refuse("start_date", START_TOO_FAR, "start_too_far", value=values["start_date"],
               latest=today + timedelta(days=START_WITHIN_DAYS))  # fmt: skip
    try:
        schedule.check_schedule(schedule_of(values))
    except ValidationError as error:
        for field, messages in error.error_dict.items():
            errors.setdefault(field, []).extend(messages)
    reminder = values.get("reminder_days_before")
    if reminder is not None and not 1 <= reminder < values["duration_days"]:
        refuse("reminder_days_before", REMINDER_OUT_OF_RANGE, "reminder_out_of_range",
               high=max(values["duration_days"] - 1, 1), duration=values["duration_days"], value=reminder)  # fmt: skip
    recipients = values.get("extra_recipients") or []
    if len(recipients) > MAX_EXTRA_RECIPIENTS:
        refuse("extra_recipients", TOO_MANY_RECIPIENTS, "too_many_recipients",
               max=MAX_EXTRA_RECIPIENTS, count=len(recipients))  # fmt: skip
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            refuse("extra_recipients", NOT_AN_ADDRESS, "invalid_recipient", value=address)
            break
    if errors:
        raise ValidationError(errors)
