"""The roles pages of the /manage/ console: who may open them, the list, create, edit, delete."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations.services import request_activation
from audit.models import AuditEvent
from roles.choices import EndReason
from roles.forms import SLUG_TAKEN
from roles.models import Role, RoleSettings
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.rules import StagePlan
from roles.services import BUILTIN_NOT_DELETABLE, update_role_settings
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, RoleFactory, root_scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, pim_admin):
    verify_session(client, pim_admin)
    return client


# Access ---------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_sign_in(client):
    # Rung 1: nobody signed in.
    response = client.get(reverse("manage:roles"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_verified_user_without_an_admin_role_is_told_to_activate_one(client, dave):
    # Rung 2: signed in with a code, holds nothing.
    verify_session(client, dave)

    response = client.get(reverse("manage:roles"))

    assertContains(response, "Being eligible is not enough", status_code=403)
    assertContains(response, NEEDS_ACTIVE_ADMIN_ROLE.split(":")[0], status_code=403)


def test_user_only_eligible_for_privileged_role_administrator_is_refused(client, alice):
    # Rung 3: eligible for the administrator role, but has not activated it.
    EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="privileged-role-administrator"))
    verify_session(client, alice)

    pages = [
        reverse("manage:roles"),
        reverse("manage:role-create"),
        reverse("manage:role-edit", args=["security-reader"]),
        reverse("manage:role-settings", args=["security-reader"]),
    ]
    for page in pages:
        assertContains(client.get(page), "Being eligible is not enough", status_code=403)
    response = client.post(reverse("manage:role-delete", args=["security-reader"]))
    assert response.status_code == 403


def test_active_privileged_role_administrator_sees_the_roles(admin_client):
    # Rung 4: the right user.
    response = admin_client.get(reverse("manage:roles"))

    assertContains(response, "Privileged Role Administrator")
    assertContains(response, "New role")


# The list -------------------------------------------------------------------------------


def _row(response, slug: str) -> str:
    html = response.content.decode()
    start = html.index(f'id="role-{slug}"')
    return html[start : html.index("</tr>", start)]


def test_list_counts_holders_in_effect_now_split_permanent_and_time_bound(admin_client):
    role = RoleFactory(name="Helpdesk Operator", slug="helpdesk-operator")
    now = timezone.now()
    EligibleAssignmentFactory.create_batch(2, role=role)  # permanent
    EligibleAssignmentFactory(role=role, end_at=now + timedelta(days=3))  # time-bound
    EligibleAssignmentFactory(role=role, start_at=now - timedelta(days=2), end_at=now - timedelta(days=1))  # ended
    EligibleAssignmentFactory(role=role, start_at=now + timedelta(days=1))  # not started
    ActiveAssignmentFactory(role=role)  # permanent
    ActiveAssignmentFactory.create_batch(3, role=role, end_at=now + timedelta(hours=2))  # time-bound
    ActiveAssignmentFactory(role=role, start_at=now - timedelta(hours=1), ended_at=now - timedelta(minutes=5),
                           end_reason=EndReason.REMOVED)  # fmt: skip

    row = _row(admin_client.get(reverse("manage:roles")), "helpdesk-operator")

    assert '<td class="eligible-permanent">2</td>' in row
    assert '<td class="eligible-time-bound">1</td>' in row
    assert '<td class="active-permanent">1</td>' in row
    assert '<td class="active-time-bound">3</td>' in row
    assert reverse("manage:role-edit", args=["helpdesk-operator"]) in row
    assert reverse("manage:role-settings", args=["helpdesk-operator"]) in row


def test_list_shows_how_many_requests_wait_for_a_decision_per_role(admin_client, alice, bob):
    # The column comes from activations (roles cannot import it), through roles.hooks.
    role = Role.objects.get(slug="exchange-administrator")
    update_role_settings(
        actor=None, role=role, changes={"require_approval": True}, stages=[StagePlan(approvers=(bob,))]
    )
    eligibility = EligibleAssignmentFactory(principal=alice, role=role)
    request_activation(actor=alice, eligibilities=[eligibility], duration=timedelta(hours=1),
                       justification="INC-1", mfa_verified_at=timezone.now())  # fmt: skip

    response = admin_client.get(reverse("manage:roles"))

    assertContains(response, '<th scope="col" rowspan="2">Pending requests</th>', html=True)
    assert '<td class="extra-1">1</td>' in _row(response, "exchange-administrator")
    assert '<td class="extra-1">0</td>' in _row(response, "user-administrator")


def test_list_counts_the_administrator_itself(admin_client):
    row = _row(admin_client.get(reverse("manage:roles")), "privileged-role-administrator")

    assert '<td class="active-permanent">1</td>' in row
    assert '<td class="eligible-permanent">0</td>' in row


def test_search_finds_roles_by_name_or_slug(admin_client):
    RoleFactory(name="Helpdesk Operator", slug="helpdesk-operator")
    RoleFactory(name="Printer Wrangler", slug="printers")

    by_name = admin_client.get(reverse("manage:roles"), {"q": "helpdesk"})
    by_slug = admin_client.get(reverse("manage:roles"), {"q": "PRINTERS"})

    assertContains(by_name, "Helpdesk Operator")
    assertNotContains(by_name, "Printer Wrangler")
    assertNotContains(by_name, "Global Administrator")
    assertContains(by_slug, "Printer Wrangler")
    assertNotContains(by_slug, "Helpdesk Operator")


def test_tier_filter_shows_only_that_tier(admin_client):
    RoleFactory(name="Helpdesk Operator", tier="standard")

    response = admin_client.get(reverse("manage:roles"), {"tier": "critical"})

    assertContains(response, "Global Administrator")
    assertContains(response, "Privileged Role Administrator")
    assertNotContains(response, "Helpdesk Operator")
    assertNotContains(response, "Security Reader")


def test_search_without_match_says_so(admin_client):
    response = admin_client.get(reverse("manage:roles"), {"q": "no-such-role"})

    assertContains(response, "No role matches")


# session, user, OTP device, the administrator check, the roles with their four counts (subqueries)
ROLE_LIST_QUERIES = 6  # session, user, OTP device, administrator check, open alerts (nav), roles with counts


@pytest.mark.parametrize("n_roles", [9, 20])
def test_role_list_query_count_does_not_grow(admin_client, n_roles, django_assert_max_num_queries):
    for role in RoleFactory.create_batch(n_roles):
        EligibleAssignmentFactory(role=role)
        ActiveAssignmentFactory(role=role, end_at=timezone.now() + timedelta(hours=1))

    with django_assert_max_num_queries(ROLE_LIST_QUERIES):
        response = admin_client.get(reverse("manage:roles"))

    assert response.status_code == 200


# Create, edit, delete -------------------------------------------------------------------


def test_creating_a_custom_role_gives_it_default_settings_and_audits_it(admin_client, pim_admin):
    response = admin_client.post(
        reverse("manage:role-create"),
        {"name": "Helpdesk Operator", "slug": "helpdesk-operator", "tier": "high", "description": "Resets passwords."},
        follow=True,
    )

    assertContains(response, "Role Helpdesk Operator created with the default settings.")
    assertContains(response, "Settings of Helpdesk Operator")
    role = Role.objects.get(slug="helpdesk-operator")
    assert (role.name, role.tier, role.is_builtin) == ("Helpdesk Operator", "high", False)
    assert RoleSettings.objects.get(role=role).activation_max_minutes == 8 * 60
    assert AuditEvent.objects.filter(action="role.created", actor=pim_admin).count() == 1


def test_duplicate_slug_is_refused_beside_the_field(admin_client):
    response = admin_client.post(
        reverse("manage:role-create"), {"name": "Another Reader", "slug": "security-reader", "tier": "standard"}
    )

    assertContains(response, f'<p class="error" id="id_slug_error" role="alert">{SLUG_TAKEN}</p>', html=True)
    assertContains(response, 'value="Another Reader"')
    assert not Role.objects.filter(name="Another Reader").exists()
    assert not AuditEvent.objects.filter(action="role.created").exists()


def test_editing_a_custom_role_saves_and_audits_the_change(admin_client):
    role = RoleFactory(name="Helpdesk Operator", slug="helpdesk-operator")

    response = admin_client.post(
        reverse("manage:role-edit", args=[role.slug]),
        {"name": "Helpdesk Lead", "tier": "critical", "description": "Leads the helpdesk."},
        follow=True,
    )

    assertContains(response, "Role Helpdesk Lead saved.")
    role.refresh_from_db()
    assert (role.name, role.tier, role.slug) == ("Helpdesk Lead", "critical", "helpdesk-operator")
    event = AuditEvent.objects.get(action="role.updated")
    assert event.data["changes"]["name"] == ["Helpdesk Operator", "Helpdesk Lead"]


def test_built_in_role_is_shown_read_only_without_delete(admin_client):
    response = admin_client.get(reverse("manage:role-edit", args=["global-administrator"]))

    assertContains(response, "is a built-in role")
    assertContains(response, reverse("manage:role-settings", args=["global-administrator"]))
    assertNotContains(response, reverse("manage:role-delete", args=["global-administrator"]))
    assertNotContains(response, 'name="name"')
    response = admin_client.post(reverse("manage:role-edit", args=["global-administrator"]),
                                 {"name": "Renamed", "tier": "standard", "description": ""}, follow=True)  # fmt: skip
    assertContains(response, "its name, tier and description cannot change")
    assert Role.objects.get(slug="global-administrator").name == "Global Administrator"


def test_deleting_a_built_in_role_is_refused_with_the_reason(admin_client):
    response = admin_client.post(reverse("manage:role-delete", args=["security-reader"]), follow=True)

    assertContains(response, BUILTIN_NOT_DELETABLE % {"role": "Security Reader"})
    assert Role.objects.filter(slug="security-reader").exists()
    assert not AuditEvent.objects.filter(action="role.deleted").exists()


def test_deleting_a_custom_role_asks_first_then_deletes_and_audits(admin_client, pim_admin):
    role = RoleFactory(name="Helpdesk Operator", slug="helpdesk-operator")

    confirm = admin_client.get(reverse("manage:role-delete", args=[role.slug]))
    assertContains(confirm, "Delete Helpdesk Operator?")
    response = admin_client.post(reverse("manage:role-delete", args=[role.slug]), follow=True)

    assertRedirects(response, reverse("manage:roles"))
    assertContains(response, "Role Helpdesk Operator deleted.")
    assert not Role.objects.filter(slug="helpdesk-operator").exists()
    assert AuditEvent.objects.filter(action="role.deleted", actor=pim_admin).count() == 1


def test_deleting_a_role_someone_holds_is_refused(admin_client):
    eligibility = EligibleAssignmentFactory(role__name="Helpdesk Operator", scope=root_scope())

    response = admin_client.post(reverse("manage:role-delete", args=[eligibility.role.slug]), follow=True)

    assertContains(response, "Helpdesk Operator still has assignments or requests")
    assert Role.objects.filter(pk=eligibility.role.pk).exists()
