"""roles.until_changed: the access decision and the API token kept in each process, on a real
PostgreSQL server with its triggers and a listening thread, in transactions that commit (a test
transaction never commits, so it would never notify). What a gateway calling /api/v1/check/
relies on: no query for an answer it already had, and never an answer that no longer holds,
whether it changed by the clock or by a write."""

import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from activations import services as activation_services
from pimsite.services import revoke_api_token
from roles import until_changed
from roles.choices import ActiveSource
from roles.models import Role
from roles.selectors import cached_access_decision
from tests.api.conftest import api_client
from tests.factories import ActiveAssignmentFactory

pytestmark = [pytest.mark.postgres]

CHECK = "/api/v1/check/"
EXCHANGE = "exchange-administrator"


@pytest.fixture
def listening(transactional_db, settings):
    settings.PIM_CACHE_UNTIL_CHANGED = True
    cache.clear()  # DRF's throttle counts
    assert until_changed.wait_until_listening(10), "the listener did not connect"
    yield
    until_changed.stop_listening()


def settle() -> None:
    """Wait until the listener has read every notification committed so far: send one more
    and wait for it (they arrive in commit order), so what the test asks next is kept."""
    marker = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [until_changed.CHANNEL, marker])
    assert until_changed.wait_for_notification(marker), "the listener did not read the notification"


def give(user, **fields):
    defaults = {"role": Role.objects.get(slug=EXCHANGE), "start_at": timezone.now() - timedelta(hours=1)}
    return ActiveAssignmentFactory(principal=user, **(defaults | fields))


def test_an_answer_already_given_is_given_again_without_a_query(listening, alice, bob, django_assert_num_queries):
    give(alice, end_at=timezone.now() + timedelta(hours=1))
    gateway = api_client(bob, "check")
    assert gateway.get(CHECK, {"user": "dave", "role": EXCHANGE}).status_code == 200  # writes last_used_at
    settle()
    first = gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).json()

    with django_assert_num_queries(0):
        again = gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).json()

    assert again == first
    assert first["allowed"] is True


def test_a_deactivation_is_refused_on_the_next_question(listening, alice, bob):
    eligibility_end = timezone.now() + timedelta(hours=1)
    assignment = give(alice, end_at=eligibility_end, source=ActiveSource.ACTIVATION)
    gateway = api_client(bob, "check")
    settle()
    assert gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).json()["allowed"] is True

    activation_services.deactivate(actor=alice, assignment=assignment)
    settle()

    answer = gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).json()
    assert answer == {"allowed": False, "reason": f"alice holds no active {EXCHANGE} assignment at / or above"}


def test_a_kept_permission_ends_at_end_at_to_the_microsecond(listening, alice, time_machine):
    now = timezone.now().replace(microsecond=0)
    end = now + timedelta(minutes=30)
    give(alice, end_at=end)
    settle()
    time_machine.move_to(end - timedelta(microseconds=1), tick=False)
    assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed

    time_machine.move_to(end, tick=False)  # nothing was written: only the clock moved

    assert not cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed


def test_a_kept_refusal_ends_when_a_scheduled_assignment_starts(listening, alice, time_machine):
    now = timezone.now().replace(microsecond=0)
    start = now + timedelta(minutes=10)
    give(alice, start_at=start, end_at=start + timedelta(hours=1))
    settle()
    time_machine.move_to(start - timedelta(seconds=1), tick=False)
    assert not cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed

    time_machine.move_to(start, tick=False)

    assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed


def test_disabling_an_account_is_refused_on_the_next_question(listening, alice):
    give(alice)
    settle()
    assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed

    alice.is_active = False
    alice.save(update_fields=["is_active"])
    settle()

    decision = cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now())
    assert (decision.allowed, decision.reason) == (False, "the account alice is disabled")


def test_leaving_the_group_that_holds_a_role_is_refused_on_the_next_question(listening, alice):
    from django.contrib.auth.models import Group

    admins = Group.objects.create(name="exchange-admins")
    admins.user_set.add(alice)
    ActiveAssignmentFactory(principal=None, group=admins, role=Role.objects.get(slug=EXCHANGE))
    settle()
    assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).via == "group"

    # Straight SQL, as a directory sync might: the trigger sees it all the same.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user_groups WHERE user_id = %s", [alice.pk])
    settle()

    assert not cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed


def test_a_revoked_token_is_refused_on_the_next_call(listening, alice, bob):
    gateway = api_client(bob, "check")
    settle()
    assert gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).status_code == 200
    token = bob.api_tokens.get()

    revoke_api_token(actor=bob, token=token)
    settle()

    assert gateway.get(CHECK, {"user": "alice", "role": EXCHANGE}).status_code == 401


def test_while_not_listening_every_answer_comes_from_the_database(listening, alice, django_assert_num_queries):
    give(alice)
    settle()
    cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now())
    until_changed.stop_listening()

    with django_assert_num_queries(2):
        for _ in range(2):
            assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed


def test_the_listener_listens_again_after_its_connection_is_cut(listening, alice, django_assert_num_queries):
    give(alice)
    settle()
    before = until_changed.generation()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                       ["pim-until-changed"])  # fmt: skip
        assert cursor.fetchone() == (True,)

    assert until_changed.wait_until_listening(15, since=before), "the listener did not come back"
    settle()
    cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now())
    with django_assert_num_queries(0):
        assert cached_access_decision(username="alice", role_slug=EXCHANGE, at=timezone.now()).allowed


def test_an_answer_read_while_a_change_arrived_is_not_kept(listening, alice):
    give(alice)
    settle()
    kept = until_changed.UntilChanged("test")
    generation = kept.generation()  # taken before a read, as cached_access_decision does
    settle()  # a change arrives while the read is under way

    kept.remember("alice", "the old answer", generation=generation, at=timezone.now(), until=None)

    assert kept.get("alice", at=timezone.now()) is None
