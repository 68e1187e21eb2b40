"""The Django admin is open only to an OTP-verified session whose user holds an active
Privileged Role Administrator or Global Administrator assignment at '/' right now.
Django's is_staff and is_superuser flags give nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains, assertRedirects

from roles.models import Role
from tests.conftest import make_user, verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

ADMIN_INDEX = "/admin/"
REFUSAL = "Admin needs an active role"


@pytest.fixture
def pra(db):
    return Role.objects.get(slug="privileged-role-administrator")


def assert_refused(client, path: str = ADMIN_INDEX) -> None:
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin-refused")
    assert response.status_code == 403
    assertContains(response, REFUSAL, status_code=403)
    assertContains(response, "Being eligible is not enough", status_code=403)


# Rung 0: nobody signed in.
def test_an_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get(ADMIN_INDEX)

    assertRedirects(response, "/accounts/login/?next=%2Fadmin%2F", fetch_redirect_response=False)


def test_the_admins_own_login_page_leads_to_the_pim_sign_in(client, db):
    response = client.get("/admin/login/?next=/admin/roles/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


# Rung 1: signed in with password only, even holding the role.
def test_a_password_only_session_is_sent_to_the_code_page_even_with_an_active_pra(client, pim_admin):
    client.force_login(pim_admin)

    response = client.get(ADMIN_INDEX)

    assertRedirects(response, "/accounts/verify/?next=%2Fadmin%2F", fetch_redirect_response=False)
    assert client.get("/admin/roles/role/").status_code == 302


# Rung 2: verified, but holding no active administrator role at '/'.
def test_a_verified_user_without_an_administrator_role_is_refused(client, dave):
    verify_session(client, dave)

    assert_refused(client)
    assert_refused(client, "/admin/roles/eligibleassignment/")


def test_a_django_superuser_without_the_pim_role_is_refused(client, db):
    root = make_user("root", is_superuser=True, is_staff=True)
    verify_session(client, root)

    assert_refused(client)
    assert_refused(client, "/admin/auth/user/")


def test_being_eligible_for_pra_is_not_enough(client, carol, pra):
    EligibleAssignmentFactory(principal=carol, role=pra)
    verify_session(client, carol)

    assert_refused(client)


def test_an_active_pra_only_at_a_sub_scope_is_refused(client, carol, pra):
    ActiveAssignmentFactory(principal=carol, role=pra, scope=ScopeFactory(path="/subscriptions/prod"))
    verify_session(client, carol)

    assert_refused(client)


def test_another_active_role_at_the_root_is_refused(client, carol):
    ActiveAssignmentFactory(principal=carol, role=Role.objects.get(slug="security-administrator"))
    verify_session(client, carol)

    assert_refused(client)


# Rung 3: the right user.
def test_an_active_pra_at_the_root_opens_the_admin(client, pim_admin):
    verify_session(client, pim_admin)

    response = client.get(ADMIN_INDEX)

    assertContains(response, "Roles, assignments and the audit log")
    assertContains(response, "Eligible assignments")


def test_an_administrator_back_from_sign_in_at_the_admin_login_goes_on_to_the_page(client, pim_admin):
    verify_session(client, pim_admin)

    response = client.get("/admin/login/?next=/admin/roles/")

    assertRedirects(response, "/admin/roles/", fetch_redirect_response=False)


def test_the_admin_login_never_sends_an_administrator_to_another_site(client, pim_admin):
    verify_session(client, pim_admin)

    response = client.get("/admin/login/?next=https://evil.example.com/")

    assertRedirects(response, "/admin/", fetch_redirect_response=False)


def test_an_active_global_administrator_at_the_root_opens_the_admin(client, carol):
    ActiveAssignmentFactory(principal=carol, role=Role.objects.get(slug="global-administrator"))
    verify_session(client, carol)

    assert client.get(ADMIN_INDEX).status_code == 200


def test_an_expired_pra_is_refused_the_next_second(client, carol, pra, time_machine):
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    time_machine.move_to(start, tick=False)
    ActiveAssignmentFactory(principal=carol, role=pra, start_at=start, end_at=end)
    verify_session(client, carol)

    time_machine.move_to(end - timedelta(seconds=1), tick=False)
    assert client.get(ADMIN_INDEX).status_code == 200

    time_machine.move_to(end, tick=False)
    assert_refused(client)


def test_a_pra_removed_mid_session_closes_the_admin_on_the_next_request(client, carol, pra, pim_admin):
    from roles import services

    assignment = ActiveAssignmentFactory(principal=carol, role=pra)
    verify_session(client, carol)
    assert client.get(ADMIN_INDEX).status_code == 200

    services.remove_assignment(actor=pim_admin, assignment=assignment)

    assert_refused(client)
