"""Importing eligible assignments from a CSV file (preview, then all or nothing) and exporting them."""

from datetime import timedelta

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from roles import bulk, rules, services
from roles.models import EligibleAssignment, Role, RoleSettings
from roles.views.bulk import PREVIEW_REFUSED
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory, UserFactory, root_scope
from tests.manage.conftest import START

IMPORT = reverse("manage:assignment-import")
EXPORT = reverse("manage:assignment-export")
LIST = reverse("manage:assignments")
HEADER = "principal,role,scope,start,end,justification"


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def csv_file(*rows: str, header: str = HEADER, prefix: bytes = b"") -> SimpleUploadedFile:
    text = "\r\n".join([header, *rows]) + "\r\n"
    return SimpleUploadedFile("assignments.csv", prefix + text.encode(), content_type="text/csv")


def upload(client, file: SimpleUploadedFile):
    return client.post(IMPORT, {"file": file})


def confirm(client, preview, **kwargs):
    """Press the preview's "Import N assignments" button."""
    return client.post(IMPORT, {"payload": preview.context["confirm"].initial["payload"]}, **kwargs)


def problems(response) -> dict[int, list[str]]:
    """Line -> "column: message" of every bad row the preview lists."""
    return {result.line: [str(error) for error in result.errors] for result in response.context["bad"]}


def eligible() -> set[tuple]:
    """Every open eligible assignment as the file would say it."""
    return {
        (a.principal.username, a.role.slug, a.scope.path, a.start_at, a.end_at, a.justification)
        for a in EligibleAssignment.objects.open().select_related("principal", "role", "scope")
    }


# Access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [IMPORT, EXPORT])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    # Rung 1: nobody signed in.
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_a_user_only_eligible_for_privileged_role_administrator_is_refused(client, clock, dave, alice):
    # Rung 2: signed in with a code, eligible for the administrator role but not holding it.
    EligibleAssignmentFactory(principal=dave, role=role("privileged-role-administrator"))
    verify_session(client, dave)

    assertContains(client.get(IMPORT), "Being eligible is not enough", status_code=403)
    assertContains(client.get(EXPORT), "Being eligible is not enough", status_code=403)
    response = upload(client, csv_file("alice,user-administrator,/,,,"))

    assert response.status_code == 403
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_a_pim_administrator_finds_import_and_export_on_the_assignments_page(manager_client):
    # Rung 3: the right user.
    response = manager_client.get(LIST)

    assertContains(response, f'<a class="button" href="{IMPORT}">Import CSV</a>', html=True)
    assertContains(response, f'<a class="button" href="{EXPORT}">Export CSV</a>', html=True)
    assertContains(manager_client.get(IMPORT), '<label for="id_file">CSV file</label>', html=True)


# A good file -------------------------------------------------------------------------------


def test_a_good_file_is_previewed_and_changes_nothing_until_confirmed(manager_client, pim_admin, alice, bob):
    ScopeFactory(path="/mail")
    file = csv_file(
        "alice,user-administrator,/,,,Helpdesk lead",
        "bob,exchange-administrator,/mail,2026-11-23T08:00:00+01:00,2026-12-23T09:00,Mail migration",
    )

    preview = upload(manager_client, file)

    assertContains(preview, "Every row can be imported. Nothing has changed yet")
    assertContains(preview, '<button type="submit" class="primary">Import 2 assignments</button>', html=True)
    assertContains(preview, "2026-11-23 07:00 UTC")  # bob's start, read with its offset
    assertContains(preview, "Permanent")  # alice's empty end
    assert eligible() == set()
    assert not AuditEvent.objects.filter(action__startswith="assignment.").exists()

    response = confirm(manager_client, preview, follow=True)

    assertRedirects(response, LIST)
    assertContains(response, "Imported 2 eligible assignments.")
    assert eligible() == {
        ("alice", "user-administrator", "/", START, None, "Helpdesk lead"),
        ("bob", "exchange-administrator", "/mail", START + timedelta(hours=22), START + timedelta(days=31),
         "Mail migration"),
    }  # fmt: skip
    assert set(EligibleAssignment.objects.values_list("created_by__username", flat=True)) == {"pimadmin"}
    created = AuditEvent.objects.filter(action="assignment.created", actor=pim_admin)
    assert sorted(created.values_list("principal_username", flat=True)) == ["alice", "bob"]
    imported = AuditEvent.objects.get(action="assignment.imported")
    assert (imported.actor, imported.data) == (pim_admin, {"assignment_type": "eligible", "count": 2})


def test_a_file_saved_by_a_spreadsheet_with_a_bom_and_shuffled_columns_is_read(manager_client, alice):
    file = csv_file("Helpdesk lead,/,alice,user-administrator,,", header="justification,scope,principal,role,start,end",
                    prefix="\ufeff".encode())  # fmt: skip

    preview = upload(manager_client, file)
    confirm(manager_client, preview)

    assert eligible() == {("alice", "user-administrator", "/", START, None, "Helpdesk lead")}


# Bad rows --------------------------------------------------------------------------------


def test_a_file_with_bad_rows_changes_nothing_and_lists_every_bad_row(manager_client, alice, bob, dave):
    RoleSettings.objects.filter(role__slug="exchange-administrator").update(
        allow_permanent_eligible=False, max_eligible_days=30
    )
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"))
    file = csv_file(
        "dave,user-administrator,/,,,Good on its own",  # line 2
        "zed,user-administrator,/,,,",  # 3: nobody is called zed
        "dave,no-such-role,/,,,",  # 4
        "dave,exchange-administrator,/,,2026-13-01T09:00,",  # 5: no 13th month
        "bob,exchange-administrator,/,,2027-01-21T09:00,",  # 6: 60 days; the role allows 30
        "dave,user-administrator,/,,,Again",  # 7: the same as line 2
        "alice,user-administrator,/,,,",  # 8: alice already has it
        "bob,user-administrator,/nowhere,,2026-12-01,",  # 9: no such scope; a date alone
        "bob,exchange-administrator,/",  # 10: three cells
    )

    response = upload(manager_client, file)

    assert problems(response) == {
        3: ["principal: No account has the username 'zed'; give the username of an existing, active account, "
            "or group:NAME."],
        4: ["role: No role has the slug 'no-such-role'; give one of: application-administrator, billing-administrator, "
            "exchange-administrator, global-administrator, helpdesk-administrator, privileged-role-administrator, "
            "security-administrator, security-reader, user-administrator."],
        5: ["end: '2026-13-01T09:00' is not an ISO 8601 date and time; write e.g. 2026-12-22T09:00:00Z "
            "(a time without an offset is UTC; a date alone is not accepted)."],
        6: ["end: Exchange Administrator allows eligible assignments of at most 30 days; this one lasts 60.0 days."],
        7: ["principal, role, scope: Line 2 already makes dave eligible for User Administrator at /; "
            "a file can do that once per user, role and scope."],
        8: ["principal, role, scope: " + services.ALREADY_ASSIGNED % {
            "principal": "alice", "kind": "eligible", "role": "User Administrator", "scope": "/"}],
        9: ["scope: No scope has the path '/nowhere'; give an existing scope (add it under Scopes first).",
            "end: '2026-12-01' is not an ISO 8601 date and time; write e.g. 2026-12-22T09:00:00Z "
            "(a time without an offset is UTC; a date alone is not accepted)."],
        10: ["row: This row has 3 cells; every row has 6, one for each column of " + HEADER + "."],
    }  # fmt: skip
    assertContains(response, "Nothing was imported: 8 of 9 rows cannot be imported.")
    assertContains(response, '<th scope="row">6</th>', html=True)
    assertContains(
        response, "<strong>end</strong>: Exchange Administrator allows eligible assignments of at most 30 days"
    )
    assertNotContains(response, 'name="payload"')  # no confirm button while any row is bad
    assert not EligibleAssignment.objects.filter(principal__in=[bob, dave]).exists()
    assert not AuditEvent.objects.filter(action__startswith="assignment.").exists()


def test_an_end_before_the_start_or_already_past_is_refused(manager_client, dave, bob):
    file = csv_file(
        "dave,user-administrator,/,2026-12-01T09:00Z,2026-11-30T09:00Z,",
        "bob,user-administrator,/,2026-01-01T09:00Z,2026-02-01T09:00Z,",
    )

    response = upload(manager_client, file)

    assert problems(response) == {
        2: ["end: The end (2026-11-30T09:00:00+00:00) must be after the start (2026-12-01T09:00:00+00:00)."],
        3: ["end: The new end must be in the future; 2026-02-01T09:00:00+00:00 has passed."],
    }


def test_a_justification_over_500_characters_is_refused_naming_the_limit(manager_client, dave):
    response = upload(manager_client, csv_file("dave,user-administrator,/,,," + "x" * 501))

    assert problems(response) == {2: ["justification: " + rules.JUSTIFICATION_TOO_LONG % {"length": 501}]}


def test_a_disabled_account_is_refused(manager_client):
    UserFactory(username="gone", is_active=False)

    response = upload(manager_client, csv_file("gone,user-administrator,/,,,"))

    assert problems(response) == {
        2: ["principal: The account 'gone' is disabled; only active accounts can be made eligible."]
    }


# session, user, OTP device, administrator check, open alerts (nav), users, roles, scopes, role slugs, open eligible
PREVIEW_QUERIES = 10


@pytest.mark.parametrize("count", [1, 30])
def test_the_preview_query_count_does_not_grow(manager_client, count, django_assert_max_num_queries):
    rows = [f"{UserFactory().username},user-administrator,/,,," for _ in range(count)]

    with django_assert_max_num_queries(PREVIEW_QUERIES):
        response = upload(manager_client, csv_file(*rows, "zed,no-such-role,/,,,"))

    assert len(response.context["results"]) == count + 1


def test_a_row_that_went_bad_since_the_preview_refuses_the_whole_file(manager_client, pim_admin, alice, dave):
    preview = upload(manager_client, csv_file("alice,user-administrator,/,,,", "dave,user-administrator,/,,,"))
    # Meanwhile another administrator makes dave eligible.
    services.assign_eligible(actor=pim_admin, principal=dave, role=role("user-administrator"), scope=root_scope(),
                             start_at=START, end_at=None)  # fmt: skip

    response = confirm(manager_client, preview)

    assert response.status_code == 200
    assertContains(response, "Nothing was imported: 1 of 2 rows cannot be imported.")
    assertContains(response, "dave already has an open eligible assignment of User Administrator at /")
    assert not EligibleAssignment.objects.filter(principal=alice).exists()
    assert not AuditEvent.objects.filter(action="assignment.imported").exists()


def test_the_service_lists_every_bad_row_in_its_refusal(pim_admin, clock, alice):
    rows = bulk.parse_csv("\n".join([HEADER, "alice,user-administrator,/,,,", "zed,user-administrator,/,,,",
                                     "alice,nope,/,,,"]))  # fmt: skip

    with pytest.raises(bulk.ImportRefused) as refusal:
        services.import_eligible_assignments(actor=pim_admin, rows=rows, now=START)

    assert [message.split(":")[0] for message in refusal.value.messages] == ["Line 3", "Line 4"]
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_a_row_taken_while_the_import_runs_refuses_the_whole_file(pim_admin, clock, alice, dave, monkeypatch):
    # The check under lock found dave free, but another administrator's insert landed first.
    EligibleAssignmentFactory(principal=dave, role=role("user-administrator"))
    monkeypatch.setattr(bulk, "_check_not_assigned", lambda results, *, now: None)
    rows = bulk.parse_csv(f"{HEADER}\nalice,user-administrator,/,,,\ndave,user-administrator,/,,,\n")

    with pytest.raises(bulk.ImportRefused) as refusal:
        services.import_eligible_assignments(actor=pim_admin, rows=rows, now=START)

    assert refusal.value.messages == [
        "Line 3: principal, role, scope: dave already has an open eligible assignment of User Administrator at /; "
        "update or remove that one instead."
    ]
    assert not EligibleAssignment.objects.filter(principal=alice).exists()
    assert not AuditEvent.objects.filter(action__startswith="assignment.").exists()


def test_confirming_twice_imports_once(manager_client, alice):
    preview = upload(manager_client, csv_file("alice,user-administrator,/,,,"))
    confirm(manager_client, preview)

    response = confirm(manager_client, preview)

    assertContains(response, "alice already has an open eligible assignment of User Administrator at /")
    assert EligibleAssignment.objects.filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.imported").count() == 1


# The signed preview ----------------------------------------------------------------------


def test_a_tampered_preview_is_refused_and_changes_nothing(manager_client, alice):
    preview = upload(manager_client, csv_file("alice,user-administrator,/,,,"))
    payload = preview.context["confirm"].initial["payload"]
    tampered = payload[:-1] + ("A" if payload[-1] != "A" else "B")

    response = manager_client.post(IMPORT, {"payload": tampered})

    assertContains(response, PREVIEW_REFUSED, status_code=400)
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_a_preview_signed_for_something_else_is_refused(manager_client, alice):
    # Any other signed value the site hands out (another salt) does not pass for a preview.
    forged = signing.dumps(HEADER + "\nalice,user-administrator,/,,,\n", salt="something-else", compress=True)

    assertContains(manager_client.post(IMPORT, {"payload": forged}), PREVIEW_REFUSED, status_code=400)
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_a_preview_more_than_an_hour_old_is_refused(manager_client, clock, alice):
    preview = upload(manager_client, csv_file("alice,user-administrator,/,,,"))
    clock.shift(timedelta(hours=1, seconds=1))

    response = confirm(manager_client, preview)

    assertContains(response, PREVIEW_REFUSED, status_code=400)
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


# Limits and unreadable files --------------------------------------------------------------


def test_a_file_over_1_mb_is_refused_naming_the_limit(manager_client, alice):
    padding = "x" * 400
    rows = [f"alice,user-administrator,/,,,{padding}"] * 2700  # about 1.1 MB

    response = upload(manager_client, csv_file(*rows))

    assertContains(response, "a CSV import can be at most 1 MB (1,048,576 bytes)")
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_more_than_5000_rows_is_refused_naming_the_limit(manager_client, alice):
    response = upload(manager_client, csv_file(*["alice,user-administrator,/,,,"] * 5001))

    assertContains(response, "The file has 5001 rows; a CSV import can have at most 5,000 rows.")
    assert not EligibleAssignment.objects.filter(principal=alice).exists()


def test_5000_rows_is_within_the_limit():
    rows = bulk.parse_csv("\n".join([HEADER, *["alice,user-administrator,/,,,"] * 5000, "", ""]))

    assert len(rows) == 5000
    assert rows[-1].line == 5001


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", bulk.HEADER_WRONG % {"header": "empty"}),
        (b"user,role,scope\nalice,user-administrator,/\n", bulk.HEADER_WRONG % {"header": "user,role,scope"}),
        (HEADER.encode() + b"\n\n", bulk.NO_ROWS),
        (HEADER.encode() + b"\nal\xe9ce,user-administrator,/,,,\n", bulk.NOT_UTF8 % {"line": 2}),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_the_reason(manager_client, content, message):
    response = upload(manager_client, SimpleUploadedFile("a.csv", content, content_type="text/csv"))

    assert response.context["form"].errors["file"] == [message]
    assertContains(response, 'id="id_file_error" role="alert"')
    assert "results" not in response.context


def test_posting_without_a_file_asks_for_one(manager_client):
    assertContains(manager_client.post(IMPORT, {}), "Choose a CSV file to upload.")


# Export ------------------------------------------------------------------------------------


def download(client, query=None) -> str:
    response = client.get(EXPORT, query or {})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="eligible-assignments-20261122T0900Z.csv"'
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.fixture
def cast(clock, alice, bob, carol):
    """alice: eligible User Administrator at '/', permanent, with a justification a spreadsheet would
    run. bob: eligible Exchange Administrator at /mail for 30 days. carol: active, and a removed
    eligibility; neither is exported."""
    mail = ScopeFactory(path="/mail")
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"),
                              justification='=HYPERLINK("http://evil.example","Open")')  # fmt: skip
    EligibleAssignmentFactory(principal=bob, role=role("exchange-administrator"), scope=mail,
                              start_at=START - timedelta(days=1), end_at=START + timedelta(days=30),
                              justification="Mail migration")  # fmt: skip
    ActiveAssignmentFactory(principal=carol, role=role("user-administrator"), end_at=START + timedelta(days=1),
                            justification="-not exported")  # fmt: skip
    EligibleAssignmentFactory(principal=carol, role=role("exchange-administrator"), ended_at=START,
                              end_reason="removed", start_at=START - timedelta(days=2))  # fmt: skip


def test_the_export_lists_open_eligible_assignments_in_the_import_format(manager_client, cast):
    text = download(manager_client)

    assert text.splitlines() == [
        "\ufeff" + HEADER,
        "bob,exchange-administrator,/mail,2026-11-21T09:00:00Z,2026-12-22T09:00:00Z,Mail migration",
        'alice,user-administrator,/,2026-11-22T09:00:00Z,,"\'=HYPERLINK(""http://evil.example"",""Open"")"',
    ]


@pytest.mark.parametrize("justification", ["=1+1", "+1", "-1", "@SUM(A1)", "'=already quoted", "'plain"])
def test_the_export_neutralises_formulas_and_the_import_reads_them_back(manager_client, alice, justification):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"), justification=justification)
    text = download(manager_client)
    assert text.splitlines()[1].endswith(",'" + justification if justification[0] in "=+-@'" else justification)
    EligibleAssignment.objects.all().delete()

    confirm(manager_client, upload(manager_client, csv_file(*text.splitlines()[1:])))

    assert eligible() == {("alice", "user-administrator", "/", START, None, justification)}


def test_an_export_imports_into_a_fresh_state_as_the_same_assignments(manager_client, cast):
    before = eligible()
    text = download(manager_client)
    EligibleAssignment.objects.all().delete()  # the other instance: same users, roles and scopes, no assignments

    preview = upload(manager_client, SimpleUploadedFile("export.csv", text.encode(), content_type="text/csv"))
    response = confirm(manager_client, preview, follow=True)

    assertContains(response, "Imported 2 eligible assignments.")
    assert eligible() == before
    assert len(before) == 2


def test_the_export_takes_the_lists_filters(manager_client, cast):
    text = download(manager_client, {"scope": "/mail", "type": "active"})  # eligible only, whatever the type

    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["bob"]


def test_an_export_with_a_bad_filter_is_refused_naming_the_range(manager_client, cast):
    response = manager_client.get(EXPORT, {"expiring": "400"})

    assertContains(response, "Nothing was exported: a filter is not valid.", status_code=400)
    assertContains(response, "Expiring within is a whole number of days from 1 to 365.", status_code=400)
