"""A small HTTP load client on plain sockets and threads: the standard library is enough, and a
client that does little per request takes little of the 2 cores away from the server.

gunicorn's sync workers close the connection after every response, so each request is one
connection: connect, send, read to the end. Requests are HTTP/1.0 so that a streamed response
comes back unchunked and its lines can be counted as they arrive."""

import socket
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

USER_AGENT = "pim-bench/1 (standard library)"


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float
    size: int = 0
    lines: int = 0


def request_bytes(
    method: str,
    path: str,
    *,
    host: str,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    target = f"{path}?{urlencode(query)}" if query else path
    lines = [f"{method} {target} HTTP/1.0", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(address: tuple[str, int], raw: bytes, *, keep_body: bool = True, timeout: float = 120.0) -> Response:
    """One request; the body is kept (or only measured, for a long export)."""
    started = time.perf_counter()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(raw)
        chunks, size, lines, head, pending = [], 0, 0, b"", b""
        while True:
            chunk = sock.recv(262144)
            if not chunk:
                break
            if not head:
                head = chunk[:64]
            size += len(chunk)
            if keep_body:
                chunks.append(chunk)
            elif pending is not None:  # still in the headers: count lines of the body only
                pending += chunk
                if b"\r\n\r\n" in pending:
                    lines += pending.split(b"\r\n\r\n", 1)[1].count(b"\n")
                    pending = None
            else:
                lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    data = b"".join(chunks)
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    body = data.split(b"\r\n\r\n", 1)[1] if keep_body and b"\r\n\r\n" in data else b""
    return Response(status, body, seconds, size=size, lines=lines)


@dataclass
class Run:
    """One burst of requests: their latencies, statuses, and the wall time of the whole burst."""

    wall: float
    responses: list[Response] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # exceptions, and statuses other than expected

    @property
    def throughput(self) -> float:
        return len(self.responses) / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        latencies = sorted(response.seconds for response in self.responses)
        if not latencies:
            return float("nan")
        if len(latencies) == 1:
            return latencies[0]
        return statistics.quantiles(latencies, n=100, method="inclusive")[int(q) - 1]


def burst(
    address: tuple[str, int],
    make: Callable[[int], bytes],
    count: int,
    *,
    concurrency: int,
    expect: Sequence[int] = (200,),
    check: Callable[[Response], str | None] | None = None,
) -> Run:
    """`count` requests, `make(i)` building the i-th just before it is sent (fresh OTP codes),
    from `concurrency` threads, each taking the next index as soon as it is free."""
    counter = iter(range(count))
    lock = threading.Lock()
    responses: list[Response] = []
    failures: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            try:
                response = send(address, make(index))
            except OSError as error:
                with lock:
                    failures.append(f"request {index}: {error!r}")
                continue
            problem = None if response.status in expect else f"HTTP {response.status}: {response.body[:300]!r}"
            if problem is None and check is not None:
                problem = check(response)
            with lock:
                responses.append(response)
                if problem:
                    failures.append(f"request {index}: {problem}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()  # a bug in the client surfaces here rather than as missing requests
    return Run(time.perf_counter() - started, responses, failures)
