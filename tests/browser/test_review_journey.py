"""An access review as people live it, in a real browser: bob is asked whether alice still needs
Exchange Administrator, says no with a reason; when the review ends the every-minute task
closes it, the results are applied, and alice's My roles no longer offers the role."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from roles.models import ActiveAssignment, Role
from roles.reviews import services, tasks
from tests.browser.test_activation_journeys import sign_in
from tests.conftest import make_user
from tests.factories import EligibleAssignmentFactory, root_scope
from tests.reviews.conftest import review_values

pytestmark = pytest.mark.browser

REVIEW = "Exchange admins, Q4"
REASON = "Alice moved to the finance team in October"


def fact(card, term: str):
    """What an item's card says beside `term` (its <dt>)."""
    return card.locator("dt", has_text=re.compile(f"^{term}$")).locator("xpath=following-sibling::dd[1]")


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", first_name="Alice", last_name="Ahlberg")


@pytest.fixture
def bob(transactional_db):
    return make_user("bob", first_name="Bob", last_name="Berg")


@pytest.fixture
def pim_admin(transactional_db):
    """Creates the review: holds Privileged Role Administrator at '/'."""
    admin = make_user("pimadmin")
    ActiveAssignment.objects.create(
        principal=admin, role=Role.objects.get(slug="privileged-role-administrator"), scope=root_scope(),
        start_at=admin.date_joined,
    )  # fmt: skip
    return admin


def test_bob_denies_alices_eligibility_and_after_the_review_alice_no_longer_has_it(
    live_server, page, browser, alice, bob, pim_admin, time_machine
):
    EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="exchange-administrator"))
    review = services.create_review(
        actor=pim_admin,
        values=review_values(name=REVIEW, description="Who still runs the mail servers?", reviewers=[bob],
                             auto_apply=True),
    )  # fmt: skip
    assert tasks.run_reviews().startswith("started 1")  # the every-minute task takes the snapshot
    occurrence = review.occurrences.get(number=1)

    # Before the review ends, alice may still activate the role.
    alices_context = browser.new_context()
    try:
        alices_page = alices_context.new_page()
        sign_in(alices_page, live_server, alice, then="/my-roles/")
        eligible = alices_page.get_by_role("region", name="Eligible roles")
        expect(eligible.get_by_role("row", name=re.compile("Exchange Administrator"))).to_have_count(1)
    finally:
        alices_context.close()

    # bob finds the review from the navigation and denies alice's eligibility with a reason.
    sign_in(page, live_server, bob, then="/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reviews", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reviews")
    row = page.get_by_role("row", name=re.compile(REVIEW))
    expect(row).to_contain_text("Who still runs the mail servers?")
    expect(row).to_contain_text("0 of 1 decided")
    row.get_by_role("link", name=REVIEW).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(REVIEW)
    expect(page.get_by_text("Don't know leaves the assignment to the review's")).to_contain_text("No change")
    item = page.get_by_role("listitem", name="alice: Exchange Administrator at / (eligible)")
    expect(fact(item, "Holder")).to_have_text("alice (Alice Ahlberg)")
    expect(fact(item, "Last activation")).to_have_text("Never; 0 in the last 30 days")
    expect(fact(item, "Recommendation")).to_have_text("Remove — Never activated.")
    expect(fact(item, "Decision")).to_have_text("Not decided yet")
    item.get_by_label("Justification").fill(REASON)
    item.get_by_role("button", name="Deny", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Denied 1 assignment.")
    expect(fact(item, "Decision")).to_contain_text("Deny by bob")
    expect(fact(item, "Justification")).to_have_text(REASON)
    expect(page.get_by_text("1 of 1 decided")).to_be_visible()

    # The review's two weeks pass; the every-minute task closes it and applies the results (it
    # also queues the apply task after the close; whichever runs first does it, the other nothing).
    time_machine.move_to(occurrence.ends_at + timedelta(minutes=1))
    assert tasks.run_reviews() == "started 0, reminded 0, closed 1, resumed 1"
    assert tasks.apply_occurrence(occurrence.pk) == "applied 0"
    assert tasks.run_reviews() == "started 0, reminded 0, closed 0, resumed 0"  # a second run does nothing

    # bob's page now shows the decision read-only, with what it did.
    sign_in(page, live_server, bob, then=f"/reviews/{occurrence.pk}/")  # two weeks on: the session has expired
    expect(page.get_by_role("note")).to_contain_text("This review has ended")
    expect(fact(item, "Decision")).to_contain_text("Deny by bob")
    expect(fact(item, "Outcome")).to_have_text("Remove (Reviewer's decision)")
    expect(fact(item, "Result")).to_have_text("Removed")
    expect(page.get_by_role("button", name="Deny")).to_have_count(0)

    # alice signs in: Exchange Administrator is gone from My roles.
    alices_context = browser.new_context()
    try:
        alices_page = alices_context.new_page()
        sign_in(alices_page, live_server, alice, then="/my-roles/")
        expect(alices_page.get_by_role("heading", level=1)).to_have_text("My roles")
        expect(alices_page.get_by_text("You are not eligible for any role.")).to_be_visible()
        expect(alices_page.get_by_text("Exchange Administrator")).to_have_count(0)
    finally:
        alices_context.close()
