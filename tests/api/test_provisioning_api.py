"""Provisioning through /api/v1/: administrators bind roles to targets, watch each holder's grant,
retry a failed one and check for drift; any caller sees their own grants, so a script can wait
until its access is real. The same services as the engine's tests: bad input is a 400 naming
the field, the rule and the range, and nothing changes; a target still granting, or a grant
that is not failing, is a 409; non-administrators get 404 under a role and on a grant.

Cast (tests/conftest.py): alice and carol hold Exchange Administrator when a test says so, dave
holds nothing, pim_admin administers. "Mail admins group" provisions Exchange Administrator
into the Django group mail-admins."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from roles.models import ActiveAssignment, Grant, Role, Target
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.provisioning import engine, services, tasks
from roles.provisioning.api import KIND_FIXED, KIND_REQUIRED
from roles.provisioning.choices import GrantState
from roles.provisioning.django_group import GROUP_REQUIRED
from roles.provisioning.services import NAME_REQUIRED, NOT_RETRYABLE, TARGET_IN_USE
from tests.api.conftest import START, api_client
from tests.factories import UserFactory
from tests.provisioning.conftest import give_active

API = "/api/v1/"
TARGETS = f"{API}roles/exchange-administrator/targets/"
HOOK_SECRET = "PIM_TEST_API_HOOK_SECRET"  # noqa: S105  the variable's name, not a secret
CLOSED_PORT = "http://127.0.0.1:9/pim"  # discard: nothing listens, a connection is refused at once


def errors(response, field: str) -> list[str]:
    assert response.status_code == 400, response.content
    return response.json()["errors"][field]


def provisioning_actions() -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith="provisioning.").order_by("sequence")
                .values_list("action", flat=True))  # fmt: skip


def members(name: str = "mail-admins") -> list[str]:
    group = Group.objects.filter(name=name).first()
    return sorted(group.user_set.values_list("username", flat=True)) if group else []


def hold(principal, role: Role, capture) -> ActiveAssignment:
    """An administrator gives `principal` (a user or a group) `role` at '/' for a day."""
    return give_active(principal, role, capture=capture)


@pytest.fixture
def target(clock, pim_admin, exchange_admin) -> Target:
    """Exchange Administrator provisions membership of the Django group mail-admins."""
    return services.create_target(actor=pim_admin, role=exchange_admin, name="Mail admins group",
                                  kind="django_group", params={"group": "mail-admins"})  # fmt: skip


@pytest.fixture
def alice_granted(target, alice, exchange_admin, django_capture_on_commit_callbacks) -> Grant:
    """alice holds Exchange Administrator, and is a member of mail-admins."""
    hold(alice, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    return Grant.objects.get(user=alice)


class Receiver:
    """A webhook receiver that does whatever it is sent (2xx), without checking signatures."""

    def __init__(self):
        self.calls: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.calls.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pim"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.server.shutdown()


# Who may call ----------------------------------------------------------------------------------


def object_calls(target: Target, grant: Grant) -> list[tuple[str, str]]:
    return [
        ("get", TARGETS),
        ("post", TARGETS),
        ("get", f"{TARGETS}{target.pk}/"),
        ("patch", f"{TARGETS}{target.pk}/"),
        ("delete", f"{TARGETS}{target.pk}/"),
        ("get", f"{TARGETS}{target.pk}/grants/"),
        ("post", f"{TARGETS}{target.pk}/check-drift/"),
        ("post", f"{API}grants/{grant.pk}/retry/"),
    ]


def test_anonymous_callers_get_401_everywhere_and_change_nothing(alice_granted, target):
    client = APIClient()

    for method, url in [*object_calls(target, alice_granted), ("get", f"{API}target-kinds/"),
                        ("get", f"{API}me/grants/")]:  # fmt: skip
        assert getattr(client, method)(url, {"enabled": False}, format="json").status_code == 401, url
    assert Target.objects.get().enabled
    assert provisioning_actions() == ["provisioning.target_created", "provisioning.granted"]


def test_a_user_without_an_active_administrator_role_gets_404_under_a_role_and_on_a_grant(
    dave_api, alice_granted, target
):
    # Not an administrator: whether the role has targets, or the grant exists, is not told.
    for method, url in object_calls(target, alice_granted):
        body = {"name": "Mine", "kind": "django_group", "params": {"group": "x"}, "enabled": False}
        assert getattr(dave_api, method)(url, body, format="json").status_code == 404, url
    assert Target.objects.get().enabled
    assert provisioning_actions() == ["provisioning.target_created", "provisioning.granted"]


def test_a_user_without_an_active_administrator_role_gets_403_on_the_kinds(dave_api):
    response = dave_api.get(f"{API}target-kinds/")

    assert response.status_code == 403
    assert response.json() == {"detail": NEEDS_ACTIVE_ADMIN_ROLE, "code": "permission_denied"}


def test_a_role_that_does_not_exist_is_a_404_for_administrators_too(admin_api):
    assert admin_api.get(f"{API}roles/no-such-role/targets/").status_code == 404
    response = admin_api.post(f"{API}roles/no-such-role/targets/", {"name": "T", "kind": "django_group",
                              "params": {"group": "g"}}, format="json")  # fmt: skip
    assert response.status_code == 404
    assert not Target.objects.exists()


def test_a_target_is_found_only_under_its_own_role(admin_api, target):
    assert admin_api.get(f"{API}roles/user-administrator/targets/{target.pk}/").status_code == 404
    assert admin_api.get(f"{API}roles/user-administrator/targets/{target.pk}/grants/").status_code == 404
    assert admin_api.delete(f"{API}roles/user-administrator/targets/{target.pk}/").status_code == 404
    assert Target.objects.filter(pk=target.pk).exists()


# Targets ---------------------------------------------------------------------------------------


def test_creating_a_target_grants_the_roles_current_holders(
    admin_api, alice, exchange_admin, django_capture_on_commit_callbacks
):
    hold(alice, exchange_admin, django_capture_on_commit_callbacks)

    response = admin_api.post(TARGETS, {"name": "Mail admins group", "kind": "django_group",
                                        "params": {"group": " mail-admins "}}, format="json")  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": Target.objects.get().pk, "role": "exchange-administrator", "name": "Mail admins group",
        "kind": "django_group", "params": {"group": "mail-admins"}, "enabled": True, "revoke_outside_grants": False,
        "grants": {"pending": 1, "granted": 0, "failed": 0, "revoking": 0}, "drift_checked_at": None,
        "outside_grants": [], "drift_error": "", "created_at": "2026-11-22T09:00:00Z",
        "updated_at": "2026-11-22T09:00:00Z",
    }  # fmt: skip
    assert provisioning_actions() == ["provisioning.target_created"]
    tasks.run_provisioning()
    assert members() == ["alice"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "  ", "kind": "django_group", "params": {"group": "g"}}, "name", NAME_REQUIRED),
        ({"name": "x" * 101, "kind": "django_group", "params": {"group": "g"}}, "name", NAME_REQUIRED),
        ({"kind": "django_group", "params": {"group": "g"}}, "name", NAME_REQUIRED),
        ({"name": "T", "kind": "ldap", "params": {}}, "kind",
         "Kind: 'ldap' is not one of django_group, postgres_role, webhook."),
        ({"name": "T", "params": {"group": "g"}}, "kind", KIND_REQUIRED),
        ({"name": "T", "kind": "django_group"}, "params", GROUP_REQUIRED),
        ({"name": "T", "kind": "django_group", "params": {"group": "g" * 151}}, "params", GROUP_REQUIRED),
        ({"name": "T", "kind": "django_group", "params": ["g"]}, "params",
         'Expected a dictionary of items but got type "list".'),
        ({"name": "T", "kind": "webhook", "params": {"url": "ftp://hooks.example.com", "secret_variable": "S"}},
         "params", "'url' is the http(s) address that receives grant and revoke calls"),
        ({"name": "T", "kind": "django_group", "params": {"group": "g"}, "enabled": "sometimes"}, "enabled",
         "Must be a valid boolean."),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_the_rule_and_creates_nothing(admin_api, body, field, message):
    response = admin_api.post(TARGETS, body, format="json")

    assert message in errors(response, field)[0]
    assert not Target.objects.exists()
    assert provisioning_actions() == []


def test_every_broken_rule_is_named_in_one_answer(admin_api):
    response = admin_api.post(TARGETS, {"name": "", "kind": "django_group", "params": {}}, format="json")

    assert response.json() == {"errors": {"name": [NAME_REQUIRED], "params": [GROUP_REQUIRED]}}
    assert not Target.objects.exists()


def test_a_name_the_role_already_uses_is_refused(admin_api, target):
    response = admin_api.post(TARGETS, {"name": "Mail admins group", "kind": "django_group",
                                        "params": {"group": "other"}}, format="json")  # fmt: skip

    assert errors(response, "name") == ["Name: this role already has a target named 'Mail admins group'."]
    assert Target.objects.count() == 1


def test_a_webhook_url_that_is_not_a_url_at_all_is_a_400(admin_api):
    body = {"name": "T", "kind": "webhook", "params": {"url": "http://[", "secret_variable": "S"}}

    response = admin_api.post(TARGETS, body, format="json")

    assert "'url' is the http(s) address" in errors(response, "params")[0]


def test_the_list_shows_each_targets_grants_by_state_and_its_last_drift_check(
    admin_api, alice_granted, carol, exchange_admin, pim_admin, django_capture_on_commit_callbacks
):
    hold(carol, exchange_admin, django_capture_on_commit_callbacks)
    Grant.objects.filter(user=carol).update(state=GrantState.FAILED, attempts=engine.MAX_ATTEMPTS, last_error="x")
    services.create_target(actor=pim_admin, role=exchange_admin, name="Archive group", kind="django_group",
                           params={"group": "archive"}, enabled=False)  # fmt: skip
    services.check_drift_now(actor=pim_admin, target=alice_granted.target)

    response = admin_api.get(TARGETS)

    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    assert list(rows) == ["Archive group", "Mail admins group"]  # newest first
    assert rows["Mail admins group"]["grants"] == {"pending": 0, "granted": 1, "failed": 1, "revoking": 0}
    assert rows["Mail admins group"]["drift_checked_at"] == "2026-11-22T09:00:00Z"
    assert rows["Archive group"]["grants"] == {"pending": 0, "granted": 0, "failed": 0, "revoking": 0}
    assert (rows["Archive group"]["enabled"], rows["Archive group"]["drift_checked_at"]) == (False, None)


def test_one_target_reads_as_in_the_list(admin_api, alice_granted, target):
    response = admin_api.get(f"{TARGETS}{target.pk}/")

    assert response.status_code == 200
    assert response.json()["grants"] == {"pending": 0, "granted": 1, "failed": 0, "revoking": 0}
    assert response.json() == admin_api.get(TARGETS).json()["results"][0]


def test_patch_changes_what_is_given_and_params_key_by_key(admin_api, pim_admin, exchange_admin, monkeypatch):
    hook = services.create_target(actor=pim_admin, role=exchange_admin, name="Mail system", kind="webhook",
                                  params={"url": "https://hooks.example.com/pim", "secret_variable": HOOK_SECRET,
                                          "list_url": "https://hooks.example.com/holders"})  # fmt: skip

    response = admin_api.patch(f"{TARGETS}{hook.pk}/", {"name": "Mail", "revoke_outside_grants": True,
                               "params": {"url": "https://hooks2.example.com/pim", "list_url": None}},
                               format="json")  # fmt: skip

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["kind"], body["enabled"], body["revoke_outside_grants"]) == ("Mail", "webhook",
                                                                                            True, True)  # fmt: skip
    assert body["params"] == {"url": "https://hooks2.example.com/pim", "secret_variable": HOOK_SECRET,
                              "list_url": "", "login_attribute": "username"}  # fmt: skip
    event = AuditEvent.objects.get(action="provisioning.target_updated")
    assert set(event.data["changes"]) == {"target", "params", "revoke_outside_grants"}  # "target": its name


def test_turning_a_target_off_revokes_what_it_granted(admin_api, alice_granted, target):
    response = admin_api.patch(f"{TARGETS}{target.pk}/", {"enabled": False}, format="json")

    assert response.json()["grants"] == {"pending": 0, "granted": 0, "failed": 0, "revoking": 1}
    tasks.run_provisioning()
    assert members() == []
    assert Grant.objects.get().state == GrantState.REVOKED


def test_the_kind_of_a_target_never_changes(admin_api, target):
    response = admin_api.patch(f"{TARGETS}{target.pk}/", {"kind": "webhook", "name": "Renamed"}, format="json")

    assert errors(response, "kind") == [KIND_FIXED % {"kind": "django_group"}]
    target.refresh_from_db()
    assert (target.kind, target.name) == ("django_group", "Mail admins group")
    assert provisioning_actions() == ["provisioning.target_created"]


def test_sending_the_same_kind_back_is_no_change_of_kind(admin_api, target):
    response = admin_api.patch(f"{TARGETS}{target.pk}/", {"kind": "django_group", "name": "Renamed"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"


def test_a_patch_breaking_a_rule_changes_nothing(admin_api, target):
    response = admin_api.patch(f"{TARGETS}{target.pk}/", {"name": "", "params": {"group": ""}}, format="json")

    assert response.json() == {"errors": {"name": [NAME_REQUIRED], "params": [GROUP_REQUIRED]}}
    target.refresh_from_db()
    assert (target.name, target.params) == ("Mail admins group", {"group": "mail-admins"})
    assert provisioning_actions() == ["provisioning.target_created"]


def test_a_target_still_granting_cannot_be_deleted_until_turned_off(admin_api, alice_granted, target):
    response = admin_api.delete(f"{TARGETS}{target.pk}/")

    assert response.status_code == 409
    assert response.json() == {"detail": TARGET_IN_USE % {"name": "Mail admins group", "count": 1},
                               "code": "target_in_use"}  # fmt: skip
    assert Target.objects.filter(pk=target.pk).exists()

    admin_api.patch(f"{TARGETS}{target.pk}/", {"enabled": False}, format="json")
    tasks.run_provisioning()
    assert admin_api.delete(f"{TARGETS}{target.pk}/").status_code == 204
    assert not Target.objects.exists() and not Grant.objects.exists()
    assert provisioning_actions()[-1] == "provisioning.target_deleted"
    assert members() == []


# Grants ----------------------------------------------------------------------------------------


def test_a_targets_grants_show_where_each_stands_and_how_long_it_took(
    admin_api, target, alice, exchange_admin, clock, django_capture_on_commit_callbacks
):
    assignment = hold(alice, exchange_admin, django_capture_on_commit_callbacks)
    clock.move_to(START + timedelta(seconds=42), tick=False)
    tasks.run_provisioning()
    grant = Grant.objects.get()

    response = admin_api.get(f"{TARGETS}{target.pk}/grants/")

    assert response.status_code == 200
    assert response.json()["results"] == [{
        "id": grant.pk, "user": "alice", "target": target.pk, "assignment": assignment.pk, "scope": "/",
        "state": "granted", "attempts": 1, "last_error": "", "requested_at": "2026-11-22T09:00:00Z",
        "granted_at": "2026-11-22T09:00:42Z", "revoked_at": None, "seconds_to_grant": 42.0,
    }]  # fmt: skip


def test_a_failed_grant_retried_is_pending_and_then_granted_once_the_target_is_fixed(
    admin_api, pim_admin, alice, exchange_admin, clock, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv(HOOK_SECRET, "a-shared-secret")
    hook = services.create_target(actor=pim_admin, role=exchange_admin, name="Mail system", kind="webhook",
                                  params={"url": CLOSED_PORT, "secret_variable": HOOK_SECRET})  # fmt: skip
    hold(alice, exchange_admin, django_capture_on_commit_callbacks)
    for _ in range(engine.MAX_ATTEMPTS):
        tasks.run_provisioning()
        clock.move_to(timezone.now() + timedelta(hours=1), tick=False)
    grant = Grant.objects.get()
    assert (grant.state, grant.attempts) == (GrantState.FAILED, engine.MAX_ATTEMPTS)
    assert admin_api.get(TARGETS).json()["results"][0]["grants"]["failed"] == 1

    fixed = admin_api.patch(f"{TARGETS}{hook.pk}/", {"params": {"url": receiver.url}}, format="json")
    assert fixed.status_code == 200, fixed.content
    assert Grant.objects.get().state == GrantState.FAILED  # fixing the target alone retries nothing
    response = admin_api.post(f"{API}grants/{grant.pk}/retry/")

    assert response.status_code == 200, response.content
    assert (response.json()["state"], response.json()["attempts"], response.json()["seconds_to_grant"]) == (
        "pending", 0, None)  # fmt: skip
    assert AuditEvent.objects.filter(action="provisioning.retried", actor_username="pimadmin").count() == 1
    tasks.run_provisioning()
    assert Grant.objects.get().state == GrantState.GRANTED
    assert len(receiver.calls) == 1 and '"action":"grant"' in receiver.calls[0]


def test_a_failed_grant_set_by_hand_is_retried_to_granted(admin_api, alice_granted):
    members_before = members()
    Group.objects.get(name="mail-admins").user_set.clear()
    Grant.objects.filter(pk=alice_granted.pk).update(state=GrantState.FAILED, attempts=engine.MAX_ATTEMPTS,
                                                     last_error="it broke", granted_at=None)  # fmt: skip

    response = admin_api.post(f"{API}grants/{alice_granted.pk}/retry/")

    assert response.json()["state"] == "pending"
    tasks.run_provisioning()
    assert members() == members_before == ["alice"]


def test_a_grant_in_place_cannot_be_retried(admin_api, alice_granted):
    response = admin_api.post(f"{API}grants/{alice_granted.pk}/retry/")

    assert response.status_code == 409
    assert response.json() == {"detail": NOT_RETRYABLE % {"state": "granted"}, "code": "not_retryable"}
    assert Grant.objects.get().state == GrantState.GRANTED
    assert "provisioning.retried" not in provisioning_actions()


def test_retrying_a_grant_that_does_not_exist_is_a_404(admin_api):
    assert admin_api.post(f"{API}grants/424242/retry/").status_code == 404


# Drift -----------------------------------------------------------------------------------------


def test_checking_drift_now_lists_who_holds_the_role_there_without_pim(admin_api, alice_granted, target):
    Group.objects.get(name="mail-admins").user_set.add(UserFactory(username="mallory"))  # by hand, outside PIM

    response = admin_api.post(f"{TARGETS}{target.pk}/check-drift/")

    assert response.status_code == 200
    assert response.json() == {"outcomes": {"outside grant": 1}, "outside_grants": ["mallory"], "drift_error": "",
                               "drift_checked_at": "2026-11-22T09:00:00Z"}  # fmt: skip
    assert provisioning_actions()[-2:] == ["provisioning.outside_grant", "provisioning.drift_checked"]
    assert admin_api.get(f"{TARGETS}{target.pk}/").json()["outside_grants"] == ["mallory"]


def test_a_drift_check_that_cannot_reach_the_target_says_why(admin_api, pim_admin, exchange_admin, monkeypatch):
    monkeypatch.setenv(HOOK_SECRET, "a-shared-secret")
    hook = services.create_target(actor=pim_admin, role=exchange_admin, name="Mail system", kind="webhook",
                                  params={"url": CLOSED_PORT, "secret_variable": HOOK_SECRET,
                                          "list_url": CLOSED_PORT})  # fmt: skip

    response = admin_api.post(f"{TARGETS}{hook.pk}/check-drift/")

    assert response.status_code == 200
    assert response.json()["outcomes"] == {"unreachable": 1}
    assert response.json()["drift_error"].startswith(f"the holder list at {CLOSED_PORT} could not be read")


# Kinds -----------------------------------------------------------------------------------------


def test_the_kinds_are_listed_with_an_example_of_their_parameters(admin_api):
    response = admin_api.get(f"{API}target-kinds/")

    assert response.status_code == 200
    kinds = {row["key"]: row for row in response.json()}
    assert [row["label"] for row in response.json()] == ["Django group", "PostgreSQL role", "Webhook"]
    assert kinds["django_group"]["params_example"] == {"group": "finance-admins"}
    assert kinds["django_group"]["params_help"].endswith("while they hold the role.")
    assert set(kinds["webhook"]["params_example"]) == {"url", "secret_variable", "list_url"}
    assert kinds["postgres_role"]["params_example"]["role"] == "reporting_read"


# The caller's own grants -----------------------------------------------------------------------


def test_my_grants_show_when_access_is_real_on_each_target(
    clock, target, alice, bob, exchange_admin, django_capture_on_commit_callbacks
):
    assignment = hold(alice, exchange_admin, django_capture_on_commit_callbacks)
    hold(bob, exchange_admin, django_capture_on_commit_callbacks)
    client = api_client(alice)

    waiting = client.get(f"{API}me/grants/")
    clock.move_to(START + timedelta(seconds=5), tick=False)
    tasks.run_provisioning()
    real = client.get(f"{API}me/grants/")

    grant = Grant.objects.get(user=alice)
    mine = {"id": grant.pk, "role": "exchange-administrator", "role_name": "Exchange Administrator", "scope": "/",
            "assignment": assignment.pk, "target": "Mail admins group", "last_error": ""}  # fmt: skip
    assert waiting.json() == [mine | {"state": "pending", "granted_at": None, "seconds_to_grant": None}]
    assert real.json() == [mine | {"state": "granted", "granted_at": "2026-11-22T09:00:05Z", "seconds_to_grant": 5.0}]


def test_my_grants_never_show_another_users(
    clock, target, alice, carol, dave, exchange_admin, django_capture_on_commit_callbacks
):
    team = Group.objects.create(name="mail-team")
    team.user_set.add(alice, carol)
    hold(team, exchange_admin, django_capture_on_commit_callbacks)  # one assignment, a grant per member
    hold(carol, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert Grant.objects.count() == 3

    alice_sees = api_client(alice).get(f"{API}me/grants/").json()
    carol_sees = api_client(carol).get(f"{API}me/grants/").json()

    assert [row["id"] for row in alice_sees] == list(Grant.objects.filter(user=alice).values_list("pk", flat=True))
    assert sorted(row["id"] for row in carol_sees) == sorted(Grant.objects.filter(user=carol)
                                                            .values_list("pk", flat=True))  # fmt: skip
    assert len(carol_sees) == 2
    assert api_client(dave).get(f"{API}me/grants/").json() == []


def test_my_grants_end_with_the_assignment(clock, alice_granted, alice):
    ActiveAssignment.objects.filter(pk=alice_granted.assignment_id).update(end_at=START + timedelta(minutes=1))
    client = api_client(alice)
    assert len(client.get(f"{API}me/grants/").json()) == 1

    clock.move_to(START + timedelta(minutes=1), tick=False)

    assert client.get(f"{API}me/grants/").json() == []


# Query counts ----------------------------------------------------------------------------------

# The token with its user; the administrator check (administrators' endpoints only); the role or
# the target the list belongs to; the rows. A first call with the token is made beforehand: it
# also writes last_used_at.
TARGET_LIST_QUERIES = 4  # token, administrator, role, rows with their counts
GRANT_LIST_QUERIES = 4  # token, administrator, target, rows with users and scopes
MY_GRANTS_QUERIES = 3  # token, assignments in effect with roles and scopes, grants with targets
KINDS_QUERIES = 2  # token, administrator


@pytest.mark.parametrize("rows", [3, 30])
def test_the_target_list_takes_the_same_queries_for_3_targets_as_for_30(
    admin_api, pim_admin, exchange_admin, rows, django_assert_num_queries
):
    for n in range(rows):
        services.create_target(actor=pim_admin, role=exchange_admin, name=f"Group {n}", kind="django_group",
                               params={"group": f"group-{n}"})  # fmt: skip
    admin_api.get(f"{API}target-kinds/")

    with django_assert_num_queries(TARGET_LIST_QUERIES):
        response = admin_api.get(TARGETS, {"page_size": 200})
    with django_assert_num_queries(KINDS_QUERIES):
        admin_api.get(f"{API}target-kinds/")

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_the_grant_list_takes_the_same_queries_for_3_grants_as_for_30(
    admin_api, target, exchange_admin, rows, django_assert_num_queries, django_capture_on_commit_callbacks
):
    team = Group.objects.create(name="mail-team")
    team.user_set.add(*UserFactory.create_batch(rows))
    hold(team, exchange_admin, django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    admin_api.get(f"{API}target-kinds/")

    with django_assert_num_queries(GRANT_LIST_QUERIES):
        response = admin_api.get(f"{TARGETS}{target.pk}/grants/", {"page_size": 200})

    assert len(response.json()["results"]) == rows
    assert {row["state"] for row in response.json()["results"]} == {"granted"}


@pytest.mark.parametrize("rows", [3, 30])
def test_my_grants_take_the_same_queries_for_3_grants_as_for_30(
    clock, pim_admin, alice, exchange_admin, rows, django_assert_num_queries, django_capture_on_commit_callbacks
):
    for n in range(rows):
        services.create_target(actor=pim_admin, role=exchange_admin, name=f"Group {n}", kind="django_group",
                               params={"group": f"group-{n}"})  # fmt: skip
    hold(alice, exchange_admin, django_capture_on_commit_callbacks)
    hold(alice, Role.objects.get(slug="user-administrator"), django_capture_on_commit_callbacks)
    client = api_client(alice)
    client.get(f"{API}me/grants/")

    with django_assert_num_queries(MY_GRANTS_QUERIES):
        response = client.get(f"{API}me/grants/")

    assert len(response.json()) == rows
