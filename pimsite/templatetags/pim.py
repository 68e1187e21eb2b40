from django import template

from roles.rules import describe_minutes

register = template.Library()


@register.filter
def duration_minutes(minutes: int | None) -> str:
    """480 -> '8 h'; 90 -> '1 h 30 min'; None (an extension or renewal that names an end) -> '—'."""
    return "—" if minutes is None else describe_minutes(int(minutes))
