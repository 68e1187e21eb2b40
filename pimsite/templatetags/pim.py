from django import template

from roles.rules import describe_minutes

register = template.Library()


@register.filter
def duration_minutes(minutes: int) -> str:
    """480 -> '8 h'; 90 -> '1 h 30 min'."""
    return describe_minutes(int(minutes))
