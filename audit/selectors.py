"""Reads of the audit log and the outbox shared by pages, the API and commands."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from audit.choices import Channel
from audit.models import AuditEvent, OutboxMessage


def filtered_events(
    *,
    actor: str = "",
    principal: str = "",
    role: str = "",
    scope: str = "",
    actions: Iterable[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    text: str = "",
) -> QuerySet[AuditEvent]:
    """The log narrowed by every filter given (an empty one does not narrow), newest first by
    sequence. The audit pages (pimsite.audit_views) and the API (pimsite.api_audit) both read it.

    `actor` and `principal` are usernames as recorded, so the log outlives renames; `role` a slug;
    `scope` a path, exactly. `actions`: an event matches any one, each an exact action or, ending
    in '.', a prefix ("activation." gives them all). `since` is inclusive, `until` exclusive.
    `text` looks in the justification and in the ticket of activation requests (data["ticket"]).
    One query; nothing is preloaded because events carry names, not rows."""
    lookups = {
        "actor_username": actor,
        "principal_username": principal,
        "role": role,
        "scope": scope,
        "occurred_at__gte": since,
        "occurred_at__lt": until,
    }
    events = AuditEvent.objects.filter(**{lookup: value for lookup, value in lookups.items() if value})
    matching = Q()
    for action in actions:
        matching |= Q(action__startswith=action) if action.endswith(".") else Q(action=action)
    if matching:
        events = events.filter(matching)
    if text:
        # icontains scans every row the other filters leave: no index serves a substring search.
        # Fine for now; a full-text index (PostgreSQL's GIN on to_tsvector) is the next step.
        events = events.filter(Q(justification__icontains=text) | Q(data__ticket__icontains=text))
    return events.order_by("-sequence")


def events_of(*, user) -> QuerySet[AuditEvent]:
    """What `user` did or what was done to them (actor or principal), newest first: Entra's
    "My audit". By user id, so a renamed account keeps its history. One query."""
    return AuditEvent.objects.filter(Q(actor=user) | Q(principal=user)).order_by("-sequence")


def notifications_for(*, user) -> QuerySet[OutboxMessage]:
    """What was mailed (or is waiting to be) to `user`, newest first. One query per page; it
    preloads nothing because the page shows only the message's own columns."""
    return OutboxMessage.objects.filter(recipient=user, channel=Channel.EMAIL).order_by("-created_at", "-pk")


# Appended apart from the imports above so that it merges beside the audit pages' selectors.
from audit.models import ChainVerification  # noqa: E402


def last_verification() -> ChainVerification | None:
    """The newest chain verification (verify_audit or the daily schedule), or None if the chain
    was never verified. One query; the audit page shows it as its status line."""
    return ChainVerification.objects.order_by("-verified_at", "-pk").first()
