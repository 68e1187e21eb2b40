"""An administrator runs PIM from the console in a real browser: PIM governs itself, so she
first activates Privileged Role Administrator, then changes a role's settings and makes
someone eligible, who sees it on My roles at once."""

import re

import pytest
from playwright.sync_api import expect

from roles.models import Role, RoleSettings
from tests.browser.test_activation_journeys import activate, sign_in
from tests.conftest import make_user
from tests.factories import EligibleAssignmentFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def erin(transactional_db):
    """Eligible for Privileged Role Administrator, without approval: she can activate it herself."""
    erin = make_user("erin", first_name="Erin", last_name="Ek")
    pra = Role.objects.get(slug="privileged-role-administrator")
    RoleSettings.objects.filter(role=pra).update(require_approval=False)
    EligibleAssignmentFactory(principal=erin, role=pra)
    return erin


@pytest.fixture
def dave(transactional_db):
    return make_user("dave", first_name="Dave")


def test_an_administrator_requires_a_ticket_and_makes_dave_eligible_and_dave_sees_it(
    page, live_server, browser, erin, dave
):
    # Without an active administrator role, the console is closed.
    sign_in(page, live_server, erin, then="/my-roles/")
    page.goto(live_server.url + "/manage/roles/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")

    page.goto(live_server.url + "/my-roles/")
    activate(page, erin, "Privileged Role Administrator")
    expect(page.get_by_role("status")).to_contain_text("Privileged Role Administrator is active until")

    # Exchange Administrator now requires a ticket.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Manage").click()
    row = page.get_by_role("row", name=re.compile("Exchange Administrator"))
    row.get_by_role("link", name="Settings").click()
    page.get_by_label("Require ticket information on activation").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings of Exchange Administrator saved.")
    assert RoleSettings.objects.get(role__slug="exchange-administrator").require_ticket_on_activation

    # dave becomes eligible for it.
    page.goto(live_server.url + "/manage/assignments/new/")
    page.get_by_label("User").select_option(label="dave")
    page.get_by_label("Role").select_option(label="Exchange Administrator")
    page.get_by_label("Scope").select_option(label="/")
    page.get_by_label("Justification").fill("Joins the mail team")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("status")).to_contain_text("dave")

    # dave sees it on My roles, with the ticket requirement.
    daves_page = browser.new_context().new_page()
    try:
        sign_in(daves_page, live_server, dave, then="/my-roles/")
        eligible = daves_page.get_by_role("region", name="Eligible roles")
        row = eligible.get_by_role("row", name=re.compile("Exchange Administrator"))
        expect(row).to_contain_text("Ticket")
    finally:
        daves_page.context.close()
