"""When a review's occurrences run: pure arithmetic on a start date, a time zone, a duration and
a recurrence. Occurrences start at midnight, local time of the review's time zone, so a monthly
review keeps its local start across daylight-saving changes; a monthly (quarterly, ...) review
anchored on the 31st runs on the last day of shorter months and returns to the 31st after."""

import calendar
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError

from roles.reviews.choices import EndType, Recurrence

MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3, Recurrence.SEMIANNUAL: 6, Recurrence.ANNUAL: 12}
# The shortest a period can be, in days (February; an anchor on the 29th-31st clamped to a
# month end). A recurring review lasts less than that, so occurrences never overlap.
SHORTEST_PERIOD_DAYS = {
    Recurrence.WEEKLY: 7,
    Recurrence.MONTHLY: 28,
    Recurrence.QUARTERLY: 89,
    Recurrence.SEMIANNUAL: 181,
    Recurrence.ANNUAL: 365,
}
DURATION_DAYS = (1, 180)  # a one-time review
OCCURRENCES = (1, 100)  # "after N occurrences"


@dataclass(frozen=True)
class Schedule:
    start_date: date
    time_zone: str
    duration_days: int
    recurrence: str
    end_type: str = EndType.NEVER
    end_date: date | None = None
    end_after_occurrences: int | None = None


def add_months(anchor: date, months: int) -> date:
    """The same day of the month `months` later, or the last day of a shorter month."""
    month_index = anchor.month - 1 + months
    year, month = anchor.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def start_date_of(schedule: Schedule, number: int) -> date:
    """The local date occurrence `number` (1, 2, ...) starts on. Counted from the anchor, not
    from the previous occurrence, so Jan 31 -> Feb 28 -> Mar 31."""
    steps = number - 1
    if schedule.recurrence == Recurrence.WEEKLY:
        return schedule.start_date + timedelta(weeks=steps)
    if schedule.recurrence in MONTHS:
        return add_months(schedule.start_date, steps * MONTHS[schedule.recurrence])
    return schedule.start_date


def local_midnight(day: date, time_zone: str) -> datetime:
    """Midnight starting `day` in `time_zone`, in UTC."""
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(time_zone)).astimezone(UTC)


def window(schedule: Schedule, number: int) -> tuple[datetime, datetime]:
    """When occurrence `number` starts and ends, in UTC: local midnight to local midnight."""
    first_day = start_date_of(schedule, number)
    last_day = first_day + timedelta(days=schedule.duration_days)
    return local_midnight(first_day, schedule.time_zone), local_midnight(last_day, schedule.time_zone)


def has_occurrence(schedule: Schedule, number: int) -> bool:
    """Whether the schedule runs an occurrence `number` at all (its end rule)."""
    if number == 1:
        return True
    if schedule.recurrence == Recurrence.ONE_TIME:
        return False
    if schedule.end_type == EndType.AFTER_COUNT:
        return number <= (schedule.end_after_occurrences or 0)
    if schedule.end_type == EndType.ON_DATE:
        return schedule.end_date is not None and start_date_of(schedule, number) <= schedule.end_date
    return True


def max_duration_days(recurrence: str) -> int:
    """At most 180 days, and less than the shortest period of a recurring review."""
    if recurrence in SHORTEST_PERIOD_DAYS:
        return min(SHORTEST_PERIOD_DAYS[recurrence] - 1, DURATION_DAYS[1])
    return DURATION_DAYS[1]


DURATION_OUT_OF_RANGE = (
    "Duration: a %(recurrence)s review lasts from %(low)s to %(high)s days%(why)s; %(value)s were given."
)
UNKNOWN_TIME_ZONE = "Time zone: '%(value)s' is not a time zone name such as Europe/Paris or UTC."
END_DATE_REQUIRED = "End date: required when the review ends on a date."
END_BEFORE_START = "End date: %(end)s is before the start date %(start)s; the review would never run."
OCCURRENCES_OUT_OF_RANGE = (
    "Number of occurrences: required when the review ends after a number of occurrences, "
    "from %(low)s to %(high)s; %(value)s were given."
)
END_DATE_UNUSED = "End date: only for a review that ends on a date; leave it empty or choose 'On a date'."
OCCURRENCES_UNUSED = (
    "Number of occurrences: only for a review that ends after a number of occurrences; leave it empty or choose "
    "'After a number of occurrences'."
)
ONE_TIME_HAS_NO_END = "End: a one-time review runs once; choose 'Never' as its end."


def check_schedule(schedule: Schedule) -> None:
    """Refuse a schedule that cannot run, naming the field, the rule and the allowed range."""
    errors: dict[str, ValidationError] = {}
    try:
        zoneinfo.ZoneInfo(schedule.time_zone or "")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = ValidationError(UNKNOWN_TIME_ZONE, code="unknown_time_zone",
                                              params={"value": schedule.time_zone})  # fmt: skip
    high = max_duration_days(schedule.recurrence)
    if not DURATION_DAYS[0] <= schedule.duration_days <= high:
        # Name the period when it is what limits the duration.
        recurring = schedule.recurrence in SHORTEST_PERIOD_DAYS and high < DURATION_DAYS[1]
        errors["duration_days"] = ValidationError(
            DURATION_OUT_OF_RANGE,
            code="duration_out_of_range",
            params={
                "recurrence": Recurrence(schedule.recurrence).label.lower(),
                "low": DURATION_DAYS[0],
                "high": high,
                "why": f", shorter than its shortest period ({SHORTEST_PERIOD_DAYS[schedule.recurrence]} days)"
                if recurring
                else "",
                "value": schedule.duration_days,
            },
        )
    # Each end field belongs to one kind of end; a stray one is refused rather than kept unused.
    if schedule.end_date is not None and schedule.end_type != EndType.ON_DATE:
        errors["end_date"] = ValidationError(END_DATE_UNUSED, code="end_date_unused")
    if schedule.end_after_occurrences is not None and schedule.end_type != EndType.AFTER_COUNT:
        errors["end_after_occurrences"] = ValidationError(OCCURRENCES_UNUSED, code="occurrences_unused")
    if schedule.recurrence == Recurrence.ONE_TIME and schedule.end_type != EndType.NEVER:
        errors["end_type"] = ValidationError(ONE_TIME_HAS_NO_END, code="one_time_has_no_end")
    elif schedule.end_type == EndType.ON_DATE:
        if schedule.end_date is None:
            errors["end_date"] = ValidationError(END_DATE_REQUIRED, code="end_date_required")
        elif schedule.end_date < schedule.start_date:
            errors["end_date"] = ValidationError(
                END_BEFORE_START,
                code="end_before_start",
                params={"end": schedule.end_date, "start": schedule.start_date},
            )
    elif schedule.end_type == EndType.AFTER_COUNT:
        count = schedule.end_after_occurrences
        if count is None or not OCCURRENCES[0] <= count <= OCCURRENCES[1]:
            errors["end_after_occurrences"] = ValidationError(
                OCCURRENCES_OUT_OF_RANGE, code="occurrences_out_of_range",
                params={"low": OCCURRENCES[0], "high": OCCURRENCES[1], "value": count if count is not None else "none"},
            )  # fmt: skip
    if errors:
        raise ValidationError(errors)
