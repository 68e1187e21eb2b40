"""SIEM: export_audit writes events as JSON lines or CEF; the forwarder ships them to syslog
(TCP, UDP) or HTTPS once each, in order, and after an outage carries on where it stopped."""

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from audit import siem
from audit.models import AuditEvent, SiemCursor
from audit.services import record_event
from pimsite.env import env_url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def append(n: int, **fields) -> list[AuditEvent]:
    for i in range(n):
        record_event(actor=None, action="test.appended", justification=f"INC-{i}", data={"i": i}, **fields)
    return list(AuditEvent.objects.order_by("sequence"))


def export(*args: str) -> list[str]:
    out = StringIO()
    call_command("export_audit", *args, stdout=out)
    return out.getvalue().splitlines()


# Formats -----------------------------------------------------------------------------------


def test_a_json_line_carries_the_event_and_its_hash():
    alice = UserFactory(username="alice")
    record_event(actor=alice, action="assignment.activated", principal=alice, role="user-admin", scope="/eu",
                 justification="INC-1\nsecond line")  # fmt: skip
    event = AuditEvent.objects.get()

    line = siem.jsonl(event)

    assert "\n" not in line
    doc = json.loads(line)
    assert doc["sequence"] == event.sequence
    assert (doc["actor"], doc["principal"], doc["role"], doc["scope"]) == ("alice", "alice", "user-admin", "/eu")
    assert doc["justification"] == "INC-1\nsecond line"
    assert doc["hash"] == event.hash


def test_cef_escapes_backslash_pipe_equals_and_newlines():
    record_event(actor=None, action="assignment.activated", role="a|b", scope="/x=y",
                 justification="line1\nline2 back\\slash")  # fmt: skip
    event = AuditEvent.objects.get()

    line = siem.cef(event)

    assert line.startswith("CEF:0|PIM|PIM|1|assignment.activated|assignment activated|5|rt=")
    assert "\n" not in line
    assert "cs1Label=role cs1=a\\|b" in line
    assert "cs2Label=scope cs2=/x\\=y" in line
    assert "msg=line1\\nline2 back\\\\slash" in line
    assert f"externalId={event.sequence}" in line


def test_syslog_over_tcp_is_rfc5424_with_octet_counting():
    [event] = append(1)

    message = siem.syslog_message(event, hostname="pim.example.com")
    framed = siem.octet_counted(message)

    assert message.startswith(b"<110>1 ")  # facility 13 (log audit), informational
    assert b"cs3Label" not in message  # no target, no label
    assert b" pim.example.com pim - - - CEF:0|PIM|PIM|1|test.appended|" in message
    length, _, rest = framed.partition(b" ")
    assert int(length) == len(rest) and rest == message


# export_audit ------------------------------------------------------------------------------


def test_export_writes_every_event_in_sequence_order_as_json_lines():
    append(3)

    lines = export()

    assert [json.loads(line)["sequence"] for line in lines] == [1, 2, 3]


def test_export_since_a_sequence_gives_the_events_after_it_as_cef():
    append(4)

    lines = export("--since", "2", "--format", "cef")

    assert [line.split("externalId=")[1].split(" ")[0] for line in lines] == ["3", "4"]
    assert all(line.startswith("CEF:0|PIM|PIM|1|") for line in lines)


def test_export_since_a_date_time_without_offset_reads_it_as_utc(time_machine):
    time_machine.move_to(T0, tick=False)
    append(1)
    time_machine.move_to(T0 + timedelta(hours=2), tick=False)
    append(1)

    assert [json.loads(line)["sequence"] for line in export("--since", "2026-11-23T10:00:00")] == [2]
    assert [json.loads(line)["sequence"] for line in export("--since", "2026-11-23T10:00:00+02:00")] == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "neither a sequence number"),
        (["--since", "-3"], "neither a sequence number"),
        (["--since", "2026-13-45"], "neither a sequence number"),
        (["--format", "xml"], "is not one of: jsonl, cef"),
    ],
)
def test_export_refuses_bad_arguments_with_a_message_and_exit_2(args, message):
    with pytest.raises(CommandError, match=message) as excinfo:
        export(*args)

    assert excinfo.value.returncode == 2


# Forwarding over TCP -----------------------------------------------------------------------


class SyslogTcpReceiver:
    """A syslog server on 127.0.0.1 that is down (bound, not listening: connections are
    refused) until `up()`. Collects the octet-counted messages it receives."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.messages: list[bytes] = []
        self.received = threading.Event()  # set after each connection is read to its end

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def up(self) -> None:
        self.sock.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buffer = b""
                while chunk := conn.recv(65536):
                    buffer += chunk
                while buffer:
                    length, _, rest = buffer.partition(b" ")
                    self.messages.append(rest[: int(length)])
                    buffer = rest[int(length) :]
            self.received.set()

    def wait(self) -> None:
        assert self.received.wait(5)
        self.received.clear()

    def sequences(self) -> list[int]:
        return [int(m.split(b"externalId=")[1].split(b" ")[0]) for m in self.messages]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver(settings):
    receiver = SyslogTcpReceiver()
    settings.PIM_SIEM_SYSLOG = receiver.url
    yield receiver
    receiver.close()


def cursor() -> SiemCursor:
    return SiemCursor.objects.get()


def test_receiver_down_then_up_gets_every_event_once_in_order(receiver, monkeypatch):
    monkeypatch.setattr(siem, "BATCH", 2)  # several batches per run
    append(5)

    # Down: nothing is lost, the cursor stays where it was and says why.
    assert "failed: ConnectionRefusedError" in siem.forward(now=T0)
    assert siem.forward(now=T0 + timedelta(minutes=1)).startswith("sent 0, then failed")
    assert (cursor().last_sequence, cursor().claimed_until) == (0, None)
    assert "ConnectionRefusedError" in cursor().last_error
    append(2)  # the log goes on while the receiver is down

    receiver.up()
    assert siem.forward(now=T0 + timedelta(minutes=2)) == "sent 7, cursor at #7"
    receiver.wait()
    append(1)
    assert siem.forward(now=T0 + timedelta(minutes=3)) == "sent 1, cursor at #8"
    receiver.wait()
    assert siem.forward(now=T0 + timedelta(minutes=4)) == "sent 0, cursor at #8"

    assert receiver.sequences() == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (cursor().last_sequence, cursor().last_error) == (8, "")


def test_a_second_forwarder_leaves_while_the_first_holds_the_cursor(receiver):
    append(1)
    SiemCursor.objects.create(destination=receiver.url, claimed_until=T0 + timedelta(minutes=1))

    assert siem.forward(now=T0) == "another forwarder is running"
    assert cursor().last_sequence == 0


def test_without_a_destination_the_forwarder_does_nothing(settings):
    settings.PIM_SIEM_SYSLOG = settings.PIM_SIEM_HTTPS_URL = ""
    append(1)

    assert siem.forward(now=T0) == "no SIEM destination configured"
    assert not SiemCursor.objects.exists()


# Forwarding over UDP -----------------------------------------------------------------------


def test_udp_sends_one_datagram_per_event(settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(5)
        settings.PIM_SIEM_SYSLOG = f"udp://127.0.0.1:{udp.getsockname()[1]}"
        append(3)

        assert siem.forward(now=T0) == "sent 3, cursor at #3"

        datagrams = [udp.recv(65536) for _ in range(3)]
    assert [int(d.split(b"externalId=")[1].split(b" ")[0]) for d in datagrams] == [1, 2, 3]
    assert all(d.startswith(b"<110>1 ") for d in datagrams)


# Forwarding over HTTPS (plain http to loopback, as settings allow outside production) ------------


class Collector(BaseHTTPRequestHandler):
    status = 503
    bodies: list[bytes] = []
    headers_seen: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).headers_seen.append(dict(self.headers))
        if type(self).status == 200:
            type(self).bodies.append(body)
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def http_receiver(settings):
    Collector.status, Collector.bodies, Collector.headers_seen = 503, [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.PIM_SIEM_SYSLOG = ""
    settings.PIM_SIEM_HTTPS_URL = f"http://127.0.0.1:{server.server_address[1]}/ingest"
    settings.PIM_SIEM_HTTPS_TOKEN = "siem-token"  # noqa: S105
    yield Collector
    server.shutdown()
    server.server_close()


def test_https_failure_keeps_the_cursor_and_a_2xx_delivers_in_order(http_receiver, monkeypatch):
    monkeypatch.setattr(siem, "BATCH", 2)
    append(3)

    assert siem.forward(now=T0) == "sent 0, then failed: HTTP 503 Service Unavailable"
    assert cursor().last_sequence == 0

    http_receiver.status = 200
    assert siem.forward(now=T0 + timedelta(minutes=1)) == "sent 3, cursor at #3"

    lines = b"".join(http_receiver.bodies).decode().splitlines()
    assert [json.loads(line)["sequence"] for line in lines] == [1, 2, 3]
    last = http_receiver.headers_seen[-1]
    assert last["Authorization"] == "Bearer siem-token"
    assert last["Content-Type"] == "application/x-ndjson"
    assert last["Idempotency-Key"] == "pim-audit-3-3"


# Settings and schedules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("syslog.example.com:514", "must look like tcp://host:514"),
        ("ftp://syslog.example.com:514", "must look like tcp://host:514"),
        ("tcp://syslog.example.com", "needs a port"),
        ("tcp://syslog.example.com:99999", "is not a URL"),
    ],
)
def test_a_bad_syslog_url_is_refused_with_a_message(monkeypatch, value, message):
    monkeypatch.setenv("PIM_SIEM_SYSLOG", value)

    with pytest.raises(ImproperlyConfigured, match=message):
        env_url("PIM_SIEM_SYSLOG", schemes=("tcp", "udp"))


def test_the_siem_schedule_exists_only_while_a_destination_is_set(settings):
    settings.PIM_SIEM_SYSLOG = "tcp://127.0.0.1:514"
    call_command("setup_schedules", stdout=StringIO())
    schedule = Schedule.objects.get(name="pim.siem")
    assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)
    assert import_string(schedule.func) is not None

    settings.PIM_SIEM_SYSLOG = ""
    call_command("setup_schedules", stdout=StringIO())
    assert not Schedule.objects.filter(name="pim.siem").exists()
