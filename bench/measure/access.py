"""1. The access decision, GET /api/v1/check/, against a bare Django view."""

import itertools
import json
from collections import Counter

from django.test import Client

from bench import load
from bench.measure.common import Plan, Profiles, Server, alternate, breakdown, client_call, fail_on, paired
from bench.report import Figure
from bench.seed import Seeded

WARM_PASSES = 6  # with 2 workers, a question asked 6 times has reached both but with odds 2 * 2**-6 (3%)


def access_decision(server: Server, seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """Throughput and p50/p95 of GET /api/v1/check/ with a 'check' token, half the answers allowed and half
    refused, against the bare view under /api/ with the same query and header. Each round asks the
    same questions, as a gateway asks about the same people again and again: after the first, each
    gunicorn worker answers from what it keeps (roles.until_changed). Then the same with every
    question new, reported beside it."""
    auth = {"Authorization": f"Bearer {seeded.check_token}"}
    queries = seeded.check_queries

    def request(path):
        def make(i: int) -> bytes:
            user, role, scope = queries[i % len(queries)]
            return load.request_bytes(
                "GET", path, host=server.host_header, headers=auth, query={"user": user, "role": role, "scope": scope}
            )

        return make

    def decided(response: load.Response) -> str | None:
        return None if b'"allowed"' in response.body else f"no decision in {response.body[:200]!r}"

    answers = Counter(
        json.loads(load.send(server.address, request("/api/v1/check/")(i)).body)["allowed"] for i in range(20)
    )
    if not answers[True] or not answers[False]:
        raise RuntimeError(f"the access decisions should be mixed, got {dict(answers)}")
    # The steady state of a gateway asking about the same people: before the timed rounds, each
    # question of a round is asked often enough (WARM_PASSES times over) that both workers have
    # read it once; otherwise the first rounds would measure which worker each question landed on.
    ask_again = request("/api/v1/check/")
    warm = load.burst(server.address, lambda i: ask_again(i % plan.check_requests),
                      WARM_PASSES * plan.check_requests, concurrency=plan.concurrency)  # fmt: skip
    fail_on(warm, "access decision warm-up")
    base, figure = alternate(
        server,
        request("/api/bench/bare/"),
        request("/api/v1/check/"),
        rounds=plan.rounds,
        count=plan.check_requests,
        concurrency=plan.concurrency,
        what="access decision",
        check=None,
    )
    # The same with every question new to the server: each round's questions come from the far end
    # of the list, none asked before, so each process reads them from the database (no answer kept
    # by roles.until_changed). Reported, not a goal: a gateway asks about the same people again.
    asked = itertools.count()

    def new_question(path):
        make = request(path)
        return lambda i: make(len(queries) - 1 - next(asked))

    new_base, new_figure = alternate(
        server,
        request("/api/bench/bare/"),
        new_question("/api/v1/check/"),
        rounds=plan.rounds,
        count=plan.check_requests,
        concurrency=plan.concurrency,
        what="access decision, new questions",
        check=None,
    )
    # Check the answers of one round outside the timing: every response a decision.
    fail_on(load.burst(server.address, request("/api/v1/check/"), 50, concurrency=2, check=decided), "check")
    common = {"number": 1, "baseline_name": "bare Django view", "limit": 1.5}
    note = (
        f"{plan.concurrency} client connections, {plan.check_requests} requests per round, {plan.rounds} rounds; "
        "half the decisions allowed, half refused; PIM_API_RATE raised so the one token is not throttled; "
        f"the same questions each round, asked {WARM_PASSES} times over before the first, so each worker "
        "answers them from what it keeps (roles.until_changed: until the answer's next start or end, or a "
        "write to what it read); the rows 'every question new' below are the same without"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {seeded.check_token}")

    def params(i: int) -> dict:
        user, role, scope = queries[i % len(queries)]
        return {"user": user, "role": role, "scope": scope}

    where = breakdown("1. GET /api/v1/check/", client_call(client, "get", "/api/v1/check/", data=params), 100,
                      profiles, bare=client_call(client, "get", "/api/bench/bare/", data=params))  # fmt: skip
    return [
        paired(
            base,
            figure,
            name="Access decision throughput",
            unit="req/s",
            kind="throughput",
            notes=[note, where],
            **common,
        ),
        paired(base, figure, name="Access decision p50 latency", unit="ms", kind="p50", scale=1000, **common),
        paired(base, figure, name="Access decision p95 latency", unit="ms", kind="p95", scale=1000, **common),
        paired(
            new_base,
            new_figure,
            name="Access decision p50, every question new (read from PostgreSQL)",
            unit="ms",
            kind="p50",
            scale=1000,
            number=1,
            baseline_name="bare Django view",
            limit=None,
            notes=["each question asked once: the answer is read from PostgreSQL, none is kept yet"],
        ),
        paired(
            new_base,
            new_figure,
            name="Access decision throughput, every question new",
            unit="req/s",
            kind="throughput",
            number=1,
            baseline_name="bare Django view",
            limit=None,
        ),
    ]
