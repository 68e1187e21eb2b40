"""First sign-in without an authenticator app: scan the QR code, confirm with a code, get
backup codes once; each backup code then signs in once."""

from base64 import b32encode

import pytest
from django.utils.html import escape
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from pimsite.services import ENROL_WRONG_CODE
from roles.mfa import REUSED_OR_WRONG_CODE
from tests.conftest import current_code, wrong_code
from tests.factories import TEST_PASSWORD, UserFactory

LOGIN = "/accounts/login/"
VERIFY = "/accounts/verify/"
ENROL = "/accounts/enrol/"
LOGOUT = "/accounts/logout/"


@pytest.fixture
def erin(db):
    """Has a password but has never set up an authenticator app."""
    return UserFactory(username="erin", first_name="Erin")


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to("2026-11-22 09:00:00Z", tick=False)
    return time_machine


def sign_in(client, user, *, next_url="/"):
    return client.post(LOGIN, {"username": user.username, "password": TEST_PASSWORD, "next": next_url}, follow=True)


def pending_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def enrol(client, user) -> list[str]:
    """Sign in, confirm the app with its first code; returns the backup codes shown."""
    sign_in(client, user)
    response = client.post(ENROL, {"otp_token": current_code(pending_device(user)), "next": "/"})
    return list(response.context["codes"])


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


def test_user_without_an_app_is_sent_to_enrolment_after_the_password(client, erin):
    response = sign_in(client, erin, next_url="/admin/")

    assertRedirects(response, f"{ENROL}?next=%2Fadmin%2F")
    assertContains(response, "Set up your authenticator app")


def test_enrolment_page_shows_a_qr_code_and_the_secret_key(client, erin):
    response = sign_in(client, erin)

    device = pending_device(erin)
    secret = b32encode(device.bin_key).decode()
    assertContains(response, "<svg")
    shown = response.content.decode().split('aria-label="Secret key">')[1].split("</code>")[0]
    assert shown.replace(" ", "") == secret
    assertContains(response, '<label for="id_otp_token">Verification code</label>', html=True)


def test_enrolment_page_keeps_the_same_key_on_reload(client, erin):
    sign_in(client, erin)
    first = pending_device(erin)

    client.get(ENROL)

    assert pending_device(erin) == first
    assert TOTPDevice.objects.filter(user=erin).count() == 1


def test_correct_first_code_confirms_the_app_and_shows_ten_backup_codes_once(client, erin, frozen):
    sign_in(client, erin)
    device = pending_device(erin)

    response = client.post(ENROL, {"otp_token": current_code(device), "next": "/"})

    codes = list(response.context["codes"])
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assertContains(response, f"<code>{code}</code>", html=True)
    assertContains(response, "this is the only time they are shown")
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(client)
    assert AuditEvent.objects.filter(action="auth.mfa_enrolled", actor=erin).count() == 1
    assert AuditEvent.objects.filter(action="auth.backup_codes_created", actor=erin).count() == 1

    again = client.get(ENROL, follow=True)  # shown once: the page does not come back

    assertRedirects(again, "/", target_status_code=200, fetch_redirect_response=True)
    for code in codes:
        assertNotContains(again, code)


def test_wrong_first_code_shows_an_error_and_leaves_the_app_unconfirmed(client, erin, frozen):
    sign_in(client, erin)
    device = pending_device(erin)
    response = client.post(ENROL, {"otp_token": wrong_code(device), "next": "/"})

    assertContains(response, escape(ENROL_WRONG_CODE))
    assertContains(response, "<svg")
    device.refresh_from_db()
    assert not device.confirmed
    assert not is_verified(client)
    assert not StaticToken.objects.filter(device__user=erin).exists()
    assert AuditEvent.objects.filter(action="auth.mfa_failed", actor=erin, data__stage="enrolment").count() == 1
    assertRedirects(client.get("/"), f"{ENROL}?next=%2F", fetch_redirect_response=False)


def test_right_first_code_after_a_wrong_one_waits_one_second(client, erin, frozen):
    sign_in(client, erin)
    device = pending_device(erin)
    client.post(ENROL, {"otp_token": wrong_code(device), "next": "/"})

    response = client.post(ENROL, {"otp_token": current_code(device), "next": "/"})

    assertContains(response, "Too many wrong codes. Wait 1 second, then try the newest code.")
    assert not pending_device(erin).confirmed
    frozen.shift(30)  # past the wait, and a new code
    response = client.post(ENROL, {"otp_token": current_code(device), "next": "/"})
    assert len(response.context["codes"]) == 10
    device.refresh_from_db()
    assert device.confirmed


def test_enrolment_code_must_be_six_digits(client, erin):
    sign_in(client, erin)

    response = client.post(ENROL, {"otp_token": "12345", "next": "/"})

    assertContains(response, "A verification code is exactly 6 digits.")
    assert not pending_device(erin).confirmed


def test_each_backup_code_signs_in_once(client, erin, frozen):
    codes = enrol(client, erin)
    client.post(LOGOUT)
    sign_in(client, erin)

    response = client.post(VERIFY, {"otp_token": codes[0], "next": "/"})

    assertRedirects(response, "/", fetch_redirect_response=False)
    assert is_verified(client)
    assert AuditEvent.objects.filter(action="auth.backup_code_used", actor=erin).count() == 1
    assert StaticToken.objects.filter(device__user=erin).count() == 9

    client.post(LOGOUT)
    sign_in(client, erin)
    response = client.post(VERIFY, {"otp_token": codes[0], "next": "/"})

    assertContains(response, REUSED_OR_WRONG_CODE)
    assert not is_verified(client)


def test_another_backup_code_still_works_after_one_is_used(client, erin, frozen):
    codes = enrol(client, erin)
    for code in codes[:2]:
        client.post(LOGOUT)
        sign_in(client, erin)

        response = client.post(VERIFY, {"otp_token": code, "next": "/"})

        assertRedirects(response, "/", fetch_redirect_response=False)
    assert AuditEvent.objects.filter(action="auth.backup_code_used", actor=erin).count() == 2


def test_regenerated_backup_codes_replace_the_old_ones(client, erin, frozen):
    old = enrol(client, erin)

    response = client.post("/accounts/backup-codes/")

    new = list(response.context["codes"])
    assert len(new) == 10
    client.post(LOGOUT)
    sign_in(client, erin)
    assertContains(client.post(VERIFY, {"otp_token": old[1], "next": "/"}), REUSED_OR_WRONG_CODE)
    frozen.shift(1)  # past the wait the wrong code started
    assertRedirects(client.post(VERIFY, {"otp_token": new[1], "next": "/"}), "/", fetch_redirect_response=False)


@pytest.mark.parametrize("path", [ENROL, "/accounts/backup-codes/"])
def test_pages_showing_backup_codes_are_never_stored_by_the_browser(client, erin, frozen, path):
    sign_in(client, erin)
    response = client.post(ENROL, {"otp_token": current_code(pending_device(erin)), "next": "/"})
    if path != ENROL:
        response = client.post(path)

    assert len(response.context["codes"]) == 10
    assert "no-store" in response["Cache-Control"]
