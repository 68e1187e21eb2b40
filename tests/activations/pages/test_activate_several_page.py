"""Activating several roles with one form: all are checked first, and one refusal stops all."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertRedirects

from activations import services
from activations.models import ActivationRequest
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
    text,
)
from tests.conftest import current_code

ACTIVATE = reverse("activations:activate")


def test_selecting_two_roles_opens_one_form_for_both(alice_client, alice, pim_admin):
    update_role_settings(actor=pim_admin, role=role("exchange-administrator"), changes={"activation_max_minutes": 120})
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")

    response = alice_client.get(activate_url(user_admin, exchange))

    assertContains(response, "<h1>Activate 2 roles</h1>", html=True)
    assertContains(response, "At least 30 min; at most 2 h for Exchange Administrator, 8 h for User Administrator")
    # The shortest maximum first, so that the form as shown is valid for both.
    assertContains(response, '<option value="120" selected>2 h</option>', html=True)
    assertContains(response, '<button type="submit" class="primary">Activate</button>', html=True, count=1)


def test_one_post_activates_both_roles(alice_client, alice):
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")

    response = alice_client.post(ACTIVATE, answers(user_admin, exchange), follow=True)

    assertRedirects(response, reverse("activations:my-roles"))
    assert sorted(messages_of(response)) == [
        "Exchange Administrator is active until 2026-11-22 10:00 UTC.",
        "User Administrator is active until 2026-11-22 10:00 UTC.",
    ]
    assert [row[0] for row in rows(section(response, "active-heading"))] == [
        "Exchange Administrator",
        "User Administrator",
    ]
    assert ActivationRequest.objects.filter(justification=JUSTIFICATION).count() == 2


def test_a_role_already_active_stops_both_and_is_named(alice_client, alice):
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")
    services.request_activation(
        actor=alice, eligibilities=[user_admin], duration=timedelta(hours=2), justification=JUSTIFICATION,
        mfa_verified_at=timezone.now(),
    )  # fmt: skip

    response = alice_client.post(ACTIVATE, answers(user_admin, exchange))

    assert response.status_code == 200
    assertContains(
        response,
        "User Administrator is already active for you at / (until 2026-11-22 11:00 UTC); "
        "extend it instead of activating again.",
    )
    assert ActivationRequest.objects.count() == 1  # the earlier one; nothing for Exchange Administrator
    assert not ActivationRequest.objects.filter(role__slug="exchange-administrator").exists()


def test_a_duration_over_one_roles_maximum_stops_both_and_names_that_role(alice_client, alice, pim_admin):
    update_role_settings(actor=pim_admin, role=role("exchange-administrator"), changes={"activation_max_minutes": 60})
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")

    response = alice_client.post(ACTIVATE, answers(user_admin, exchange, duration=120))

    assert field_errors(response, "duration") == [
        "Exchange Administrator can be activated for 30 min to 1 h; you asked for 2 h."
    ]
    assert nothing_created()


def test_each_refused_role_gets_its_own_message(alice_client, alice, pim_admin):
    for slug in ("exchange-administrator", "user-administrator"):
        update_role_settings(actor=pim_admin, role=role(slug), changes={"activation_max_minutes": 60})
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")
    helpdesk = eligible(alice, "helpdesk-administrator")

    response = alice_client.post(ACTIVATE, answers(user_admin, exchange, helpdesk, duration=120))

    assert sorted(field_errors(response, "duration")) == [
        "Exchange Administrator can be activated for 30 min to 1 h; you asked for 2 h.",
        "User Administrator can be activated for 30 min to 1 h; you asked for 2 h.",
    ]
    assert nothing_created()


def test_one_code_covers_every_role_in_the_form(alice_client, alice, clock):
    user_admin, exchange = eligible(alice, "user-administrator"), eligible(alice, "exchange-administrator")
    clock.move_to(START + timedelta(minutes=11))

    form = alice_client.get(activate_url(user_admin, exchange))
    response = alice_client.post(
        ACTIVATE, answers(user_admin, exchange, otp_token=current_code(alice.totpdevice_set.get())), follow=True
    )

    assert text(form.content.decode()).count("Verification code") == 1
    assert len(messages_of(response)) == 2
    assert ActivationRequest.objects.filter(status="provisioned").count() == 2


def test_someone_elses_eligibility_among_the_selected_is_not_found(alice_client, alice, dave):
    mine, daves = eligible(alice, "user-administrator"), eligible(dave, "exchange-administrator")

    assert alice_client.get(activate_url(mine, daves)).status_code == 404
    assert alice_client.post(ACTIVATE, answers(mine, daves)).status_code == 404
    assert nothing_created()
