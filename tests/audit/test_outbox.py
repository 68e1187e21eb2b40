"""Notifications leave through the outbox: written with the change, delivered after it commits,
retried with backoff, sent once. Webhooks get signed JSON on a real local HTTP server."""

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.models import Schedule, Task
from pytest_django.asserts import assertContains, assertNotContains

from audit import outbox, tasks
from audit.choices import Channel, DeliveryStatus
from audit.models import AuditEvent, OutboxMessage, Webhook
from tests.conftest import verify_session
from tests.factories import UserFactory

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
RULE = "role.activated.approver"
SUBJECT = "[PIM] alice asks to activate Exchange Administrator"
LINK = "https://pim.example.com/approvals/"
TOKEN = "T000/B000/XXXXsecrettoken"  # chat webhook URLs carry a token like this in the path


@dataclass
class Received:
    status: int
    headers: Message
    body: bytes


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.server.received.append(Received(status, self.headers, body))
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # keep the test output quiet
        pass


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers the queued statuses, then 200."""

    def __init__(self):
        self.server = HTTPServer(("127.0.0.1", 0), _Receiver)
        self.server.statuses = []
        self.server.received = []
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/{TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def received(self) -> list[Received]:
        return self.server.received

    def answer(self, *statuses: int) -> None:
        self.server.statuses.extend(statuses)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy in the environment must not take these requests
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def webhook(db, receiver) -> Webhook:
    return Webhook.objects.create(name="Security channel", url=receiver.url)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 runs queued tasks at once, in this process, as the cluster would."""
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)


def _queue(**overrides) -> list[OutboxMessage]:
    values = {"rule": RULE, "subject": SUBJECT, "body": "alice asks for 60 minutes.\n", "link": LINK}
    return outbox.queue(**{**values, **overrides})


def _verifies(received: Received, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-PIM-Signature"], expected)


# Webhooks --------------------------------------------------------------------------------


def test_a_failed_webhook_is_retried_with_backoff_and_delivered_once(
    receiver, webhook, clock, sync_tasks, django_capture_on_commit_callbacks
):
    receiver.answer(500, 503)

    with django_capture_on_commit_callbacks(execute=True):
        [message] = _queue(critical=True, data={"request_id": 7})

    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at) == ("pending", 1, T0 + timedelta(minutes=1))
    assert message.last_error == "HTTP 500 Internal Server Error"

    clock.move_to(T0 + timedelta(seconds=59), tick=False)
    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"  # not due yet
    clock.move_to(T0 + timedelta(minutes=1), tick=False)
    assert tasks.deliver_due_messages() == "sent 0, retrying 1, failed 0"
    clock.move_to(T0 + timedelta(minutes=3), tick=False)  # 1 min, then 2 min later
    assert tasks.deliver_due_messages() == "sent 1, retrying 0, failed 0"
    clock.move_to(T0 + timedelta(hours=1), tick=False)
    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"
    assert tasks.deliver_message(message.pk) == "nothing to do"

    assert [r.status for r in receiver.received] == [500, 503, 200]  # delivered exactly once
    assert {r.headers["Idempotency-Key"] for r in receiver.received} == {str(message.idempotency_key)}
    delivered = receiver.received[-1]
    assert delivered.headers["Content-Type"] == "application/json"
    payload = json.loads(delivered.body)
    assert payload == {
        "text": f"CRITICAL: {SUBJECT} {LINK}",
        "rule": RULE,
        "subject": SUBJECT,
        "body": "alice asks for 60 minutes.\n",
        "link": LINK,
        "critical": True,
        "data": {"request_id": 7},
        "idempotency_key": str(message.idempotency_key),
        "sent_at": "2026-11-22T09:03:00+00:00",
    }
    message.refresh_from_db()
    assert (message.status, message.attempts, message.sent_at) == ("sent", 3, T0 + timedelta(minutes=3))


def test_each_attempt_is_signed_over_the_exact_body_with_the_webhooks_secret(
    receiver, webhook, clock, sync_tasks, django_capture_on_commit_callbacks
):
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        _queue()
    clock.move_to(T0 + timedelta(minutes=1), tick=False)
    tasks.deliver_due_messages()

    assert len(receiver.received) == 2
    assert all(_verifies(received, webhook.secret) for received in receiver.received)
    assert not _verifies(receiver.received[-1], "another secret")


def test_after_eight_failed_attempts_the_message_fails_once_and_is_audited(
    receiver, webhook, clock, sync_tasks, django_capture_on_commit_callbacks
):
    receiver.answer(*[500] * 20)
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _queue()

    retries, outcomes = [], []
    for _ in range(outbox.MAX_ATTEMPTS - 1):  # the first attempt ran after commit
        message.refresh_from_db()
        retries.append(message.next_attempt_at)
        clock.move_to(message.next_attempt_at, tick=False)
        outcomes.append(tasks.deliver_due_messages())
    clock.move_to(T0 + timedelta(days=2), tick=False)
    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"

    gaps = [(later - earlier) / timedelta(minutes=1) for earlier, later in zip([T0, *retries], retries, strict=False)]
    assert gaps == [1, 2, 4, 8, 16, 32, 60]  # doubling, capped at an hour
    assert outcomes == ["sent 0, retrying 1, failed 0"] * 6 + ["sent 0, retrying 0, failed 1"]
    assert len(receiver.received) == outbox.MAX_ATTEMPTS == 8
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 8)
    [event] = AuditEvent.objects.filter(action="notification.failed")
    assert event.actor is None
    assert event.target_id == str(message.pk)
    assert event.data == {"rule": RULE, "channel": "webhook", "to": "Security channel", "attempts": 8,
                          "error": "HTTP 500 Internal Server Error"}  # fmt: skip
    assert TOKEN not in json.dumps(event.data)


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    receiver, webhook, clock, sync_tasks, django_capture_on_commit_callbacks
):
    receiver.answer(307)
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _queue()

    assert [r.status for r in receiver.received] == [307]  # nothing went to /elsewhere
    message.refresh_from_db()
    assert (message.status, message.last_error) == ("pending", "HTTP 307 Temporary Redirect")


def test_an_unreachable_webhook_is_retried(db, clock, sync_tasks, django_capture_on_commit_callbacks):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    Webhook.objects.create(name="Down", url=f"http://127.0.0.1:{port}/hook")

    with django_capture_on_commit_callbacks(execute=True):
        [message] = _queue()

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 1)
    assert "refused" in message.last_error.lower()


def test_webhooks_get_the_rules_they_list_or_every_rule_and_disabled_ones_get_none(db):
    Webhook.objects.create(name="Approvals", url="https://hooks.example.com/a", rules=[RULE])
    Webhook.objects.create(name="Everything", url="https://hooks.example.com/b", rules=[])
    Webhook.objects.create(name="Alerts only", url="https://hooks.example.com/c", rules=["alert.raised"])
    Webhook.objects.create(name="Switched off", url="https://hooks.example.com/d", enabled=False)

    messages = _queue()

    assert sorted(m.webhook.name for m in messages) == ["Approvals", "Everything"]
    assert {m.channel for m in messages} == {Channel.WEBHOOK}


def test_a_message_for_a_webhook_disabled_since_fails_without_calling_it(
    receiver, webhook, clock, django_capture_on_commit_callbacks
):
    [message] = _queue()
    Webhook.objects.filter(pk=webhook.pk).update(enabled=False)

    assert outbox.deliver(message_id=message.pk, now=T0) == "failed"

    assert receiver.received == []
    assert AuditEvent.objects.get(action="notification.failed").data["error"] == "the webhook is disabled"


# Transactions and sending once ---------------------------------------------------------


def test_a_rolled_back_transaction_writes_nothing_and_sends_nothing(
    alice, receiver, webhook, clock, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        assert len(_queue(recipients=[alice])) == 2  # alice's mail and the webhook's call
        raise RuntimeError("the change failed")

    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"
    assert not OutboxMessage.objects.exists()
    assert not Task.objects.exists()
    assert mail.outbox == []
    assert receiver.received == []


def test_nothing_is_sent_before_the_transaction_commits(alice, clock, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _queue(recipients=[alice])
        assert mail.outbox == []

    assert len(mail.outbox) == 1


def test_an_email_goes_once_to_each_distinct_address_with_the_link(
    alice, bob, clock, sync_tasks, django_capture_on_commit_callbacks
):
    nameless = UserFactory(username="service-account", email="")

    with django_capture_on_commit_callbacks(execute=True):
        messages = _queue(
            recipients=[alice, bob, alice, nameless], extra_emails=["ALICE@example.com", "security@example.com"]
        )

    assert [m.to for m in mail.outbox] == [["alice@example.com"], ["bob@example.com"], ["security@example.com"]]
    first = mail.outbox[0]
    assert first.subject == SUBJECT
    assert first.body == f"alice asks for 60 minutes.\n\n{LINK}\n"
    assert first.extra_headers["Message-ID"] == f"<{messages[0].idempotency_key}@127.0.0.1>"
    assert [m.recipient for m in messages] == [alice, bob, None]


def test_a_sent_message_is_not_sent_again(alice, clock, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        [message] = _queue(recipients=[alice])

    clock.move_to(T0 + timedelta(hours=1), tick=False)
    assert tasks.deliver_message(message.pk) == "nothing to do"
    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"
    assert outbox.retry_now(actor=None, message=message, now=T0 + timedelta(hours=1)) is False

    assert len(mail.outbox) == 1
    message.refresh_from_db()
    assert (message.status, message.sent_at) == ("sent", T0)


def test_a_message_claimed_by_another_worker_waits_for_its_lease_to_run_out(alice, clock):
    [message] = _queue(recipients=[alice])  # the after-commit task never runs in this test
    # Another worker claimed it and died mid-send.
    OutboxMessage.objects.filter(pk=message.pk).update(status=DeliveryStatus.SENDING, claimed_until=T0 + outbox.LEASE)

    assert outbox.deliver(message_id=message.pk, now=T0) == "nothing to do"
    clock.move_to(T0 + outbox.LEASE - timedelta(seconds=1), tick=False)
    assert tasks.deliver_due_messages() == "sent 0, retrying 0, failed 0"
    clock.move_to(T0 + outbox.LEASE, tick=False)
    assert tasks.deliver_due_messages() == "sent 1, retrying 0, failed 0"

    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_a_failing_mail_server_is_retried(alice, clock, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        settings.EMAIL_HOST, settings.EMAIL_PORT = unused.getsockname()
    [message] = _queue(recipients=[alice])

    assert outbox.deliver(message_id=message.pk, now=T0) == "retrying"

    message.refresh_from_db()
    assert (message.status, message.next_attempt_at) == ("pending", T0 + timedelta(minutes=1))
    assert "ConnectionRefusedError" in message.last_error


# Schedules ---------------------------------------------------------------------------------


def test_setup_schedules_delivers_the_outbox_every_minute(db):
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    call_command("setup_schedules", stdout=out)  # again: still one schedule

    assert "pim.outbox" in out.getvalue()
    schedule = Schedule.objects.get(name="pim.outbox")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)
    assert import_string(schedule.func) is tasks.deliver_due_messages


# Webhook validation and the admin ------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", "ftp://hooks.example.com/x"), ("url", "file:///etc/passwd"), ("rules", "activation.notice"),
     ("rules", ["activation.notice", ""])],
)  # fmt: skip
def test_a_webhook_needs_an_http_url_and_a_list_of_rule_keys(db, field, value):
    webhook = Webhook(**{"name": "Bad", "url": "https://hooks.example.com/x", field: value})

    with pytest.raises(ValidationError) as refusal:
        outbox.save_webhook(actor=None, webhook=webhook)

    assert field in refusal.value.message_dict
    assert not Webhook.objects.exists()
    assert not AuditEvent.objects.filter(action="webhook.created").exists()


@pytest.fixture
def admin_client(client, pim_admin):
    verify_session(client, pim_admin)
    return client


def test_an_administrator_adds_a_webhook_with_a_generated_secret_that_is_never_listed(admin_client, pim_admin):
    response = admin_client.post(
        reverse("admin:audit_webhook_add"),
        {"name": "Security channel", "url": f"https://hooks.example.com/{TOKEN}", "rules": f'["{RULE}"]',
         "enabled": "on"},
    )  # fmt: skip

    assert response.status_code == 302
    webhook = Webhook.objects.get()
    assert len(webhook.secret) >= 40
    [event] = AuditEvent.objects.filter(action="webhook.created")
    assert event.actor == pim_admin
    assert event.data == {"name": "Security channel", "host": "hooks.example.com", "rules": [RULE], "enabled": True}
    assertNotContains(admin_client.get(reverse("admin:audit_webhook_changelist")), webhook.secret)
    page = admin_client.get(reverse("admin:audit_webhook_change", args=[webhook.pk]))
    assertContains(page, webhook.secret)  # read-only, on its own page
    assertNotContains(page, 'name="secret"')


def test_changing_and_deleting_a_webhook_in_the_admin_is_audited(admin_client, pim_admin):
    webhook = outbox.save_webhook(actor=pim_admin, webhook=Webhook(name="Chat", url="https://hooks.example.com/a"))

    admin_client.post(
        reverse("admin:audit_webhook_change", args=[webhook.pk]),
        # Unticks "enabled"; the admin form sends initial-rules because the default is callable.
        {"name": "Chat", "url": "https://hooks.example.com/a", "rules": "[]", "initial-rules": "[]"},
    )
    admin_client.post(reverse("admin:audit_webhook_delete", args=[webhook.pk]), {"post": "yes"})

    assert not Webhook.objects.exists()
    [changed] = AuditEvent.objects.filter(action="webhook.changed")
    assert changed.data["changed"] == ["enabled"]
    assert AuditEvent.objects.filter(action="webhook.deleted", actor=pim_admin).count() == 1


def test_retry_now_in_the_admin_sends_a_failed_message_and_leaves_a_sent_one_alone(
    clock, admin_client, pim_admin, alice, bob, sync_tasks, django_capture_on_commit_callbacks
):  # the clock first: pim_admin's assignment starts at the frozen "now"
    failed, sent = _queue(recipients=[alice, bob])
    OutboxMessage.objects.filter(pk=failed.pk).update(status=DeliveryStatus.FAILED, attempts=8, last_error="HTTP 500")
    OutboxMessage.objects.filter(pk=sent.pk).update(status=DeliveryStatus.SENT, sent_at=T0)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:audit_outboxmessage_changelist"),
            {"action": "retry_now", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )

    assertContains(response, "1 message(s) queued for delivery now.")
    assertContains(response, "1 message(s) already sent or being sent were left alone.")
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 9)
    [event] = AuditEvent.objects.filter(action="notification.retried")
    assert (event.actor, event.target_id) == (pim_admin, str(failed.pk))


def test_outbox_messages_cannot_be_changed_in_the_admin(admin_client, alice):
    [message] = _queue(recipients=[alice])

    assert admin_client.get(reverse("admin:audit_outboxmessage_add")).status_code == 403
    page = admin_client.get(reverse("admin:audit_outboxmessage_change", args=[message.pk]))
    assertContains(page, SUBJECT)
    assertNotContains(page, 'name="_save"')


def test_a_subject_on_several_lines_is_sent_on_one(alice, clock, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _queue(recipients=[alice], subject="[PIM] alice asks\nBcc: someone@example.com")

    [message] = mail.outbox
    assert message.subject == "[PIM] alice asks Bcc: someone@example.com"
    assert message.bcc == []
