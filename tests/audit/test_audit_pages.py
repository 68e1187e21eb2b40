"""/audit/: the log for its readers, with filters, a keyset cursor, each event's record and the
CSV and JSON Lines exports; /audit/mine/: anyone's own history."""

import csv
import io
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Max, QuerySet
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from audit.models import AuditEvent
from audit.services import record_event
from pimsite.audit_views import PAGE_SIZE
from roles.models import Role
from tests.activations.helpers import activate
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
EVENTS = reverse("audit:events")
MINE = reverse("audit:mine")
CSV_EXPORT = reverse("audit:export-csv")
JSONL_EXPORT = reverse("audit:export-jsonl")
READER_SLUGS = ["global-administrator", "privileged-role-administrator", "security-administrator", "security-reader"]


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def reader_client(clock, carol) -> Client:
    """carol, OTP-verified, holding an active Security Reader at '/' (not an administrator). Her
    sign-in is itself an event: auth.login at START."""
    ActiveAssignmentFactory(principal=carol, role=role("security-reader"))
    client = Client()
    verify_session(client, carol)
    return client


# Access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", READER_SLUGS)
def test_each_reader_role_active_at_the_root_opens_the_log(client, clock, dave, slug):
    # Who may read is tests/pimsite/test_reader_pages.py; here, what a reader sees, the nav link too.
    ActiveAssignmentFactory(principal=dave, role=role(slug))
    verify_session(client, dave)

    response = client.get(EVENTS)

    assertContains(response, "<h1>Audit log</h1>", html=True)
    assertContains(response, f'<a href="{EVENTS}">Audit</a>', html=True)  # the nav link


def test_someone_who_is_not_a_reader_is_offered_my_audit_in_the_navigation(mfa_client):
    response = mfa_client.get(reverse("home"))

    assertContains(response, f'<a href="{MINE}">My audit</a>', html=True)
    assertNotContains(response, f'href="{EVENTS}"')


# Filters ---------------------------------------------------------------------------------------


@pytest.fixture
def history(clock, alice, bob, carol) -> dict[int, str]:
    """Five events at known times before START, by label; carol's sign-in at START comes after."""
    seeded = {}

    def at(moment: datetime, label: str, **event) -> None:
        clock.move_to(moment)
        seeded[record_event(**event).sequence] = label

    exchange = {"role": "exchange-administrator", "scope": "/"}
    at(START - timedelta(days=40), "bob signs in", actor=bob, action="auth.login", principal=bob)
    at(START - timedelta(days=3), "settings", actor=carol, action="settings.updated", role="exchange-administrator")
    at(START - timedelta(hours=2), "requested", actor=alice, action="activation.requested", principal=alice,
       justification="INC-4711 restore the mailbox", data={"ticket": "Jira OPS-99"}, **exchange)  # fmt: skip
    at(START - timedelta(hours=1), "approved", actor=bob, action="activation.approved", principal=alice,
       justification="Looks right", **exchange)  # fmt: skip
    at(START - timedelta(minutes=30), "expired", actor=None, action="assignment.expired", principal=alice,
       role="exchange-administrator", scope="/mail")  # fmt: skip
    clock.move_to(START)
    return seeded


def shown(response, seeded: dict[int, str]) -> list[str]:
    """The labels of the events listed, newest first; events not seeded by their action."""
    return [seeded.get(event.sequence, event.action) for event in response.context["events"]]


ALL = ["auth.login", "expired", "approved", "requested", "settings", "bob signs in"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ALL),
        ({"actor": "bob"}, ["approved", "bob signs in"]),
        ({"principal": "alice"}, ["expired", "approved", "requested"]),
        ({"role": "exchange-administrator"}, ["expired", "approved", "requested", "settings"]),
        ({"scope": "/mail"}, ["expired"]),
        ({"group": "activation"}, ["approved", "requested"]),
        ({"group": "approval"}, ["approved"]),
        ({"group": "assignment"}, ["expired"]),
        ({"group": "settings"}, ["settings"]),
        ({"group": "sign-in"}, ["auth.login", "bob signs in"]),
        ({"group": "review"}, []),
        ({"period": "24h"}, ["auth.login", "expired", "approved", "requested"]),
        ({"period": "7d"}, ["auth.login", "expired", "approved", "requested", "settings"]),
        ({"period": "30d", "group": "sign-in"}, ["auth.login"]),
        ({"period": "custom", "since": "2026-11-22T07:30", "until": "2026-11-22T08:15"}, ["approved"]),
        ({"since": "2026-11-22T08:00"}, ["auth.login", "expired", "approved"]),  # since is inclusive
        ({"until": "2026-11-22T08:00"}, ["requested", "settings", "bob signs in"]),  # until is not
        ({"q": "ops-99"}, ["requested"]),  # the ticket, in any case
        ({"q": "RESTORE"}, ["requested"]),  # the justification
        ({"q": "looks", "actor": "alice"}, []),
    ],
)
def test_each_filter_narrows_the_log(history, reader_client, query, expected):
    response = reader_client.get(EVENTS, query)

    assert shown(response, history) == expected


@pytest.mark.parametrize(
    ("query", "message", "expected"),
    [
        ({"since": "yesterday"}, "Since (UTC): Give a date and time in UTC, e.g. 2026-11-22T09:00.", ALL),
        ({"until": "2026-13-01T00:00"}, "Until (UTC): Give a date and time in UTC, e.g. 2026-11-22T09:00.", ALL),
        # The bad until goes; the good since stays.
        ({"period": "custom", "since": "2026-11-22T08:00", "until": "2026-11-22T07:00"},
         "Until (UTC): Until must be after since.", ["auth.login", "expired", "approved"]),
        ({"group": "everything"}, "Action: &#x27;everything&#x27; is not a group; give one of: activation, assignment, "
                                  "settings, approval, sign-in, alert, review.", ALL),
        ({"period": "1y"}, "Period: &#x27;1y&#x27; is not a period; give one of: 24h, 7d, 30d, custom.", ALL),
        ({"before": "soon"}, "Older than: Older than is a sequence number from 1 up", ALL),
    ],
)  # fmt: skip
def test_a_bad_filter_is_ignored_with_a_message_naming_it_and_what_it_accepts(history, reader_client, query, message,
                                                                             expected):  # fmt: skip
    events_before = AuditEvent.objects.count()

    response = reader_client.get(EVENTS, query)

    assertContains(response, message)
    assertContains(response, "That filter was ignored.")
    assert shown(response, history) == expected
    assert AuditEvent.objects.count() == events_before  # nothing changes


# Pagination ------------------------------------------------------------------------------------


def test_pages_follow_the_sequence_newest_first_without_repeats(reader_client, carol):
    for number in range(2 * PAGE_SIZE + 7):
        record_event(actor=carol, action="test.happened", data={"number": number})
    total = AuditEvent.objects.count()

    pages, url = [], EVENTS
    while url:
        response = reader_client.get(url)
        pages.append([event.sequence for event in response.context["events"]])
        older = response.context["older"]
        url = f"{EVENTS}?before={older}" if older else None
        if older:
            assertContains(response, f'href="?before={older}"')

    assert [len(page) for page in pages] == [PAGE_SIZE, PAGE_SIZE, total - 2 * PAGE_SIZE]
    sequences = [sequence for page in pages for sequence in page]
    assert sequences == sorted(set(sequences), reverse=True)  # newest first, none twice
    assert len(sequences) == total


def test_the_older_link_keeps_the_filters(reader_client, carol):
    for _ in range(PAGE_SIZE + 1):
        record_event(actor=carol, action="test.happened")

    response = reader_client.get(EVENTS, {"group": "settings", "actor": "carol"})
    assert response.context["older"] is None
    response = reader_client.get(EVENTS, {"actor": "carol"})

    assertContains(response, f"?actor=carol&amp;before={response.context['older']}")


EVENTS_QUERIES = 7  # session, user, OTP device, reader roles, open alerts (nav), the last chain verification, events


@pytest.mark.parametrize("count", [5, 50])
def test_the_list_query_count_does_not_grow(reader_client, carol, count, django_assert_num_queries):
    for _ in range(count):
        record_event(actor=carol, action="test.happened", principal=carol, role="security-reader", scope="/")

    with django_assert_num_queries(EVENTS_QUERIES):
        response = reader_client.get(EVENTS)

    assert len(response.context["events"]) >= count


# One event -------------------------------------------------------------------------------------


@pytest.fixture
def activation(clock, alice):
    """alice activates Exchange Administrator (no approval needed): activation.requested on the
    request, assignment.activated on the active assignment it made."""
    eligibility = EligibleAssignmentFactory(principal=alice, role=role("exchange-administrator"))
    return activate(alice, eligibility, ticket_system="Jira", ticket_number="OPS-7")[0]


def test_an_event_shows_its_full_record_and_links_to_its_request(reader_client, activation):
    event = AuditEvent.objects.get(action="activation.requested")

    response = reader_client.get(reverse("audit:event", args=[event.sequence]))

    assertContains(response, reverse("activations:request", args=[activation.pk]))
    assertContains(response, event.hash)
    assertContains(response, event.prev_hash)
    assertContains(response, "&quot;ticket&quot;: &quot;Jira OPS-7&quot;")  # data, pretty-printed and escaped
    assertContains(response, "INC-4711")


def test_an_administrator_is_linked_to_the_assignment_a_reader_is_not(reader_client, activation, pim_admin):
    event = AuditEvent.objects.get(action="assignment.activated")
    url = reverse("audit:event", args=[event.sequence])
    admin_client = Client()
    verify_session(admin_client, pim_admin)

    assertContains(admin_client.get(url), reverse("manage:assignment", args=["active", event.target_id]))
    assertNotContains(reader_client.get(url), "/manage/assignments/")


def test_data_is_escaped(reader_client, carol):
    event = record_event(actor=carol, action="test.happened", data={"note": "<script>alert(1)</script>"})

    response = reader_client.get(reverse("audit:event", args=[event.sequence]))

    assertNotContains(response, "<script>alert(1)</script>")
    assertContains(response, "&lt;script&gt;")


# My audit --------------------------------------------------------------------------------------


def test_my_audit_shows_only_what_i_did_or_what_was_done_to_me(clock, history, client, alice, bob):
    verify_session(client, bob)  # auth.login by bob, for bob, at START

    response = client.get(MINE)

    assert shown(response, history) == ["auth.login", "approved", "bob signs in"]
    assertContains(response, "<h1>My audit</h1>", html=True)
    assertNotContains(response, "Export CSV")


def test_my_audit_takes_the_same_filters(clock, history, client, bob):
    verify_session(client, bob)

    response = client.get(MINE, {"group": "activation"})

    assert shown(response, history) == ["approved"]


def test_i_may_open_my_own_events_but_not_someone_elses(clock, history, client, bob):
    verify_session(client, bob)
    sequence_of = {label: sequence for sequence, label in history.items()}

    assert client.get(reverse("audit:event", args=[sequence_of["approved"]])).status_code == 200
    assert client.get(reverse("audit:event", args=[sequence_of["settings"]])).status_code == 404  # carol's
    assert client.get(EVENTS).status_code == 403


# Exports ---------------------------------------------------------------------------------------


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_the_csv_export_neutralises_formulas(reader_client, carol):
    record_event(actor=carol, action="test.happened", justification="=cmd()", role="@role", scope="+1", data={"a": 1})

    response = reader_client.get(CSV_EXPORT, {"actor": "carol", "group": ""})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = list(csv.DictReader(io.StringIO(body(response).removeprefix("\ufeff"))))
    last = rows[-1]
    assert (last["justification"], last["role"], last["scope"]) == ("'=cmd()", "'@role", "'+1")
    assert json.loads(last["data"]) == {"a": 1}
    assert last["occurred_at"] == "2026-11-22T09:00:00Z"
    assert [int(row["sequence"]) for row in rows] == sorted(int(row["sequence"]) for row in rows)  # oldest first


def test_the_exports_hold_the_filtered_set(history, reader_client):
    csv_rows = list(csv.DictReader(io.StringIO(body(reader_client.get(CSV_EXPORT, {"actor": "bob"})).lstrip("\ufeff"))))
    lines = body(reader_client.get(JSONL_EXPORT, {"actor": "bob"})).splitlines()

    assert [history[int(row["sequence"])] for row in csv_rows] == ["bob signs in", "approved"]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [history[event["sequence"]] for event in events] == ["bob signs in", "approved"]
    approved = events[1]
    stored = AuditEvent.objects.get(sequence=approved["sequence"])
    assert approved | {"occurred_at": None} == {
        "sequence": stored.sequence, "occurred_at": None, "actor": "bob", "action": "activation.approved",
        "principal": "alice", "role": "exchange-administrator", "scope": "/", "justification": "Looks right",
        "client_ip": None, "user_agent": "", "target_type": "", "target_id": "", "data": {},
        "prev_hash": stored.prev_hash, "hash": stored.hash,
    }  # fmt: skip


@pytest.mark.parametrize("url", [CSV_EXPORT, JSONL_EXPORT])
def test_an_export_with_a_bad_filter_is_refused_naming_it(reader_client, url):
    response = reader_client.get(url, {"since": "last tuesday"})

    assert response.status_code == 400
    assert "Nothing was exported: Since (UTC): Give a date and time in UTC" in response.content.decode()


EXPORT_EVENTS = 100_000
EXPORT_PEAK_BYTES = 20 * 1024 * 1024


def _append_directly(count: int) -> None:
    """`count` events straight into the table, bypassing record_event and the append-only
    QuerySet's refusal of bulk_create (a plain QuerySet): only the export is measured, so the
    hashes are placeholders and the chain head is left behind. Never do this outside a test."""
    first = (AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0) + 1
    same = {"occurred_at": START, "actor_username": "loadtest", "action": "test.happened",
            "principal_username": "alice", "role": "exchange-administrator", "scope": "/", "justification": '=HYPERLINK("http://example.com")',
            "prev_hash": "0" * 64}  # fmt: skip
    for start in range(first, first + count, 10_000):
        batch = [AuditEvent(sequence=sequence, data={"n": sequence}, hash=f"{sequence:064x}", **same)
                 for sequence in range(start, min(start + 10_000, first + count))]  # fmt: skip
        QuerySet(AuditEvent).bulk_create(batch)


def _stream(client: Client, url: str) -> tuple[int, float, int]:
    """Lines, seconds and peak traced bytes of downloading `url` as a client would: chunk by
    chunk, keeping nothing."""
    started = time.perf_counter()
    tracemalloc.start()
    try:
        response = client.get(url, {"actor": "loadtest"})
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lines, time.perf_counter() - started, peak


def test_exporting_100000_events_streams_in_bounded_memory(reader_client, capsys):
    started = time.perf_counter()
    _append_directly(EXPORT_EVENTS)
    inserted = time.perf_counter() - started

    csv_lines, csv_seconds, csv_peak = _stream(reader_client, CSV_EXPORT)
    jsonl_lines, jsonl_seconds, jsonl_peak = _stream(reader_client, JSONL_EXPORT)

    with capsys.disabled():
        print(
            f"\n{EXPORT_EVENTS:,} events inserted in {inserted:.1f} s; exported: "
            f"CSV {csv_seconds:.1f} s, peak {csv_peak / 2**20:.1f} MB; "
            f"JSON Lines {jsonl_seconds:.1f} s, peak {jsonl_peak / 2**20:.1f} MB (traced, so slower than served)"
        )
    assert (csv_lines, jsonl_lines) == (EXPORT_EVENTS + 1, EXPORT_EVENTS)  # the CSV has a header
    assert max(csv_peak, jsonl_peak) < EXPORT_PEAK_BYTES


def test_the_status_line_says_when_the_chain_was_last_verified_and_the_result(reader_client):
    assertContains(reader_client.get("/audit/"), "The chain has not been verified yet")

    call_command("verify_audit", stdout=io.StringIO())

    assertContains(reader_client.get("/audit/"), "Chain verified intact")
