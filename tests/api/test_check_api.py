"""GET /api/v1/check/: the access decision other applications ask for, with a token made with
the 'check' permission or a PIM administrator's session. What it answers, who may ask, and what
one answer costs: two queries (the token, then the decision), and the token's last_used_at
written at most once a minute."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from activations.api import MayAskAccessDecisions
from pimsite.api_auth import TOKEN_REFUSED
from pimsite.models import ApiToken
from pimsite.services import revoke_api_token
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role
from roles.reusable import ReusableQuery
from roles.selectors import access_decision
from tests.api.conftest import START, api_client
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, ScopeFactory

CHECK = "/api/v1/check/"
EXCHANGE = "exchange-administrator"
NO_ACTIVE = "no active %s assignment at / or above"


def role(slug: str = EXCHANGE) -> Role:
    return Role.objects.get(slug=slug)


def give(user, *, scope=None, end_at=START + timedelta(hours=1), **extra) -> ActiveAssignment:
    """`user` holds Exchange Administrator from an hour before START (at '/' unless told)."""
    if scope is not None:
        extra["scope"] = scope
    return ActiveAssignmentFactory(
        principal=user, role=role(), start_at=START - timedelta(hours=1), end_at=end_at, **extra
    )


@pytest.fixture
def gateway(clock, bob) -> APIClient:
    """bob's 'check' token, used once already: a token's first call also writes last_used_at."""
    client = api_client(bob, "check")
    assert client.get(CHECK, {"user": "bob", "role": EXCHANGE}).status_code == 200
    return client


def ask(client, **params):
    return client.get(CHECK, params)


# What it answers ----------------------------------------------------------------------------------


def test_an_allowed_decision_says_until_when_which_assignment_and_how(gateway, alice):
    held = give(alice)

    answer = ask(gateway, user="alice", role=EXCHANGE, scope="/mail/eu")

    assert answer.status_code == 200
    assert answer.json() == {"allowed": True, "until": "2026-11-22T10:00:00Z", "assignment": held.pk, "via": "admin"}


def test_the_longest_lasting_assignment_answers_permanent_first(gateway, alice):
    give(alice)
    permanent = give(alice, scope=ScopeFactory(path="/mail"), end_at=None)
    give(alice, scope=ScopeFactory(path="/mail/eu"), end_at=START + timedelta(hours=5))

    assert ask(gateway, user="alice", role=EXCHANGE, scope="/mail/eu").json() == {
        "allowed": True, "until": None, "assignment": permanent.pk, "via": "admin",
    }  # fmt: skip
    # Above the permanent one's scope only the one at '/' reaches.
    assert ask(gateway, user="alice", role=EXCHANGE, scope="/").json()["until"] == "2026-11-22T10:00:00Z"


def test_via_says_activation_or_group(gateway, alice):
    activated = give(alice, source=ActiveSource.ACTIVATION)
    assert ask(gateway, user="alice", role=EXCHANGE).json()["via"] == "activation"
    mail_admins = Group.objects.create(name="Mail admins")
    mail_admins.user_set.add(alice)
    ActiveAssignmentFactory(principal=None, group=mail_admins, role=role(), start_at=START, end_at=None)

    answer = ask(gateway, user="alice", role=EXCHANGE).json()

    assert (answer["via"], answer["until"]) == ("group", None)  # permanent, so it lasts longest
    activated.delete()
    mail_admins.user_set.remove(alice)
    assert ask(gateway, user="alice", role=EXCHANGE).json()["allowed"] is False  # left the group: gone at once


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"user": "nobody", "role": "nope", "scope": "not a path"}, "no account named nobody"),
        ({"user": "carol", "role": "nope", "scope": "not a path"}, "the account carol is disabled"),
        ({"user": "alice", "role": "nope", "scope": "not a path"}, "no role with the slug nope"),
        ({"user": "alice", "role": EXCHANGE, "scope": "not a path"}, "not a path is not a scope path"),
        ({"user": "alice", "role": "user-administrator"}, f"alice holds {NO_ACTIVE % 'user-administrator'}"),
        ({"user": "alice", "role": EXCHANGE, "scope": "/"}, f"alice holds {NO_ACTIVE % EXCHANGE}"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_first_reason(gateway, alice, carol, params, reason):
    give(alice, scope=ScopeFactory(path="/mail"))  # below '/': does not reach it
    give(carol)
    carol.is_active = False
    carol.save()

    assert ask(gateway, **params).json() == {"allowed": False, "reason": reason}


def test_an_assignment_is_gone_at_its_end_to_the_second_before_any_task_ends_it(gateway, clock, alice):
    held = give(alice, end_at=START + timedelta(minutes=30))

    clock.move_to(held.end_at - timedelta(seconds=1), tick=False)
    assert ask(gateway, user="alice", role=EXCHANGE).json()["allowed"] is True
    clock.move_to(held.end_at, tick=False)
    assert ask(gateway, user="alice", role=EXCHANGE).json()["allowed"] is False
    held.refresh_from_db()
    assert held.ended_at is None  # nothing marked it ended: time alone decided


def test_any_depth_of_scope_finds_the_assignments_above_it(gateway, alice):
    give(alice, scope=ScopeFactory(path="/a/b/c"))
    # Depths 1 to 9: the SQL is written for a few lengths of the list of scopes above (1, 2, 4, 8, 16).
    for depth in range(1, 10):
        path = "/" + "/".join("abcdefghi"[:depth])
        assert ask(gateway, user="alice", role=EXCHANGE, scope=path).json()["allowed"] is (depth >= 3), path


def test_the_command_gives_the_same_answer_in_another_time_zone(db, alice):
    held = give(alice)
    at = (START + timedelta(minutes=59)).astimezone(ZoneInfo("Pacific/Auckland"))  # the next day there

    decision = access_decision(username="alice", role_slug=EXCHANGE, at=at)

    assert (decision.allowed, decision.until, decision.assignment_id) == (True, held.end_at, held.pk)
    assert not access_decision(username="alice", role_slug=EXCHANGE, at=held.end_at).allowed


# Who may ask -------------------------------------------------------------------------------------


def test_without_credentials_or_with_an_unknown_token_it_is_401(db, clock):
    anonymous = APIClient().get(CHECK, {"user": "alice", "role": EXCHANGE})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="PIM API"'

    unknown = APIClient(HTTP_AUTHORIZATION="Bearer pim_not-a-token").get(CHECK, {"user": "alice", "role": EXCHANGE})
    assert (unknown.status_code, unknown.json()) == (401, {"detail": TOKEN_REFUSED, "code": "authentication_failed"})


def test_a_token_without_the_check_permission_is_403(clock, alice):
    answer = api_client(alice).get(CHECK, {"user": "alice", "role": EXCHANGE})

    assert answer.status_code == 403
    assert answer.json() == {"detail": MayAskAccessDecisions.message, "code": "permission_denied"}


def test_a_revoked_token_is_refused_at_once(clock, bob):
    client = api_client(bob, "check")
    assert ask(client, user="bob", role=EXCHANGE).status_code == 200

    revoke_api_token(actor=bob, token=ApiToken.objects.get(user=bob))

    assert ask(client, user="bob", role=EXCHANGE).json() == {"detail": TOKEN_REFUSED, "code": "authentication_failed"}


def test_an_expired_token_is_refused_from_the_second_it_expires(clock, bob):
    client = api_client(bob, "check")
    expires_at = ApiToken.objects.get(user=bob).expires_at

    clock.move_to(expires_at - timedelta(seconds=1), tick=False)
    assert ask(client, user="bob", role=EXCHANGE).status_code == 200
    clock.move_to(expires_at, tick=False)
    assert ask(client, user="bob", role=EXCHANGE).status_code == 401


def test_a_disabled_owner_makes_the_token_useless(clock, bob):
    client = api_client(bob, "check")
    bob.is_active = False
    bob.save()

    assert ask(client, user="bob", role=EXCHANGE).status_code == 401


def test_a_pim_administrators_verified_session_may_ask_and_no_one_elses(clock, pim_admin, alice):
    admin = Client()
    verify_session(admin, pim_admin)
    assert admin.get(CHECK, {"user": "alice", "role": EXCHANGE}).json()["allowed"] is False

    someone = Client()
    verify_session(someone, alice)
    assert someone.get(CHECK, {"user": "alice", "role": EXCHANGE}).status_code == 403


def test_missing_parameters_are_field_errors(gateway):
    answer = gateway.get(CHECK, {"scope": "/"})

    assert answer.status_code == 400
    assert answer.json() == {
        "errors": {"user": ["This parameter is required."], "role": ["This parameter is required."]}
    }


def test_asking_is_throttled_like_every_api_call(gateway, clock, monkeypatch):
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "3/minute")  # PIM_API_RATE
    for _ in range(2):  # the gateway fixture's call was the first
        assert ask(gateway, user="alice", role=EXCHANGE).status_code == 200

    throttled = ask(gateway, user="alice", role=EXCHANGE)

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert 0 < int(throttled["Retry-After"]) <= 60
    clock.move_to(START + timedelta(seconds=61), tick=False)
    assert ask(gateway, user="alice", role=EXCHANGE).status_code == 200


def test_the_schema_documents_it(db):
    schema = yaml.safe_load(Client().get("/api/schema/").content)

    operation = schema["paths"]["/api/v1/check/"]["get"]
    assert {(p["name"], p.get("required", False)) for p in operation["parameters"]} == {
        ("user", True), ("role", True), ("scope", False),
    }  # fmt: skip
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AccessDecision"
    }
    assert set(schema["components"]["schemas"]["AccessDecision"]["properties"]) == {
        "allowed", "until", "assignment", "via", "reason",
    }  # fmt: skip


# What one answer costs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"user": "alice", "role": EXCHANGE, "scope": "/mail/eu"},  # allowed
        {"user": "alice", "role": "user-administrator"},  # holds none
        {"user": "nobody", "role": EXCHANGE},  # no such account
    ],
)
def test_a_decision_is_two_queries_the_token_and_the_decision(gateway, alice, params, django_assert_num_queries):
    give(alice)

    with django_assert_num_queries(2):
        answer = ask(gateway, **params)

    assert answer.status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(clock, bob, django_assert_num_queries):
    client = api_client(bob, "check")
    token = ApiToken.objects.get(user=bob)
    assert token.last_used_at is None

    with django_assert_num_queries(3):  # the token, its last_used_at, the decision
        ask(client, user="bob", role=EXCHANGE)
    token.refresh_from_db()
    assert token.last_used_at == START

    clock.move_to(START + timedelta(seconds=59), tick=False)
    with django_assert_num_queries(2):  # written less than a minute ago: only read
        ask(client, user="bob", role=EXCHANGE)
    token.refresh_from_db()
    assert token.last_used_at == START

    clock.move_to(START + timedelta(minutes=1), tick=False)
    with django_assert_num_queries(3):
        ask(client, user="bob", role=EXCHANGE)
    token.refresh_from_db()
    assert token.last_used_at == START + timedelta(minutes=1)


def test_a_query_whose_values_the_orm_transforms_cannot_be_reused(db):
    # icontains wraps the value in %...%: no parameter carries it as given, so the SQL could
    # not be sent again with another value. The first call says so, rather than a wrong answer.
    named_like = ReusableQuery(lambda name: Role.objects.filter(name__icontains=name).values_list("pk"))

    with pytest.raises(ImproperlyConfigured, match="does not carry"):
        named_like.rows(name="admin")
