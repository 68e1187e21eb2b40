"""Working through ids inside one task's time. What does not fit is left for the one-minute
schedule that finds due work anyway (deliver_due, run_due), so a task never runs into the
cluster's timeout and is never retried half-done."""

import time
from collections import Counter
from collections.abc import Callable, Iterable


def each_in_time(ids: Iterable[int], step: Callable[[int], str], *, budget: float) -> Counter:
    """Call `step(id)` for each id until `budget` seconds have passed; count what each returned."""
    outcomes: Counter = Counter()
    started = time.monotonic()
    for item in ids:
        if time.monotonic() - started > budget:
            outcomes["left for the next run"] += 1
            continue
        outcomes[step(item)] += 1
    return outcomes


def summary(outcomes: Counter) -> str:
    """The one outcome ("sent") when all agree, else the counts."""
    return next(iter(outcomes)) if len(outcomes) == 1 else ", ".join(f"{k} {n}" for k, n in outcomes.items())
