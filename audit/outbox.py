"""The notification outbox: every mail and webhook call is a row written in the transaction of
the change it tells about, and delivered by a django-q2 task queued after that commits. A
rolled-back change leaves no row and queues nothing.

Delivery claims a row by compare-and-swap (pending and due -> sending, with a lease), sends,
then marks it sent; any number of workers, schedules and retries send a message once. A
failed attempt is retried with exponential backoff (1, 2, 4 ... 60 minutes) up to
MAX_ATTEMPTS, then the message is marked failed and audited (notification.failed). A worker
that dies between sending and marking leaves a claim whose lease runs out; the retry carries
the same idempotency key, so a webhook receiver can drop the repeat.
"""

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F
from django_q.tasks import async_task

from audit.batches import each_in_time
from audit.choices import Channel, DeliveryStatus
from audit.models import OutboxMessage, Webhook
from audit.services import record_event

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=60)
# Longer than any one send may take (WEBHOOK_TIMEOUT, EMAIL_TIMEOUT, the task timeout of 60 s):
# a claim older than this belongs to a worker that died, and deliver_due takes it back.
LEASE = timedelta(minutes=5)
WEBHOOK_TIMEOUT = 10  # seconds
SIGNATURE_HEADER = "X-PIM-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# deliver_due stops starting new sends after this many seconds, well inside the task timeout;
# the next run a minute later carries on.
DUE_BATCH = 100
DUE_TIME_BUDGET = 30.0

DELIVER_TASK = "audit.tasks.deliver_message"


class DeliveryError(Exception):
    """An attempt that did not reach its recipient: retried later, unless `permanent`."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


# Queueing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One thing to tell: to `recipients` (users; those without an address are skipped) and
    `extra_emails`, and to every enabled webhook that listens to `rule`."""

    rule: str
    subject: str
    body: str
    recipients: Iterable = ()
    extra_emails: Iterable[str] = ()
    link: str = ""
    critical: bool = False
    data: dict[str, Any] | None = None


def queue(**notice) -> list[OutboxMessage]:
    """Write one message per distinct email address and one per enabled webhook that listens to
    the rule, inside the caller's transaction; deliver each after that commits. Takes the fields
    of a Notice. Returns the messages written (none: nothing is queued)."""
    return queue_many([Notice(**notice)])


def queue_many(notices: list[Notice]) -> list[OutboxMessage]:
    """`queue` for many notices at once (a sweep tells a thousand holders): one INSERT, and
    deliveries queued a few messages per task."""
    webhooks = list(Webhook.objects.filter(enabled=True)) if notices else []
    messages: list[OutboxMessage] = []
    for notice in notices:
        messages += _messages(notice, webhooks)
    if not messages:
        return []
    with transaction.atomic():
        if len(messages) == 1:
            messages[0].save(force_insert=True)
        else:
            OutboxMessage.objects.bulk_create(messages)
    ids = [message.pk for message in messages]
    # robust: the change has committed by then; a broker that is down must not fail it, and
    # the one-minute deliver_due finds the rows anyway.
    transaction.on_commit(partial(_enqueue, ids), robust=True)
    return messages


def _messages(notice: Notice, webhooks: list[Webhook]) -> list[OutboxMessage]:
    # One line: a mail header, a chat message's first line. (A newline in a subject would make
    # every send attempt fail with BadHeaderError.)
    subject = " ".join(notice.subject.split())[: OutboxMessage._meta.get_field("subject").max_length]
    common = {"rule": notice.rule, "subject": subject, "body": notice.body, "link": notice.link,
              "critical": notice.critical, "payload": notice.data or {}}  # fmt: skip
    messages, seen = [], set()
    to = [(user, (user.email or "").strip()) for user in notice.recipients]
    to += [(None, address.strip()) for address in notice.extra_emails]
    for user, address in to:
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        messages.append(OutboxMessage(channel=Channel.EMAIL, recipient=user, address=address, **common))
    for webhook in webhooks:
        if webhook.listens_to(notice.rule):
            messages.append(OutboxMessage(channel=Channel.WEBHOOK, webhook=webhook, address=webhook.url, **common))
    return messages


MESSAGES_PER_TASK = 20  # a sweep's thousand messages are fifty delivery tasks, not a thousand


def _enqueue(message_ids: list[int]) -> None:
    for first in range(0, len(message_ids), MESSAGES_PER_TASK):
        async_task(DELIVER_TASK, *message_ids[first : first + MESSAGES_PER_TASK])


# Delivery --------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failure: 1, 2, 4 ... minutes, never more than an hour."""
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_BACKOFF)


def deliver(*, message_id: int, now: datetime) -> str:
    """Send one message if it is due and nobody else holds it. Returns "sent", "retrying",
    "failed" or "nothing to do" (already sent, failed, not yet due, or claimed by another
    worker). Call outside a transaction: the claim must commit before the send."""
    lease_until = now + LEASE
    # Of any number of workers, exactly one matches the unclaimed (or abandoned) row.
    unclaimed = OutboxMessage.objects.due(now).filter(pk=message_id)
    if unclaimed.update(status=DeliveryStatus.SENDING, claimed_until=lease_until) != 1:
        return "nothing to do"
    message = OutboxMessage.objects.select_related("webhook").get(pk=message_id)
    ours = OutboxMessage.objects.filter(pk=message_id, status=DeliveryStatus.SENDING, claimed_until=lease_until)
    try:
        _send(message, now=now)
    except DeliveryError as error:
        return _record_failure(message, ours, error=error, now=now)
    except Exception as error:  # noqa: BLE001  a bug must not leave the claim to expire again and again
        logger.exception("notification %s: unexpected error while sending", message.pk)
        return _record_failure(message, ours, error=DeliveryError(f"{type(error).__name__}: {error}"), now=now)
    ours.update(status=DeliveryStatus.SENT, sent_at=now, attempts=F("attempts") + 1, claimed_until=None,
                last_error="")  # fmt: skip
    return "sent"


def deliver_due(*, now: datetime) -> Counter:
    """Deliver every due message (and take back claims whose lease ran out), oldest first, as
    many as fit in one run of the one-minute schedule. Counts the outcomes."""
    due = OutboxMessage.objects.due(now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)
    return each_in_time(list(due[:DUE_BATCH]), lambda pk: deliver(message_id=pk, now=now), budget=DUE_TIME_BUDGET)


def _record_failure(message: OutboxMessage, ours: models.QuerySet, *, error: DeliveryError, now: datetime) -> str:
    attempts = message.attempts + 1
    reason = str(error)[:1000]
    if attempts < MAX_ATTEMPTS and not error.permanent:
        if not ours.update(status=DeliveryStatus.PENDING, attempts=attempts, last_error=reason, claimed_until=None,
                           next_attempt_at=now + backoff(attempts)):  # fmt: skip
            return "nothing to do"  # our lease ran out and another worker took the message over
        logger.info("notification %s: attempt %s failed (%s); next at %s", message.pk, attempts, reason,
                    now + backoff(attempts))  # fmt: skip
        return "retrying"
    with transaction.atomic():  # failed and its audit event, or neither
        if not ours.update(status=DeliveryStatus.FAILED, attempts=attempts, last_error=reason, claimed_until=None):
            return "nothing to do"
        record_event(actor=None, action="notification.failed", target=message, data={
            "rule": message.rule, "channel": message.channel, "to": _who(message),
            "attempts": attempts, "error": reason})  # fmt: skip
    logger.warning("notification %s failed after %s attempts: %s", message.pk, attempts, reason)
    return "failed"


def _who(message: OutboxMessage) -> str:
    # A webhook URL often carries a token (Slack's do): the audit log names the webhook instead.
    if message.channel == Channel.EMAIL:
        return message.address
    return message.webhook.name if message.webhook else urlsplit(message.address).hostname or ""


def _send(message: OutboxMessage, *, now: datetime) -> None:
    if message.channel == Channel.EMAIL:
        _send_email(message)
    else:
        _send_webhook(message, now=now)


def _send_email(message: OutboxMessage) -> None:
    body = message.body
    if message.link and message.link not in body:
        body = f"{body.rstrip()}\n\n{message.link}\n"
    headers = {"Message-ID": f"<{message.idempotency_key}@{_mail_domain()}>"}  # the same on every retry
    if message.critical:
        headers["Importance"] = "high"
    email = EmailMessage(subject=message.subject, body=body, to=[message.address], headers=headers)
    try:
        email.send()
    except OSError as error:  # smtplib's errors are OSErrors, as are refused connections and timeouts
        raise DeliveryError(f"{type(error).__name__}: {error}") from error


def _mail_domain() -> str:
    return urlsplit(settings.PIM_SITE_URL).hostname or "pim.localhost"


# Webhooks --------------------------------------------------------------------------------


def slack_text(*, subject: str, link: str, critical: bool) -> str:
    """One line that Slack, Mattermost and similar chat tools show as it is (`&`, `<` and `>`
    escaped as Slack asks), ending in the link."""
    line = " ".join(subject.split())
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if critical:
        line = f"CRITICAL: {line}"
    return f"{line} {link}" if link else line


def webhook_body(message: OutboxMessage, *, now: datetime) -> bytes:
    """The exact bytes POSTed, and signed."""
    payload = {
        "text": slack_text(subject=message.subject, link=message.link, critical=message.critical),
        "rule": message.rule,
        "subject": message.subject,
        "body": message.body,
        "link": message.link,
        "critical": message.critical,
        "data": message.payload,
        "idempotency_key": str(message.idempotency_key),
        "sent_at": now.isoformat(),
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def sign(*, secret: str, body: bytes) -> str:
    """The X-PIM-Signature value: HMAC-SHA256 of the body under the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would resend (or, for 302, silently drop) the signed body somewhere else: fail.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _send_webhook(message: OutboxMessage, *, now: datetime) -> None:
    webhook = message.webhook
    if webhook is None or not webhook.enabled:
        # Nothing to sign with, or the administrator turned it off: retrying will not help.
        reason = "the webhook was deleted" if webhook is None else "the webhook is disabled"
        raise DeliveryError(reason, permanent=True)
    body = webhook_body(message, now=now)
    post_signed(webhook.url, body=body, secret=webhook.secret, idempotency_key=str(message.idempotency_key))


def post_signed(url: str, *, body: bytes, secret: str, idempotency_key: str, timeout: float = WEBHOOK_TIMEOUT) -> None:
    """POST `body` (JSON) to `url`, signed (X-PIM-Signature) and with an Idempotency-Key; no
    redirects. Raises DeliveryError for anything but a 2xx. Also used by provisioning's webhook
    targets (roles.provisioning)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError("the URL is not http or https", permanent=True)
    request = urllib.request.Request(  # noqa: S310  the scheme is checked just above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "PIM-Webhook/1",
            SIGNATURE_HEADER: sign(secret=secret, body=body),
            IDEMPOTENCY_HEADER: idempotency_key,
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as error:  # any status outside 2xx, redirects included
        raise DeliveryError(f"HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out, TLS
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"{type(error).__name__}: {reason}") from error


# Administration --------------------------------------------------------------------------


def retry_now(*, actor, message: OutboxMessage, now: datetime) -> bool:
    """Make a waiting or failed message due now and deliver it after commit (one more attempt
    for a failed one). A sent message is never sent again, and one being sent is left to its
    worker: False, and nothing written."""
    with transaction.atomic():
        moved = OutboxMessage.objects.filter(
            pk=message.pk, status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED]
        ).update(status=DeliveryStatus.PENDING, next_attempt_at=now)
        if not moved:
            return False
        message.refresh_from_db()
        record_event(actor=actor, action="notification.retried", target=message,
                     data={"rule": message.rule, "channel": message.channel, "to": _who(message),
                           "attempts": message.attempts})  # fmt: skip
        transaction.on_commit(lambda: _enqueue([message.pk]), robust=True)
    return True


def save_webhook(*, actor, webhook: Webhook, changed: Iterable[str] = ()) -> Webhook:
    """Create or change a webhook and audit it (webhook.created, webhook.changed). The event
    names the host, not the URL, and never the secret: chat webhook URLs carry tokens."""
    with transaction.atomic():
        adding = webhook._state.adding
        webhook.full_clean()
        webhook.save()
        data = _webhook_data(webhook)
        if not adding:
            data["changed"] = sorted(changed)
        record_event(actor=actor, action="webhook.created" if adding else "webhook.changed", target=webhook, data=data)
    return webhook


def delete_webhook(*, actor, webhook: Webhook) -> None:
    """Remove a webhook, audited (webhook.deleted). Its sent messages stay; waiting ones fail."""
    with transaction.atomic():
        record_event(actor=actor, action="webhook.deleted", target=webhook, data=_webhook_data(webhook))
        webhook.delete()


def _webhook_data(webhook: Webhook) -> dict[str, Any]:
    return {"name": webhook.name, "host": urlsplit(webhook.url).hostname or "", "rules": webhook.rules,
            "enabled": webhook.enabled}  # fmt: skip
