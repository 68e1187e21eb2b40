"""API clients with real personal tokens, and the clock of the API tests."""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from pimsite.models import ApiToken
from pimsite.services import create_api_token

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


def api_client(user, *permissions: str) -> APIClient:
    """A client sending `user`'s new personal token (permissions: "api" unless told)."""
    count = ApiToken.objects.filter(user=user).count()
    _, secret = create_api_token(actor=user, name=f"tests {count + 1}", permissions=list(permissions or ["api"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture(autouse=True)
def fresh_throttles():
    """DRF counts calls in Django's cache; each test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def admin_api(clock, pim_admin) -> APIClient:
    """pim_admin's token: an active Privileged Role Administrator at '/' (the clock stops first,
    so the assignment starts before the moment the test runs at)."""
    return api_client(pim_admin)


@pytest.fixture
def dave_api(clock, dave) -> APIClient:
    """dave signed in with a token, holding nothing."""
    return api_client(dave)


@pytest.fixture
def exchange_admin(db):
    from roles.models import Role

    return Role.objects.get(slug="exchange-administrator")
