"""A security reader opens the dashboard in a real browser and sees the numbers and the three
charts, each an image named by its title."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.alerts import run_scan
from audit.models import Alert, AuditEvent
from roles.models import Role
from roles.services import update_role_settings
from tests.browser.test_activation_journeys import sign_in
from tests.conftest import make_user
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def sam(transactional_db):
    """Holds an active Security Reader at '/': reads the audit log and the dashboard."""
    sam = make_user("sam", first_name="Sam")
    ActiveAssignmentFactory(principal=sam, role=Role.objects.get(slug="security-reader"))
    return sam


def test_a_security_reader_sees_the_numbers_and_the_three_charts(page, live_server, sam):
    exchange = Role.objects.get(slug="exchange-administrator")
    EligibleAssignmentFactory(principal=make_user("alice"), role=exchange,
                              end_at=timezone.now() + timedelta(days=3))  # fmt: skip

    sign_in(page, live_server, sam, then="/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator("#number-holders")).to_have_text("2")  # sam and alice
    expect(page.locator("#number-eligible")).to_have_text("1")
    expect(page.locator("#number-permanent-active")).to_have_text("1")
    for title in ("Activations per day, last 30 days", "Holders per role, eligible and active", "Assignments by type"):
        expect(page.get_by_role("img", name=title, exact=True)).to_be_visible()
    expiring = page.get_by_role("region", name="Expiring in the next 14 days")
    expect(expiring.get_by_role("row", name="alice")).to_contain_text("Exchange Administrator")


def test_a_reader_sees_an_open_alert_and_the_administrator_dismisses_it_with_a_reason(page, live_server, sam):
    """Exchange Administrator stops requiring MFA; a scan opens the alert. The reader sees it on the
    dashboard and the alerts page; the administrator dismisses it with a reason."""
    update_role_settings(actor=None, role=Role.objects.get(slug="exchange-administrator"),
                         changes={"require_mfa_on_activation": False})  # fmt: skip
    run_scan(now=timezone.now())
    assert Alert.objects.filter(rule_key="roles_without_mfa_on_activation", status="open").exists()

    sign_in(page, live_server, sam, then="/dashboard/")
    expect(page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="Open alerts"))).to_contain_text(
        "Medium"
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alerts (1)").click()
    expect(page.get_by_text("Exchange Administrator").first).to_be_visible()
    expect(page.get_by_role("button", name="Dismiss")).to_have_count(0)  # a reader reads; administrators act
    page.get_by_role("button", name="Sign out").click()

    admin = make_user("boss")
    ActiveAssignmentFactory(principal=admin, role=Role.objects.get(slug="privileged-role-administrator"))
    sign_in(page, live_server, admin, then="/alerts/")
    page.get_by_label("Reason").fill("Mail team uses hardware keys at the gateway; review in 30 days")
    page.get_by_role("button", name="Dismiss").click()

    expect(page.get_by_role("status")).to_contain_text("Dismissed until")
    alert = Alert.objects.get(rule_key="roles_without_mfa_on_activation")
    assert (alert.status, alert.dismissed_by) == ("dismissed", admin)
    assert AuditEvent.objects.filter(action="alert.dismissed", actor=admin).count() == 1
