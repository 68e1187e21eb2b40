"""5. manage.py verify_audit against a raw read of the same rows; its peak memory."""

import json
import os
import subprocess
import sys

from bench.measure.common import ROOT, Plan, Profiles, median
from bench.report import Figure
from bench.seed import Seeded


def _child(*args: str) -> dict:
    command = [sys.executable, "-m", "bench.child", *args]
    done = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def verify_audit(seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """manage.py verify_audit over the whole log against a raw server-side-cursor read of the same rows,
    alternating, each in a fresh process; then once more under cProfile."""
    reads, verifies = [], []
    for _ in range(plan.verify_rounds):
        reads.append(_child("read"))
        verifies.append(_child("verify"))
    listing = profiles.path.with_suffix(".verify.tmp")
    profiled = _child("verify", "--profile", str(listing))
    where = (
        f"under cProfile: {profiled['seconds'] / profiled['rows'] * 1e6:.1f} µs per event "
        f"(unprofiled {median([v['seconds'] / v['rows'] for v in verifies]) * 1e6:.1f} µs, the raw read "
        f"{median([r['seconds'] / r['rows'] for r in reads]) * 1e6:.1f} µs)"
    )
    profiles.add("5. manage.py verify_audit", where + "\n" + listing.read_text())
    listing.unlink()
    for read, verify in zip(reads, verifies, strict=True):
        if read["rows"] != verify["rows"]:
            raise RuntimeError(f"verify_audit saw {verify['rows']} events, the raw read {read['rows']}")
    read_rates = [r["rows"] / r["seconds"] for r in reads]
    verify_rates = [v["rows"] / v["seconds"] for v in verifies]
    ratios = [v / r for r, v in zip(read_rates, verify_rates, strict=True)]
    ratio = median(ratios)
    events = verifies[0]["rows"]
    memory = median([v["peak_growth_kib"] / 1024 for v in verifies])
    read_memory = median([r["peak_growth_kib"] / 1024 for r in reads])
    return [
        Figure(
            number=5,
            name=f"verify_audit over {events:,} events",
            value=median(verify_rates),
            unit="events/s",
            baseline=median(read_rates),
            baseline_name="server-side cursor read of the same rows",
            ratio=ratio,
            ratio_means="verify ÷ read",
            goal="≥ 0.6×",
            passed=ratio >= 0.6,
            rounds=[
                {"baseline": r, "figure": v, "ratio": x}
                for r, v, x in zip(read_rates, verify_rates, ratios, strict=True)
            ],
            notes=[
                f"each run in a fresh process (python -m bench.child); chain verified OK each time; "
                f"median verify time {median([v['seconds'] for v in verifies]):.1f} s",
                f"{where} (cProfile in {profiles.path.name})",
            ],
        ),
        Figure(
            number=5,
            name="verify_audit peak memory growth",
            value=memory,
            unit="MiB",
            baseline=read_memory,
            baseline_name="raw read's growth",
            ratio=memory / max(read_memory, 1.0),
            ratio_means="verify ÷ read",
            goal="≤ 100 MiB",
            passed=memory <= 100,
            notes=[f"peak resident size above the size after django.setup() ({verifies[0]['peak_by']})"],
        ),
    ]
