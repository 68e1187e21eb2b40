"""An occurrence's results as a CSV file (/reviews/manage/occurrences/<id>/results.csv): the
results page's columns, one row per item, cells a spreadsheet would run made harmless."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from roles.models import Role
from roles.reviews import services
from roles.reviews.choices import ReviewDecision
from roles.reviews.manage_views import RESULT_COLUMNS
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, UserFactory
from tests.manage.conftest import START

pytestmark = pytest.mark.django_db


def download(client, occurrence):
    return client.get(reverse("reviews:results-csv", args=[occurrence.pk]))


def rows_of(response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # so that spreadsheets read UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_file_has_the_results_columns_and_one_row_per_item(manager_client, pim_admin, make_review, start_review,
                                                               exchange_admin, alice, bob, carol):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin, start_at=START - timedelta(days=40))
    ActiveAssignmentFactory(principal=None, group=Group.objects.create(name="Mail ops"), role=exchange_admin,
                            start_at=START - timedelta(days=10))  # fmt: skip
    occurrence = start_review(make_review(reviewers=[bob, carol], no_response="remove"))
    items = {item.kind: item for item in occurrence.items.all()}
    services.decide(actor=bob, occurrence=occurrence, item_ids=[items["eligible"].pk],
                    decision=ReviewDecision.APPROVE, justification="on call for mail")  # fmt: skip
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    services.apply_results(actor=pim_admin, occurrence=occurrence)

    response = download(manager_client, occurrence)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="review-{occurrence.review_id}-occurrence-1-results.csv"'
    )
    header, *rows = rows_of(response)
    assert header == list(RESULT_COLUMNS)
    assert len(rows) == 2
    by_holder = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    alice_row = by_holder["alice"]
    assert alice_row["Role"] == "Exchange Administrator" and alice_row["Scope"] == "/"
    assert alice_row["Type"] == "eligible"
    assert alice_row["Assigned since"] == "2026-10-13T09:00:00Z"
    assert alice_row["Last activation"] == "" and alice_row["Recent activations (30 days)"] == "0"
    assert alice_row["Recommendation"] == items["eligible"].get_recommendation_display()
    assert alice_row["Reason"] == items["eligible"].recommendation_reason
    assert alice_row["Reviewers"] == "bob carol"
    assert (alice_row["Decision"], alice_row["Decided by"], alice_row["Justification"]) == (
        "Approve", "bob", "on call for mail")  # fmt: skip
    assert (alice_row["Outcome"], alice_row["Outcome source"], alice_row["Result"]) == (
        "Keep", "Reviewer's decision", "Kept")  # fmt: skip
    group_row = by_holder["group Mail ops"]
    assert (group_row["Type"], group_row["Decision"], group_row["Decided by"]) == ("active", "", "")
    assert (group_row["Outcome"], group_row["Outcome source"], group_row["Result"]) == (
        "Remove", "No response: the review's rule", "Removed")  # fmt: skip


def test_cells_a_spreadsheet_would_run_are_neutralised(manager_client, make_review, start_review, exchange_admin, bob):
    EligibleAssignmentFactory(principal=UserFactory(username="=cmd|' /C calc'!A0"), role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(actor=bob, occurrence=occurrence, item_ids=[occurrence.items.get().pk],
                    decision=ReviewDecision.APPROVE, justification='=HYPERLINK("http://evil.example","x")')  # fmt: skip

    row = dict(zip(RESULT_COLUMNS, rows_of(download(manager_client, occurrence))[1], strict=True))

    assert row["Holder"] == "'=cmd|' /C calc'!A0"
    assert row["Justification"] == '\'=HYPERLINK("http://evil.example","x")'


def test_an_occurrence_not_started_gives_the_header_only(manager_client, make_review, bob):
    occurrence = make_review(reviewers=[bob]).occurrences.get()

    assert rows_of(download(manager_client, occurrence)) == [list(RESULT_COLUMNS)]


def test_only_administrators_download_results(client, clock, make_review, start_review, alice, bob, dave):
    occurrence = start_review(make_review(reviewers=[bob]))
    # A plain user, and one only eligible for Privileged Role Administrator: 403.
    EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="privileged-role-administrator"))
    for user in (dave, alice):
        verify_session(client, user)
        assert download(client, occurrence).status_code == 403


def test_an_unknown_occurrence_is_404(manager_client):
    assert manager_client.get(reverse("reviews:results-csv", args=[424242])).status_code == 404


# session, user, OTP device, administrator check, occurrence with its review, items, their reviewers
CSV_QUERIES = 7


@pytest.mark.parametrize("count", [1, 15])
def test_the_export_query_count_does_not_grow(manager_client, make_review, start_review, exchange_admin, bob, carol,
                                              count, django_assert_num_queries):  # fmt: skip
    for _ in range(count):
        EligibleAssignmentFactory(principal=UserFactory(), role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob, carol]))
    services.decide(actor=bob, occurrence=occurrence, item_ids=list(occurrence.items.values_list("pk", flat=True)),
                    decision=ReviewDecision.DENY)  # fmt: skip

    with django_assert_num_queries(CSV_QUERIES):
        response = download(manager_client, occurrence)

    assert len(rows_of(response)) == count + 1
