"""A throw-away PostgreSQL 15 server for one benchmark run, as tests/with-postgres.sh starts one:
an unprivileged user (PostgreSQL refuses root), a free loopback port, data and socket in a fresh
temporary directory, stopped and removed when the `with` block ends, however it ends.

Unlike the test server, this one keeps fsync and synchronous_commit on: the expiry sweep and
the activations commit once per assignment, and a benchmark that skipped the flush would report
a speed no production server has."""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Production-like for a 2-core, 24 GiB machine; the audit table alone is about 0.5 GiB at 1M events.
SERVER_OPTIONS = (
    "-c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min -c max_connections=100 "
    "-c effective_cache_size=8GB -c maintenance_work_mem=256MB"
)


def _pg_bin() -> Path | None:
    candidates = [os.environ.get("PGBIN", ""), "/usr/lib/postgresql/15/bin"]
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        candidates.append(str(Path(pg_ctl).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    return None


def _install_if_missing() -> Path:
    found = _pg_bin()
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("PostgreSQL 15 server programs are missing (apt-get install postgresql-15)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607  Debian's own client
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "postgresql-15"],  # noqa: S607
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    found = _pg_bin()
    if not found:
        raise RuntimeError("apt-get installed postgresql-15 but initdb and pg_ctl are still missing")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True)  # noqa: S603  PostgreSQL's own programs


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a server and yield its DATABASE_URL; stop it and delete its files on the way out."""
    pg_bin = _install_if_missing()
    as_user: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="pim-pgbench."))
    if os.geteuid() == 0:
        if _run(["id", "postgres"]).returncode != 0:
            _run(["useradd", "--system", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "postgres"])
        shutil.chown(directory, user="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    directory.chmod(0o700)
    data, log = directory / "data", directory / "server.log"
    pg_ctl = [*as_user, str(pg_bin / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        initdb = _run([*as_user, str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                       "--locale=C.UTF-8", "--no-sync"])  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        port = _free_port()
        options = f"-h 127.0.0.1 -p {port} -k {directory} {SERVER_OPTIONS}"
        started = True  # from here pg_ctl may have started it even when it says it failed
        start = _run([*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"])
        if start.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{start.stderr}{log.read_text() if log.exists() else ''}")
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"])
        shutil.rmtree(directory, ignore_errors=True)
