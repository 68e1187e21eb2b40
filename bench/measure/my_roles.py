"""2. My roles for a user with 50 eligible roles, 10 of them active, against a bare page with the
same session; and the page's query count for 1 role against 50."""

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from bench import load
from bench.measure.common import Plan, Profiles, Server, alternate, breakdown, client_call, paired, session_client
from bench.report import Figure
from bench.seed import Seeded, verified_session
from roles.models import EligibleAssignment


def my_roles(server: Server, seeded: Seeded, plan: Plan, profiles: Profiles) -> list[Figure]:
    """/my-roles/ for bench-many against the bare page with the same OTP-verified session cookie."""
    cookie = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={verified_session(seeded.many_user_id)}"}

    def page(path):
        return lambda i: load.request_bytes("GET", path, host=server.host_header, headers=cookie)

    first = load.send(server.address, page("/my-roles/")(0))
    names = set(
        EligibleAssignment.objects.filter(principal_id=seeded.many_user_id).values_list("role__name", flat=True)
    )
    missing = [name for name in names if escape(name).encode() not in first.body]
    if first.status != 200 or missing:
        raise RuntimeError(f"/my-roles/ answered {first.status} without {len(missing)} of bench-many's roles")
    base, figure = alternate(
        server,
        page("/bench/bare/"),
        page("/my-roles/"),
        rounds=plan.rounds,
        count=plan.page_requests,
        concurrency=plan.concurrency,
        what="my roles",
    )
    common = {"number": 2, "baseline_name": "bare page, same session", "limit": 2.0}
    client = session_client(seeded.many_user_id)
    where = breakdown("2. GET /my-roles/ (50 eligible, 10 active)", client_call(client, "get", "/my-roles/"), 30,
                      profiles, bare=client_call(client, "get", "/bench/bare/"))  # fmt: skip
    figures = [
        paired(
            base,
            figure,
            name="My roles (50 eligible, 10 active) p50 latency",
            unit="ms",
            kind="p50",
            scale=1000,
            notes=[where],
            **common,
        ),
        paired(base, figure, name="My roles p95 latency", unit="ms", kind="p95", scale=1000, **common),
        paired(base, figure, name="My roles throughput", unit="req/s", kind="throughput", **common),
    ]
    one, fifty = my_roles_queries(seeded.one_user_id), my_roles_queries(seeded.many_user_id)
    figures.append(
        Figure(
            number=2,
            name="My roles query count, 50 roles vs 1 role",
            value=fifty,
            unit="queries",
            baseline=one,
            baseline_name="1 role",
            ratio=fifty / one,
            ratio_means="50 ÷ 1",
            goal="equal",
            passed=fifty == one,
            notes=["in-process (django.test.Client, CaptureQueriesContext), the same verified session keys"],
        )
    )
    return figures


def my_roles_queries(user_id: int) -> int:
    """SQL statements of one /my-roles/ for this user, in-process, after a first request warmed the caches."""
    client = session_client(user_id)
    client.get("/my-roles/")  # the first request fills per-process caches (content types, templates)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/my-roles/")
    if response.status_code != 200:
        raise RuntimeError(f"/my-roles/ answered {response.status_code} in-process")
    return len(queries.captured_queries)
