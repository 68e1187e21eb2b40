"""The console tests' clock and signed-in administrator."""

from datetime import UTC, datetime

import pytest
from django.test import Client

from tests.conftest import verify_session

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    """Stop the clock at START. Requested before pim_admin, so the administrator's assignment
    starts before the moment the test runs at."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def manager_client(clock, pim_admin) -> Client:
    """pim_admin, OTP-verified, holding an active Privileged Role Administrator at '/'."""
    client = Client()
    verify_session(client, pim_admin)
    return client
