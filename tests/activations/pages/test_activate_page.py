"""Activating one role: the form, the step-up code, and what a refusal looks like."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from activations.models import ActivationRequest
from audit.models import AuditEvent
from roles.mfa import REUSED_OR_WRONG_CODE, SESSION_KEY
from roles.selectors import access_decision
from roles.services import update_role_settings
from tests.activations.pages.helpers import (
    JUSTIFICATION,
    START,
    activate_url,
    answers,
    eligible,
    field_errors,
    messages_of,
    nothing_created,
    role,
    rows,
    section,
    signed_in,
)
from tests.conftest import current_code, wrong_code

ACTIVATE = reverse("activations:activate")


def selected_duration(response) -> str:
    """The duration the form shows chosen, as the person reads it."""
    [label] = re.findall(r'<option value="\d+" selected>([^<]+)</option>', response.content.decode())
    return label


def test_the_form_asks_for_duration_start_and_justification_with_the_roles_maximum_first(alice_client, alice):
    response = alice_client.get(activate_url(eligible(alice, "user-administrator")))

    assertContains(response, "<h1>Activate User Administrator</h1>", html=True)
    assertContains(response, '<option value="480" selected>8 h</option>', html=True)
    assertContains(response, "At least 30 min; at most 8 h for User Administrator")
    assertContains(
        response, '<input type="radio" name="start" value="now" id="id_start_0" required checked>', html=True
    )
    assertContains(response, "At a date and time")
    assertContains(response, '<label for="id_justification">Justification</label>', html=True)
    assertContains(response, '<button type="submit" class="primary">Activate</button>', html=True)
    # Signed in a moment ago, and the role asks for no ticket.
    assertNotContains(response, "Verification code")
    assertNotContains(response, "Ticket system")


def test_ticket_fields_appear_when_the_role_asks_for_a_ticket(alice_client, alice, pim_admin):
    user_admin = role("user-administrator")
    update_role_settings(actor=pim_admin, role=user_admin, changes={"require_ticket_on_activation": True})

    response = alice_client.get(activate_url(eligible(alice, "user-administrator")))

    assertContains(response, '<label for="id_ticket_system">Ticket system</label>', html=True)
    assertContains(response, '<label for="id_ticket_number">Ticket number</label>', html=True)


def test_the_duration_offered_first_ends_before_the_eligibility_does(alice_client, alice):
    ending = eligible(alice, "user-administrator", end_at=START + timedelta(hours=2, minutes=45))

    response = alice_client.get(activate_url(ending))

    assert selected_duration(response) == "2 h 30 min"  # whole steps that fit in 2 h 45 min


@pytest.mark.parametrize(
    ("minutes_since_code", "asks_for_code"),
    [(9, False), (10, False), (11, True)],
    ids=["9 min ago", "10 min ago", "11 min ago"],
)
def test_a_code_is_asked_only_when_the_last_one_is_older_than_the_mfa_max_age(
    alice_client, alice, clock, minutes_since_code, asks_for_code
):
    eligibility = eligible(alice, "user-administrator")  # requires MFA on activation by default
    clock.move_to(START + timedelta(minutes=minutes_since_code))

    response = alice_client.get(activate_url(eligibility))

    assert ("Verification code" in response.content.decode()) is asks_for_code


def test_no_code_is_asked_for_a_role_that_does_not_require_mfa(alice_client, alice, clock, pim_admin):
    update_role_settings(actor=pim_admin, role=role("user-administrator"), changes={"require_mfa_on_activation": False})
    eligibility = eligible(alice, "user-administrator")
    clock.move_to(START + timedelta(hours=1))

    response = alice_client.get(activate_url(eligibility))

    assertNotContains(response, "Verification code")


def test_activating_shows_the_role_as_active_until_its_end(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, answers(eligibility, duration=120), follow=True)

    assertRedirects(response, reverse("activations:my-roles"))
    assert messages_of(response) == ["User Administrator is active until 2026-11-22 11:00 UTC."]
    [row] = rows(section(response, "active-heading"))
    assert row[:4] == ["User Administrator", "/", "2026-11-22 09:00 UTC", "2026-11-22 11:00 UTC"]
    assert access_decision(username="alice", role_slug="user-administrator", at=START).allowed
    event = AuditEvent.objects.get(action="assignment.activated")
    assert (event.actor, event.justification) == (alice, JUSTIFICATION)


def test_a_current_code_activates_a_role_when_the_last_one_is_too_old(alice_client, alice, clock):
    eligibility = eligible(alice, "user-administrator")
    clock.move_to(START + timedelta(minutes=11))

    response = alice_client.post(
        ACTIVATE, answers(eligibility, otp_token=current_code(alice.totpdevice_set.get())), follow=True
    )

    assert messages_of(response) == ["User Administrator is active until 2026-11-22 10:11 UTC."]
    assert alice_client.session[SESSION_KEY] == (START + timedelta(minutes=11)).isoformat()
    assert AuditEvent.objects.filter(action="auth.mfa_verified", actor=alice).count() == 1


def test_a_wrong_code_is_shown_beside_the_code_field_and_activates_nothing(alice_client, alice, clock):
    eligibility = eligible(alice, "user-administrator")
    clock.move_to(START + timedelta(minutes=11))

    response = alice_client.post(
        ACTIVATE, answers(eligibility, duration=90, otp_token=wrong_code(alice.totpdevice_set.get()))
    )

    assert response.status_code == 200
    assert field_errors(response, "otp_token") == [REUSED_OR_WRONG_CODE]
    assert selected_duration(response) == "1 h 30 min"
    assertContains(response, JUSTIFICATION)
    assert nothing_created()
    assert AuditEvent.objects.filter(action="auth.mfa_failed", actor=alice).count() == 1
    refused = AuditEvent.objects.get(action="activation.refused", actor=alice)
    assert (refused.role, refused.data["rule"]) == ("user-administrator", "mfa_invalid")


def test_after_a_good_code_another_refusal_does_not_ask_for_a_code_again(alice_client, alice, clock):
    # The code was used up by the first attempt; asking for it again would trap the user.
    eligibility = eligible(alice, "user-administrator", end_at=START + timedelta(hours=2))
    clock.move_to(START + timedelta(minutes=11))

    response = alice_client.post(  # 2 h from 09:11 runs past the eligibility's end at 11:00
        ACTIVATE, answers(eligibility, duration=120, otp_token=current_code(alice.totpdevice_set.get()))
    )

    assert "ends at 2026-11-22 11:00 UTC" in field_errors(response, "duration")[0]
    assertNotContains(response, 'name="otp_token"')
    assert nothing_created()
    retry = alice_client.post(ACTIVATE, answers(eligibility, duration=60), follow=True)
    assert messages_of(retry) == ["User Administrator is active until 2026-11-22 10:11 UTC."]


def test_a_missing_code_is_asked_for_beside_the_code_field(alice_client, alice, clock):
    eligibility = eligible(alice, "user-administrator")
    clock.move_to(START + timedelta(minutes=11))

    response = alice_client.post(ACTIVATE, answers(eligibility))

    assert field_errors(response, "otp_token") == ["Enter the 6-digit verification code."]
    assert nothing_created()


def test_a_missing_justification_is_shown_beside_the_field_and_activates_nothing(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, answers(eligibility, duration=90, justification="   "))

    assert response.status_code == 200
    assert field_errors(response, "justification") == [
        "A justification is required for User Administrator (1 to 500 characters)."
    ]
    assert selected_duration(response) == "1 h 30 min"
    assert nothing_created()


def test_a_justification_over_500_characters_is_refused_and_kept_for_editing(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")
    too_long = "INC-4711 " + "x" * 492

    response = alice_client.post(ACTIVATE, answers(eligibility, justification=too_long))

    assert field_errors(response, "justification") == [
        "A justification can be at most 500 characters; this one has 501."
    ]
    assertContains(response, too_long)
    assert nothing_created()


def test_a_missing_ticket_is_shown_beside_the_ticket_fields(alice_client, alice, pim_admin):
    update_role_settings(
        actor=pim_admin, role=role("user-administrator"), changes={"require_ticket_on_activation": True}
    )
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, answers(eligibility, ticket_system="ServiceNow", ticket_number=""))

    assert field_errors(response, "ticket_number") == [
        "Ticket information is required for User Administrator: both the ticket system and the ticket number."
    ]
    assertContains(response, 'value="ServiceNow"')
    assert nothing_created()


def test_a_ticket_is_kept_on_the_request(alice_client, alice, pim_admin):
    update_role_settings(
        actor=pim_admin, role=role("user-administrator"), changes={"require_ticket_on_activation": True}
    )
    eligibility = eligible(alice, "user-administrator")

    alice_client.post(ACTIVATE, answers(eligibility, ticket_system="ServiceNow", ticket_number="INC-4711"))

    request = ActivationRequest.objects.get()
    assert (request.ticket_system, request.ticket_number, request.status) == ("ServiceNow", "INC-4711", "provisioned")


def test_a_duration_past_the_end_of_the_eligibility_is_refused_with_the_most_allowed(alice_client, alice):
    eligibility = eligible(alice, "user-administrator", end_at=START + timedelta(hours=2))

    response = alice_client.post(ACTIVATE, answers(eligibility, duration=180))

    assert field_errors(response, "duration") == [
        "Your eligibility for User Administrator ends at 2026-11-22 11:00 UTC; "
        "from the start you chose you can activate it for at most 2 h."
    ]
    assert nothing_created()
    assert AuditEvent.objects.get(action="activation.refused").data["rule"] == "beyond_eligibility"


def test_someone_elses_eligibility_is_not_found(alice_client, dave):
    daves = eligible(dave, "user-administrator")

    # Not "forbidden": alice cannot even learn that the eligibility exists.
    assert alice_client.get(activate_url(daves)).status_code == 404
    assert alice_client.post(ACTIVATE, answers(daves)).status_code == 404
    assert nothing_created()


def test_an_eligibility_that_has_ended_is_not_found(alice_client, alice):
    ended = eligible(alice, "user-administrator", start_at=START - timedelta(days=2), end_at=START)

    assert alice_client.get(activate_url(ended)).status_code == 404


def test_opening_the_form_without_choosing_a_role_goes_back_to_my_roles(alice_client):
    response = alice_client.get(ACTIVATE, follow=True)

    assertRedirects(response, reverse("activations:my-roles"))
    assert messages_of(response) == ["Select at least one eligible role to activate."]


def test_a_session_without_a_code_cannot_open_the_form(client, alice, clock):
    eligibility = eligible(alice, "user-administrator")
    client.force_login(alice)  # password only: the code page comes first

    response = client.get(activate_url(eligibility))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/verify/")


def test_a_code_proven_at_sign_in_counts_as_the_last_verification(clock, alice):
    eligibility = eligible(alice, "user-administrator")
    client = signed_in(alice, mfa_verified_at=START - timedelta(minutes=11))

    response = client.get(activate_url(eligibility))

    assertContains(response, "Verification code")


def test_a_refusal_that_names_no_field_is_shown_above_the_form(alice_client, alice, monkeypatch):
    eligibility = eligible(alice, "user-administrator")
    lost_race = ValidationError("alice already holds an active User Administrator assignment at /.")

    def refuse(**_):  # what roles.services.grant_activation raises when a concurrent activation wins
        raise lost_race

    monkeypatch.setattr("activations.services.request_activation", refuse)

    response = alice_client.post(ACTIVATE, answers(eligibility))

    assert response.status_code == 200
    assertContains(
        response,
        '<p class="error" role="alert">alice already holds an active User Administrator assignment at /.</p>',
        html=True,
    )
