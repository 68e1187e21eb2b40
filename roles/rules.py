"""Pure checks on role settings and assignments. Each refusal names the field, the rule and
the allowed range; messages are constants so that tests and API clients can rely on them."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Bound:
    field: str
    label: str
    low: int
    high: int
    unit: str  # "minutes", "days", "approvals"

    def describe(self, value: int) -> str:
        return _describe(value, self.unit)


def fmt_time(value: datetime) -> str:
    """How a moment reads in every message and mail: UTC, to the minute."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_minutes(minutes: int) -> str:
    """90 -> '1 h 30 min': how durations read in every message."""
    return _describe(minutes, "minutes")


def describe_duration(delta: timedelta) -> str:
    """A short wait as pages show it: "under 1 s", "4 s", "2 min 3 s", "1 h 5 min"."""
    if delta.total_seconds() < 1:
        return "under 1 s"
    seconds = round(delta.total_seconds())
    hours, minutes, seconds = seconds // 3600, seconds % 3600 // 60, seconds % 60
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return (f"{minutes} min {seconds} s" if seconds else f"{minutes} min") if minutes else f"{seconds} s"


def _describe(value: int, unit: str) -> str:
    if unit == "minutes":
        hours, minutes = divmod(value, 60)
        if hours and minutes:
            return f"{hours} h {minutes} min"
        if hours:
            return f"{hours} h" if hours < 48 or hours % 24 else f"{hours // 24} days"
        return f"{minutes} min"
    if value == 1:
        return f"1 {unit.removesuffix('s')}"  # "1 day", "1 approval"
    return f"{value} {unit}"


ROLE_SETTINGS_BOUNDS = (
    Bound("activation_max_minutes", "Activation maximum duration", 30, 24 * 60, "minutes"),
    Bound("max_eligible_days", "Maximum eligible assignment duration", 1, 3650, "days"),
    Bound("max_active_days", "Maximum active assignment duration", 1, 3650, "days"),
)
STAGE_BOUNDS = (
    Bound("approvals_required", "Approvals required", 1, 25, "approvals"),
    Bound("timeout_minutes", "Approval timeout", 60, 14 * 24 * 60, "minutes"),
)
BOUNDS_BY_FIELD = {bound.field: bound for bound in (*ROLE_SETTINGS_BOUNDS, *STAGE_BOUNDS)}
MAX_STAGES = 5
ESCALATION_MIN_MINUTES = 30

OUT_OF_RANGE = "%(label)s must be between %(low)s and %(high)s; it is %(value)s."
APPROVERS_REQUIRED = "Require approval needs at least one approval stage with an approver (a user or a group)."
STAGE_WITHOUT_APPROVERS = "Stage %(stage)s needs at least one approver (a user or a group)."
TOO_FEW_APPROVERS = (
    "Stage %(stage)s: approvals required is %(required)s, but only %(available)s approver(s) are named; "
    "name at least as many approvers as approvals required, or an approver group."
)
TOO_MANY_STAGES = "A role has at most %(max)s approval stages; %(count)s were given."
ESCALATION_OUT_OF_RANGE = (
    "Stage %(stage)s: escalate after must be at least %(low)s and less than the stage's approval timeout "
    "(%(timeout)s); it is %(value)s."
)
ESCALATION_WITHOUT_APPROVERS = "Stage %(stage)s: escalation needs at least one escalation approver (a user or a group)."
ESCALATION_WITHOUT_TIME = "Stage %(stage)s: escalation approvers need an 'escalate after' time."


def range_error(bound: Bound, value: int, *, stage: int | None = None) -> ValidationError:
    return ValidationError(
        OUT_OF_RANGE,
        code=f"{bound.field}_out_of_range",
        params={
            "label": bound.label if stage is None else f"Stage {stage}: {bound.label.lower()}",
            "low": bound.describe(bound.low),
            "high": bound.describe(bound.high),
            "value": bound.describe(value),
            **({"stage": stage, "field": bound.field} if stage is not None else {}),
        },
    )


PATTERN_INVALID = "Ticket number pattern is not a valid regular expression (%(error)s); e.g. ^INC-\\d{4,}$."


def check_role_settings(values: dict) -> None:
    """Raise one ValidationError carrying every field that breaks its range."""
    errors: dict[str, list[ValidationError]] = {}
    for bound in ROLE_SETTINGS_BOUNDS:
        value = values.get(bound.field)
        if value is None:
            continue
        if not bound.low <= value <= bound.high:
            errors.setdefault(bound.field, []).append(range_error(bound, value))
    pattern = values.get("ticket_number_pattern") or ""
    try:
        re.compile(pattern)
    except re.error as error:
        errors.setdefault("ticket_number_pattern", []).append(
            ValidationError(PATTERN_INVALID, code="ticket_number_pattern_invalid", params={"error": str(error)})
        )
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class StagePlan:
    """What one approval stage should be; `roles.services.update_role_settings` takes a list,
    in order. Approvers are users, groups are Django auth groups."""

    approvers: tuple = ()
    approver_groups: tuple = ()
    approvals_required: int = 1
    timeout_minutes: int = 24 * 60
    escalate_after_minutes: int | None = None
    escalation_approvers: tuple = ()
    escalation_groups: tuple = ()

    def names(self) -> dict:
        """How the stage reads in an audit event: names, not ids."""
        return {
            "approvers": sorted(user.get_username() for user in self.approvers),
            "approver_groups": sorted(group.name for group in self.approver_groups),
            "approvals_required": self.approvals_required,
            "timeout_minutes": self.timeout_minutes,
            "escalate_after_minutes": self.escalate_after_minutes,
            "escalation_approvers": sorted(user.get_username() for user in self.escalation_approvers),
            "escalation_groups": sorted(group.name for group in self.escalation_groups),
        }


def _stage_error(message: str, code: str, **params) -> ValidationError:
    return ValidationError(message, code=code, params=params)


def check_stages(*, require_approval: bool, stages: list[StagePlan]) -> None:
    """Raise one ValidationError under "stages" listing every problem, each naming its stage.
    Groups can hold any number of members, so "as many approvers as approvals" counts only
    when a stage names no group."""
    errors: list[ValidationError] = []
    if len(stages) > MAX_STAGES:
        errors.append(_stage_error(TOO_MANY_STAGES, "too_many_stages", max=MAX_STAGES, count=len(stages)))
    if require_approval and not stages:
        errors.append(_stage_error(APPROVERS_REQUIRED, "approvers_required"))
    for number, stage in enumerate(stages, start=1):
        for bound in STAGE_BOUNDS:
            value = getattr(stage, bound.field)
            if not bound.low <= value <= bound.high:
                errors.append(range_error(bound, value, stage=number))
        if not stage.approvers and not stage.approver_groups:
            errors.append(_stage_error(STAGE_WITHOUT_APPROVERS, "approvers_required", stage=number, field="approvers"))
        elif not stage.approver_groups and len(stage.approvers) < stage.approvals_required:
            errors.append(_stage_error(TOO_FEW_APPROVERS, "too_few_approvers", stage=number,
                                       field="approvals_required", required=stage.approvals_required,
                                       available=len(stage.approvers)))  # fmt: skip
        escalates = stage.escalate_after_minutes is not None
        named = bool(stage.escalation_approvers or stage.escalation_groups)
        if escalates and not ESCALATION_MIN_MINUTES <= stage.escalate_after_minutes < stage.timeout_minutes:
            errors.append(_stage_error(ESCALATION_OUT_OF_RANGE, "escalation_out_of_range", stage=number,
                                       field="escalate_after_minutes",
                                       low=describe_minutes(ESCALATION_MIN_MINUTES),
                                       timeout=describe_minutes(stage.timeout_minutes),
                                       value=describe_minutes(stage.escalate_after_minutes)))  # fmt: skip
        if escalates and not named:
            errors.append(_stage_error(ESCALATION_WITHOUT_APPROVERS, "escalation_without_approvers", stage=number,
                                       field="escalation_approvers"))  # fmt: skip
        if named and not escalates:
            errors.append(_stage_error(ESCALATION_WITHOUT_TIME, "escalation_without_time", stage=number,
                                       field="escalate_after_minutes"))  # fmt: skip
    if errors:
        raise ValidationError({"stages": errors})


# Assignments ---------------------------------------------------------------------------

END_BEFORE_START = "The end (%(end)s) must be after the start (%(start)s)."
PERMANENT_NOT_ALLOWED = (
    "%(role)s does not allow permanent %(kind)s assignments; set an end at most %(days)s days after the start."
)
TOO_LONG = "%(role)s allows %(kind)s assignments of at most %(days)s days; this one lasts %(asked)s days."
JUSTIFICATION_REQUIRED = "%(role)s requires a justification for active assignments (1 to 500 characters)."
JUSTIFICATION_TOO_LONG = "A justification can be at most 500 characters; this one has %(length)s."
JUSTIFICATION_MAX_LENGTH = 500


def check_assignment_window(
    *, role_settings, kind: str, start_at: datetime, end_at: datetime | None, justification: str
) -> None:
    """The rules an administrator's assignment must meet: window, permanence, justification.
    `kind` is "eligible" or "active"."""
    role = role_settings.role.name
    if end_at is not None and end_at <= start_at:
        raise ValidationError(
            {
                "end_at": ValidationError(
                    END_BEFORE_START,
                    code="end_before_start",
                    params={"start": start_at.isoformat(), "end": end_at.isoformat()},
                )
            }
        )
    allow_permanent = (
        role_settings.allow_permanent_eligible if kind == "eligible" else role_settings.allow_permanent_active
    )
    max_days = role_settings.max_eligible_days if kind == "eligible" else role_settings.max_active_days
    if end_at is None and not allow_permanent:
        raise ValidationError(
            {
                "end_at": ValidationError(
                    PERMANENT_NOT_ALLOWED,
                    code="permanent_not_allowed",
                    params={"role": role, "kind": kind, "days": max_days},
                )
            }
        )
    if end_at is not None and not allow_permanent and end_at - start_at > timedelta(days=max_days):
        asked = round((end_at - start_at) / timedelta(days=1), 1)
        raise ValidationError(
            {
                "end_at": ValidationError(
                    TOO_LONG,
                    code="assignment_too_long",
                    params={"role": role, "kind": kind, "days": max_days, "asked": asked},
                )
            }
        )
    check_justification(
        justification,
        required=kind == "active" and role_settings.require_justification_on_active_assignment,
        role=role,
    )


def check_justification(justification: str, *, required: bool, role: str) -> None:
    if required and not justification.strip():
        raise ValidationError(
            {
                "justification": ValidationError(
                    JUSTIFICATION_REQUIRED, code="justification_required", params={"role": role}
                )
            }
        )
    if len(justification) > JUSTIFICATION_MAX_LENGTH:
        raise ValidationError(
            {
                "justification": ValidationError(
                    JUSTIFICATION_TOO_LONG, code="justification_too_long", params={"length": len(justification)}
                )
            }
        )


# Scopes ----------------------------------------------------------------------------------

SCOPE_PATH_PATTERN = re.compile(r"^/$|^(/[A-Za-z0-9][A-Za-z0-9._-]{0,99})+$")
SCOPE_PATH_INVALID = (
    "A scope path starts with '/' and is made of segments of letters, digits, '.', '_' or '-' "
    "(each 1 to 100 characters, not starting with punctuation), e.g. /subscriptions/prod; "
    "'%(path)s' is not one."
)


def check_scope_path(path: str) -> None:
    if len(path) > 400 or not SCOPE_PATH_PATTERN.match(path):
        raise ValidationError(
            {"path": ValidationError(SCOPE_PATH_INVALID, code="scope_path_invalid", params={"path": path[:60]})}
        )


def ancestor_paths(path: str) -> list[str]:
    """'/a/b' -> ['/', '/a', '/a/b']: every scope whose assignments reach `path`."""
    if path == "/":
        return ["/"]
    parts = path.strip("/").split("/")
    return ["/"] + ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
