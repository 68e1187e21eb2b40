"""Reads of the outbox shared by pages and commands."""

from django.db.models import QuerySet

from audit.choices import Channel
from audit.models import OutboxMessage


def notifications_for(*, user) -> QuerySet[OutboxMessage]:
    """What was mailed (or is waiting to be) to `user`, newest first. One query per page; it
    preloads nothing because the page shows only the message's own columns."""
    return OutboxMessage.objects.filter(recipient=user, channel=Channel.EMAIL).order_by("-created_at", "-pk")
