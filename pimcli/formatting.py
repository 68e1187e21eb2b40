"""Words to values and values to words: durations and tickets as typed on the command line,
times and countdowns as printed. Pure functions, so the tests need no server."""

import re
from datetime import UTC, datetime

DURATION_FORMS = "minutes or hours such as 90m, 2h or 1h30m"
DURATION_PATTERN = re.compile(r"^(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?$", re.IGNORECASE)
TICKET_FORM = "SYSTEM:NUMBER, e.g. ServiceNow:INC0012345"


def parse_duration(text: str) -> int:
    """'2h', '90m', '1h30m' as whole minutes. ValueError, naming the accepted forms, for
    anything else (a bare number too: minutes or hours would be a guess)."""
    match = DURATION_PATTERN.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration; use {DURATION_FORMS}")
    minutes = int(match["hours"] or 0) * 60 + int(match["minutes"] or 0)
    if minutes < 1:
        raise ValueError(f"{text!r} is no time at all; use {DURATION_FORMS}")
    return minutes


def parse_ticket(text: str) -> tuple[str, str]:
    """'ServiceNow:INC0012345' as (system, number). The number may itself hold colons."""
    system, colon, number = text.partition(":")
    if not colon or not system.strip() or not number.strip():
        raise ValueError(f"{text!r} is not a ticket; use {TICKET_FORM}")
    return system.strip(), number.strip()


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (ISO 8601 with an offset, or 'Z') as an aware datetime."""
    return datetime.fromisoformat(value) if value else None


def show_time(value: datetime | None) -> str:
    """UTC to the minute, as the server keeps it: '2026-11-23 18:30 UTC'."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "permanent"


def show_minutes(minutes: int) -> str:
    """480 -> '8 h', 90 -> '1 h 30 min', 45 -> '45 min', 3000 -> '2 d 2 h'."""
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def time_left(end: datetime | None, now: datetime) -> str:
    """'1 h 12 min left' until `end`; whole minutes, rounded down, so it never promises more."""
    if end is None:
        return "no end"
    seconds = (end - now).total_seconds()
    if seconds <= 0:
        return "ended"
    if seconds < 60:
        return "less than a minute left"
    return f"{show_minutes(int(seconds // 60))} left"


def table(rows: list[list[str]], *, indent: str = "  ") -> list[str]:
    """Rows of cells as aligned lines; the last column is not padded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))] if rows else []
    return [
        indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
