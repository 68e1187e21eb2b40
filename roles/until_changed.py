"""UntilChanged: reads a process keeps in memory until the time they could change by the clock
alone, or until PostgreSQL says a table they read has changed, whichever comes first.

For the hottest reads only (the access decision and the API token behind it): a gateway asks
the same few questions over and over, and the answer to each can change in only two ways.
Time: an assignment starts or ends at an instant the read already knows, so an entry carries
the first such instant and is not used from it on (exact to the microsecond, like the read).
Writes: every write to a table these reads use fires a statement trigger that sends
NOTIFY pim_changed at its commit (migrations roles 0012 and pimsite 0002), whoever writes it,
the ORM, the admin, a migration or a psql session. One thread per process LISTENs and empties
every cache at each notification.

A cache answers only while its process is listening. Before the listener is connected, after
its connection breaks and until it is back, every read goes to the database as if there were
no cache. An answer read from the database is kept only if no notification arrived while it
was being read (the generation counter), so a change that commits during the read is never
remembered as the old answer. What is left is the notification's delivery, well under a
millisecond on one machine: a request in that instant may see the answer of just before the
commit, as it would had it arrived a moment earlier.

Only on PostgreSQL, and only where settings.PIM_CACHE_UNTIL_CHANGED is on (the default; the
test suite turns it off but for the tests of this module, because a test's transaction never
commits and so never notifies)."""

import logging
import os
import threading
import time
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "pim_changed"
# However long a read may stay true by the clock, it is read again after this: a bound on what a
# notification lost in some way nobody foresaw could cost.
MAX_AGE = timedelta(minutes=5)
_PING_EVERY = 30.0  # seconds without a notification after which the listener checks its link
_RETRY_AFTER = (0.5, 1, 2, 5, 10)  # seconds between attempts to listen again


class UntilChanged:
    """One cache: key -> (value, from, until), at most `limit` entries (emptied when full)."""

    def __init__(self, name: str, *, limit: int = 20_000):
        self.name = name
        self.limit = limit
        self._entries: dict[Hashable, tuple[Any, datetime, datetime]] = {}
        _listener.caches.append(self)

    def get(self, key: Hashable, *, at: datetime) -> Any:
        """The value kept for `key` if it holds at `at`, else None."""
        entry = self._entries.get(key) if _listener.listening() else None
        if entry is None:
            return None
        value, valid_from, valid_until = entry
        return value if valid_from <= at < valid_until else None

    def generation(self) -> int | None:
        """Take before reading the database; give to remember(). None: do not keep anything now."""
        return _listener.generation() if _listener.listening() else None

    def remember(self, key: Hashable, value: Any, *, generation: int | None, at: datetime, until: datetime | None):
        """Keep `value`, read at `at`, as true until `until` (None: as long as MAX_AGE allows),
        unless a notification arrived since `generation` was taken."""
        if generation is None:
            return
        until = at + MAX_AGE if until is None else min(until, at + MAX_AGE)
        with _listener.lock:
            if _listener.current_generation != generation:
                return  # something changed while it was read: it may already be stale
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (value, at, until)

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def enabled() -> bool:
    return getattr(settings, "PIM_CACHE_UNTIL_CHANGED", True) and connections["default"].vendor == "postgresql"


class _Listener:
    """The process's one LISTEN connection and the thread that reads it (started on first use,
    again in a forked child)."""

    def __init__(self):
        self.caches: list[UntilChanged] = []
        self.lock = threading.Lock()
        self.flushed = threading.Condition(self.lock)
        self.last_payload = ""  # of the newest notification read (tests send their own to wait for)
        self.current_generation = 0
        self._listening = threading.Event()
        self._started_in: int | None = None  # the pid whose thread this is
        self._stop = threading.Event()

    def listening(self) -> bool:
        if not enabled():
            return False
        if self._started_in != os.getpid():
            self._start()
        return self._listening.is_set()

    def generation(self) -> int:
        return self.current_generation

    def flush(self, *, listening: bool, payload: str = "") -> None:
        """Empty every cache; from now on answer from them only if `listening`."""
        with self.lock:
            self.current_generation += 1
            self.last_payload = payload
            if not listening:
                self._listening.clear()
            for cache in self.caches:
                cache.clear()
            if listening:
                self._listening.set()
            self.flushed.notify_all()

    def wait_until_listening(self, timeout: float, since: int | None) -> bool:
        self.listening()
        if since is None:
            return self._listening.wait(timeout)
        with self.lock:  # a break and a new connection: two flushes at least
            return self.flushed.wait_for(
                lambda: self.current_generation >= since + 2 and self._listening.is_set(), timeout
            )

    def wait_for(self, payload: str, timeout: float) -> bool:
        with self.lock:
            return self.flushed.wait_for(lambda: self.last_payload == payload, timeout)

    def _start(self) -> None:
        with self.lock:
            if self._started_in == os.getpid():
                return
            self._started_in = os.getpid()
            self._listening.clear()
            self._stop = stop = threading.Event()  # this thread's own: a stopped one never resumes
            for cache in self.caches:  # a forked child starts from nothing
                cache.clear()
        params = {**connections["default"].get_connection_params(), "application_name": "pim-until-changed"}
        thread = threading.Thread(target=self._run, args=(params, stop), name="pim-until-changed", daemon=True)
        thread.start()

    def stop(self) -> None:
        """For tests: stop listening (the caches answer nothing); the thread ends within a second."""
        self._stop.set()
        self.flush(listening=False)
        self._started_in = None

    def _run(self, params: dict, stop: threading.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    if stop.is_set():
                        return
                    self.flush(listening=True)  # what was read before we listened may be stale
                    attempt = 0
                    self._read(connection, stop)
            except (psycopg.Error, OSError) as error:
                if not stop.is_set():
                    logger.warning("until_changed: not listening (%s); reading from the database", error)
            finally:
                if not stop.is_set():  # stopped: stop() flushed, and a new thread may be listening
                    self.flush(listening=False)
            if stop.wait(_RETRY_AFTER[min(attempt, len(_RETRY_AFTER) - 1)]):
                return
            attempt += 1

    def _read(self, connection, stop: threading.Event) -> None:
        quiet_since = time.monotonic()
        while not stop.is_set():
            for notification in connection.notifies(timeout=1.0):  # each as it arrives; a second at most
                if stop.is_set():
                    return
                self.flush(listening=True, payload=notification.payload)
                quiet_since = time.monotonic()
            if time.monotonic() - quiet_since > _PING_EVERY:
                connection.execute("SELECT 1")  # a link that died quietly raises here
                quiet_since = time.monotonic()


_listener = _Listener()


def wait_until_listening(timeout: float = 10.0, *, since: int | None = None) -> bool:
    """True once this process listens (for tests and the benchmark's warm-up); with `since`,
    once it listens again after the caches were emptied at least twice since that generation."""
    return _listener.wait_until_listening(timeout, since)


def generation() -> int:
    """How many times this process's caches were emptied (for tests)."""
    return _listener.current_generation


def wait_for_notification(payload: str, timeout: float = 10.0) -> bool:
    """For tests: True once the listener read a notification with this payload, and so every
    one sent before it (PostgreSQL delivers them in commit order)."""
    return _listener.wait_for(payload, timeout)


def stop_listening() -> None:
    _listener.stop()
