"""The webhook target against a real HTTP receiver started by the test: signature checked,
retries after a 500, the idempotency key respected, failures told and retried."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from audit.models import Alert, AuditEvent, OutboxMessage
from roles.models import Grant
from roles.provisioning import engine, services, tasks
from roles.provisioning.choices import GrantState
from tests.provisioning.conftest import give_active

pytestmark = pytest.mark.django_db
SECRET = "receiver-shared-secret"


class Receiver:
    """A minimal receiver, as the README describes one: check the signature, do each idempotency
    key once, answer 2xx. `fail_next` answers 500 that many times first."""

    def __init__(self):
        self.calls, self.done, self.holders, self.fail_next = [], {}, set(), 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(self.headers.get("X-PIM-Signature", ""), expected)
                receiver.calls.append(
                    {"signed": signed, "key": self.headers.get("Idempotency-Key"), **json.loads(body)}
                )
                if not signed:
                    return self._answer(401)
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    return self._answer(500)
                call = receiver.calls[-1]
                if call["key"] not in receiver.done:  # each key once
                    receiver.done[call["key"]] = call["action"]
                    (receiver.holders.add if call["action"] == "grant" else receiver.holders.discard)(call["user"])
                return self._answer(204)

            def do_GET(self):
                body = json.dumps({"users": sorted(receiver.holders)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer(self, status):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pim"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("PIM_TEST_HOOK_SECRET", SECRET)
    running = Receiver()
    yield running
    running.server.shutdown()


@pytest.fixture
def hook_target(receiver, pim_admin, exchange_admin):
    return services.create_target(
        actor=pim_admin,
        role=exchange_admin,
        name="Mail system",
        kind="webhook",
        params={"url": receiver.url, "secret_variable": "PIM_TEST_HOOK_SECRET", "list_url": receiver.url},
    )


def activate(user, role, capture, *, hours=1):
    return give_active(user, role, capture=capture, hours=hours)


def test_grant_is_a_signed_post_with_what_the_receiver_needs(
    hook_target, receiver, exchange_admin, alice, django_capture_on_commit_callbacks
):
    assignment = activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    (call,) = receiver.calls
    assert call["signed"] and call["action"] == "grant"
    assert (call["user"], call["email"], call["role"], call["scope"], call["assignment_id"], call["target"]) == (
        "alice",
        alice.email,
        "exchange-administrator",
        "/",
        assignment.pk,
        "Mail system",
    )
    assert call["until"] == DjangoJSONEncoder().default(assignment.end_at)
    assert call["key"] == call["idempotency_key"] == f"{Grant.objects.get().idempotency_key}-grant"
    assert receiver.holders == {"alice"}


def test_a_500_is_retried_with_backoff_and_the_same_key(
    hook_target, receiver, exchange_admin, alice, time_machine, django_capture_on_commit_callbacks
):
    receiver.fail_next = 1
    time_machine.move_to(timezone.now(), tick=False)
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    assert "'retrying': 1" in tasks.run_provisioning()
    grant = Grant.objects.get()
    assert (grant.state, grant.attempts, grant.last_error) == (
        GrantState.PENDING,
        1,
        "the receiver answered HTTP 500 Internal Server Error",
    )
    assert grant.next_attempt_at == timezone.now() + timedelta(minutes=1)
    assert "'nothing to do'" not in tasks.run_provisioning() and len(receiver.calls) == 1  # not due yet

    time_machine.move_to(grant.next_attempt_at, tick=False)
    tasks.run_provisioning()
    assert [call["key"] for call in receiver.calls] == [f"{grant.idempotency_key}-grant"] * 2
    grant.refresh_from_db()
    assert grant.state == GrantState.GRANTED
    assert list(
        AuditEvent.objects.filter(action__in=["provisioning.failed", "provisioning.granted"])
        .order_by("sequence")
        .values_list("action", flat=True)
    ) == ["provisioning.failed", "provisioning.granted"]


def test_a_worker_dying_between_grant_and_record_grants_once(
    hook_target, receiver, exchange_admin, alice, time_machine, monkeypatch, django_capture_on_commit_callbacks
):
    time_machine.move_to(timezone.now(), tick=False)
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    real_record = engine.record_event

    def die(**kwargs):
        raise SystemExit("worker killed after the receiver answered")

    monkeypatch.setattr(engine, "record_event", die)
    with pytest.raises(SystemExit):
        tasks.run_provisioning()
    monkeypatch.setattr(engine, "record_event", real_record)
    grant = Grant.objects.get()
    assert grant.state == GrantState.PENDING and grant.claimed_until is not None  # the dead worker's lease
    assert "granted" not in tasks.run_provisioning()  # the lease holds: nobody else acts meanwhile

    time_machine.move_to(grant.claimed_until, tick=False)  # the lease runs out
    tasks.run_provisioning()
    grant.refresh_from_db()
    assert grant.state == GrantState.GRANTED
    assert len(receiver.calls) == 2 and len(receiver.done) == 1  # sent twice, done once: same key
    assert AuditEvent.objects.filter(action="provisioning.granted").count() == 1


def test_after_its_retries_a_grant_fails_alerts_and_mails_and_can_be_retried(
    hook_target, receiver, exchange_admin, alice, pim_admin, time_machine, django_capture_on_commit_callbacks
):
    from audit.alerts import fix, run_scan

    receiver.fail_next = engine.MAX_ATTEMPTS
    time_machine.move_to(timezone.now(), tick=False)
    activate(alice, exchange_admin, django_capture_on_commit_callbacks, hours=24)
    for _ in range(engine.MAX_ATTEMPTS):
        tasks.run_provisioning()
        time_machine.move_to(timezone.now() + timedelta(hours=1), tick=False)
    grant = Grant.objects.get()
    assert (grant.state, grant.attempts) == (GrantState.FAILED, engine.MAX_ATTEMPTS)
    mail = OutboxMessage.objects.get(rule="provisioning.failed.admin", address=pim_admin.email)
    assert mail.subject == "Provisioning failed: Exchange Administrator for alice on Mail system"
    assert mail.critical
    run_scan(now=timezone.now())
    alert = Alert.objects.get(rule_key="provisioning_failed")
    assert "alice: grant of Exchange Administrator on Mail system failed 6 times" in alert.items[0]["label"]

    fix(actor=pim_admin, alert=alert, item_key=alert.items[0]["key"], now=timezone.now())  # "Retry"
    tasks.run_provisioning()
    grant.refresh_from_db()
    assert grant.state == GrantState.GRANTED
    assert AuditEvent.objects.filter(action="provisioning.retried", actor_username="pimadmin").exists()
    run_scan(now=timezone.now())
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_missing_secret_variable_is_a_clear_error_on_the_grant(
    hook_target, exchange_admin, alice, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("PIM_TEST_HOOK_SECRET")
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert Grant.objects.get().last_error == (
        "the environment variable PIM_TEST_HOOK_SECRET (the signing secret) is not set"
    )


def test_an_unreachable_receiver_is_a_clear_error(
    pim_admin, exchange_admin, alice, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("PIM_TEST_HOOK_SECRET", SECRET)
    services.create_target(
        actor=pim_admin,
        role=exchange_admin,
        name="Gone",
        kind="webhook",
        params={"url": "http://127.0.0.1:9/pim", "secret_variable": "PIM_TEST_HOOK_SECRET"},
    )
    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert Grant.objects.get().last_error.startswith("the receiver answered URLError: ")


def test_drift_finds_a_grant_made_outside_pim_and_regrants_a_missing_one(
    hook_target, receiver, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    from audit.alerts import run_scan

    activate(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    receiver.holders = {"mallory"}  # someone added mallory by hand, and alice was dropped
    with django_capture_on_commit_callbacks(execute=True):
        tasks.check_drift()
    hook_target.refresh_from_db()
    assert hook_target.outside_grants == ["mallory"]
    alert = Alert.objects.get(rule_key="roles_assigned_outside_pim")
    assert alert.items[0]["label"] == (
        "mallory holds Exchange Administrator on Mail system (webhook) without a PIM assignment"
    )
    assert Grant.objects.get().state == GrantState.PENDING  # alice's, to be granted again
    tasks.run_provisioning()
    assert receiver.holders == {"mallory", "alice"}
    assert AuditEvent.objects.filter(action="provisioning.drift_missing").count() == 1

    services.update_target(
        actor=pim_admin,
        target=hook_target,
        name="Mail system",
        params=hook_target.params,
        enabled=True,
        revoke_outside_grants=True,
    )
    tasks.check_drift()
    assert receiver.holders == {"alice"}
    hook_target.refresh_from_db()
    assert hook_target.outside_grants == []
    run_scan(now=timezone.now())
    alert.refresh_from_db()
    assert alert.status == "resolved"
