from datetime import UTC, datetime

from django import template
from django.utils.safestring import mark_safe

from roles.rules import describe_minutes

register = template.Library()


@register.filter
def duration_minutes(minutes: int | None) -> str:
    """480 -> '8 h'; 90 -> '1 h 30 min'; None (an extension or renewal that names an end) -> '—'."""
    return "—" if minutes is None else describe_minutes(int(minutes))


@register.filter(is_safe=True)
def time_tag(moment: datetime | None) -> str:
    """A time as a <time> element in UTC, which pim.js shows in the viewer's zone:
    <time datetime="2026-11-23T09:00:00+00:00" data-local title="2026-11-23 09:00:00 UTC">2026-11-23 09:00
    UTC</time>.
    A filter, not an included template: a page lists dozens of times, and an include costs
    each of them a template render (a third of My roles' time)."""
    if moment is None:
        return ""
    utc = moment.astimezone(UTC)  # only digits and separators below: nothing to escape
    title, shown = f"{utc:%Y-%m-%d %H:%M:%S} UTC", f"{utc:%Y-%m-%d %H:%M} UTC"
    return mark_safe(f'<time datetime="{utc.isoformat()}" data-local title="{title}">{shown}</time>')  # noqa: S308
