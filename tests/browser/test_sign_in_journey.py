"""Signing in as a person does it, in a real browser: password, then the app's code."""

import re

import pytest
from playwright.sync_api import expect

from roles.mfa import REUSED_OR_WRONG_CODE
from tests.conftest import current_code, make_user, wrong_code
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def alice(transactional_db):
    return make_user("alice", first_name="Alice", last_name="Ahlberg")


def sign_in_with_password(page, live_server, user):
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2F$"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/accounts/verify/\?next=%2F$"))


def test_signing_in_with_password_and_code_opens_the_home_page(live_server, page, alice):
    sign_in_with_password(page, live_server, alice)

    page.get_by_label("Verification code").fill(current_code(alice.totpdevice_set.get()))
    page.get_by_role("button", name="Verify").click()

    expect(page).to_have_url(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Alice Ahlberg")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_wrong_code_shows_the_error_and_stays_on_the_code_page(live_server, page, alice):
    sign_in_with_password(page, live_server, alice)
    page.get_by_label("Verification code").fill(wrong_code(alice.totpdevice_set.get()))
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("alert")).to_have_text(REUSED_OR_WRONG_CODE)
    expect(page).to_have_url(re.compile(r"/accounts/verify/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify it's you")
    expect(page.get_by_label("Verification code")).to_be_visible()
