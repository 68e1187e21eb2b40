"""One measurement in a fresh process, so that its peak memory is its own:

    python -m bench.child verify    # manage.py verify_audit, as an operator runs it
    python -m bench.child read      # the same rows through a server-side cursor, nothing else
    python -m bench.child verify --profile FILE   # and write a cProfile listing to FILE

Prints one JSON line: seconds, rows, and how far the process's resident size peaked above what
it was once Django was set up (VmHWM after resetting it, or ru_maxrss where that is refused)."""

import cProfile
import json
import pstats
import re
import resource
import sys
import time
from io import StringIO
from pathlib import Path


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


def _start_peak() -> tuple[str, int]:
    """Reset the peak resident size (VmHWM) to the current one, where Linux allows it; else fall
    back on ru_maxrss, whose peak may still be the one django.setup() reached."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return "VmHWM", _status_kib("VmRSS")
    except (OSError, RuntimeError):
        return "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _peak_growth(how: str, before: int) -> int:
    peak = _status_kib("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak - before


def verify() -> int:
    from django.core.management import call_command

    out = StringIO()
    call_command("verify_audit", stdout=out)  # raises CommandError on a break: the run fails
    found = re.search(r"OK: (\d+) events verified", out.getvalue())
    if not found:
        raise RuntimeError(f"verify_audit said: {out.getvalue()!r}")
    return int(found.group(1))


def read(chunk_size: int = 2000) -> int:
    """The rows verify_audit reads, in its order and chunk size, through the same kind of
    server-side cursor Django's .iterator() opens; no model instances, no hashing."""
    from django.db import connection

    from audit.models import AuditEvent

    sql, params = AuditEvent.objects.filter(sequence__gt=0).order_by("sequence").query.sql_with_params()
    rows = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(chunk_size):
            rows += len(batch)
    return rows


def main(what: str, profile_to: str | None = None) -> None:
    import django

    django.setup()
    import gc

    gc.collect()
    how, before = _start_peak()
    measure = {"verify": verify, "read": read}[what]
    profile = cProfile.Profile() if profile_to else None
    started = time.perf_counter()
    rows = profile.runcall(measure) if profile else measure()
    seconds = time.perf_counter() - started
    if profile:
        with open(profile_to, "w") as out:
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("tottime").print_stats(15)
    print(
        json.dumps(
            {
                "what": what,
                "seconds": seconds,
                "rows": rows,
                "peak_growth_kib": _peak_growth(how, before),
                "peak_by": how,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3] if sys.argv[2:3] == ["--profile"] else None)
