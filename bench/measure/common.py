"""What the figures share: the plans, the server, alternating rounds, and where the time goes."""

import cProfile
import io
import pstats
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import Client

from bench import load
from bench.report import Figure
from bench.seed import verified_session

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    rounds: int  # baseline/figure pairs for the HTTP figures
    check_requests: int  # per round and side
    page_requests: int
    concurrency: int  # client connections for reads; 2 per gunicorn worker keeps both busy
    sweep_assignments: int  # per round
    sweep_rounds: int
    verify_rounds: int
    activation_rounds: int
    activations: int  # in all; one per user (the API allows 10 code-carrying POSTs a minute per user)
    activation_concurrency: int
    export_rounds: int
    expiring: int  # activations that end at known instants, with the cluster running
    expiry_lead_seconds: int  # from making the first to the first end (all are made by then)
    expiry_spread_seconds: int  # from the first end to the last


QUICK_PLAN = Plan(
    rounds=3,
    check_requests=200,
    page_requests=40,
    concurrency=4,
    sweep_assignments=190,
    sweep_rounds=3,
    verify_rounds=2,
    activation_rounds=3,
    activations=150,
    activation_concurrency=8,
    export_rounds=2,
    expiring=100,
    expiry_lead_seconds=20,
    expiry_spread_seconds=20,
)
FULL_PLAN = Plan(
    rounds=5,
    check_requests=1000,
    page_requests=150,
    concurrency=4,
    sweep_assignments=1990,
    sweep_rounds=3,
    verify_rounds=3,
    activation_rounds=4,
    activations=1000,
    activation_concurrency=8,
    export_rounds=3,
    expiring=1000,
    expiry_lead_seconds=45,
    expiry_spread_seconds=120,
)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int  # gunicorn's arbiter; its children are the workers

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"

    def workers(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.pid:
                    found.append(int(entry.name))
        return sorted(found)


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def median(values) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def fail_on(run: load.Run, what: str) -> None:
    if run.failures:
        raise RuntimeError(f"{what}: {len(run.failures)} failed requests, first: {run.failures[0]}")


def paired(base_runs, figure_runs, *, number, name, unit, baseline_name, limit, kind, scale=1.0, notes=()):
    """A figure from alternating rounds. kind "throughput": value req/s, ratio = baseline ÷ figure;
    "p50"/"p95": value in ms, ratio = figure ÷ baseline. Above 1 means slower than the baseline."""
    if kind == "throughput":
        values = [run.throughput for run in figure_runs]
        bases = [run.throughput for run in base_runs]
        ratios = [b / v for b, v in zip(bases, values, strict=True)]
    else:
        q = 50 if kind == "p50" else 95
        values = [run.percentile(q) * scale for run in figure_runs]
        bases = [run.percentile(q) * scale for run in base_runs]
        ratios = [v / b for b, v in zip(bases, values, strict=True)]
    ratio = median(ratios)
    return Figure(
        number=number,
        name=name,
        value=median(values),
        unit=unit,
        baseline=median(bases),
        baseline_name=baseline_name,
        ratio=ratio,
        ratio_means="bare ÷ figure" if kind == "throughput" else "figure ÷ bare",
        goal=f"≤ {limit}×" if limit else "report",
        passed=(ratio <= limit) if limit else None,
        rounds=[{"baseline": b, "figure": v, "ratio": r} for b, v, r in zip(bases, values, ratios, strict=True)],
        notes=list(notes),
    )


def alternate(
    server: Server,
    baseline,
    figure,
    *,
    rounds: int,
    count: int,
    concurrency: int,
    what: str,
    expect=(200,),
    check=None,
    warmup: int = 20,
):
    """Rounds of baseline then figure; each request built by `baseline(i)` / `figure(i)`."""
    for make in (baseline, figure):  # warm both: connections, caches, first-request imports
        fail_on(load.burst(server.address, make, warmup, concurrency=concurrency, expect=expect), f"{what} warm-up")
    base_runs, figure_runs = [], []
    for _ in range(rounds):
        for make, runs in ((baseline, base_runs), (figure, figure_runs)):
            run = load.burst(server.address, make, count, concurrency=concurrency, expect=expect, check=check)
            fail_on(run, what)
            runs.append(run)
    return base_runs, figure_runs


class Profiles:
    """Where the time goes: in-process cProfile listings, one section per figure, in one file."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def add(self, title: str, summary: str, profile: cProfile.Profile | None = None, limit: int = 30) -> None:
        text = f"{'=' * 100}\n{title}\n{summary}\n"
        if profile is not None:
            stream = io.StringIO()
            stats = pstats.Stats(profile, stream=stream)
            stats.sort_stats("cumulative").print_stats(limit)
            stats.sort_stats("tottime").print_stats(limit // 2)
            text += stream.getvalue()
        with self.path.open("a") as out:
            out.write(text + "\n")


def breakdown(title: str, call, count: int, profiles: Profiles, *, bare=None) -> str:
    """`call(i)` run `count` times in this process, without HTTP: milliseconds per call, the SQL
    statements it sends and the time they take (the slowest one explained), then once more under
    cProfile for the listing. With `bare`, the same for the bare view, for scale."""
    call(0)  # warm
    per_statement: dict[str, list] = {}  # SQL -> [seconds, calls, last params]

    def timing(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = per_statement.setdefault(sql, [0.0, 0, None])
            entry[0] += time.perf_counter() - started
            entry[1] += 1
            entry[2] = params

    with connection.execute_wrapper(timing):
        started = time.perf_counter()
        for i in range(1, count + 1):
            call(i)
        wall = (time.perf_counter() - started) / count
    in_sql = sum(entry[0] for entry in per_statement.values()) / count
    statements = sum(entry[1] for entry in per_statement.values()) / count
    summary = (
        f"in-process without HTTP: {wall * 1000:.1f} ms per request, {statements:.1f} SQL statements "
        f"taking {in_sql * 1000:.1f} ms ({in_sql / wall:.0%})"
    )
    slowest = sorted(per_statement.items(), key=lambda item: -item[1][0])
    if slowest and slowest[0][1][0] / count > 0.3 * in_sql and in_sql > 0.002:
        sql, (seconds, calls, _) = slowest[0]
        summary += f", {seconds / count * 1000:.1f} ms of it in one: {sql[:90]}…"
    if bare is not None:
        bare(0)
        started = time.perf_counter()
        for i in range(count):
            bare(i)
        summary += f"; the bare view {(time.perf_counter() - started) / count * 1000:.1f} ms"
    details = "\n".join(
        f"  {seconds / count * 1000:7.2f} ms/request in {calls / count:.1f} calls: {sql[:400]}"
        for sql, (seconds, calls, _) in slowest[:6]
    )
    if slowest and slowest[0][0].lstrip().upper().startswith("SELECT"):
        sql, (_, _, params) = slowest[0]
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            details += "\n\nEXPLAIN ANALYZE of the slowest:\n" + "\n".join(row[0] for row in cursor.fetchall())
    profile = cProfile.Profile()
    profile.runcall(lambda: [call(i) for i in range(count + 1, 2 * count + 1)])
    profiles.add(title, f"{summary}\nSlowest statements:\n{details}", profile)
    return f"{summary} (cProfile in {profiles.path.name})"


def client_call(client: Client, method: str, path: str, *, expect: int = 200, data=None, **extra):
    def call(i: int):
        response = getattr(client, method)(path, data(i) if data else None, **extra)
        if response.status_code != expect:
            raise RuntimeError(f"{method.upper()} {path} answered {response.status_code} in-process")
        if getattr(response, "streaming", False):
            for _ in response.streaming_content:
                pass
        return response

    return call


def session_client(user_id: int) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = verified_session(user_id)
    return client
