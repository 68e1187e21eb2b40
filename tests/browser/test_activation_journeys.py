"""Activating, approving and deactivating as people do it, in a real browser. Each journey
signs in through the real pages and makes its own data; the clock runs as it does."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from roles.models import ActiveAssignment, Role
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.conftest import current_code, make_user
from tests.factories import TEST_PASSWORD, EligibleAssignmentFactory

pytestmark = pytest.mark.browser

JUSTIFICATION = "INC-4711 restore the CEO's mailbox"


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", first_name="Alice", last_name="Ahlberg")


@pytest.fixture
def bob(transactional_db):
    return make_user("bob", first_name="Bob", last_name="Berg")


def make_eligible(user, slug: str):
    return EligibleAssignmentFactory(principal=user, role=Role.objects.get(slug=slug))


def needs_approval(slug: str, *, approvers):
    update_role_settings(actor=None, role=Role.objects.get(slug=slug), changes={"require_approval": True},
                         stages=[StagePlan(approvers=tuple(approvers))])  # fmt: skip


def sign_in(page, live_server, user, *, then: str):
    """Password, then the code the app shows at this moment; lands on `then`."""
    page.goto(live_server.url + then)
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Verification code").fill(current_code(user.totpdevice_set.get()))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(live_server.url + then)


def activate(page, user, role_name: str):
    """From My roles: open the role's form, say why, give a code if asked, and submit."""
    page.get_by_role("link", name=f"Activate {role_name} at /").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Activate {role_name}")
    page.get_by_label("Justification").fill(JUSTIFICATION)
    code = page.get_by_label("Verification code")
    if code.count():
        code.fill(current_code(user.totpdevice_set.get()))
    page.get_by_role("button", name="Activate", exact=True).click()


def test_alice_activates_a_role_sees_it_count_down_and_deactivates_it(live_server, page, alice):
    make_eligible(alice, "user-administrator")
    sign_in(page, live_server, alice, then="/my-roles/")

    activate(page, alice, "User Administrator")

    expect(page).to_have_url(live_server.url + "/my-roles/")
    expect(page.get_by_role("status")).to_contain_text("User Administrator is active until")
    active = page.get_by_role("region", name="Active roles")
    row = active.get_by_role("row", name=re.compile("User Administrator"))
    expect(row).to_contain_text("Activated")
    # pim.js replaced the server's "8 hours" with a live countdown of hours, minutes and seconds.
    expect(row.get_by_role("timer")).to_have_text(re.compile(r"^[1-8] h \d+ min \d+ s$"))

    row.get_by_role("button", name="Deactivate User Administrator at /").click()

    expect(page.get_by_role("status")).to_have_text("User Administrator is deactivated.")
    expect(active).to_contain_text("You hold no active role right now.")
    expect(active.get_by_role("row", name=re.compile("User Administrator"))).to_have_count(0)


def test_bob_approves_alices_request_and_alice_sees_the_role_active(live_server, page, browser, alice, bob):
    needs_approval("exchange-administrator", approvers=[bob])
    make_eligible(alice, "exchange-administrator")
    sign_in(page, live_server, alice, then="/my-roles/")

    activate(page, alice, "Exchange Administrator")

    expect(page.get_by_role("status")).to_have_text("Exchange Administrator: your request was sent to its approvers.")
    requests = page.get_by_role("region", name="Requests")
    expect(requests.get_by_role("row", name=re.compile("Exchange Administrator"))).to_contain_text("Pending approval")

    bobs_context = browser.new_context()
    try:
        bobs_page = bobs_context.new_page()
        sign_in(bobs_page, live_server, bob, then="/")
        bobs_page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
        request = bobs_page.get_by_role("listitem").filter(has_text="Alice Ahlberg asks for Exchange Administrator")
        expect(request).to_contain_text(JUSTIFICATION)
        request.get_by_role("button", name="Approve").click()
        expect(bobs_page.get_by_role("status")).to_have_text("You approved alice's request for Exchange Administrator.")
    finally:
        bobs_context.close()

    page.reload()
    active_row = page.get_by_role("region", name="Active roles").get_by_role("row", name=re.compile("Exchange"))
    expect(active_row).to_contain_text("Exchange Administrator")
    expect(active_row.get_by_role("timer")).to_have_text(re.compile(r"^[1-8] h \d+ min \d+ s$"))
    expect(requests.get_by_role("row", name=re.compile("Exchange Administrator"))).to_contain_text("Granted")


def test_alice_cannot_approve_her_own_request(live_server, page, alice, bob):
    needs_approval("exchange-administrator", approvers=[alice, bob])  # alice approves the role too
    make_eligible(alice, "exchange-administrator")
    sign_in(page, live_server, alice, then="/my-roles/")
    activate(page, alice, "Exchange Administrator")
    expect(page.get_by_role("status")).to_have_text("Exchange Administrator: your request was sent to its approvers.")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Approvals")
    expect(page.get_by_text("Nothing waits for your decision.")).to_be_visible()
    expect(page.get_by_text("asks for Exchange Administrator")).to_have_count(0)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)


def test_alice_in_paris_schedules_a_role_for_ten_oclock_her_time(live_server, browser, alice):
    make_eligible(alice, "user-administrator")
    paris = ZoneInfo("Europe/Paris")
    tomorrow = (datetime.now(paris) + timedelta(days=1)).date()
    context = browser.new_context(timezone_id="Europe/Paris")
    try:
        page = context.new_page()
        sign_in(page, live_server, alice, then="/my-roles/")
        page.get_by_role("link", name="Activate User Administrator at /").click()
        page.get_by_label("At a date and time").check()
        page.get_by_label("Start at (your time)").fill(f"{tomorrow.isoformat()}T10:00")
        page.get_by_label("Justification").fill(JUSTIFICATION)
        page.get_by_role("button", name="Activate", exact=True).click()

        expect(page.get_by_role("status")).to_contain_text("User Administrator is scheduled: active from")
        row = page.get_by_role("region", name="Active roles").get_by_role("row", name=re.compile("User Administrator"))
        expect(row).to_contain_text("Scheduled")
        # pim.js shows the start in the viewer's zone: 10:00 in Paris, whatever UTC says.
        expect(row.get_by_role("cell").nth(2)).to_contain_text("10:00")
    finally:
        context.close()
    start = ActiveAssignment.objects.get(principal=alice).start_at
    assert start == datetime.combine(tomorrow, time(10, 0), tzinfo=paris).astimezone(UTC)
