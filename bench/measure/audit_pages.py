"""7. The audit page and the CSV export at the full size of the log."""

import time
import tracemalloc
from pathlib import Path

from django.conf import settings
from django.db import connection

from audit.models import AuditEvent
from bench import load
from bench.measure.common import (
    MIB,
    Plan,
    Profiles,
    Server,
    alternate,
    breakdown,
    client_call,
    median,
    paired,
    session_client,
)
from bench.report import Figure
from bench.seed import Seeded, verified_session
from pimsite.audit_views import EXPORT_CHUNK, EXPORT_FIELDS


def audit_pages(server: Server, seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """/audit/'s first page for an audit reader against the bare page with the same session; then the
    whole log as /audit/export.csv against a raw read of the same columns, and the worker's peak memory."""
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={verified_session(seeded.reader_id)}"}

    def page(path):
        return lambda i: load.request_bytes("GET", path, host=server.host_header, headers=cookie)

    first = load.send(server.address, page("/audit/")(0))
    if first.status != 200:
        raise RuntimeError(f"/audit/ answered {first.status} to bench-reader")
    events = AuditEvent.objects.count()
    base, figure = alternate(
        server,
        page("/bench/bare/"),
        page("/audit/"),
        rounds=plan.rounds,
        count=plan.page_requests,
        concurrency=plan.concurrency,
        what="audit page",
    )
    common = {"number": 7, "baseline_name": "bare page, same session", "limit": None}
    client = session_client(seeded.reader_id)
    where = breakdown("7. GET /audit/ (first page)", client_call(client, "get", "/audit/"), 30, profiles,
                      bare=client_call(client, "get", "/bench/bare/"))  # fmt: skip
    figures = [
        paired(
            base,
            figure,
            name=f"Audit page (first page of {events:,} events) p50 latency",
            unit="ms",
            kind="p50",
            scale=1000,
            notes=[where],
            **common,
        ),
        paired(base, figure, name="Audit page p95 latency", unit="ms", kind="p95", scale=1000, **common),
    ]
    return figures + _export(server, page("/audit/export.csv")(0), plan, seeded.reader_id)


def _read_export_rows() -> tuple[int, float]:
    sql, params = AuditEvent.objects.order_by("sequence").values(*EXPORT_FIELDS).query.sql_with_params()
    rows = 0
    started = time.perf_counter()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(EXPORT_CHUNK):
            rows += len(batch)
    return rows, time.perf_counter() - started


def _memory(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} for {pid}")


def _reset_peaks(pids: list[int]) -> dict[int, int] | None:
    """Reset each worker's peak resident size (VmHWM) to its current size; None where Linux
    refuses (another user's processes, an old kernel)."""
    try:
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        return {pid: _memory(pid, "VmRSS") for pid in pids}
    except OSError:
        return None


def _in_process_export_peak(reader_id: int) -> float:
    """The fallback: the export's peak Python allocations, streamed through the test client."""
    client = session_client(reader_id)
    tracemalloc.start()
    try:
        response = client.get("/audit/export.csv")
        for _ in response.streaming_content:
            pass
        return tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def _export(server: Server, raw: bytes, plan: Plan, reader_id: int) -> list[Figure]:
    workers = server.workers()
    bases, values, growth = [], [], []
    for _ in range(plan.export_rounds):
        rows, seconds = _read_export_rows()
        bases.append(rows / seconds)
        before = _reset_peaks(workers)
        response = load.send(server.address, raw, keep_body=False, timeout=600)
        if response.status != 200 or response.lines - 1 != rows:
            raise RuntimeError(f"the export answered {response.status} with {response.lines - 1} rows, not {rows}")
        values.append(rows / response.seconds)
        if before is not None:
            grown = {pid: _memory(pid, "VmHWM") - before[pid] for pid in workers}
            busiest = max(grown, key=grown.get)
            growth.append(grown[busiest] / MIB)
    ratios = [v / b for b, v in zip(bases, values, strict=True)]
    file_mib = response.size / MIB  # what holding the whole export would take, at least
    if growth:
        memory = Figure(
            number=7, name="Audit export peak memory growth (gunicorn worker)", value=median(growth), unit="MiB",
            baseline=file_mib, baseline_name="the CSV's size", ratio=median(growth) / file_mib,
            ratio_means="growth ÷ file size", goal="report",
            passed=None, notes=["VmHWM after the export minus VmRSS before it, the peak reset through clear_refs"],
        )  # fmt: skip
    else:
        peak = _in_process_export_peak(reader_id)
        memory = Figure(
            number=7, name="Audit export peak memory (in-process)", value=peak, unit="MiB", baseline=file_mib,
            baseline_name="the CSV's size", ratio=peak / file_mib, ratio_means="peak ÷ file size",
            goal="report", passed=None,
            notes=["the server's peak could not be reset (clear_refs refused): tracemalloc's peak of an "
                   "in-process export through the test client"],
        )  # fmt: skip
    return [
        Figure(
            number=7,
            name=f"Audit export (CSV, {rows:,} rows)",
            value=median(values),
            unit="rows/s",
            baseline=median(bases),
            baseline_name="server-side cursor read of the same columns",
            ratio=median(ratios),
            ratio_means="export ÷ read",
            goal="report",
            passed=None,
            rounds=[{"baseline": b, "figure": v, "ratio": r} for b, v, r in zip(bases, values, ratios, strict=True)],
            notes=["the whole file over HTTP, counted line by line as it streams"],
        ),
        memory,
    ]
