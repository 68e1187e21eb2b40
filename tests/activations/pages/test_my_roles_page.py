"""My roles: what alice may activate, what she holds now, and what she asked for."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations import services
from activations.selectors import RECENT_REQUESTS
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.activations.pages.helpers import JUSTIFICATION, START, eligible, role, rows, section
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, RoleFactory, ScopeFactory

MY_ROLES = reverse("activations:my-roles")


def activate_now(user, *eligibilities, hours: int = 1):
    """What the activate page does on a valid answer, with a code just proven."""
    return services.request_activation(
        actor=user, eligibilities=list(eligibilities), duration=timedelta(hours=hours),
        justification=JUSTIFICATION, mfa_verified_at=timezone.now(),
    )  # fmt: skip


def needs_approval(slug: str, *, actor, approvers, **changes):
    update_role_settings(
        actor=actor,
        role=role(slug),
        changes={"require_approval": True, **changes},
        stages=[StagePlan(approvers=tuple(approvers))],
    )


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(MY_ROLES)

    assertRedirects(response, "/accounts/login/?next=%2Fmy-roles%2F", fetch_redirect_response=False)


def test_eligible_roles_show_scope_grant_end_maximum_and_requirements(alice_client, alice, bob, pim_admin):
    EligibleAssignmentFactory(
        principal=alice, role=role("user-administrator"), created_by=pim_admin, justification="Helpdesk lead"
    )
    needs_approval(
        "exchange-administrator", actor=pim_admin, approvers=[bob],
        activation_max_minutes=120, require_ticket_on_activation=True, require_mfa_on_activation=False,
        require_justification_on_activation=False,
    )  # fmt: skip
    eligible(alice, "exchange-administrator", scope=ScopeFactory(path="/mail"), end_at=START + timedelta(days=30))

    response = alice_client.get(MY_ROLES)

    assert rows(section(response, "eligible-heading")) == [
        ["", "Exchange Administrator", "/mail", "by the system", "2026-12-22 09:00 UTC", "2 h", "Ticket Approval",
         "Activate"],
        ["", "User Administrator", "/", "by pimadmin: Helpdesk lead", "Permanent", "8 h", "MFA Justification",
         "Activate"],
    ]  # fmt: skip
    assertContains(response, '<button type="submit" class="primary">Activate selected</button>', html=True)


def test_an_eligible_role_already_held_or_waiting_cannot_be_activated_again(alice_client, alice, bob, pim_admin):
    activate_now(alice, eligible(alice, "user-administrator"))
    needs_approval("exchange-administrator", actor=pim_admin, approvers=[bob])
    activate_now(alice, eligible(alice, "exchange-administrator"))

    response = alice_client.get(MY_ROLES)

    states = [(row[1], row[-1]) for row in rows(section(response, "eligible-heading"))]
    assert states == [("Exchange Administrator", "Pending approval"), ("User Administrator", "Active")]
    assertNotContains(response, 'type="checkbox"')


def test_active_roles_show_window_countdown_and_source_and_only_activated_ones_can_be_deactivated(
    alice_client, alice, pim_admin
):
    [activation] = activate_now(alice, eligible(alice, "user-administrator"), hours=2)
    ActiveAssignmentFactory(
        principal=alice, role=role("security-reader"), created_by=pim_admin, end_at=START + timedelta(days=3)
    )

    response = alice_client.get(MY_ROLES)

    active = section(response, "active-heading")
    assert rows(active) == [
        # Both may be extended: the activation within its maximum, the assignment as it ends within 14 days.
        ["Security Reader", "/", "2026-11-22 09:00 UTC", "2026-11-25 09:00 UTC", "3 days",
         "Assigned by an administrator", "Extend"],
        ["User Administrator", "/", "2026-11-22 09:00 UTC", "2026-11-22 11:00 UTC", "2 hours", "Activated",
         "Deactivate Extend"],
    ]  # fmt: skip
    # pim.js turns each data-countdown into a live "1 h 59 min 59 s".
    assert 'data-countdown="2026-11-22T11:00:00+00:00"' in active
    assert 'data-countdown="2026-11-25T09:00:00+00:00"' in active
    deactivate = reverse("activations:deactivate", args=[activation.assignment.pk])
    assert active.count('action="/my-roles/') == 1
    assert f'action="{deactivate}"' in active


def test_a_scheduled_activation_is_listed_as_scheduled(alice_client, alice):
    services.request_activation(
        actor=alice, eligibilities=[eligible(alice, "user-administrator")], duration=timedelta(hours=1),
        start_at=START + timedelta(days=1), justification=JUSTIFICATION, mfa_verified_at=timezone.now(),
    )  # fmt: skip

    response = alice_client.get(MY_ROLES)

    [row] = rows(section(response, "active-heading"))
    assert row[:4] == ["User Administrator", "/", "2026-11-23 09:00 UTC Scheduled", "2026-11-23 10:00 UTC"]


def test_requests_show_each_status_newest_first(alice_client, alice, bob, pim_admin, clock):
    needs_approval("exchange-administrator", actor=pim_admin, approvers=[bob])
    exchange = eligible(alice, "exchange-administrator")
    [denied] = activate_now(alice, exchange)
    services.decide_request(actor=bob, request=denied, decision="deny", justification="Not during the freeze")
    clock.move_to(START + timedelta(minutes=5))
    [canceled] = activate_now(alice, exchange)
    services.cancel_request(actor=alice, request=canceled)
    clock.move_to(START + timedelta(minutes=10))
    activate_now(alice, eligible(alice, "user-administrator"))
    clock.move_to(START + timedelta(minutes=15))
    activate_now(alice, exchange)

    response = alice_client.get(MY_ROLES)

    assert [(row[0], row[2], row[4]) for row in rows(section(response, "requests-heading"))] == [
        ("Exchange Administrator", "2026-11-22 09:15 UTC", "Pending approval"),
        ("User Administrator", "2026-11-22 09:10 UTC", "Granted"),
        ("Exchange Administrator", "2026-11-22 09:05 UTC", "Canceled"),
        ("Exchange Administrator", "2026-11-22 09:00 UTC", "Denied"),
    ]


def test_a_pending_request_stays_listed_behind_many_newer_decided_ones(alice_client, alice, bob, pim_admin, clock):
    needs_approval("exchange-administrator", actor=pim_admin, approvers=[bob])
    needs_approval("helpdesk-administrator", actor=pim_admin, approvers=[bob])
    activate_now(alice, eligible(alice, "exchange-administrator"))
    helpdesk = eligible(alice, "helpdesk-administrator")
    for minute in range(1, RECENT_REQUESTS + 2):
        clock.move_to(START + timedelta(minutes=minute))
        [request] = activate_now(alice, helpdesk)
        services.cancel_request(actor=alice, request=request)

    response = alice_client.get(MY_ROLES)

    listed = [(row[0], row[4]) for row in rows(section(response, "requests-heading"))]
    assert listed[:RECENT_REQUESTS] == [("Helpdesk Administrator", "Canceled")] * RECENT_REQUESTS
    assert listed[RECENT_REQUESTS:] == [("Exchange Administrator", "Pending approval")]


def test_empty_sections_say_what_to_do(alice_client):
    response = alice_client.get(MY_ROLES)

    assertContains(
        response, "You are not eligible for any role. A Privileged Role Administrator can make you eligible."
    )
    assertContains(response, "You hold no active role right now. Activate an eligible role when you need it.")
    assertContains(response, "No requests yet.")


def test_other_peoples_roles_are_not_listed(alice_client, alice, dave):
    eligible(dave, "user-administrator")
    ActiveAssignmentFactory(principal=dave, role=role("security-reader"))

    response = alice_client.get(MY_ROLES)

    assertNotContains(response, "User Administrator")
    assertNotContains(response, "Security Reader")


# session, user, OTP device, the navigation's roles check (Admin, Audit links) and open-alert count,
# eligible roles (held and pending as EXISTS), active roles (whether they have grants as EXISTS),
# requests (role and scope joined), recently expired eligible and active assignments (to renew, one
# UNION). The active roles' grants on targets are one more, only when there are some; the page of
# tests/activations/pages/test_provisioning_state.py has them and no alert count: 9 as well.
MY_ROLES_QUERIES = 9


@pytest.mark.parametrize("n_roles", [1, 12])
def test_my_roles_query_count_does_not_grow_with_roles(
    alice_client, alice, bob, pim_admin, n_roles, django_assert_max_num_queries
):
    for _ in range(n_roles):
        EligibleAssignmentFactory(principal=alice, role=RoleFactory(), scope=ScopeFactory())
    activate_now(alice, eligible(alice, "user-administrator"))
    ActiveAssignmentFactory(principal=alice, role=role("security-reader"), end_at=START + timedelta(days=1))
    needs_approval("exchange-administrator", actor=pim_admin, approvers=[bob])
    activate_now(alice, eligible(alice, "exchange-administrator"))

    with django_assert_max_num_queries(MY_ROLES_QUERIES):
        response = alice_client.get(MY_ROLES)

    assert len(rows(section(response, "eligible-heading"))) == n_roles + 2
    assert len(rows(section(response, "active-heading"))) == 2
    assert len(rows(section(response, "requests-heading"))) == 2
