"""check_access USERNAME ROLE_SLUG [--scope PATH] [--at ISO-8601]: 'allowed until <end>' and
exit 0, or 'denied: <reason>' and exit 1. The same answer as every page and the API."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.activations.helpers import START, activate
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

ENDS = START + timedelta(hours=9, minutes=30)  # 2026-11-22 18:30 UTC


def check_access(*args: str) -> tuple[int, str]:
    """The exit code and the output line."""
    out = StringIO()
    try:
        call_command("check_access", *args, stdout=out)
    except SystemExit as exit_:
        return exit_.code, out.getvalue().strip()
    return 0, out.getvalue().strip()


@pytest.fixture
def time_bound(alice, exchange_admin, clock):
    """alice holds Exchange Administrator at / from START until 18:30 UTC."""
    return ActiveAssignmentFactory(principal=alice, role=exchange_admin, end_at=ENDS)


def test_a_time_bound_assignment_is_allowed_until_its_end_in_utc(time_bound):
    assert check_access("alice", "exchange-administrator") == (0, "allowed until 2026-11-22T18:30:00+00:00")


def test_an_activated_role_is_allowed_until_the_activation_ends(alice, exchange_admin, clock):
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    activate(alice, eligibility, duration=timedelta(hours=2))

    assert check_access("alice", "exchange-administrator") == (0, "allowed until 2026-11-22T11:00:00+00:00")


def test_an_activation_made_mid_second_ends_on_a_whole_second(alice, exchange_admin, clock):
    clock.move_to(START + timedelta(seconds=7, microseconds=345678))
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    activate(alice, eligibility, duration=timedelta(hours=2))

    assert check_access("alice", "exchange-administrator") == (0, "allowed until 2026-11-22T11:00:07+00:00")


def test_a_permanent_assignment_is_allowed_until_permanent(alice, exchange_admin, clock):
    ActiveAssignmentFactory(principal=alice, role=exchange_admin)

    assert check_access("alice", "exchange-administrator") == (0, "allowed until permanent")


def test_an_unknown_user_is_denied(db):
    assert check_access("mallory", "exchange-administrator") == (1, "denied: no account named mallory")


def test_an_unknown_role_is_denied(alice):
    assert check_access("alice", "coffee-administrator") == (1, "denied: no role with the slug coffee-administrator")


def test_someone_without_an_assignment_is_denied(dave):
    assert check_access("dave", "exchange-administrator") == (
        1,
        "denied: dave holds no active exchange-administrator assignment at / or above",
    )


def test_an_eligibility_alone_is_denied(alice, exchange_admin, clock):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)

    assert check_access("alice", "exchange-administrator")[0] == 1


def test_an_assignment_is_denied_from_its_end_to_the_second(time_bound, clock):
    clock.move_to(ENDS - timedelta(seconds=1), tick=False)
    assert check_access("alice", "exchange-administrator")[0] == 0

    clock.move_to(ENDS, tick=False)

    assert check_access("alice", "exchange-administrator") == (
        1,
        "denied: alice holds no active exchange-administrator assignment at / or above",
    )


def test_a_disabled_account_is_denied(alice, time_bound):
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    assert check_access("alice", "exchange-administrator") == (1, "denied: the account alice is disabled")


def test_a_scope_below_the_assignments_scope_is_allowed(time_bound):
    ScopeFactory(path="/subscriptions")

    assert check_access("alice", "exchange-administrator", "--scope", "/subscriptions/prod/rg-mail")[0] == 0


def test_a_scope_above_the_assignments_scope_is_denied(alice, exchange_admin, clock):
    prod = ScopeFactory(path="/subscriptions/prod", parent=ScopeFactory(path="/subscriptions"))
    ActiveAssignmentFactory(principal=alice, role=exchange_admin, scope=prod, end_at=ENDS)

    assert check_access("alice", "exchange-administrator", "--scope", "/subscriptions/prod") == (
        0,
        "allowed until 2026-11-22T18:30:00+00:00",
    )
    assert check_access("alice", "exchange-administrator", "--scope", "/subscriptions") == (
        1,
        "denied: alice holds no active exchange-administrator assignment at /subscriptions or above",
    )
    # A sibling whose path merely starts with the same letters is not below it.
    assert check_access("alice", "exchange-administrator", "--scope", "/subscriptions/production")[0] == 1


def test_a_malformed_scope_is_denied(time_bound):
    assert check_access("alice", "exchange-administrator", "--scope", "subscriptions") == (
        1,
        "denied: subscriptions is not a scope path",
    )


def test_at_answers_for_an_instant_in_the_past(time_bound, clock):
    clock.move_to(ENDS + timedelta(days=1), tick=False)

    assert check_access("alice", "exchange-administrator", "--at", "2026-11-22T18:29:59Z") == (
        0,
        "allowed until 2026-11-22T18:30:00+00:00",
    )
    assert check_access("alice", "exchange-administrator", "--at", "2026-11-22T18:30:00Z")[0] == 1
    assert check_access("alice", "exchange-administrator", "--at", "2026-11-22T08:59:59+00:00")[0] == 1


def test_at_answers_for_an_instant_in_the_future(alice, exchange_admin, clock):
    ActiveAssignmentFactory(
        principal=alice, role=exchange_admin, start_at=START + timedelta(days=1), end_at=START + timedelta(days=2)
    )

    assert check_access("alice", "exchange-administrator")[0] == 1
    # 10:00 in Berlin is 09:00 UTC: the answer is given in UTC whatever zone was asked in.
    assert check_access("alice", "exchange-administrator", "--at", "2026-11-23T10:00:00+01:00") == (
        0,
        "allowed until 2026-11-24T09:00:00+00:00",
    )


@pytest.mark.parametrize("at", ["tomorrow", "2026-11-22T18:30:00"])
def test_at_without_an_unambiguous_instant_is_a_usage_error(db, at):
    with pytest.raises(CommandError, match="--at"):
        call_command("check_access", "alice", "exchange-administrator", "--at", at, stdout=StringIO())
