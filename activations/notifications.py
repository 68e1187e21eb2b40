"""Mail (and webhooks) to the people a request concerns, through the audit outbox: written in
the caller's transaction and delivered by django-q2 after it commits, so a rolled-back change
notifies nobody."""

from typing import Any

from django.conf import settings
from django.urls import reverse

from audit import outbox


def site_url(path: str) -> str:
    return settings.PIM_SITE_URL.rstrip("/") + path


def notify(
    *,
    recipients,
    subject: str,
    body: str,
    rule: str = "activation.notice",
    link: str = "",
    critical: bool = False,
    data: dict[str, Any] | None = None,
) -> None:
    """One message per recipient with an address, plus one per webhook that listens to `rule`."""
    outbox.queue(rule=rule, recipients=recipients, subject=subject, body=body, link=link, critical=critical, data=data)


def request_link(request) -> str:
    return site_url(reverse("activations:request", args=[request.pk]))
