"""The approvals inbox: approvers see what waits for them and decide; nobody decides their own."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations import services
from activations.models import ActivationRequest
from activations.rules import DENY_NEEDS_JUSTIFICATION, OWN_REQUEST
from audit.models import AuditEvent
from roles.rules import StagePlan
from roles.selectors import access_decision
from roles.services import update_role_settings
from tests.activations.pages.helpers import (
    JUSTIFICATION,
    START,
    cards,
    eligible,
    facts,
    messages_of,
    role,
    rows,
    section,
    signed_in,
)

APPROVALS = reverse("activations:approvals")


@pytest.fixture
def pending(clock, alice, bob, pim_admin) -> ActivationRequest:
    """alice asks for Exchange Administrator for 2 h, with a ticket; bob approves the role."""
    update_role_settings(
        actor=pim_admin,
        role=role("exchange-administrator"),
        changes={"require_approval": True},
        stages=[StagePlan(approvers=(bob,))],
    )
    [request] = services.request_activation(
        actor=alice, eligibilities=[eligible(alice, "exchange-administrator")], duration=timedelta(hours=2),
        justification=JUSTIFICATION, ticket_system="ServiceNow", ticket_number="INC-4711",
        mfa_verified_at=timezone.now(),
    )  # fmt: skip
    return request


def decide(client, request: ActivationRequest, decision: str, justification: str = ""):
    return client.post(
        reverse("activations:decide", args=[request.pk]),
        {"decision": decision, "justification": justification},
        follow=True,
    )


def status_of(request: ActivationRequest) -> str:
    request.refresh_from_db()
    return request.status


def test_an_approver_sees_who_asks_for_what_why_and_how_long_is_left(bob_client, pending):
    response = bob_client.get(APPROVALS)

    assertContains(response, "Pending (1)")
    [card] = cards(response)
    assertContains(response, "<h2>Alice asks for Exchange Administrator</h2>", html=True)
    assert facts(card) == {
        "Scope": "/",
        "Duration": "2 h",
        "Start": "2026-11-22 09:00 UTC",
        "Justification": JUSTIFICATION,
        "Ticket": "ServiceNow INC-4711",
        "Requested": "2026-11-22 09:00 UTC",
        "Time left to decide": "1 day",  # the role's default approval timeout, 24 h
    }
    # pim.js counts the time left down, live.
    assert 'data-countdown="2026-11-23T09:00:00+00:00"' in card
    assert '<button type="submit" name="decision" value="approve" class="primary">Approve</button>' in card
    assert '<button type="submit" name="decision" value="deny">Deny</button>' in card


def test_approving_makes_the_role_active_for_the_requester(bob_client, alice, pending):
    response = decide(bob_client, pending, "approve")

    assertRedirects(response, APPROVALS)
    assert messages_of(response) == ["You approved alice's request for Exchange Administrator."]
    assertContains(response, "Nothing waits for your decision.")
    assert status_of(pending) == "provisioned"
    assert access_decision(username="alice", role_slug="exchange-administrator", at=timezone.now()).allowed
    my_roles = signed_in(alice).get(reverse("activations:my-roles"))
    [row] = rows(section(my_roles, "active-heading"))
    assert row[:4] == ["Exchange Administrator", "/", "2026-11-22 09:00 UTC", "2026-11-22 11:00 UTC"]


def test_denying_without_a_justification_is_refused_and_the_request_still_waits(bob_client, pending):
    response = decide(bob_client, pending, "deny", "  ")

    assert messages_of(response) == [f"Exchange Administrator for alice: {DENY_NEEDS_JUSTIFICATION}"]
    assert status_of(pending) == "pending_approval"
    assert len(cards(response)) == 1


def test_denying_with_a_justification_ends_the_request(bob_client, alice, pending):
    response = decide(bob_client, pending, "deny", "Not during the change freeze")

    assert messages_of(response) == ["You denied alice's request for Exchange Administrator."]
    assert status_of(pending) == "denied"
    assert not access_decision(username="alice", role_slug="exchange-administrator", at=timezone.now()).allowed
    my_roles = signed_in(alice).get(reverse("activations:my-roles"))
    [row] = rows(section(my_roles, "requests-heading"))
    assert (row[0], row[4]) == ("Exchange Administrator", "Denied")


def test_the_history_tab_lists_the_approvers_decisions(bob_client, alice, carol, pending, clock):
    decide(bob_client, pending, "approve", "Looks right")
    clock.move_to(START + timedelta(minutes=30))
    [carols] = services.request_activation(
        actor=carol, eligibilities=[eligible(carol, "exchange-administrator")], duration=timedelta(hours=1),
        justification="Move the shared mailboxes", mfa_verified_at=timezone.now(),
    )  # fmt: skip
    decide(bob_client, carols, "deny", "Ask your manager first")

    response = bob_client.get(APPROVALS, {"tab": "history"})

    assertContains(response, '<a href="/approvals/?tab=history" aria-current="page">History</a>', html=True)
    assert rows(response.content.decode()) == [
        ["carol", "Exchange Administrator", "Denied: Ask your manager first", "2026-11-22 09:30 UTC", "Denied"],
        ["alice", "Exchange Administrator", "Approved: Looks right", "2026-11-22 09:00 UTC", "Granted"],
    ]


def test_the_history_tab_says_when_there_is_nothing_yet(bob_client, db):
    response = bob_client.get(APPROVALS, {"tab": "history"})

    assertContains(response, "You have not decided any request yet.")


def test_requesters_do_not_see_their_own_request_even_as_approvers(alice, bob, pim_admin, pending):
    update_role_settings(
        actor=pim_admin, role=role("exchange-administrator"), changes={}, stages=[StagePlan(approvers=(alice, bob))]
    )

    response = signed_in(alice).get(APPROVALS)

    assertContains(response, "Pending (0)")
    assertContains(response, "Nothing waits for your decision.")
    assertNotContains(response, "Exchange Administrator")


def test_requesters_cannot_approve_their_own_request_by_posting(alice, bob, pim_admin, pending):
    update_role_settings(
        actor=pim_admin, role=role("exchange-administrator"), changes={}, stages=[StagePlan(approvers=(alice, bob))]
    )

    response = decide(signed_in(alice), pending, "approve")

    assert messages_of(response) == [f"Exchange Administrator for alice: {OWN_REQUEST}"]
    assert status_of(pending) == "pending_approval"
    assert AuditEvent.objects.get(action="approval.refused").data["rule"] == "own_request"


def test_someone_who_is_not_an_approver_cannot_even_see_the_request(dave, pending):
    daves = signed_in(dave)

    # Not "forbidden": dave cannot learn that the request exists.
    assert daves.post(reverse("activations:decide", args=[pending.pk]), {"decision": "approve"}).status_code == 404
    assert status_of(pending) == "pending_approval"
    assertContains(daves.get(APPROVALS), "Nothing waits for your decision.")


def test_anonymous_visitors_are_sent_to_sign_in(client, pending):
    response = client.post(reverse("activations:decide", args=[pending.pk]), {"decision": "approve"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert status_of(pending) == "pending_approval"


def test_a_request_past_its_deadline_can_no_longer_be_decided(bob, pending, clock):
    clock.move_to(START + timedelta(hours=24))

    response = decide(
        signed_in(
            bob,
        ),
        pending,
        "approve",
    )  # a new day, a new sign-in

    assert messages_of(response) == [
        "Exchange Administrator for alice: This request timed out at 2026-11-23 09:00 UTC without a decision; "
        "the requester must ask again."
    ]
    assert status_of(pending) == "pending_approval"  # until the sweep marks it timed out


def test_a_request_decided_already_says_how_it_ended(bob_client, carol, pending, pim_admin, bob):
    update_role_settings(
        actor=pim_admin, role=role("exchange-administrator"), changes={}, stages=[StagePlan(approvers=(bob, carol))]
    )
    services.decide_request(actor=carol, request=pending, decision="deny", justification="Wrong mailbox")

    response = decide(bob_client, pending, "approve")

    assert messages_of(response) == [
        "Exchange Administrator for alice: This request was already decided: it is denied."
    ]


def test_deciding_is_a_post(bob_client, pending):
    assert bob_client.get(reverse("activations:decide", args=[pending.pk])).status_code == 405
