"""Mail to the people a request concerns. Sent by a django-q2 task queued after the
transaction commits, so a rolled-back change mails nobody."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django_q.tasks import async_task


def site_url(path: str) -> str:
    return settings.PIM_SITE_URL.rstrip("/") + path


def notify(*, recipients, subject: str, body: str) -> None:
    emails = sorted({user.email for user in recipients if user.email})
    if not emails:
        return
    transaction.on_commit(lambda: async_task("activations.tasks.send_notification", emails, subject, body))


def request_link(request) -> str:
    return site_url(reverse("activations:request", args=[request.pk]))
