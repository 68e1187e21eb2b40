"""Provisioning state on My roles, on a request's page and in provisioning.json (what pim.js
polls): each target of an active role, for its holder, with where it stands. Access in PIM never
waits for a target; the page says which targets lag.

Grants are made the way the site makes them: an activation, its commit hooks run, then the
provisioning task (roles.provisioning.tasks.run_provisioning) carries them out."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations import services
from audit.models import OutboxMessage
from roles.models import Grant
from roles.provisioning import engine, kinds
from roles.provisioning import services as provisioning
from roles.provisioning.django_group import DjangoGroupKind
from roles.provisioning.tasks import run_provisioning
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.activations.pages.helpers import JUSTIFICATION, START, eligible, facts, role, rows, section, signed_in
from tests.activations.pages.test_my_roles_page import MY_ROLES_QUERIES  # the same pin, with targets
from tests.provisioning.conftest import members

MY_ROLES = reverse("activations:my-roles")
STATE = reverse("activations:provisioning")
LOCKED = "group mail-admins is locked by the directory sync"


@pytest.fixture
def mail_admins(pim_admin):
    """Exchange Administrator provisions membership of the Django group "mail-admins"."""
    return bind("Mail admins group", "mail-admins", actor=pim_admin)


def bind(name: str, group: str, *, actor, slug: str = "exchange-administrator"):
    return provisioning.create_target(actor=actor, role=role(slug), name=name, kind="django_group",
                                      params={"group": group})  # fmt: skip


def activate(capture, user, slug: str = "exchange-administrator", *, hours: int = 1):
    """What the activate page does on a valid answer, with the commit hooks (provisioning's) run."""
    with capture(execute=True):
        [activation] = services.request_activation(
            actor=user, eligibilities=[eligible(user, slug)], duration=timedelta(hours=hours),
            justification=JUSTIFICATION, mfa_verified_at=timezone.now(),
        )  # fmt: skip
    return activation


def role_cell(response, name: str) -> str:
    """The Role cell of the active role `name` on My roles, as text."""
    [cell] = [row[0] for row in rows(section(response, "active-heading")) if row[0].startswith(name)]
    return cell


def fail_every_grant(monkeypatch):
    def refuse(kind, access):
        raise kinds.ProvisioningError(LOCKED)

    monkeypatch.setattr(DjangoGroupKind, "grant", refuse)


# My roles ------------------------------------------------------------------------------------


def test_a_target_being_granted_shows_pending_and_that_pim_access_is_already_in_effect(
    alice_client, alice, mail_admins, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice)

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator") == (
        "Exchange Administrator Active in PIM; not yet granted on: Mail admins group "
        "Mail admins group: Pending being granted…"
    )
    assert members() == []  # nothing on the target yet, and the role is listed all the same


def test_a_granted_target_shows_how_long_granting_took(
    alice_client, alice, mail_admins, clock, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice)
    clock.move_to(START + timedelta(seconds=4))
    run_provisioning()

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator") == (
        "Exchange Administrator Mail admins group: Granted granted in 4 s"
    )
    assertNotContains(response, "not yet granted")
    assert members() == ["alice"]


def test_a_failed_target_shows_its_error_and_that_an_administrator_was_told(
    alice_client, alice, mail_admins, monkeypatch, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice)
    fail_every_grant(monkeypatch)
    grant = Grant.objects.get()
    for hour in range(engine.MAX_ATTEMPTS):  # each attempt when its back-off is over
        engine.attempt(grant_id=grant.pk, now=START + timedelta(hours=hour))

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator") == (
        "Exchange Administrator Active in PIM; not yet granted on: Mail admins group "
        f"Mail admins group: Failed: {LOCKED} an administrator has been told"
    )
    assert OutboxMessage.objects.filter(rule="provisioning.failed.admin").exists()


def test_a_failed_attempt_that_will_be_retried_stays_pending_and_says_why(
    alice_client, alice, mail_admins, monkeypatch, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice)
    fail_every_grant(monkeypatch)
    run_provisioning()

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator").endswith(
        f"Mail admins group: Pending being granted… (retrying after: {LOCKED})"
    )


def test_a_target_turned_off_shows_revoking_then_revoked(
    alice_client, alice, pim_admin, mail_admins, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice)
    run_provisioning()
    with django_capture_on_commit_callbacks(execute=True):
        provisioning.update_target(actor=pim_admin, target=mail_admins, name=mail_admins.name,
                                   params=mail_admins.params, enabled=False, revoke_outside_grants=False)  # fmt: skip

    revoking = alice_client.get(MY_ROLES)
    run_provisioning()
    revoked = alice_client.get(MY_ROLES)

    assert role_cell(revoking, "Exchange Administrator") == (
        "Exchange Administrator Mail admins group: Revoking being removed…"
    )
    assert role_cell(revoked, "Exchange Administrator") == "Exchange Administrator Mail admins group: Revoked"
    assert members() == []


def test_the_lag_sentence_names_every_target_not_yet_granted(
    alice_client, alice, pim_admin, mail_admins, django_capture_on_commit_callbacks
):
    bind("Exchange ops group", "exchange-ops", actor=pim_admin)
    activate(django_capture_on_commit_callbacks, alice)

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator") == (
        "Exchange Administrator Active in PIM; not yet granted on: Exchange ops group, Mail admins group "
        "Exchange ops group: Pending being granted… Mail admins group: Pending being granted…"
    )


def test_a_role_without_targets_shows_nothing_extra(
    alice_client, alice, mail_admins, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, alice, "user-administrator")

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "User Administrator") == "User Administrator"
    assertNotContains(response, "data-grant")
    assertNotContains(response, "Active in PIM")


def test_a_target_name_is_shown_as_text_not_run_as_markup(
    alice_client, alice, pim_admin, django_capture_on_commit_callbacks
):
    bind('<script>alert("pwned")</script>', "mail-admins", actor=pim_admin)
    activate(django_capture_on_commit_callbacks, alice)

    response = alice_client.get(MY_ROLES)

    assertContains(response, "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;:</span>", count=1)
    assertContains(response, "not yet granted on: &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;", count=1)
    assertNotContains(response, '<script>alert("pwned")')


def test_only_the_holders_own_grants_are_listed(
    alice_client, alice, bob, mail_admins, django_capture_on_commit_callbacks
):
    activate(django_capture_on_commit_callbacks, bob)
    run_provisioning()  # bob's grant is done; alice's (below) is not
    activate(django_capture_on_commit_callbacks, alice)

    response = alice_client.get(MY_ROLES)

    assert role_cell(response, "Exchange Administrator").endswith("Mail admins group: Pending being granted…")
    assert response.content.decode().count("data-grant=") == 1


def test_my_roles_asks_pim_js_to_poll_its_own_assignments(
    alice_client, alice, mail_admins, django_capture_on_commit_callbacks
):
    activation = activate(django_capture_on_commit_callbacks, alice)

    response = alice_client.get(MY_ROLES)

    poll = f'data-provisioning-url="{STATE}" data-provisioning-query="assignment={activation.assignment_id}"'
    assertContains(response, poll, count=1)


@pytest.mark.parametrize("n_targets", [1, 4])
def test_my_roles_query_count_does_not_grow_with_targets(
    alice_client, alice, pim_admin, n_targets, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for slug in ("exchange-administrator", "user-administrator"):
        for n in range(n_targets):
            bind(f"Group {n}", f"{slug}-{n}", actor=pim_admin, slug=slug)
        activate(django_capture_on_commit_callbacks, alice, slug)
    run_provisioning()

    with django_assert_max_num_queries(MY_ROLES_QUERIES):
        response = alice_client.get(MY_ROLES)

    assert response.content.decode().count("data-grant=") == 2 * n_targets


# A request's page ----------------------------------------------------------------------------


@pytest.fixture
def approved(alice, bob, pim_admin, mail_admins, clock, django_capture_on_commit_callbacks):
    """alice asks for Exchange Administrator at 09:00, bob approves at 09:01, the group is
    granted 4 s later."""
    update_role_settings(actor=pim_admin, role=role("exchange-administrator"), changes={"require_approval": True},
                         stages=[StagePlan(approvers=(bob,))])  # fmt: skip
    activation = activate(django_capture_on_commit_callbacks, alice)
    clock.move_to(START + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.decide_request(actor=bob, request=activation, decision="approve", justification="CAB-12")
    clock.move_to(START + timedelta(minutes=1, seconds=4))
    run_provisioning()
    activation.refresh_from_db()
    return activation


def test_the_request_page_shows_each_target_and_the_time_from_the_request(alice, approved):
    response = signed_in(alice).get(reverse("activations:request", args=[approved.pk]))

    assert facts(response.content.decode())["Targets"] == (
        "Mail admins group: Granted granted in 4 s, 1 min 4 s after the request"
    )
    assertContains(response, f'data-provisioning-query="request={approved.pk}"')


def test_the_request_page_shows_a_lagging_target(alice, mail_admins, clock, django_capture_on_commit_callbacks):
    activation = activate(django_capture_on_commit_callbacks, alice)

    response = signed_in(alice).get(reverse("activations:request", args=[activation.pk]))

    assert facts(response.content.decode())["Targets"] == (
        "Active in PIM; not yet granted on: Mail admins group Mail admins group: Pending being granted…"
    )


def test_an_approver_sees_the_requesters_targets_without_polling_for_them(bob, approved):
    response = signed_in(bob).get(reverse("activations:request", args=[approved.pk]))

    assert facts(response.content.decode())["Targets"].startswith("Mail admins group: Granted")
    assertNotContains(response, "data-provisioning-url")  # provisioning.json answers for one's own grants only


def test_a_request_without_an_assignment_shows_no_targets(alice, bob, pim_admin, mail_admins, clock,
                                                          django_capture_on_commit_callbacks):  # fmt: skip
    update_role_settings(actor=pim_admin, role=role("exchange-administrator"), changes={"require_approval": True},
                         stages=[StagePlan(approvers=(bob,))])  # fmt: skip
    activation = activate(django_capture_on_commit_callbacks, alice)

    response = signed_in(alice).get(reverse("activations:request", args=[activation.pk]))

    assert "Targets" not in facts(response.content.decode())


# session, user, OTP device, the request (joined, with its stage progress), whether the viewer may
# decide it, the grants of its assignment, the navigation's roles check, approvals, timeline.
REQUEST_PAGE_QUERIES = 9


@pytest.mark.parametrize("n_targets", [1, 4])
def test_the_request_page_query_count_does_not_grow_with_targets(
    alice, pim_admin, n_targets, clock, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for n in range(n_targets):
        bind(f"Group {n}", f"group-{n}", actor=pim_admin)
    activation = activate(django_capture_on_commit_callbacks, alice)
    client = signed_in(alice)

    with django_assert_max_num_queries(REQUEST_PAGE_QUERIES):
        response = client.get(reverse("activations:request", args=[activation.pk]))

    assert response.content.decode().count("data-grant=") == n_targets


# provisioning.json ---------------------------------------------------------------------------


def test_the_state_lists_each_grant_of_the_asked_assignments(
    alice_client, alice, mail_admins, clock, django_capture_on_commit_callbacks
):
    activation = activate(django_capture_on_commit_callbacks, alice)
    grant = Grant.objects.get()
    asked = {"assignment": [activation.assignment_id]}

    pending = alice_client.get(STATE, asked).json()
    clock.move_to(START + timedelta(seconds=4))
    run_provisioning()
    granted = alice_client.get(STATE, asked).json()

    assert pending == {
        "grants": [{"id": grant.pk, "assignment": activation.assignment_id, "target": "Mail admins group",
                    "state": "pending", "label": "Pending", "text": "being granted…", "error": ""}],
        "assignments": [{"id": activation.assignment_id,
                         "lag": "Active in PIM; not yet granted on: Mail admins group"}],
    }  # fmt: skip
    assert granted == {
        "grants": [{"id": grant.pk, "assignment": activation.assignment_id, "target": "Mail admins group",
                    "state": "granted", "label": "Granted", "text": "granted in 4 s", "error": ""}],
        "assignments": [{"id": activation.assignment_id, "lag": ""}],
    }  # fmt: skip


def test_the_state_of_a_failed_grant_carries_its_error(
    alice_client, alice, mail_admins, monkeypatch, django_capture_on_commit_callbacks
):
    activation = activate(django_capture_on_commit_callbacks, alice)
    fail_every_grant(monkeypatch)
    for hour in range(engine.MAX_ATTEMPTS):
        engine.attempt(grant_id=Grant.objects.get().pk, now=START + timedelta(hours=hour))

    [grant] = alice_client.get(STATE, {"assignment": activation.assignment_id}).json()["grants"]

    assert (grant["state"], grant["label"], grant["text"], grant["error"]) == (
        "failed",
        f"Failed: {LOCKED}",
        "an administrator has been told",
        LOCKED,
    )


def test_the_state_of_a_request_counts_from_the_request(alice, approved):
    answer = signed_in(alice).get(STATE, {"request": approved.pk}).json()

    assert [grant["text"] for grant in answer["grants"]] == ["granted in 4 s, 1 min 4 s after the request"]


def test_the_state_never_shows_anyone_elses_grants(
    alice_client, alice, bob, mail_admins, django_capture_on_commit_callbacks
):
    bobs = activate(django_capture_on_commit_callbacks, bob)
    alices = activate(django_capture_on_commit_callbacks, alice)

    only_bobs = alice_client.get(STATE, {"assignment": [bobs.assignment_id]}).json()
    both = alice_client.get(STATE, {"assignment": [bobs.assignment_id, alices.assignment_id]}).json()
    bobs_request = alice_client.get(STATE, {"request": bobs.pk})

    assert only_bobs == {"grants": [], "assignments": []}
    assert [grant["assignment"] for grant in both["grants"]] == [alices.assignment_id]
    assert bobs_request.status_code == 404


# Who may ask, rung by rung.
def test_the_state_is_for_signed_in_people_only(client, db):
    response = client.get(STATE, {"assignment": 1})

    # Anonymous: sent to sign in, as every page.
    assertRedirects(response, "/accounts/login/?next=%2Fmy-roles%2Fprovisioning.json%3Fassignment%3D1",
                    fetch_redirect_response=False)  # fmt: skip


def test_the_state_refuses_ids_that_are_not_numbers_and_too_many_ids(alice_client):
    assert alice_client.get(STATE, {"assignment": "1 OR 1=1"}).status_code == 404
    assert alice_client.get(STATE, {"request": "x"}).status_code == 404
    assert alice_client.get(STATE, {"assignment": list(range(101))}).status_code == 404
    assert alice_client.get(STATE).json() == {"grants": [], "assignments": []}
    assert alice_client.post(STATE).status_code == 405


# session, user, OTP device, the grants (with their targets); a request's adds the request.
STATE_QUERIES = 4


@pytest.mark.parametrize("n_roles", [1, 3])
def test_the_state_query_count_does_not_grow_with_roles_or_targets(
    alice_client, alice, pim_admin, n_roles, django_capture_on_commit_callbacks, django_assert_num_queries
):
    slugs = ["exchange-administrator", "user-administrator", "security-reader"][:n_roles]
    ids = []
    for slug in slugs:
        for n in range(n_roles):
            bind(f"Group {n}", f"{slug}-{n}", actor=pim_admin, slug=slug)
        ids.append(activate(django_capture_on_commit_callbacks, alice, slug).assignment_id)

    with django_assert_num_queries(STATE_QUERIES):
        answer = alice_client.get(STATE, {"assignment": ids}).json()

    assert len(answer["grants"]) == n_roles * n_roles


def test_the_state_of_a_request_takes_one_more_query(alice, approved, django_assert_num_queries):
    client = signed_in(alice)

    with django_assert_num_queries(STATE_QUERIES + 1):
        client.get(STATE, {"request": approved.pk})
