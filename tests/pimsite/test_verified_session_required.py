"""Every PIM page needs a session that passed both the password and the code."""

from django_otp.plugins.otp_static.models import StaticToken
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from tests.conftest import make_user, verify_session
from tests.factories import UserFactory


def test_anonymous_visitor_is_sent_to_sign_in_with_next(client, db):
    # Rung 1: nobody signed in.
    response = client.get("/")

    assertRedirects(response, "/accounts/login/?next=%2F", fetch_redirect_response=False)


def test_anonymous_visitor_keeps_the_query_string_in_next(client, db):
    response = client.get("/", {"tab": "active"})

    assertRedirects(response, "/accounts/login/?next=%2F%3Ftab%3Dactive", fetch_redirect_response=False)


def test_password_only_session_is_sent_to_the_code_page(client, alice):
    # Rung 2: the password is right, but no code was entered yet.
    client.force_login(alice)

    response = client.get("/")

    assertRedirects(response, "/accounts/verify/?next=%2F", fetch_redirect_response=False)


def test_password_only_session_without_an_app_is_sent_to_enrolment(client, db):
    # Rung 2, for someone who has never set up an authenticator app.
    client.force_login(UserFactory(username="erin"))

    response = client.get("/")

    assertRedirects(response, "/accounts/enrol/?next=%2F", fetch_redirect_response=False)


def test_password_only_session_cannot_issue_backup_codes(client, alice):
    client.force_login(alice)

    response = client.post("/accounts/backup-codes/")

    assertRedirects(response, "/accounts/verify/?next=%2Faccounts%2Fbackup-codes%2F", fetch_redirect_response=False)
    assert not StaticToken.objects.filter(device__user=alice).exists()


def test_password_only_session_cannot_open_the_admin(client, alice):
    client.force_login(alice)

    response = client.get("/admin/")

    assertRedirects(response, "/accounts/verify/?next=%2Fadmin%2F", fetch_redirect_response=False)


def test_verified_session_sees_the_home_page_with_the_users_name(client, alice):
    # Rung 3: password and code.
    verify_session(client, alice)

    response = client.get("/")

    assertContains(response, "<h1>Welcome, Alice</h1>", html=True)


def test_health_check_needs_no_sign_in(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_names_on_pages_are_escaped(client, db):
    mallory = make_user("mallory", first_name="<script>alert(1)</script>")
    verify_session(client, mallory)

    response = client.get("/")

    assertContains(response, "Welcome, &lt;script&gt;alert(1)&lt;/script&gt;")
    assertNotContains(response, "<script>alert(1)</script>")
