"""Mail (and webhooks) to the people a request concerns, through the audit outbox: written in
the caller's transaction and delivered by django-q2 after it commits, so a rolled-back change
notifies nobody."""

from typing import Any

from django.urls import reverse

from roles import notifications as role_notifications
from roles.notifications import site_url


def notify(
    *,
    recipients,
    subject: str,
    body: str,
    role,
    event: str = "activated",
    audience: str = "assignee",
    link: str = "",
    action_required: bool = False,
    data: dict[str, Any] | None = None,
) -> None:
    """Tell people about a request or an assignment of `role`, as the role's notification rule
    for `event` and `audience` says (roles.notifications): one message per recipient with an
    address, plus the rule's additional addresses and webhooks."""
    role_notifications.notify(
        role=role, event=event, audience=audience, recipients=recipients, subject=subject, body=body, link=link,
        action_required=action_required, data=data,
    )  # fmt: skip


def request_link(request) -> str:
    return site_url(reverse("activations:request", args=[request.pk]))
