"""A security reader opens the dashboard in a real browser and sees the numbers and the three
charts, each an image named by its title."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from roles.models import Role
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
