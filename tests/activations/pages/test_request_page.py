"""A request's page: its facts and its story from the audit log, for those allowed to see it."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations import services
from activations.models import ActivationRequest
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.activations.pages.helpers import JUSTIFICATION, START, eligible, facts, messages_of, role, signed_in, text


@pytest.fixture
def pending(clock, alice, bob, pim_admin) -> ActivationRequest:
    """alice asks for Exchange Administrator for 1 h; bob approves the role."""
    update_role_settings(
        actor=pim_admin,
        role=role("exchange-administrator"),
        changes={"require_approval": True},
        stages=[StagePlan(approvers=(bob,))],
    )
    [request] = services.request_activation(
        actor=alice, eligibilities=[eligible(alice, "exchange-administrator")], duration=timedelta(hours=1),
        justification=JUSTIFICATION, mfa_verified_at=timezone.now(),
    )  # fmt: skip
    return request


def page_of(request: ActivationRequest) -> str:
    return reverse("activations:request", args=[request.pk])


def timeline(response) -> list[str]:
    [steps] = re.findall(r'<ol class="timeline">(.*?)</ol>', response.content.decode(), re.S)
    return [text(step) for step in re.findall(r"<li>(.*?)</li>", steps, re.S)]


def test_the_timeline_tells_the_request_from_the_audit_log(alice, bob, pending, clock):
    clock.move_to(START + timedelta(minutes=20))
    services.decide_request(actor=bob, request=pending, decision="approve", justification="Checked with the CAB")

    response = signed_in(alice).get(page_of(pending))

    assertContains(response, "<h1>Activate Exchange Administrator</h1>", html=True)
    assert facts(response.content.decode()) == {
        "Requester": "alice",
        "Scope": "/",
        "Status": "Granted",
        "Start": "2026-11-22 09:00 UTC",
        "Duration": "1 h",
        "Justification": JUSTIFICATION,
        "Ticket": "—",
        "Active": "2026-11-22 09:20 UTC to 2026-11-22 10:20 UTC",
    }
    assert timeline(response) == [
        "2026-11-22 09:00 UTC activation.requested by alice",
        "2026-11-22 09:20 UTC activation.approved by bob: Checked with the CAB",
        "2026-11-22 09:20 UTC assignment.activated by bob",
    ]


def test_a_denial_and_its_reason_are_on_the_timeline(alice, bob, pending):
    services.decide_request(actor=bob, request=pending, decision="deny", justification="Use the helpdesk role")

    response = signed_in(alice).get(page_of(pending))

    assert facts(response.content.decode())["Status"] == "Denied"
    assert timeline(response)[-1] == "2026-11-22 09:00 UTC activation.denied by bob: Use the helpdesk role"


# Who may see a request, rung by rung.
def test_anonymous_visitors_are_sent_to_sign_in(client, pending):
    response = client.get(page_of(pending))

    assertRedirects(response, f"/accounts/login/?next=%2Frequests%2F{pending.pk}%2F", fetch_redirect_response=False)


def test_someone_unrelated_gets_not_found(dave, pending):
    # Not "forbidden": dave cannot learn that the request exists.
    assert signed_in(dave).get(page_of(pending)).status_code == 404


@pytest.mark.parametrize("viewer", ["alice", "bob", "pim_admin"], ids=["requester", "approver", "PIM administrator"])
def test_the_requester_the_approvers_and_pim_administrators_see_it(request, pending, viewer):
    response = signed_in(request.getfixturevalue(viewer)).get(page_of(pending))

    assert timeline(response) == ["2026-11-22 09:00 UTC activation.requested by alice"]


def test_the_requester_can_cancel_a_pending_request_from_its_page(alice, pending):
    alices = signed_in(alice)
    assertContains(alices.get(page_of(pending)), '<button type="submit">Cancel request</button>', html=True)

    response = alices.post(reverse("activations:cancel", args=[pending.pk]), follow=True)

    assertRedirects(response, reverse("activations:my-roles"))
    assert messages_of(response) == ["Your request for Exchange Administrator is canceled."]
    assert timeline(alices.get(page_of(pending)))[-1] == "2026-11-22 09:00 UTC activation.canceled by alice"
    pending.refresh_from_db()
    assert pending.status == "canceled"


def test_an_approver_cannot_cancel_someone_elses_request(bob, pending):
    bobs = signed_in(
        bob,
    )

    assertNotContains(bobs.get(page_of(pending)), "Cancel request")
    assert bobs.post(reverse("activations:cancel", args=[pending.pk])).status_code == 404
    pending.refresh_from_db()
    assert pending.status == "pending_approval"


def test_a_decided_request_can_no_longer_be_canceled(alice, bob, pending):
    services.decide_request(actor=bob, request=pending, decision="deny", justification="Use the helpdesk role")
    alices = signed_in(alice)

    assertNotContains(alices.get(page_of(pending)), "Cancel request")
    response = alices.post(reverse("activations:cancel", args=[pending.pk]), follow=True)

    assert messages_of(response) == ["This request was already decided: it is denied."]
