"""`make run` serves with `manage.py serve`: the web server and the django-q2 cluster, as real
processes on a scratch SQLite database, both stopped by one Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_health(url: str, process: subprocess.Popen, within: float = 30.0) -> dict:
    # Polling a starting server, bounded: the only waiting here, and not a stand-in for a clock.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited before the site came up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  our own loopback server
                return json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {within} s")


def _wait_for_line(path, text: str, process: subprocess.Popen, within: float = 30.0) -> None:
    # Bounded polling of a log another process writes, like _wait_for_health.
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited before it logged " + text
        if text in path.read_text():
            return
        time.sleep(0.2)
    raise AssertionError(f"serve did not log {text} within {within} s:\n{path.read_text()[-2000:]}")


@pytest.fixture
def scratch_env(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}", "PIM_ENV": "demo"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    return env


def test_serve_runs_the_site_and_the_task_cluster_and_ctrl_c_stops_both(scratch_env, tmp_path):
    port = _free_port()
    # Output to a file, not a pipe: a pipe held open by a stray worker would block the read.
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    serve = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=scratch_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz", serve)
        assert health == {"status": "ok", "database": "ok", "task_queue": "ok"}

        # A task queued on the ORM broker is picked up and run by the cluster that serve started.
        ran = subprocess.run(  # noqa: S603
            [
                sys.executable,
                "manage.py",
                "shell",
                "-c",
                "from django_q.tasks import async_task, result; "
                "print(result(async_task('math.factorial', 5), wait=20000))",
            ],
            cwd=ROOT,
            env=scratch_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.stdout.strip().splitlines()[-1] == "120", ran.stderr

        os.killpg(serve.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
        serve.wait(timeout=30)
        output = log_path.read_text()
        assert f"http://127.0.0.1:{port}/" in output
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)  # noqa: S310
    finally:
        log.close()
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)


@pytest.mark.postgres
def test_the_production_stack_serves_with_gunicorn_on_postgresql(tmp_path):
    """What `make serve` runs, against the test PostgreSQL server: migrate, collectstatic, then
    gunicorn with two workers and the task cluster, production settings, JSON logs."""
    env = {**os.environ, "PIM_ENV": "production", "SECRET_KEY": "x" * 64, "ALLOWED_HOSTS": "127.0.0.1",
           "PIM_BEHIND_TLS_PROXY": "1", "WEB_CONCURRENCY": "2", "STATIC_ROOT": str(tmp_path / "static")}  # fmt: skip
    env.pop("DJANGO_SETTINGS_MODULE", None)
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)  # noqa: S603
    assert (tmp_path / "static" / "css").is_dir()
    port = _free_port()
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    serve = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "--production", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz", serve)
        assert health == {"status": "ok", "database": "ok", "task_queue": "ok"}
        # As the TLS proxy in front would send it: over HTTPS, with its header.
        proxied = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/",
                                         headers={"X-Forwarded-Proto": "https"})  # fmt: skip
        with urllib.request.urlopen(proxied, timeout=5) as response:  # noqa: S310
            assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            assert "Secure" in response.headers["Set-Cookie"]
        # The site answers before the task cluster has said it started (a busy machine can take
        # seconds): stop both only once it has, so the cluster's own log lines are there to read.
        _wait_for_line(log_path, '"Q Cluster', serve)
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
        output = log_path.read_text()
        assert "(gunicorn) with its task cluster" in output
        assert "Booting worker" in output
        json_lines = [line for line in output.splitlines() if line.startswith("{")]
        assert json_lines and all(json.loads(line)["level"] for line in json_lines)  # the app's logs are JSON
    finally:
        log.close()
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
