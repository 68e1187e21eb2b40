"""Signing in: password first (throttled by django-axes), then a code from the authenticator
app (replay-guarded and throttled by django-otp), then sign-out."""

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from roles.mfa import REUSED_OR_WRONG_CODE
from tests.conftest import current_code, verify_session, wrong_code
from tests.factories import TEST_PASSWORD

LOGIN = "/accounts/login/"
VERIFY = "/accounts/verify/"
LOGOUT = "/accounts/logout/"
INVALID_LOGIN = "Please enter a correct username and password."
WAIT_ONE_SECOND = "Too many wrong codes. Wait 1 second, then try the newest code."


def sign_in(client, user, *, next_url="/"):
    """Step one as the sign-in form posts it."""
    return client.post(LOGIN, {"username": user.username, "password": TEST_PASSWORD, "next": next_url})


def submit_code(client, code, *, next_url="/"):
    return client.post(VERIFY, {"otp_token": code, "next": next_url})


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


@pytest.fixture
def frozen(time_machine):
    """Time stands still at the start of a 30-second TOTP step, so codes do not change under the test."""
    time_machine.move_to("2026-11-22 09:00:00Z", tick=False)
    return time_machine


@pytest.fixture
def device(alice):
    return alice.totpdevice_set.get()


# Step one: username and password


def test_sign_in_page_asks_for_username_and_password(client, db):
    response = client.get(LOGIN)

    assertContains(response, '<label for="id_username">Username</label>', html=True)
    assertContains(response, '<label for="id_password">Password</label>', html=True)
    assertContains(response, '<button type="submit" class="primary">Sign in</button>', html=True)


def test_correct_password_leads_to_the_code_page_keeping_next(client, alice):
    response = sign_in(client, alice, next_url="/admin/")

    assertRedirects(response, f"{VERIFY}?next=%2Fadmin%2F", fetch_redirect_response=False)
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert not is_verified(client)


def test_sign_in_page_carries_next_into_its_form(client, db):
    response = client.get(LOGIN, {"next": "/admin/"})

    assertContains(response, '<input type="hidden" name="next" value="/admin/">', html=True)


def test_next_pointing_to_another_site_is_replaced_by_home(client, alice):
    response = sign_in(client, alice, next_url="https://evil.example/steal")

    assertRedirects(response, f"{VERIFY}?next=%2F", fetch_redirect_response=False)


def test_wrong_password_shows_an_error_and_signs_nobody_in(client, alice):
    response = client.post(LOGIN, {"username": "alice", "password": "not-the-password", "next": "/"})

    assert response.status_code == 200
    assertContains(response, INVALID_LOGIN)
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.data == {"username": "alice"}
    assert event.client_ip == "127.0.0.1"
    assert "not-the-password" not in str(event.data)


def test_five_wrong_passwords_lock_the_account_even_for_the_right_password(client, alice):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice", "password": "not-the-password"})

    response = sign_in(client, alice)

    assertContains(response, "Sign-in locked", status_code=429)
    assert "_auth_user_id" not in client.session


def test_four_wrong_passwords_do_not_lock_the_account(client, alice):
    for _ in range(4):
        client.post(LOGIN, {"username": "alice", "password": "not-the-password"})

    response = sign_in(client, alice)

    assertRedirects(response, f"{VERIFY}?next=%2F", fetch_redirect_response=False)


def test_lockout_is_for_one_username_only(client, alice, bob):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice", "password": "not-the-password"})

    response = sign_in(client, bob)

    assertRedirects(response, f"{VERIFY}?next=%2F", fetch_redirect_response=False)


def test_lockout_ends_fifteen_minutes_after_the_last_try(client, alice, frozen):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice", "password": "not-the-password"})
    frozen.shift(15 * 60 - 1)
    assertContains(sign_in(client, alice), "Sign-in locked", status_code=429)  # a try while locked restarts the wait
    frozen.shift(15 * 60 - 1)
    assertContains(sign_in(client, alice), "Sign-in locked", status_code=429)

    frozen.shift(15 * 60 + 1)
    response = sign_in(client, alice)

    assertRedirects(response, f"{VERIFY}?next=%2F", fetch_redirect_response=False)


# Step two: the code from the authenticator app


def test_code_page_asks_for_a_verification_code(client, alice):
    sign_in(client, alice)

    response = client.get(VERIFY)

    assertContains(response, '<label for="id_otp_token">Verification code</label>', html=True)
    assertContains(response, '<button type="submit" class="primary">Verify</button>', html=True)


def test_correct_code_verifies_the_session_and_goes_to_next(client, alice, device, frozen):
    sign_in(client, alice, next_url="/admin/")

    response = submit_code(client, current_code(device), next_url="/admin/")

    assertRedirects(response, "/admin/", fetch_redirect_response=False)
    assert is_verified(client)
    assert AuditEvent.objects.filter(action="auth.mfa_verified", actor=alice).count() == 1


def test_correct_code_without_next_goes_home_and_shows_the_user(client, alice, device, frozen):
    sign_in(client, alice)

    response = client.post(VERIFY, {"otp_token": current_code(device)}, follow=True)

    assertRedirects(response, "/")
    assertContains(response, "Welcome, Alice")


def test_verifying_gives_the_session_a_new_key(client, alice, device, frozen):
    sign_in(client, alice)
    password_only_key = client.session.session_key

    submit_code(client, current_code(device))

    assert client.session.session_key != password_only_key
    assert is_verified(client)


def test_wrong_code_shows_the_error_and_leaves_the_session_unverified(client, alice, device, frozen):
    sign_in(client, alice)

    response = submit_code(client, wrong_code(device))

    assertContains(response, REUSED_OR_WRONG_CODE)
    assert not is_verified(client)
    assert client.get("/").url == f"{VERIFY}?next=%2F"


def test_each_wrong_code_is_audited(client, alice, device, frozen):
    sign_in(client, alice)

    submit_code(client, wrong_code(device))
    frozen.shift(1)
    submit_code(client, wrong_code(device))

    assert AuditEvent.objects.filter(action="auth.mfa_failed", actor=alice).count() == 2


def test_empty_code_asks_for_the_code(client, alice, frozen):
    sign_in(client, alice)

    response = submit_code(client, "")

    assertContains(response, "Enter the verification code (6 digits, or a backup code).")
    assert not is_verified(client)


def test_a_code_accepted_once_is_refused_the_second_time(client, alice, device, frozen):
    code = current_code(device)
    sign_in(client, alice)
    submit_code(client, code)
    client.post(LOGOUT)

    sign_in(client, alice)
    response = submit_code(client, code)

    assertContains(response, REUSED_OR_WRONG_CODE)
    assert not is_verified(client)


def test_the_next_code_works_after_a_reused_one(client, alice, device, frozen):
    code = current_code(device)
    sign_in(client, alice)
    submit_code(client, code)
    client.post(LOGOUT)
    sign_in(client, alice)
    submit_code(client, code)

    frozen.shift(30)
    response = submit_code(client, current_code(device))

    assertRedirects(response, "/", fetch_redirect_response=False)
    assert is_verified(client)


def test_after_a_wrong_code_even_the_right_one_waits_one_second(client, alice, device, frozen):
    sign_in(client, alice)
    submit_code(client, wrong_code(device))

    response = submit_code(client, current_code(device))

    assertContains(response, WAIT_ONE_SECOND)
    assert not is_verified(client)


def test_the_wait_doubles_with_each_wrong_code(client, alice, device, frozen):
    sign_in(client, alice)
    submit_code(client, wrong_code(device))  # wait 1 s
    frozen.shift(1)
    submit_code(client, wrong_code(device))  # wait 2 s
    assertContains(submit_code(client, current_code(device)), "Wait 2 seconds, then try the newest code.")
    frozen.shift(2)
    submit_code(client, wrong_code(device))  # wait 4 s

    response = submit_code(client, current_code(device))

    assertContains(response, "Wait 4 seconds, then try the newest code.")
    assert not is_verified(client)
    assert AuditEvent.objects.filter(action="auth.mfa_failed", actor=alice, data__reason="throttled").count() == 2


def test_the_right_code_works_once_the_wait_is_over(client, alice, device, frozen):
    sign_in(client, alice)
    submit_code(client, wrong_code(device))
    frozen.shift(1)
    submit_code(client, wrong_code(device))  # wait 2 s
    frozen.shift(1)
    assertContains(submit_code(client, current_code(device)), WAIT_ONE_SECOND)

    frozen.shift(30)  # past the wait, and a new code
    response = submit_code(client, current_code(device))

    assertRedirects(response, "/", fetch_redirect_response=False)
    assert is_verified(client)


def test_verify_page_sends_a_verified_user_on(client, alice):
    verify_session(client, alice)

    response = client.get(VERIFY, {"next": "/admin/"})

    assertRedirects(response, "/admin/", fetch_redirect_response=False)


def test_verify_page_sends_an_anonymous_visitor_to_sign_in(client, db):
    response = client.get(VERIFY)

    assertRedirects(response, LOGIN, fetch_redirect_response=False)


def test_sign_in_page_sends_a_verified_user_on(client, alice):
    verify_session(client, alice)

    response = client.get(LOGIN, {"next": "/admin/"})

    assertRedirects(response, "/admin/", fetch_redirect_response=False)


# Sign-out


def test_sign_out_ends_the_session(mfa_client, alice):
    response = mfa_client.post(LOGOUT, follow=True)

    assertRedirects(response, LOGIN)
    assertContains(response, "You are signed out.")
    assertRedirects(mfa_client.get("/"), f"{LOGIN}?next=%2F", fetch_redirect_response=False)
    assert AuditEvent.objects.filter(action="auth.logout", actor=alice).count() == 1


def test_sign_out_by_get_is_refused(mfa_client, alice):
    response = mfa_client.get(LOGOUT)

    assert response.status_code == 405
    assert mfa_client.get("/").status_code == 200
    assert not AuditEvent.objects.filter(action="auth.logout").exists()


def test_sign_out_button_is_on_every_signed_in_page(mfa_client):
    response = mfa_client.get(reverse("home"))

    assertContains(response, f'<form class="signout" method="post" action="{LOGOUT}">')
    assertNotContains(response, f'href="{LOGOUT}"')
