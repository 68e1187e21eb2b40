"""Extend and renew on the pages: My roles offers Extend on what may be extended and Renew on
what expired recently; the extend and ask pages show the rules' messages beside their fields;
PIM administrators decide on the approvals page and the request page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations import services
from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from audit.models import AuditEvent
from roles.models import ActiveAssignment, EligibleAssignment, Role
from tests.activations.pages.helpers import (
    JUSTIFICATION,
    START,
    eligible,
    facts,
    field_errors,
    messages_of,
    role,
    rows,
    section,
    signed_in,
)
from tests.conftest import current_code
from tests.factories import ActiveAssignmentFactory, root_scope

MY_ROLES = reverse("activations:my-roles")
APPROVALS = reverse("activations:approvals")
WHY = "Helpdesk rota continues into January"


@pytest.fixture(autouse=True)
def _clock_first(clock):
    """The clock stands at START before the cast is made (pim_admin's role starts then)."""


@pytest.fixture
def admin_client(pim_admin):
    return signed_in(pim_admin)


def assigned_active(user, slug: str, *, ends_in: timedelta, **fields) -> ActiveAssignment:
    return ActiveAssignmentFactory(principal=user, role=role(slug), start_at=START - timedelta(days=100),
                                   end_at=START + ends_in, justification="Audit season", **fields)  # fmt: skip


def activate_now(user, slug: str, *, hours: int = 1) -> ActiveAssignment:
    [request] = services.request_activation(
        actor=user, eligibilities=[eligible(user, slug)], duration=timedelta(hours=hours), justification=JUSTIFICATION,
        mfa_verified_at=START,
    )  # fmt: skip
    return request.assignment


def extend_url(assignment) -> str:
    return reverse("activations:extend-activation", args=[assignment.pk])


def ask_url(name: str, assignment) -> str:
    return reverse(f"activations:request-{name}", args=[assignment.kind, assignment.pk])


# My roles ------------------------------------------------------------------------------------


def test_my_roles_offers_extend_on_activations_and_on_assignments_ending_within_14_days(alice_client, alice):
    activated = activate_now(alice, "exchange-administrator")
    soon = assigned_active(alice, "security-reader", ends_in=timedelta(days=14))
    later = assigned_active(alice, "billing-administrator", ends_in=timedelta(days=15))

    response = alice_client.get(MY_ROLES)

    active = section(response, "active-heading")
    assert [(row[0], row[-1]) for row in rows(active)] == [
        ("Billing Administrator", ""),  # 15 days left: too early
        ("Security Reader", "Extend"),
        ("Exchange Administrator", "Deactivate Extend"),
    ]
    assert f'href="{extend_url(activated)}"' in active
    assert f'href="{ask_url("extension", soon)}"' in active
    assert str(later.pk) not in re.findall(r'href="/my-roles/active/(\d+)/extend/"', active)


def test_eligibilities_ending_soon_and_assignments_expired_recently_are_listed_with_their_action(
    alice_client, alice, clock
):
    eligible(alice, "user-administrator", start_at=START - timedelta(days=60), end_at=START + timedelta(days=3))
    assigned_active(alice, "security-reader", ends_in=-timedelta(days=29))
    assigned_active(alice, "billing-administrator", ends_in=-timedelta(days=31))  # too late to renew

    response = alice_client.get(MY_ROLES)

    assert rows(section(response, "ending-soon-heading")) == [
        ["User Administrator", "/", "2026-11-25 09:00 UTC", "Extend"]
    ]
    assert rows(section(response, "expired-heading")) == [
        ["Security Reader", "/", "Active", "2026-10-24 09:00 UTC", "Renew"]
    ]


def test_expired_assignments_are_listed_newest_end_first_and_eligible_before_active_on_the_same_end(
    alice_client, alice
):
    # Read from both tables in one UNION (activations.selectors.expired_recently), ordered here.
    two_days_ago = -timedelta(days=2)
    assigned_active(alice, "security-reader", ends_in=two_days_ago)
    for slug in ("user-administrator", "exchange-administrator"):
        eligible(alice, slug, start_at=START - timedelta(days=60), end_at=START + two_days_ago)
    assigned_active(alice, "billing-administrator", ends_in=-timedelta(days=1))

    response = alice_client.get(MY_ROLES)

    assert [row[:4] for row in rows(section(response, "expired-heading"))] == [
        ["Billing Administrator", "/", "Active", "2026-11-21 09:00 UTC"],
        ["Exchange Administrator", "/", "Eligible", "2026-11-20 09:00 UTC"],
        ["User Administrator", "/", "Eligible", "2026-11-20 09:00 UTC"],
        ["Security Reader", "/", "Active", "2026-11-20 09:00 UTC"],
    ]


def test_what_waits_for_a_decision_says_so_instead_of_offering_the_action_again(alice_client, alice, clock):
    soon = assigned_active(alice, "security-reader", ends_in=timedelta(days=5))
    expired = assigned_active(alice, "billing-administrator", ends_in=-timedelta(days=5))
    services.request_extension(actor=alice, assignment=soon, justification=WHY)
    clock.move_to(START + timedelta(minutes=1), tick=False)
    services.request_renewal(actor=alice, assignment=expired, justification=WHY)

    response = alice_client.get(MY_ROLES)

    [row] = rows(section(response, "active-heading"))
    assert row[-1] == "Extension pending"
    assert rows(section(response, "expired-heading"))[0][-1] == "Renewal pending"
    requests = [(row[0], row[3], row[4]) for row in rows(section(response, "requests-heading"))]
    assert requests == [
        ("Billing Administrator (renew)", "—", "Pending approval"),
        ("Security Reader (extend)", "—", "Pending approval"),
    ]


# Extending an activation ---------------------------------------------------------------------


def test_extending_an_activation_moves_its_end_at_once(alice_client, alice):
    activated = activate_now(alice, "exchange-administrator", hours=6)

    page = alice_client.get(extend_url(activated))
    assertContains(page, "<h1>Extend Exchange Administrator</h1>", html=True)
    assertContains(page, "Exchange Administrator allows at most 8 h in total; 6 h are already granted.")
    assert re.findall(r'<option value="(\d+)"', page.content.decode()) == ["30", "60", "90", "120"]

    response = alice_client.post(
        extend_url(activated), {"duration": 120, "justification": JUSTIFICATION, "expected_end_at": page.context[
            "form"]["expected_end_at"].value()}, follow=True,
    )  # fmt: skip

    assertRedirects(response, MY_ROLES)
    assert messages_of(response) == ["Exchange Administrator is active until 2026-11-22 17:00 UTC."]
    assert ActiveAssignment.objects.get(pk=activated.pk).end_at == START + timedelta(hours=8)


def test_an_activation_at_its_maximum_cannot_be_extended(alice_client, alice):
    activated = activate_now(alice, "exchange-administrator", hours=8)

    response = alice_client.get(extend_url(activated))

    assertContains(response, "8 h are already granted. It cannot be extended further")
    assertNotContains(response, '<button type="submit" class="primary">Extend</button>', html=True)


def test_extending_needs_a_fresh_code_and_a_justification_like_activating(alice, clock):
    client = signed_in(alice, mfa_verified_at=START - timedelta(hours=1))
    activated = activate_now(alice, "exchange-administrator")

    response = client.post(extend_url(activated), {"duration": 60, "justification": ""})

    assert field_errors(response, "justification") == [
        "A justification is required for Exchange Administrator (1 to 500 characters)."
    ]
    assert field_errors(response, "otp_token") == ["Enter the 6-digit verification code."]
    device = alice.totpdevice_set.get()
    response = client.post(extend_url(activated), {"duration": 60, "justification": JUSTIFICATION,
                                                   "otp_token": current_code(device)})  # fmt: skip
    assert response.status_code == 302
    assert ActiveAssignment.objects.get(pk=activated.pk).end_at == START + timedelta(hours=2)


def test_someone_elses_activation_cannot_be_opened(alice_client, dave):
    daves = activate_now(dave, "exchange-administrator")

    assert alice_client.get(extend_url(daves)).status_code == 404
    assert alice_client.post(extend_url(daves), {"duration": 60, "justification": WHY}).status_code == 404


# Asking to extend or renew -------------------------------------------------------------------


def test_asking_to_extend_an_eligibility_sends_it_to_the_administrators(alice_client, alice):
    eligibility = eligible(alice, "user-administrator", start_at=START - timedelta(days=60),
                           end_at=START + timedelta(days=3))  # fmt: skip

    page = alice_client.get(ask_url("extension", eligibility))
    assertContains(page, "<h1>Ask to extend User Administrator</h1>", html=True)
    response = alice_client.post(ask_url("extension", eligibility), {"justification": WHY}, follow=True)

    assertRedirects(response, MY_ROLES)
    assert messages_of(response) == [
        "Your request to extend User Administrator at / was sent to the PIM administrators."
    ]
    [request] = ActivationRequest.objects.all()
    assert (request.kind, request.eligibility, request.status) == ("extend", eligibility, "pending_approval")


def test_a_refused_ask_shows_each_message_beside_its_field_and_nothing_is_asked(alice_client, alice):
    active = assigned_active(alice, "security-reader", ends_in=timedelta(days=5))

    response = alice_client.post(ask_url("extension", active), {"justification": WHY,
                                                                "requested_end_at": "2027-07-01T09:00"})  # fmt: skip

    assert field_errors(response, "requested_end_at") == [
        "Security Reader allows active assignments of at most 180 days; this one lasts 221.0 days."
    ]
    response = alice_client.post(ask_url("extension", active), {"justification": ""})
    assert field_errors(response, "justification") == ["Say why you need the role longer (1 to 500 characters)."]
    assert not ActivationRequest.objects.exists()


def test_asking_too_early_names_the_day_it_becomes_possible(alice_client, alice):
    active = assigned_active(alice, "security-reader", ends_in=timedelta(days=15))

    response = alice_client.post(ask_url("extension", active), {"justification": WHY})

    assertContains(response, "you can ask to extend it from 14 days before its end, that is from 2026-11-23 09:00 UTC.")
    assert not ActivationRequest.objects.exists()


def test_someone_elses_assignment_cannot_be_asked_for(alice_client, dave):
    daves = assigned_active(dave, "security-reader", ends_in=timedelta(days=5))

    assert alice_client.get(ask_url("extension", daves)).status_code == 404
    assert alice_client.post(ask_url("renewal", daves), {"justification": WHY}).status_code == 404
    assert alice_client.get(f"/my-roles/other/{daves.pk}/extend/").status_code == 404


# Deciding ------------------------------------------------------------------------------------


@pytest.fixture
def asked(alice) -> ActivationRequest:
    """alice asks to extend her active Security Reader, which ends in 5 days."""
    active = assigned_active(alice, "security-reader", ends_in=timedelta(days=5))
    return services.request_extension(actor=alice, assignment=active, justification=WHY)


def decide(client, request, decision: str, **fields):
    return client.post(reverse("activations:decide-change", args=[request.pk]),
                       {"decision": decision, **fields}, follow=True)  # fmt: skip


def test_an_administrator_sees_extension_requests_on_the_approvals_page(admin_client, asked):
    response = admin_client.get(APPROVALS)

    changes = section(response, "changes-heading")
    assert "Extension and renewal requests (1)" in changes
    assert "Alice asks to extend Security Reader" in changes
    assert facts(changes) == {
        "Scope": "/",
        "Assignment": "Active",
        "Current end": "2026-11-27 09:00 UTC",
        "Asked until": "2027-05-21 09:00 UTC",
        "Decide before": "2026-12-06 09:00 UTC",
        "Justification": WHY,
        "Requested": "2026-11-22 09:00 UTC",
    }


def test_an_administrator_approves_with_another_end(admin_client, asked):
    response = decide(admin_client, asked, "approve", end_at="2027-01-31T18:00")

    assertRedirects(response, APPROVALS)
    assert messages_of(response) == ["You approved alice's extend request for Security Reader."]
    assert ActiveAssignment.objects.get(pk=asked.target_active_id).end_at.isoformat() == "2027-01-31T18:00:00+00:00"
    assertNotContains(response, "changes-heading")


def test_a_denial_without_a_justification_is_refused_on_the_page(admin_client, asked):
    response = decide(admin_client, asked, "deny")

    assert messages_of(response) == ["Security Reader for alice: Say why you deny the request (1 to 500 characters)."]
    asked.refresh_from_db()
    assert asked.status == RequestStatus.PENDING_APPROVAL


def test_people_who_are_not_administrators_see_no_extension_requests(alice, bob, asked):
    bob_client = signed_in(bob)

    assertNotContains(bob_client.get(APPROVALS), "changes-heading")
    assert bob_client.get(reverse("activations:request", args=[asked.pk])).status_code == 404
    assert decide(bob_client, asked, "approve").status_code == 404


def test_the_administrators_own_request_waits_for_another_administrator(admin_client, pim_admin):
    mine = assigned_active(pim_admin, "security-reader", ends_in=timedelta(days=5))
    request = services.request_extension(actor=pim_admin, assignment=mine, justification=WHY)

    assertNotContains(admin_client.get(APPROVALS), "changes-heading")
    response = decide(admin_client, request, "approve")

    assert messages_of(response) == ["Security Reader for pimadmin: You cannot approve or deny your own request."]
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING_APPROVAL


def test_the_request_page_shows_a_renewal_and_lets_an_administrator_decide_it(admin_client, alice):
    expired = assigned_active(alice, "security-reader", ends_in=-timedelta(days=3))
    request = services.request_renewal(actor=alice, assignment=expired, justification=WHY,
                                       requested_end_at=START + timedelta(days=30))  # fmt: skip
    page = reverse("activations:request", args=[request.pk])

    response = admin_client.get(page)

    assertContains(response, "<h1>Renew Security Reader</h1>", html=True)
    assert facts(response.content.decode())["Asked until"] == "2026-12-22 09:00 UTC"
    assertContains(response, reverse("activations:decide-change", args=[request.pk]))
    response = admin_client.post(reverse("activations:decide-change", args=[request.pk]),
                                 {"decision": "approve", "next": "request"}, follow=True)  # fmt: skip
    assertRedirects(response, page)
    request.refresh_from_db()
    assert request.status == RequestStatus.PROVISIONED
    renewed = ActiveAssignment.objects.get(pk=request.assignment_id)
    assert (renewed.start_at, renewed.end_at) == (START, START + timedelta(days=30))
    assert AuditEvent.objects.filter(action="renewal.approved").count() == 1
    assert not EligibleAssignment.objects.exists()
    assert request.kind == RequestKind.RENEW
    assert Role.objects.get(slug="security-reader") == renewed.role
    assert renewed.scope == root_scope()


def test_an_approved_extensions_page_tells_its_story_from_the_audit_log(alice, asked, pim_admin):
    services.decide_request(actor=pim_admin, request=asked, decision="approve")

    response = signed_in(alice).get(reverse("activations:request", args=[asked.pk]))

    assertContains(response, "<strong>extension.requested</strong>", html=True)
    assertContains(response, "<strong>assignment.updated</strong>", html=True)
    assertContains(response, "<strong>extension.approved</strong>", html=True)


def test_an_administrator_with_nothing_to_decide_sees_no_section(admin_client, db):
    assertNotContains(admin_client.get(APPROVALS), "Extension and renewal requests")


def test_the_django_admin_shows_an_extension_request_read_only(admin_client, asked):
    response = admin_client.get(reverse("admin:activations_activationrequest_change", args=[asked.pk]))

    assertContains(response, "Extend")
    assertContains(response, "Requested end at")
    assertContains(response, "The active assignment this request extends or renews.")
    assert 'name="_save"' not in response.content.decode()
    changelist = admin_client.get(reverse("admin:activations_activationrequest_changelist"), {"kind": "extend"})
    assertContains(changelist, "Security Reader")
