"""The workflow through /api/v1/: the same rules as the pages, as JSON. Bad input is a 400 naming
the field, the rule and the range; nothing changes; a token never proves a second factor."""

import pytest
from rest_framework.test import APIClient

from activations.choices import RequestStatus
from activations.models import ActivationRequest
from roles import services as role_services
from roles.models import ActiveAssignment, Role
from roles.rules import StagePlan
from roles.selectors import access_decision
from tests.activations.helpers import activate
from tests.api.conftest import START, api_client
from tests.conftest import current_code
from tests.factories import EligibleAssignmentFactory, ScopeFactory

REQUESTS = "/api/v1/activation-requests/"


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


@pytest.fixture
def alice_api(alice, clock):
    return api_client(alice)


@pytest.fixture
def exchange(alice, clock):
    """alice is eligible for Exchange Administrator at '/' (MFA and justification required)."""
    return EligibleAssignmentFactory(principal=alice, role=role("exchange-administrator"))


def ask(client, alice, **overrides):
    code = current_code(alice.totpdevice_set.get())
    body = {"role": "exchange-administrator", "scope": "/", "duration_minutes": 60,
            "justification": "INC-4711 mailbox restore", "otp": code} | overrides  # fmt: skip
    return client.post(REQUESTS, body, format="json")


def test_anonymous_callers_get_401(db):
    response = APIClient().get("/api/v1/me/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_lists_eligible_and_active_assignments(alice_api, exchange):
    body = alice_api.get("/api/v1/me/").json()

    assert body["username"] == "alice"
    [eligible] = body["eligible_assignments"]
    assert (eligible["role"], eligible["scope"], eligible["max_duration_minutes"]) == (
        "exchange-administrator",
        "/",
        480,
    )
    assert eligible["requires"] == {"mfa": True, "justification": True, "ticket": False, "approval": False}
    assert body["active_assignments"] == []


def test_activating_with_a_current_code_grants_the_role(alice_api, alice, exchange):
    response = ask(alice_api, alice)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["role"], body["scope"]) == (RequestStatus.PROVISIONED, "exchange-administrator", "/")
    assert body["end_at"] == "2026-11-22T10:00:00Z"
    assert access_decision(username="alice", role_slug="exchange-administrator", at=START).allowed


def test_a_token_alone_is_not_a_second_factor(alice_api, alice, exchange):
    response = ask(alice_api, alice, otp="")

    assert response.status_code == 400
    assert response.json()["errors"]["otp"][0].startswith(
        "Multifactor authentication is required to activate Exchange Administrator"
    )
    assert not ActivationRequest.objects.exists()


def test_a_code_is_single_use(alice_api, alice, exchange):
    code = current_code(alice.totpdevice_set.get())
    assert ask(alice_api, alice, otp=code).status_code == 201
    role_services.deactivate_assignment(actor=alice, assignment=ActiveAssignment.objects.get(principal=alice))

    again = ask(alice_api, alice, otp=code)

    assert again.status_code == 400
    assert "already used" in again.json()["errors"]["otp"][0]


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"duration_minutes": 600}, "duration_minutes", "can be activated for 30 min to 8 h; you asked for 10 h"),
        ({"duration_minutes": 0}, "duration_minutes", "greater than or equal to 1"),
        ({"justification": ""}, "justification", "requires a justification"),
        ({"role": "billing-administrator"}, "role", "You are not eligible for billing-administrator at /"),
        ({"scope": "/nowhere"}, "role", "You are not eligible for exchange-administrator at /nowhere"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    alice_api, alice, exchange, overrides, field, fragment
):
    response = ask(alice_api, alice, **overrides)

    assert response.status_code == 400
    assert any(fragment in message for message in response.json()["errors"][field]), response.json()
    assert not ActivationRequest.objects.exists()


def test_several_roles_at_once_all_or_nothing(alice_api, alice, exchange):
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"))
    code = current_code(alice.totpdevice_set.get())
    item = {"scope": "/", "duration_minutes": 60, "justification": "Onboarding batch", "otp": code}

    refused = alice_api.post(REQUESTS, [{"role": "exchange-administrator", **item},
                                        {"role": "security-reader", **item}], format="json")  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"1.role": ["You are not eligible for security-reader at / now; My roles "
                                                   "lists what you are eligible for."]}  # fmt: skip
    assert not ActivationRequest.objects.exists()

    granted = alice_api.post(REQUESTS, [{"role": "exchange-administrator", **item},
                                        {"role": "user-administrator", **item}], format="json")  # fmt: skip
    assert granted.status_code == 201
    assert sorted(r["role"] for r in granted.json()) == ["exchange-administrator", "user-administrator"]


@pytest.fixture
def with_approval(exchange, bob):
    only_bob = [StagePlan(approvers=(bob,))]
    role_services.update_role_settings(actor=None, role=role("exchange-administrator"),
                                       changes={"require_approval": True}, stages=only_bob)  # fmt: skip


def test_approval_through_the_api_and_no_self_approval(alice_api, alice, bob, with_approval):
    request_id = ask(alice_api, alice).json()["id"]

    own = alice_api.post(f"{REQUESTS}{request_id}/approve/", {}, format="json")
    assert own.status_code == 400
    assert own.json()["errors"]["non_field_errors"] == ["You cannot approve or deny your own request."]

    bob_api = api_client(bob)
    assert [r["id"] for r in bob_api.get("/api/v1/approvals/").json()] == [request_id]
    approved = bob_api.post(f"{REQUESTS}{request_id}/approve/", {"justification": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == RequestStatus.PROVISIONED

    again = bob_api.post(f"{REQUESTS}{request_id}/deny/", {"justification": "too late"}, format="json")
    assert again.status_code == 409
    assert again.json() == {"detail": "This request was already decided: it is granted.", "code": "already_decided"}


def test_a_denial_needs_a_justification(alice_api, alice, bob, with_approval):
    request_id = ask(alice_api, alice).json()["id"]

    response = api_client(bob).post(f"{REQUESTS}{request_id}/deny/", {}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["justification"]


def test_requests_of_others_are_404_and_own_can_be_listed_and_canceled(alice_api, alice, carol, with_approval):
    request_id = ask(alice_api, alice).json()["id"]

    assert api_client(carol).get(f"{REQUESTS}{request_id}/").status_code == 404
    assert api_client(carol).post(f"{REQUESTS}{request_id}/cancel/").status_code == 404
    listed = alice_api.get(REQUESTS, {"status": "pending_approval"}).json()
    assert [r["id"] for r in listed["results"]] == [request_id]
    assert alice_api.get(REQUESTS, {"status": "nonsense"}).status_code == 400

    canceled = alice_api.post(f"{REQUESTS}{request_id}/cancel/")
    assert canceled.json()["status"] == RequestStatus.CANCELED


def test_deactivate_and_extend(alice_api, alice, exchange):
    ask(alice_api, alice)
    assignment_id = alice_api.get("/api/v1/me/active-assignments/").json()["results"][0]["id"]

    too_long = alice_api.post(f"/api/v1/active-assignments/{assignment_id}/extend/",
                              {"duration_minutes": 480, "justification": "more"}, format="json")  # fmt: skip
    assert too_long.status_code == 400
    assert "at most 8 h in total" in too_long.json()["errors"]["duration_minutes"][0]

    ended = alice_api.post(f"/api/v1/active-assignments/{assignment_id}/deactivate/")
    assert ended.status_code == 200
    assert not access_decision(username="alice", role_slug="exchange-administrator", at=START).allowed


def test_another_users_active_assignment_is_404(alice_api, alice, bob, exchange):
    ask(alice_api, alice)
    assignment_id = ActiveAssignment.objects.get(principal=alice).pk

    assert api_client(bob).post(f"/api/v1/active-assignments/{assignment_id}/deactivate/").status_code == 404


def test_the_access_decision_for_other_applications(alice_api, alice, bob, exchange):
    ask(alice_api, alice)
    gateway = api_client(bob, "check")

    allowed = gateway.get("/api/v1/check/", {"user": "alice", "role": "exchange-administrator", "scope": "/mail"})
    held = ActiveAssignment.objects.get(principal=alice).pk
    assert allowed.json() == {"allowed": True, "until": "2026-11-22T10:00:00Z", "assignment": held, "via": "activation"}
    refused = gateway.get("/api/v1/check/", {"user": "alice", "role": "user-administrator"})
    reason = "alice holds no active user-administrator assignment at / or above"
    assert refused.json() == {"allowed": False, "reason": reason}
    assert gateway.get("/api/v1/check/", {"role": "user-administrator"}).json() == {
        "errors": {"user": ["This parameter is required."]}
    }
    assert alice_api.get("/api/v1/check/", {"user": "alice", "role": "x"}).status_code == 403  # no 'check' permission


@pytest.mark.parametrize("rows", [1, 12])
def test_list_endpoints_query_counts_do_not_grow_with_rows(alice, bob, clock, rows, django_assert_num_queries):
    exchange_admin = role("exchange-administrator")
    role_services.update_role_settings(actor=None, role=exchange_admin, changes={"require_approval": True},
                                       stages=[StagePlan(approvers=(bob,))])  # fmt: skip
    for index in range(rows):
        eligibility = EligibleAssignmentFactory(
            principal=alice, role=exchange_admin, scope=ScopeFactory(path=f"/s{index}")
        )
        activate(alice, eligibility)  # each waits for bob's approval
    alice_api, bob_api = api_client(alice), api_client(bob)
    for client in (alice_api, bob_api):
        client.get("/api/v1/me/")  # a token's first use writes last_used_at; later calls only read

    # The token (one query), then one per list: rows are joined in, and a cursor page needs no count.
    for client, url, listed in ((alice_api, "/api/v1/me/eligible-assignments/", rows),
                                (alice_api, "/api/v1/me/active-assignments/", 0),
                                (alice_api, REQUESTS, rows), (bob_api, "/api/v1/approvals/", rows)):  # fmt: skip
        with django_assert_num_queries(2):
            response = client.get(url)
        body = response.json()
        assert len(body["results"] if isinstance(body, dict) else body) == listed


def test_guessing_codes_is_throttled_with_retry_after(alice_api, alice, exchange):
    for _ in range(10):
        assert ask(alice_api, alice, otp="000000").status_code == 400

    throttled = ask(alice_api, alice)

    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert throttled.json()["code"] == "throttled"
    assert not ActivationRequest.objects.exists()
