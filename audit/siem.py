"""Audit events for a SIEM: as JSON lines or CEF (`manage.py export_audit`), and forwarded by a
django-q2 schedule (`pim.siem`) to a syslog server (RFC 5424 over TCP or UDP, CEF payload) or
an HTTPS endpoint (newline-delimited JSON).

The forwarder remembers, per destination, the last sequence the destination acknowledged
(`SiemCursor`). It sends the events after it in sequence order, in batches, and moves the cursor
only after a batch is acknowledged: TCP `sendall` returned, or HTTPS answered 2xx. On a failure
it stops and keeps the cursor, so after an outage everything is sent, in order, once. A crash
between the acknowledgement and saving the cursor sends that batch again (at-least-once): CEF's
externalId and the JSON `sequence` let the receiver drop the repeat. UDP acknowledges nothing:
a datagram to a receiver that is down is lost, so prefer TCP or HTTPS.
"""

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from audit.models import AuditEvent, SiemCursor

logger = logging.getLogger(__name__)

BATCH = 500
TIMEOUT = 10  # seconds, per connection and per HTTPS request
# forward() starts no new batch after this many seconds, well inside the task timeout of 60 s.
TIME_BUDGET = 30.0
# Longer than a run may take (TIME_BUDGET plus one batch's TIMEOUT): a claim older than this
# belongs to a worker that died, and the next run takes it back.
LEASE = timedelta(minutes=2)
SYSLOG_FACILITY = 13  # "log audit" (RFC 5424 table 1)
APP_NAME = "pim"


# Formats ---------------------------------------------------------------------------------


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """The event as the JSON line shows it: every stored field, usernames rather than ids."""
    return {
        "sequence": event.sequence,
        "occurred_at": _rfc3339(event.occurred_at),
        "action": event.action,
        "actor": event.actor_username,
        "principal": event.principal_username,
        "role": event.role,
        "scope": event.scope,
        "justification": event.justification,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def jsonl(event: AuditEvent) -> str:
    """One line of JSON, no newline inside (json escapes them)."""
    return json.dumps(event_dict(event), cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def severity(action: str) -> int:
    """CEF severity 0-10: a broken chain is the worst news the log can give."""
    if action == "audit.chain_broken":
        return 10
    if action.endswith((".refused", ".failed", ".denied", ".locked_out")):
        return 6
    if action.startswith(("assignment.", "activation.", "eligibility.")):
        return 5
    return 3


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("=", "\\=")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def cef(event: AuditEvent) -> str:
    """CEF:0|PIM|PIM|1|<action>|<action readable>|<severity>|<extension>, on one line."""
    readable = event.action.replace(".", " ").replace("_", " ")
    extension = {
        "rt": int(event.occurred_at.timestamp() * 1000),
        "suser": event.actor_username,
        "duser": event.principal_username,
        "cs1Label": "role",
        "cs1": event.role,
        "cs2Label": "scope",
        "cs2": event.scope,
        "cs3Label": "target",
        "cs3": f"{event.target_type}:{event.target_id}" if event.target_type else "",
        "cs4Label": "hash",
        "cs4": event.hash,
        "msg": event.justification,
        "externalId": event.sequence,
        "src": event.client_ip or "",
        "requestClientApplication": event.user_agent,
    }
    for number in range(1, 5):  # a label without its value tells the SIEM nothing
        if extension[f"cs{number}"] == "":
            del extension[f"cs{number}Label"]
    fields = " ".join(f"{key}={_cef_value(value)}" for key, value in extension.items() if value != "")
    header = "|".join(_cef_header(part) for part in ("PIM", "PIM", "1", event.action, readable))
    return f"CEF:0|{header}|{severity(event.action)}|{fields}"


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _syslog_severity(cef_severity: int) -> int:
    # RFC 5424 severities: 2 critical, 4 warning, 5 notice, 6 informational.
    return 2 if cef_severity >= 9 else 4 if cef_severity >= 6 else 5 if cef_severity >= 4 else 6


def syslog_message(event: AuditEvent, *, hostname: str | None = None) -> bytes:
    """RFC 5424: <PRI>1 TIMESTAMP HOST pim - - - CEF:..."""
    pri = SYSLOG_FACILITY * 8 + _syslog_severity(severity(event.action))
    host = "".join((hostname or socket.gethostname() or "-").split())[:255] or "-"
    return f"<{pri}>1 {_rfc3339(event.occurred_at)} {host} {APP_NAME} - - - {cef(event)}".encode()


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting framing for syslog over TCP: LEN SP MSG."""
    return b"%d " % len(message) + message


# Forwarding ------------------------------------------------------------------------------


class ForwardError(Exception):
    """The destination did not acknowledge a batch; the cursor stays where it was."""


@dataclass(frozen=True)
class Destination:
    url: str  # also the SiemCursor key

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme


def configured_destination() -> Destination | None:
    """PIM_SIEM_SYSLOG or PIM_SIEM_HTTPS_URL (settings validated them), or None."""
    url = settings.PIM_SIEM_SYSLOG or settings.PIM_SIEM_HTTPS_URL
    return Destination(url) if url else None


def forward(*, now: datetime) -> str:
    """Send the events after the destination's cursor, in order, in batches of BATCH, for up
    to TIME_BUDGET seconds. Returns a one-line summary. Safe to run concurrently: a lease on
    the cursor row lets one run send at a time."""
    destination = configured_destination()
    if destination is None:
        return "no SIEM destination configured"
    SiemCursor.objects.get_or_create(destination=destination.url)
    lease_until = now + LEASE
    free = SiemCursor.objects.filter(destination=destination.url).exclude(claimed_until__gt=now)
    if free.update(claimed_until=lease_until, last_attempt_at=now) != 1:
        return "another forwarder is running"
    ours = SiemCursor.objects.filter(destination=destination.url, claimed_until=lease_until)
    cursor = ours.get()
    sent = 0
    started = time.monotonic()
    sender = _Sender(destination)
    try:
        while time.monotonic() - started < TIME_BUDGET:
            batch = list(AuditEvent.objects.filter(sequence__gt=cursor.last_sequence).order_by("sequence")[:BATCH])
            if not batch:
                break
            sender.send(batch)
            last = batch[-1].sequence
            # Acknowledged: move the cursor. If our lease ran out, another run owns it now: stop.
            if not ours.update(last_sequence=last, last_success_at=now, last_error=""):
                return f"sent {sent + len(batch)}; lease lost, stopping"
            cursor.last_sequence = last
            sent += len(batch)
    except ForwardError as error:
        ours.update(last_error=str(error)[:1000], claimed_until=None)
        logger.warning("SIEM %s: %s; %s sent, cursor at #%s", destination.url, error, sent, cursor.last_sequence)
        return f"sent {sent}, then failed: {error}"
    finally:
        sender.close()
    ours.update(claimed_until=None)
    return f"sent {sent}, cursor at #{cursor.last_sequence}"


class _Sender:
    """One connection per forward() run; each batch acknowledged or ForwardError."""

    def __init__(self, destination: Destination):
        self.destination = destination
        self.sock: socket.socket | None = None
        self.hostname = urlsplit(settings.PIM_SITE_URL).hostname or socket.gethostname()

    def send(self, events: list[AuditEvent]) -> None:
        scheme = self.destination.scheme
        try:
            if scheme == "tcp":
                data = b"".join(octet_counted(syslog_message(e, hostname=self.hostname)) for e in events)
                self._socket(socket.SOCK_STREAM).sendall(data)
            elif scheme == "udp":
                sock = self._socket(socket.SOCK_DGRAM)
                for event in events:
                    sock.send(syslog_message(event, hostname=self.hostname))
            else:
                self._post(events)
        except OSError as error:  # refused, reset, unreachable, timed out
            self.close()
            raise ForwardError(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from error

    def _socket(self, kind: int) -> socket.socket:
        if self.sock is None:
            parts = urlsplit(self.destination.url)
            if kind == socket.SOCK_STREAM:
                self.sock = socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT)
            else:
                self.sock = _udp_socket(parts.hostname, parts.port)
        return self.sock

    def _post(self, events: list[AuditEvent]) -> None:
        body = "".join(jsonl(event) + "\n" for event in events).encode()
        headers = {
            "Content-Type": "application/x-ndjson",
            "User-Agent": "PIM-SIEM/1",
            # The same for a resend of the same batch, so the receiver can drop it.
            "Idempotency-Key": f"pim-audit-{events[0].sequence}-{events[-1].sequence}",
        }
        if settings.PIM_SIEM_HTTPS_TOKEN:
            headers["Authorization"] = f"Bearer {settings.PIM_SIEM_HTTPS_TOKEN}"
        request = urllib.request.Request(self.destination.url, data=body, method="POST", headers=headers)  # noqa: S310  settings allow https, or http to loopback outside production
        try:
            with _opener.open(request, timeout=TIMEOUT) as response:
                response.read(1024)
        except urllib.error.HTTPError as error:  # any status outside 2xx, redirects included
            raise ForwardError(f"HTTP {error.code} {error.reason}") from error

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _udp_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.settimeout(TIMEOUT)
    sock.connect(address)
    return sock


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would resend the batch (and the token) somewhere else: fail instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)
