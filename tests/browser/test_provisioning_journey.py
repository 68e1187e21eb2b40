"""A role bound to a target, as its holder sees it in a real browser: PIM access at once, the
target lagging, then granted, without reloading the page (pim.js polls provisioning.json)."""

import re

import pytest
from playwright.sync_api import expect

from roles.models import Role
from roles.provisioning import services as provisioning
from roles.provisioning.tasks import run_provisioning
from tests.browser.test_activation_journeys import activate, make_eligible, sign_in
from tests.conftest import make_user
from tests.provisioning.conftest import members

pytestmark = pytest.mark.browser


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", first_name="Alice", last_name="Ahlberg")


@pytest.fixture
def mail_admins_target(transactional_db):
    """Exchange Administrator (no approval, its default) provisions the Django group "mail-admins"."""
    return provisioning.create_target(
        actor=None,
        role=Role.objects.get(slug="exchange-administrator"),
        name="Mail admins group",
        kind="django_group",
        params={"group": "mail-admins"},
    )


def test_alice_sees_her_role_at_once_and_its_target_granted_without_reloading(
    live_server, page, alice, mail_admins_target
):
    make_eligible(alice, "exchange-administrator")
    sign_in(page, live_server, alice, then="/my-roles/")

    activate(page, alice, "Exchange Administrator")

    expect(page.get_by_role("status")).to_contain_text("Exchange Administrator is active until")
    row = page.get_by_role("region", name="Active roles").get_by_role("row", name=re.compile("Exchange Administrator"))
    target = row.get_by_role("list", name="Targets").get_by_role("listitem")
    lag = row.get_by_text("Active in PIM; not yet granted on: Mail admins group")
    expect(target).to_have_text("Mail admins group: Pending being granted…")
    expect(lag).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads

    run_provisioning()  # the worker's schedule, here and now (no task cluster runs in tests)

    # pim.js asks every 3 s; expect waits for it.
    granted = re.compile(r"^Mail admins group: Granted granted in (under 1 s|\d+ s)$")
    expect(target).to_have_text(granted, timeout=10_000)
    expect(target.locator(".status")).to_have_class("status grant-granted")
    expect(lag).to_be_hidden()
    assert page.evaluate("window.stillTheSamePage") is True
    assert members() == ["alice"]
