"""/api/v1/alerts/: the security alerts for audit readers; dismissing and scanning for
administrators, through audit.alerts' audited services. And the alerts' read-only admin."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from audit.alerts import DISMISS_REASON_REQUIRED
from audit.models import Alert, AlertStatus, AuditEvent
from pimsite.api_alerts import NEEDS_ALERT_READER
from roles.models import Role
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from tests.api.conftest import START, api_client
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, root_scope

API = "/api/v1/alerts/"
# The token; "administrator?" then "reader?" (AlertReader); the page of alerts with who dismissed them.
LIST_QUERIES = 4


def make_alert(n: int = 0, **values) -> Alert:
    return Alert.objects.create(
        rule_key=f"test_rule_{n}", severity="high", items=[{"key": f"k{n}", "label": f"Item {n}", "fix": False}],
        first_seen=START - timedelta(hours=n), last_seen=START - timedelta(hours=n), **values,
    )  # fmt: skip


@pytest.fixture
def reader_api(clock, alice) -> APIClient:
    """alice holds an active Security Reader assignment at '/': she reads, she does not act."""
    ActiveAssignmentFactory(principal=alice, role=Role.objects.get(slug="security-reader"), scope=root_scope())
    return api_client(alice)


def test_a_reader_lists_open_and_dismissed_alerts_newest_first_but_not_resolved_ones(reader_api, pim_admin):
    older = make_alert(1)
    dismissed = make_alert(2, status=AlertStatus.DISMISSED, dismissed_by=pim_admin, dismiss_reason="Known",
                           dismissed_until=START + timedelta(days=3))  # fmt: skip
    make_alert(3, status=AlertStatus.RESOLVED, resolved_at=START)

    response = reader_api.get(API)

    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [dismissed.pk, older.pk]
    assert rows[0]["dismissed_by"] == "pimadmin"
    assert rows[0]["dismiss_reason"] == "Known"
    assert set(rows[1]) == {"id", "rule", "title", "severity", "status", "items", "first_seen", "last_seen",
                            "dismissed_by", "dismissed_until", "dismiss_reason"}  # fmt: skip
    assert reader_api.get(f"{API}{older.pk}/").json()["rule"] == "test_rule_1"


def test_a_non_reader_gets_403_on_the_list_and_404_on_an_alert(dave_api):
    alert = make_alert()

    response = dave_api.get(API)
    assert response.status_code == 403
    assert response.json()["detail"] == NEEDS_ALERT_READER
    assert dave_api.get(f"{API}{alert.pk}/").status_code == 404
    assert dave_api.post(f"{API}{alert.pk}/dismiss/", {"reason": "x", "days": 7}, format="json").status_code == 404
    assert dave_api.post(f"{API}scan/").status_code == 403


def test_a_reader_may_not_dismiss_or_scan(reader_api):
    alert = make_alert()

    response = reader_api.post(f"{API}{alert.pk}/dismiss/", {"reason": "x", "days": 7}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == NEEDS_ACTIVE_ADMIN_ROLE
    assert reader_api.post(f"{API}scan/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN


def test_an_administrator_dismisses_with_a_reason_and_it_is_audited(admin_api, pim_admin):
    alert = make_alert()

    refused = admin_api.post(f"{API}{alert.pk}/dismiss/", {"reason": " ", "days": 7}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"]["reason"] == [DISMISS_REASON_REQUIRED]
    assert "days" in admin_api.post(f"{API}{alert.pk}/dismiss/", {"reason": "x", "days": 91},
                                    format="json").json()["errors"]  # fmt: skip
    assert not AuditEvent.objects.filter(action="alert.dismissed").exists()

    response = admin_api.post(f"{API}{alert.pk}/dismiss/", {"reason": "Planned change", "days": 7}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["dismissed_by"], body["dismiss_reason"]) == ("dismissed", "pimadmin", "Planned change")
    event = AuditEvent.objects.get(action="alert.dismissed")
    assert (event.actor, event.justification) == (pim_admin, "Planned change")
    again = admin_api.post(f"{API}{alert.pk}/dismiss/", {"reason": "Again", "days": 7}, format="json")
    assert again.status_code == 400


def test_an_administrator_scans_and_gets_the_counts(admin_api):
    response = admin_api.post(f"{API}scan/")

    assert response.status_code == 200, response.content
    counts = response.json()["counts"]
    assert all(isinstance(count, int) for count in counts.values())
    assert sum(counts.values()) >= 1  # every scanning rule ended some way


@pytest.mark.parametrize("rows", [1, 5])
def test_the_list_takes_the_same_queries_for_1_alert_as_for_5(reader_api, pim_admin, rows):
    for n in range(rows):
        make_alert(n, **({"status": AlertStatus.DISMISSED, "dismissed_by": pim_admin, "dismiss_reason": "r",
                          "dismissed_until": START + timedelta(days=1)} if n % 2 else {}))  # fmt: skip
    reader_api.get(API)  # the token's last_used_at is written now

    with CaptureQueriesContext(connection) as queries:
        response = reader_api.get(API)

    assert response.status_code == 200
    assert len(response.json()["results"]) == rows
    assert len(queries) == LIST_QUERIES, [query["sql"] for query in queries.captured_queries]


# Admin -----------------------------------------------------------------------------------------


def test_the_alert_changelist_opens_for_an_administrator_without_an_add_button(client, pim_admin):
    make_alert()
    verify_session(client, pim_admin)

    response = client.get(reverse("admin:audit_alert_changelist"))

    assert response.status_code == 200
    assert b"test_rule_0" in response.content
    assert reverse("admin:audit_alert_add").encode() not in response.content
