"""Fixtures for the activation pages: a standing clock and signed-in clients.

The clock stands still at helpers.START unless a test moves it. Built-in roles keep their
default settings (30 min to 8 h; a code and a justification required; no ticket, no
approval) unless a test changes them through roles.services.update_role_settings."""

import pytest
from django.test import Client

from tests.activations.pages.helpers import START, signed_in


@pytest.fixture
def clock(time_machine):
    """Stop the clock at START; tests move it with clock.move_to(...)."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def alice_client(clock, alice) -> Client:
    """alice, signed in with password and code a moment ago: no step-up code asked yet."""
    return signed_in(alice)


@pytest.fixture
def bob_client(clock, bob) -> Client:
    """bob, signed in a moment ago."""
    return signed_in(bob)
