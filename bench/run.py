"""`make bench`: start PostgreSQL, migrate, seed, serve with gunicorn, measure, report.

Exit status: 0 when every goal is met, 1 when one is missed, 2 when the run itself failed.
The server, gunicorn and the temporary files are removed however the run ends (an error, Ctrl-C,
SIGTERM)."""

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.postgres import throwaway_server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKERS = 2


def _environment(database_url: str, scratch: Path) -> dict[str, str]:
    """Production settings, as an operator would run PIM on one machine behind a TLS proxy,
    minus the TLS: PIM_SSL_REDIRECT=0 because the load comes over plain HTTP on the loopback
    (with it on, every request would be a redirect to https://). Everything else that
    PIM_ENV=production switches on stays on: no DEBUG, a real secret key, host checking, HSTS
    and secure-cookie headers, the compressed manifest static files storage. PIM_API_RATE is
    raised because one token asks every access decision here; at the default 600/minute the
    benchmark would measure 429s (the throttle still runs, so its cost is in the figure)."""
    return {
        "PIM_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",  # testserver: the in-process query counts
        "PIM_SSL_REDIRECT": "0",
        "PIM_API_RATE": "1000000/minute",
        "PIM_LOG_LEVEL": "WARNING",
        "PIM_SITE_URL": "https://pim.example.com",
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_STATIC_ROOT": str(scratch / "static"),
        "BENCH_SCRATCH": str(scratch),
        "PYTHONPATH": str(ROOT),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(scratch: Path) -> Iterator:
    from bench.measure import Server
    from bench.measure.common import stop

    port = _free_port()
    log = scratch / "gunicorn.log"
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "600",
        "--graceful-timeout",
        "10",
        "--backlog",
        "2048",
        "--chdir",
        str(ROOT),
        "pimsite.wsgi:application",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    try:
        server = Server("127.0.0.1", port, process.pid)
        _wait_until_up(server, process, log)
        yield server
    finally:
        stop(process, timeout=20)


def _wait_until_up(server, process: subprocess.Popen, log: Path) -> None:
    from bench import load

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            answer = load.send(server.address, load.request_bytes("GET", "/healthz", host=server.host_header))
            if answer.status == 200 and len(server.workers()) == WORKERS:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within 90 s:\n{log.read_text()[-3000:]}")


def _step(name: str):
    print(f"[bench] {name}", flush=True)
    return time.perf_counter()


# The figures of issue 10, by the name --only takes, in the order they run.
FIGURES = {
    "access": "1. access decision",
    "my-roles": "2. my roles",
    "exactness": "3. exactness of expiry",
    "audit": "7. audit page and export",
    "activations": "6. activations",
    "sweep": "4. expiry sweep",
    "verify": "5. verify_audit",
}
SERVED = {"access": "access_decision", "my-roles": "my_roles", "exactness": "exactness", "audit": "audit_pages",
          "activations": "activations"}  # fmt: skip
IN_PROCESS = {"sweep": "expiry_sweep", "verify": "verify_audit"}


def run(*, quick: bool, results_dir: Path, only: list[str] | None = None) -> int:
    only = [name for name in FIGURES if name in (only or FIGURES)]
    mode = "quick" if quick else "full"
    if only != list(FIGURES):  # a partial run does not overwrite the whole table
        mode += "-" + "+".join(only)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="pim-bench."))
    try:
        t = _step("starting a throw-away PostgreSQL 15")
        with throwaway_server() as database_url:
            os.environ.update(_environment(database_url, scratch))
            import django

            django.setup()
            from django.core.management import call_command

            from bench import measure, report, seed

            t = _step(f"PostgreSQL up in {time.perf_counter() - t:.1f} s; migrating")
            call_command("migrate", verbosity=0, interactive=False)
            call_command("collectstatic", verbosity=0, interactive=False)
            size, plan = (seed.QUICK, measure.QUICK_PLAN) if quick else (seed.FULL, measure.FULL_PLAN)
            t = _step(f"migrated and collected static files in {time.perf_counter() - t:.1f} s; seeding {size}")
            seeded = seed.seed(size)
            seed_seconds = time.perf_counter() - t
            _step(f"seeded in {seed_seconds:.1f} s: {seeded.counts}")
            figures: list = []
            profiles = measure.Profiles(results_dir / f"{mode}-profiles.txt")
            served = [name for name in only if name in SERVED]
            if served:
                with gunicorn(scratch) as server:
                    _step(f"gunicorn ({WORKERS} sync workers) on {server.host_header}")
                    for name in served:
                        _step(FIGURES[name])
                        figures += getattr(measure, SERVED[name])(server, seeded, plan, profiles)
            for name in [name for name in only if name in IN_PROCESS]:
                _step(FIGURES[name])
                figures += getattr(measure, IN_PROCESS[name])(seeded, plan, profiles)
            figures.sort(key=lambda figure: figure.number)  # stable: each figure's rows keep their order
            from django.db import connections

            from roles import until_changed

            until_changed.stop_listening()  # this process's listener, before the server stops under it
            connections.close_all()  # before the server stops
        meta = {
            "mode": mode,
            "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "server": f"gunicorn, {WORKERS} sync workers, PIM_ENV=production with PIM_SSL_REDIRECT=0, "
            "PostgreSQL 15 (fsync on) on the same 2-core machine as the client",
            "data_set": seeded.counts,
            "seed_seconds": {k: round(v, 1) for k, v in seeded.timings.items()},
        }
        print()
        print(report.table(figures))
        json_path, md_path = report.write(figures, meta, results_dir)
        missed = [figure for figure in figures if figure.passed is False]
        print(f"\n[bench] {mode} run in {meta['wall_seconds']} s; results in {json_path} and {md_path}")
        if missed:
            print(f"[bench] {len(missed)} goal(s) missed: " + "; ".join(f.name for f in missed))
            return 1
        return 0
    except Exception:  # noqa: BLE001  any failure: say where, exit 2, clean up below
        traceback.print_exc()
        print("[bench] the run failed; nothing was measured in full", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _figure_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown figure {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the small data set (also QUICK=1)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--only", type=_figure_names, help=f"some figures, comma-separated: {', '.join(FIGURES)} (also ONLY=...)"
    )
    args = parser.parse_args(argv)
    try:
        only = args.only or _figure_names(os.environ.get("ONLY", "")) or None
    except argparse.ArgumentTypeError as error:
        parser.error(f"ONLY: {error}")
    quick = args.quick or os.environ.get("QUICK", "").strip() not in ("", "0")

    def stop(signum, frame):
        raise KeyboardInterrupt  # unwinds through the finally blocks: gunicorn and PostgreSQL stop

    for name in ("SIGTERM", "SIGHUP"):
        signal.signal(getattr(signal, name), stop)
    try:
        return run(quick=quick, results_dir=args.results_dir, only=only)
    except KeyboardInterrupt:
        print("[bench] interrupted", file=sys.stderr)
        return 130
