"""Personal API tokens: made on /account/tokens/ with a verified session, shown once, kept
only as a hash, listed, revocable, audited; the API accepts them until expiry or revocation."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains
from rest_framework.test import APIClient

from audit.models import AuditEvent
from pimsite.models import ApiToken, token_digest
from pimsite.services import create_api_token
from tests.conftest import verify_session

TOKENS = reverse("account-tokens")
ME = "/api/v1/me/"


@pytest.fixture
def alice_client(alice) -> Client:
    client = Client()
    verify_session(client, alice)
    return client


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_token_is_shown_once_and_only_its_hash_is_kept(alice_client, alice):
    response = alice_client.post(TOKENS, {"name": "laptop CLI", "expires_in_days": "30", "permissions": ["api"]})

    secret = response.context["secret"]
    assert secret.startswith("pim_") and len(secret) > 40
    assertContains(response, secret)
    token = ApiToken.objects.get(user=alice)
    assert token.digest == token_digest(secret) and secret not in str(ApiToken.objects.values().get())
    assert token.expires_at - timezone.now() == pytest.approx(timedelta(days=30), abs=timedelta(seconds=5))
    listed = alice_client.get(TOKENS)
    assertNotContains(listed, secret)
    assertContains(listed, f"{secret[:8]}…")
    event = AuditEvent.objects.get(action="api_token.created")
    assert secret not in str(event.data) and event.data["name"] == "laptop CLI"


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"name": "x", "expires_in_days": "366", "permissions": ["api"]}, "expires_in_days",
         "Expires in must be between 1 day and 365 days; it is 366 days."),
        ({"name": "x", "expires_in_days": "0", "permissions": ["api"]}, "expires_in_days",
         "Expires in must be between 1 day and 365 days; it is 0 days."),
        ({"name": "x", "expires_in_days": "30"}, "permissions", "This field is required."),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_range_and_makes_nothing(alice_client, form, field, message):
    response = alice_client.post(TOKENS, form)

    assert response.context["form"].errors[field] == [message]
    assert not ApiToken.objects.exists()


def test_the_api_accepts_a_token_until_it_is_revoked(alice_client, alice):
    token, secret = create_api_token(actor=alice, name="script", permissions=["api"])

    assert bearer(secret).get(ME).json()["username"] == "alice"
    token.refresh_from_db()
    assert token.last_used_at is not None

    alice_client.post(reverse("account-token-revoke", args=[token.pk]))

    refused = bearer(secret).get(ME)
    assert refused.status_code == 401
    assert refused.json()["detail"].startswith("The token is not valid")
    assert AuditEvent.objects.filter(action="api_token.revoked", actor=alice).count() == 1


def test_an_expired_token_is_refused(alice, time_machine):
    _, secret = create_api_token(actor=alice, name="short", expires_in_days=1, permissions=["api"])

    time_machine.move_to(timezone.now() + timedelta(days=1, seconds=1), tick=False)

    assert bearer(secret).get(ME).status_code == 401


def test_nobody_revokes_another_users_token(bob, alice):
    token, _ = create_api_token(actor=alice, name="script", permissions=["api"])
    client = Client()
    verify_session(client, bob)

    assert client.post(reverse("account-token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_tokens_page_needs_a_verified_session(client, alice):
    client.force_login(alice)  # password only, no code yet

    response = client.get(TOKENS)

    assert response.status_code == 302 and "/accounts/verify/" in response["Location"]


def test_a_check_only_token_cannot_act_as_its_owner(alice):
    _, secret = create_api_token(actor=alice, name="gateway", permissions=["check"])

    response = bearer(secret).get(ME)

    assert response.status_code == 403
