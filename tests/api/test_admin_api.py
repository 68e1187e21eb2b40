"""Administration through /api/v1/: roles, role settings, scopes, eligible and active assignments,
and the audit log. The same services and rules as the /manage/ console, as JSON: bad input is a
400 naming the field, the rule and the range, and nothing changes; a state that forbids the change
is a 409; non-administrators get 403 on collections and 404 on objects; a token never proves a
second factor."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import record_event
from pimsite.api_audit import NEEDS_AUDIT_READER
from roles import mfa, rules, services
from roles.api import MFA_CODE_NEEDED, TIER_CHOICES
from roles.choices import ActiveSource
from roles.forms import EXPIRING_OUT_OF_RANGE, SLUG_TAKEN
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings, Scope
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.services import BUILTIN_READ_ONLY
from tests.api.conftest import START, api_client
from tests.conftest import current_code, verify_session
from tests.factories import (
    ActiveAssignmentFactory,
    EligibleAssignmentFactory,
    RoleFactory,
    ScopeFactory,
    UserFactory,
)

API = "/api/v1/"


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


def errors(response, field: str) -> list[str]:
    assert response.status_code == 400, response.content
    return response.json()["errors"][field]


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("sequence").values_list("action", flat=True))


@pytest.fixture
def exchange_eligibility(clock, alice) -> EligibleAssignment:
    """alice is eligible for Exchange Administrator at '/', permanently."""
    return EligibleAssignmentFactory(principal=alice, role=role("exchange-administrator"))


# Who may call ----------------------------------------------------------------------------------


def object_urls(eligibility: EligibleAssignment, active: ActiveAssignment) -> list[str]:
    return [
        f"{API}roles/exchange-administrator/",
        f"{API}roles/exchange-administrator/settings/",
        f"{API}eligible-assignments/{eligibility.pk}/",
        f"{API}active-assignments/{active.pk}/",
    ]


COLLECTIONS = ["roles/", "scopes/", "eligible-assignments/", "active-assignments/"]


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_anonymous_callers_get_401_on_every_collection(db, collection):
    response = APIClient().get(API + collection)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_anonymous_callers_get_401_on_objects_and_changes(db, exchange_eligibility):
    active = ActiveAssignmentFactory(role=role("user-administrator"))
    client = APIClient()

    for url in object_urls(exchange_eligibility, active):
        assert client.get(url).status_code == 401, url
    assert client.delete(f"{API}eligible-assignments/{exchange_eligibility.pk}/").status_code == 401
    assert client.post(f"{API}roles/", {"slug": "x", "name": "X", "tier": "high"}, format="json").status_code == 401
    assert EligibleAssignment.objects.get().ended_at is None


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_a_user_without_an_active_administrator_role_gets_403_on_collections(dave_api, collection):
    response = dave_api.get(API + collection)

    assert response.status_code == 403
    assert response.json() == {"detail": NEEDS_ACTIVE_ADMIN_ROLE, "code": "permission_denied"}


def test_a_user_without_an_active_administrator_role_gets_404_on_objects(dave_api, exchange_eligibility):
    active = ActiveAssignmentFactory(role=role("user-administrator"))

    for url in object_urls(exchange_eligibility, active):
        assert dave_api.get(url).status_code == 404, url  # that they exist is not told
    assert dave_api.delete(f"{API}eligible-assignments/{exchange_eligibility.pk}/").status_code == 404
    assert dave_api.patch(f"{API}roles/exchange-administrator/settings/", {"activation_max_minutes": 60},
                          format="json").status_code == 404  # fmt: skip
    assert EligibleAssignment.objects.get().ended_at is None
    assert RoleSettings.objects.get(role__slug="exchange-administrator").activation_max_minutes == 480


def test_being_eligible_for_privileged_role_administrator_is_not_enough(clock, carol):
    EligibleAssignmentFactory(principal=carol, role=role("privileged-role-administrator"))

    response = api_client(carol).post(f"{API}roles/", {"slug": "x", "name": "X", "tier": "high"}, format="json")

    assert response.status_code == 403
    assert not Role.objects.filter(slug="x").exists()


def test_a_token_made_only_for_access_checks_cannot_administer(clock, pim_admin):
    response = api_client(pim_admin, "check").get(f"{API}roles/")

    assert response.status_code == 403


def test_an_administrator_role_that_ends_closes_the_api_at_its_end_to_the_second(clock, carol):
    ActiveAssignmentFactory(principal=carol, role=role("privileged-role-administrator"),
                            end_at=START + timedelta(hours=1))  # fmt: skip
    client = api_client(carol)

    clock.move_to(START + timedelta(hours=1) - timedelta(seconds=1))
    assert client.get(f"{API}roles/").status_code == 200
    clock.move_to(START + timedelta(hours=1))
    assert client.get(f"{API}roles/").status_code == 403


def test_an_otp_verified_session_of_an_administrator_may_call(clock, pim_admin):
    client = APIClient()
    verify_session(client, pim_admin)

    assert client.get(f"{API}roles/").status_code == 200


# Roles -----------------------------------------------------------------------------------------


def test_the_role_list_shows_every_role_with_counts_of_assignments_in_effect(admin_api, exchange_eligibility):
    response = admin_api.get(f"{API}roles/", {"page_size": 200})

    assert response.status_code == 200
    by_slug = {row["slug"]: row for row in response.json()["results"]}
    assert set(by_slug) == set(Role.objects.values_list("slug", flat=True))
    assert by_slug["exchange-administrator"] | {"created_at": None} == {
        "slug": "exchange-administrator", "name": "Exchange Administrator", "tier": "high",
        "description": role("exchange-administrator").description, "is_builtin": True, "created_at": None,
        "eligible_permanent": 1, "eligible_time_bound": 0, "active_permanent": 0, "active_time_bound": 0,
    }  # fmt: skip
    assert by_slug["privileged-role-administrator"]["active_permanent"] == 1  # pim_admin


def test_creating_a_custom_role_gives_it_the_default_settings_and_one_audit_event(admin_api):
    response = admin_api.post(f"{API}roles/", {"slug": "db-operator", "name": "Database Operator", "tier": "high",
                                               "description": "Runs the databases."}, format="json")  # fmt: skip

    assert response.status_code == 201
    assert response.json()["slug"] == "db-operator"
    assert response.json()["is_builtin"] is False
    created = Role.objects.get(slug="db-operator")
    assert (created.name, created.tier, created.is_builtin) == ("Database Operator", "high", False)
    assert RoleSettings.objects.get(role=created).activation_max_minutes == 8 * 60
    assert AuditEvent.objects.filter(action="role.created", role="db-operator").count() == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"slug": "exchange-administrator", "name": "New", "tier": "high"}, "slug", SLUG_TAKEN),
        ({"slug": "new-role", "name": "New", "tier": "ultra"}, "tier", TIER_CHOICES),
        ({"slug": "new role", "name": "New", "tier": "high"}, "slug", None),
        ({"slug": "new-role", "name": "x" * 151, "tier": "high"}, "name", "Ensure this field has no more than 150"),
    ],
)
def test_a_bad_new_role_is_a_400_naming_the_field_and_creates_nothing(admin_api, body, field, message):
    before = Role.objects.count()

    response = admin_api.post(f"{API}roles/", body, format="json")

    assert errors(response, field)
    if message:
        assert errors(response, field)[0].startswith(message)
    assert Role.objects.count() == before
    assert "role.created" not in actions()


def test_a_custom_role_is_read_and_renamed(admin_api):
    custom = RoleFactory(slug="db-operator", name="Database Operator")

    assert admin_api.get(f"{API}roles/db-operator/").json()["name"] == "Database Operator"
    response = admin_api.patch(f"{API}roles/db-operator/", {"name": "DB Operator", "tier": "critical"},
                               format="json")  # fmt: skip

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["tier"]) == ("DB Operator", "critical")
    custom.refresh_from_db()
    assert (custom.name, custom.tier) == ("DB Operator", "critical")
    [event] = AuditEvent.objects.filter(action="role.updated")
    assert event.data["changes"]["name"] == ["Database Operator", "DB Operator"]


def test_a_built_in_role_cannot_be_renamed(admin_api):
    response = admin_api.patch(f"{API}roles/exchange-administrator/", {"name": "Mail Boss"}, format="json")

    assert errors(response, "non_field_errors") == [BUILTIN_READ_ONLY % {"role": "Exchange Administrator"}]
    assert role("exchange-administrator").name == "Exchange Administrator"


def test_an_unknown_role_is_404(admin_api):
    assert admin_api.get(f"{API}roles/no-such-role/").status_code == 404
    assert admin_api.get(f"{API}roles/no-such-role/settings/").status_code == 404


def test_an_unused_custom_role_is_deleted(admin_api):
    RoleFactory(slug="db-operator", name="Database Operator")

    response = admin_api.delete(f"{API}roles/db-operator/")

    assert response.status_code == 204
    assert not Role.objects.filter(slug="db-operator").exists()
    assert "role.deleted" in actions()


def test_a_built_in_role_is_not_deleted(admin_api):
    response = admin_api.delete(f"{API}roles/exchange-administrator/")

    assert errors(response, "non_field_errors") == [services.BUILTIN_NOT_DELETABLE % {"role": "Exchange Administrator"}]
    assert Role.objects.filter(slug="exchange-administrator").exists()


def test_a_custom_role_still_assigned_is_a_409(admin_api, alice):
    custom = RoleFactory(slug="db-operator", name="Database Operator")
    EligibleAssignmentFactory(principal=alice, role=custom)

    response = admin_api.delete(f"{API}roles/db-operator/")

    assert response.status_code == 409
    assert response.json() == {"detail": services.ROLE_IN_USE % {"role": "Database Operator"}, "code": "role_in_use"}
    assert Role.objects.filter(slug="db-operator").exists()


# Role settings ---------------------------------------------------------------------------------

SETTINGS = f"{API}roles/exchange-administrator/settings/"


def test_the_settings_show_every_setting_the_stages_by_name_and_all_nine_notification_rules(admin_api, bob):
    services.update_role_settings(actor=None, role=role("exchange-administrator"), changes={"require_approval": True},
                                  stages=[rules.StagePlan(approvers=(bob,), approver_groups=(
                                      Group.objects.create(name="mail-leads"),))])  # fmt: skip

    body = admin_api.get(SETTINGS).json()

    assert set(services.SETTINGS_FIELDS) < set(body)
    assert (body["role"], body["activation_max_minutes"], body["require_approval"]) == (
        "exchange-administrator", 480, True)  # fmt: skip
    assert body["approval_stages"] == [{
        "approvers": ["bob"], "approver_groups": ["mail-leads"], "approvals_required": 1, "timeout_minutes": 1440,
        "escalate_after_minutes": None, "escalation_approvers": [], "escalation_groups": [],
    }]  # fmt: skip
    assert len(body["notification_rules"]) == 9
    assert body["notification_rules"]["role.activated.approver"] == {
        "default_recipients": True, "additional_recipients": [], "critical_only": False}  # fmt: skip


def test_changing_some_settings_and_the_stages_saves_them_with_one_audit_event(admin_api, bob, carol):
    response = admin_api.patch(SETTINGS, {
        "activation_max_minutes": 120, "require_approval": True,
        "approval_stages": [{"approvers": ["bob", "carol"], "approvals_required": 2, "timeout_minutes": 240}],
        "notification_rules": {"role.activated.admin": {"additional_recipients": ["soc@example.com"]}},
    }, format="json")  # fmt: skip

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["activation_max_minutes"], body["require_approval"]) == (120, True)
    assert body["approval_stages"][0]["approvers"] == ["bob", "carol"]
    assert body["notification_rules"]["role.activated.admin"]["additional_recipients"] == ["soc@example.com"]
    saved = RoleSettings.objects.get(role__slug="exchange-administrator")
    assert (saved.activation_max_minutes, saved.require_approval, saved.require_mfa_on_activation) == (120, True, True)
    assert saved.notification_rules == {"role.activated.admin": {
        "default_recipients": True, "additional_recipients": ["soc@example.com"], "critical_only": False}}  # fmt: skip
    assert [(s.approvals_required, s.timeout_minutes) for s in saved.stages.all()] == [(2, 240)]
    [event] = AuditEvent.objects.filter(action="settings.updated")
    assert set(event.data["changes"]) == {"activation_max_minutes", "require_approval", "stages", "notification_rules"}


def test_stages_given_replace_all_and_other_settings_stay(admin_api, bob, carol):
    two_stages = [rules.StagePlan(approvers=(bob,)), rules.StagePlan(approvers=(bob,))]
    services.update_role_settings(actor=None, role=role("exchange-administrator"), changes={"require_approval": True},
                                  stages=two_stages)  # fmt: skip

    response = admin_api.patch(SETTINGS, {"approval_stages": [{"approvers": ["carol"]}]}, format="json")

    assert [stage["approvers"] for stage in response.json()["approval_stages"]] == [["carol"]]
    assert RoleSettings.objects.get(role__slug="exchange-administrator").require_approval is True


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"activation_max_minutes": 10}, "activation_max_minutes",
         "Activation maximum duration must be between 30 min and 24 h; it is 10 min."),
        ({"max_active_days": 4000}, "max_active_days",
         "Maximum active assignment duration must be between 1 day and 3650 days; it is 4000 days."),
        ({"require_approval": True}, "approval_stages", rules.APPROVERS_REQUIRED),
        ({"approval_stages": [{"approvers": ["bob"], "timeout_minutes": 30}]}, "approval_stages",
         "Stage 1: approval timeout must be between 1 h and 14 days; it is 30 min."),
        ({"approval_stages": [{"approvers": ["nobody"]}]}, "approval_stages.0.approvers",
         "No active user has the username 'nobody'."),
        ({"ticket_number_pattern": "^INC-(\\d+$"}, "ticket_number_pattern",
         "Ticket number pattern is not a valid regular expression"),
        ({"notification_rules": {"role.activated.admin": {"additional_recipients": ["not-an-address"]}}},
         "notification_rules", "Role activation alert (eligible members activate this role): 'not-an-address' is "
         "not an email address"),
        ({"notification_rules": {"role.nothing": {"critical_only": True}}}, "notification_rules",
         "Unknown notification rule role.nothing."),
    ],
)  # fmt: skip
def test_a_bad_setting_is_a_400_naming_the_rule_and_range_and_saves_nothing(admin_api, bob, body, field, message):
    response = admin_api.patch(SETTINGS, body, format="json")

    assert errors(response, field)[0].startswith(message), response.json()
    saved = RoleSettings.objects.get(role__slug="exchange-administrator")
    assert (saved.activation_max_minutes, saved.max_active_days, saved.require_approval) == (480, 180, False)
    assert (saved.stages.count(), saved.notification_rules, saved.ticket_number_pattern) == (0, {}, "")
    assert "settings.updated" not in actions()


def test_sending_the_settings_back_unchanged_writes_nothing(admin_api):
    body = admin_api.get(SETTINGS).json()

    response = admin_api.patch(SETTINGS, body, format="json")

    assert response.status_code == 200
    assert RoleSettings.objects.get(role__slug="exchange-administrator").notification_rules == {}
    assert "settings.updated" not in actions()


# Scopes ----------------------------------------------------------------------------------------


def test_creating_a_scope_creates_its_missing_parents_and_lists_them(admin_api):
    response = admin_api.post(f"{API}scopes/", {"path": "/subscriptions/prod", "name": "Production"}, format="json")

    assert response.status_code == 201
    assert response.json() == {"path": "/subscriptions/prod", "name": "Production", "parent": "/subscriptions",
                               "eligible_count": 0, "active_count": 0}  # fmt: skip
    assert Scope.objects.filter(path__in=["/subscriptions", "/subscriptions/prod"]).count() == 2
    assert actions().count("scope.created") == 2
    listed = {row["path"]: row for row in admin_api.get(f"{API}scopes/").json()["results"]}
    assert set(listed) == {"/", "/subscriptions", "/subscriptions/prod"}
    assert listed["/"]["active_count"] == 1  # pim_admin's Privileged Role Administrator


def test_an_existing_scope_is_answered_unchanged(admin_api):
    ScopeFactory(path="/subscriptions", name="Subscriptions")

    response = admin_api.post(f"{API}scopes/", {"path": "/subscriptions", "name": "Other"}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Subscriptions"
    assert "scope.created" not in actions()


@pytest.mark.parametrize("path", ["subscriptions", "/a//b", "/-a", "/" + "a" * 101])
def test_a_bad_scope_path_is_a_400_naming_the_rule(admin_api, path):
    response = admin_api.post(f"{API}scopes/", {"path": path}, format="json")

    assert errors(response, "path")[0].startswith("A scope path starts with '/' and is made of segments")
    assert list(Scope.objects.values_list("path", flat=True)) == ["/"]


# Eligible assignments --------------------------------------------------------------------------

ELIGIBLE = f"{API}eligible-assignments/"
ACTIVE = f"{API}active-assignments/"


def test_making_a_user_eligible_answers_the_assignment_and_audits_it(admin_api, alice):
    response = admin_api.post(ELIGIBLE, {"principal": "alice", "role": "exchange-administrator", "scope": "/",
                                         "end_at": "2027-01-01T00:00:00Z", "justification": "Mail migration"},
                              format="json")  # fmt: skip

    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in ("kind", "principal", "group", "role", "scope", "start_at", "end_at",
                                       "created_by", "ended_at")} == {
        "kind": "eligible", "principal": "alice", "group": None, "role": "exchange-administrator", "scope": "/",
        "start_at": "2026-11-22T09:00:00Z", "end_at": "2027-01-01T00:00:00Z", "created_by": "pimadmin",
        "ended_at": None,
    }  # fmt: skip
    assignment = EligibleAssignment.objects.get(pk=body["id"])
    assert (assignment.principal, assignment.justification) == (alice, "Mail migration")
    assert AuditEvent.objects.filter(action="assignment.created", principal=alice).count() == 1


def test_a_group_is_named_with_the_group_prefix(admin_api):
    helpdesk = Group.objects.create(name="helpdesk")

    response = admin_api.post(ELIGIBLE, {"principal": "group:helpdesk", "role": "helpdesk-administrator"},
                              format="json")  # fmt: skip

    assert response.status_code == 201
    assert (response.json()["principal"], response.json()["group"], response.json()["end_at"]) == (
        None, "helpdesk", None)  # fmt: skip
    assert EligibleAssignment.objects.get().group == helpdesk


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"principal": "nobody"}, "principal", "No account has the username 'nobody'"),
        ({"principal": "group:nobody"}, "principal", "No group is named 'nobody'"),
        ({"role": "no-such-role"}, "role", "No role has the slug 'no-such-role'"),
        ({"scope": "/nowhere"}, "scope", "No scope has the path '/nowhere'"),
        ({"end_at": "2026-11-22T08:00:00Z"}, "end_at",
         "The end (2026-11-22T08:00:00+00:00) must be after the start (2026-11-22T09:00:00+00:00)."),
        ({"end_at": "tomorrow"}, "end_at", "Datetime has wrong format."),
    ],
)  # fmt: skip
def test_a_bad_new_eligible_assignment_is_a_400_naming_the_field_and_creates_nothing(admin_api, alice, body, field,
                                                                                     message):  # fmt: skip
    good = {"principal": "alice", "role": "exchange-administrator", "scope": "/"}

    response = admin_api.post(ELIGIBLE, good | body, format="json")

    assert errors(response, field)[0].startswith(message), response.json()
    assert not EligibleAssignment.objects.exists()


def test_an_eligible_assignment_longer_than_the_role_allows_is_refused_naming_the_maximum(admin_api, alice):
    RoleSettings.objects.filter(role__slug="exchange-administrator").update(allow_permanent_eligible=False,
                                                                            max_eligible_days=30)  # fmt: skip
    body = {"principal": "alice", "role": "exchange-administrator"}

    permanent = admin_api.post(ELIGIBLE, body, format="json")
    too_long = admin_api.post(ELIGIBLE, body | {"end_at": "2027-01-01T09:00:00Z"}, format="json")

    assert errors(permanent, "end_at") == [
        "Exchange Administrator does not allow permanent eligible assignments; set an end at most 30 days after the "
        "start."
    ]
    assert errors(too_long, "end_at") == [
        "Exchange Administrator allows eligible assignments of at most 30 days; this one lasts 40.0 days."
    ]
    assert not EligibleAssignment.objects.exists()


def test_a_second_open_eligible_assignment_is_refused(admin_api, exchange_eligibility):
    response = admin_api.post(ELIGIBLE, {"principal": "alice", "role": "exchange-administrator"}, format="json")

    assert errors(response, "non_field_errors") == [
        "alice already has an open eligible assignment of Exchange Administrator at /; update or remove that one "
        "instead."
    ]
    assert EligibleAssignment.objects.count() == 1


@pytest.fixture
def listed_cast(clock, alice, bob, carol):
    """alice: eligible Exchange Administrator at '/', permanent; bob: User Administrator at
    /subscriptions/prod until in 10 days; the group helpdesk: Helpdesk Administrator at '/' until
    in 100 days; carol's ended one is never listed."""
    prod = ScopeFactory(path="/subscriptions/prod")
    EligibleAssignmentFactory(principal=alice, role=role("exchange-administrator"))
    EligibleAssignmentFactory(principal=bob, role=role("user-administrator"), scope=prod,
                              end_at=START + timedelta(days=10))  # fmt: skip
    EligibleAssignmentFactory(principal=None, group=Group.objects.create(name="helpdesk"),
                              role=role("helpdesk-administrator"), end_at=START + timedelta(days=100))  # fmt: skip
    EligibleAssignmentFactory(principal=carol, role=role("billing-administrator"), start_at=START - timedelta(days=2),
                              end_at=START - timedelta(days=1))  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"alice", "bob", None}),
        ({"role": "user-administrator"}, {"bob"}),
        ({"user": "alice"}, {"alice"}),
        ({"user": "helpdesk"}, {None}),
        ({"scope": "/subscriptions/prod"}, {"bob"}),
        ({"duration": "permanent"}, {"alice"}),
        ({"duration": "time-bound"}, {"bob", None}),
        ({"expiring": 30}, {"bob"}),
        ({"type": "active"}, {"alice", "bob", None}),  # the endpoint says which type
    ],
)
def test_each_filter_narrows_the_eligible_list(admin_api, listed_cast, query, expected):
    response = admin_api.get(ELIGIBLE, query)

    assert response.status_code == 200
    assert {row["principal"] for row in response.json()["results"]} == expected


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"expiring": 0}, "expiring", EXPIRING_OUT_OF_RANGE),
        ({"expiring": "soon"}, "expiring", EXPIRING_OUT_OF_RANGE),
        ({"duration": "forever"}, "duration", "Select a valid choice. forever is not one of the available choices."),
        ({"role": "no-such-role"}, "role", "Select a valid choice."),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(admin_api, listed_cast, query, field, message):
    response = admin_api.get(ACTIVE, query)

    assert errors(response, field)[0].startswith(message)


def test_an_eligible_assignment_is_read_its_end_moved_and_removed(admin_api, exchange_eligibility, time_machine):
    url = f"{ELIGIBLE}{exchange_eligibility.pk}/"

    assert admin_api.get(url).json()["end_at"] is None
    moved = admin_api.patch(url, {"end_at": "2026-12-22T09:00:00Z"}, format="json")
    assert moved.status_code == 200
    assert moved.json()["end_at"] == "2026-12-22T09:00:00Z"
    assert admin_api.patch(url, {}, format="json").json()["end_at"] == "2026-12-22T09:00:00Z"  # nothing given

    removed = admin_api.delete(url)

    assert removed.status_code == 204
    exchange_eligibility.refresh_from_db()
    assert (exchange_eligibility.ended_at, exchange_eligibility.end_reason) == (START, "removed")
    assert actions()[-2:] == ["assignment.updated", "assignment.removed"]
    assert admin_api.get(url).json()["ended_by"] == "pimadmin"


def test_removing_an_eligibility_ends_the_activations_made_from_it(admin_api, alice, exchange_eligibility):
    activated = ActiveAssignmentFactory(principal=alice, role=role("exchange-administrator"),
                                        source=ActiveSource.ACTIVATION, end_at=START + timedelta(hours=1))  # fmt: skip

    assert admin_api.delete(f"{ELIGIBLE}{exchange_eligibility.pk}/").status_code == 204

    activated.refresh_from_db()
    assert activated.ended_at == START


def test_removing_or_moving_an_ended_assignment_is_a_409(admin_api, exchange_eligibility):
    url = f"{ELIGIBLE}{exchange_eligibility.pk}/"
    assert admin_api.delete(url).status_code == 204
    count = AuditEvent.objects.count()

    again = admin_api.delete(url)
    moved = admin_api.patch(url, {"end_at": "2026-12-22T09:00:00Z"}, format="json")

    assert again.status_code == moved.status_code == 409
    assert again.json() == moved.json() == {"detail": services.ALREADY_ENDED, "code": "already_ended"}
    assert AuditEvent.objects.count() == count


def test_an_end_in_the_past_is_a_400_and_changes_nothing(admin_api, exchange_eligibility):
    response = admin_api.patch(f"{ELIGIBLE}{exchange_eligibility.pk}/", {"end_at": "2026-11-22T08:00:00Z"},
                               format="json")  # fmt: skip

    assert errors(response, "end_at") == [services.END_IN_PAST % {"end": "2026-11-22T08:00:00+00:00"}]
    exchange_eligibility.refresh_from_db()
    assert exchange_eligibility.end_at is None


def test_an_unknown_assignment_is_404(admin_api, exchange_eligibility):
    unknown = ActiveAssignment.objects.order_by("pk").last().pk + 1

    assert admin_api.get(f"{ACTIVE}{unknown}/").status_code == 404
    assert admin_api.delete(f"{ELIGIBLE}{exchange_eligibility.pk + 1}/").status_code == 404


# Active assignments ----------------------------------------------------------------------------


def active_body(**overrides) -> dict:
    """dave, Exchange Administrator (MFA and justification on active assignment) for 30 days."""
    return {"principal": "dave", "role": "exchange-administrator", "scope": "/", "end_at": "2026-12-22T09:00:00Z",
            "justification": "INC-4711 mail outage"} | overrides  # fmt: skip


def test_a_token_alone_does_not_satisfy_mfa_on_active_assignment(admin_api, dave):
    response = admin_api.post(ACTIVE, active_body(), format="json")

    assert errors(response, "otp") == [MFA_CODE_NEEDED % {"role": "Exchange Administrator"}]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_a_current_code_assigns_once_and_cannot_be_used_again(admin_api, pim_admin, dave, bob):
    code = current_code(pim_admin.totpdevice_set.get())

    response = admin_api.post(ACTIVE, active_body(otp=code), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["principal"], body["source"], body["via_group"]) == ("active", "dave", "admin", None)
    assert ActiveAssignment.objects.get(principal=dave).end_at == START + timedelta(days=30)
    assert "auth.mfa_verified" in actions()

    again = admin_api.post(ACTIVE, active_body(principal="bob", otp=code), format="json")

    assert errors(again, "otp") == [mfa.REUSED_OR_WRONG_CODE]
    assert not ActiveAssignment.objects.filter(principal=bob).exists()


def test_a_refused_assignment_does_not_spend_the_code(admin_api, pim_admin, dave):
    code = current_code(pim_admin.totpdevice_set.get())

    refused = admin_api.post(ACTIVE, active_body(otp=code, justification=""), format="json")
    granted = admin_api.post(ACTIVE, active_body(otp=code), format="json")

    assert errors(refused, "justification") == [
        "Exchange Administrator requires a justification for active assignments (1 to 500 characters)."
    ]
    assert granted.status_code == 201


def test_a_permanent_active_assignment_is_refused_naming_180_days(admin_api, pim_admin, dave):
    response = admin_api.post(ACTIVE, active_body(end_at=None, otp=current_code(pim_admin.totpdevice_set.get())),
                              format="json")  # fmt: skip

    assert errors(response, "end_at") == [
        "Exchange Administrator does not allow permanent active assignments; set an end at most 180 days after the "
        "start."
    ]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_a_role_without_mfa_on_active_assignment_needs_no_code(admin_api, dave):
    RoleSettings.objects.filter(role__slug="exchange-administrator").update(require_mfa_on_active_assignment=False)

    assert admin_api.post(ACTIVE, active_body(), format="json").status_code == 201


def test_a_sessions_recent_verification_counts_for_a_few_minutes(clock, pim_admin, dave):
    client = APIClient()
    verify_session(client, pim_admin)  # the code was entered at START

    clock.move_to(START + mfa.max_age() + timedelta(seconds=1))
    stale = client.post(ACTIVE, active_body(), format="json")
    clock.move_to(START + mfa.max_age())
    fresh = client.post(ACTIVE, active_body(), format="json")

    assert errors(stale, "otp") == [MFA_CODE_NEEDED % {"role": "Exchange Administrator"}]
    assert fresh.status_code == 201


def test_an_activations_end_is_its_holders_and_it_can_be_removed(admin_api, alice):
    activated = ActiveAssignmentFactory(principal=alice, role=role("exchange-administrator"),
                                        source=ActiveSource.ACTIVATION, end_at=START + timedelta(hours=1))  # fmt: skip
    url = f"{ACTIVE}{activated.pk}/"

    moved = admin_api.patch(url, {"end_at": "2026-11-22T12:00:00Z"}, format="json")
    removed = admin_api.delete(url)

    assert errors(moved, "end_at") == [services.ACTIVATION_END_FIXED]
    assert removed.status_code == 204
    activated.refresh_from_db()
    assert (activated.end_at, activated.ended_at) == (START + timedelta(hours=1), START)


def test_the_active_list_shows_activations_through_groups(admin_api, alice):
    helpdesk = Group.objects.create(name="helpdesk")
    alice.groups.add(helpdesk)
    ActiveAssignmentFactory(principal=alice, role=role("helpdesk-administrator"), source=ActiveSource.ACTIVATION,
                            via_group=helpdesk, end_at=START + timedelta(hours=1))  # fmt: skip

    rows = admin_api.get(ACTIVE, {"user": "alice"}).json()["results"]

    assert [(row["role"], row["source"], row["via_group"]) for row in rows] == [
        ("helpdesk-administrator", "activation", "helpdesk")]  # fmt: skip


# Audit events ----------------------------------------------------------------------------------

AUDIT = f"{API}audit-events/"


@pytest.mark.parametrize("slug", ["global-administrator", "privileged-role-administrator", "security-administrator",
                                  "security-reader"])  # fmt: skip
def test_the_audit_log_is_read_by_active_administrators_and_security_readers(clock, carol, slug):
    ActiveAssignmentFactory(principal=carol, role=role(slug))

    assert api_client(carol).get(AUDIT).status_code == 200


def test_the_audit_log_is_closed_to_everyone_else(clock, carol, dave):
    EligibleAssignmentFactory(principal=carol, role=role("security-reader"))  # eligible is not enough
    ActiveAssignmentFactory(principal=dave, role=role("security-reader"), scope=ScopeFactory(path="/subscriptions"))

    assert APIClient().get(AUDIT).status_code == 401
    for user in (carol, dave):
        response = api_client(user).get(AUDIT)
        assert response.status_code == 403
        assert response.json() == {"detail": NEEDS_AUDIT_READER, "code": "permission_denied"}


@pytest.fixture
def history(admin_api, alice, clock):
    """At START: alice made eligible for Exchange Administrator; at START + 1 h: the scope
    /subscriptions/prod (and /subscriptions); at START + 2 h: Exchange Administrator's settings."""
    admin_api.post(ELIGIBLE, {"principal": "alice", "role": "exchange-administrator"}, format="json")
    clock.move_to(START + timedelta(hours=1))
    admin_api.post(f"{API}scopes/", {"path": "/subscriptions/prod"}, format="json")
    clock.move_to(START + timedelta(hours=2))
    admin_api.patch(SETTINGS, {"activation_max_minutes": 60}, format="json")
    return admin_api


def listed_actions(client, **query) -> list[str]:
    response = client.get(AUDIT, query)
    assert response.status_code == 200, response.json()
    return [event["action"] for event in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"actor": "pimadmin"}, ["settings.updated", "scope.created", "scope.created", "assignment.created",
                                 "api_token.created"]),
        ({"principal": "alice"}, ["assignment.created"]),
        ({"role": "exchange-administrator"}, ["settings.updated", "assignment.created"]),
        ({"scope": "/subscriptions/prod"}, ["scope.created"]),
        ({"action": "scope.created"}, ["scope.created", "scope.created"]),
        ({"action": "assignment."}, ["assignment.created"]),
        ({"action": "assignment"}, []),  # without the dot: the exact action, and there is none
        ({"since": "2026-11-22T10:00:00Z"}, ["settings.updated", "scope.created", "scope.created"]),
        ({"until": "2026-11-22T10:00:00Z"}, ["assignment.created", "api_token.created"]),
        ({"since": "2026-11-22T11:00:00+01:00", "until": "2026-11-22T11:00:00Z"}, ["scope.created", "scope.created"]),
        ({"actor": "alice"}, []),
        ({"actor": ""}, ["settings.updated", "scope.created", "scope.created", "assignment.created",
                         "api_token.created"]),
    ],
)  # fmt: skip
def test_each_audit_filter_narrows_the_log(history, query, expected):
    assert listed_actions(history, **query) == expected


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "yesterday"}, "since", "Datetime has wrong format."),
        ({"until": "2026-13-01T00:00:00Z"}, "until", "Datetime has wrong format."),
        ({"since": "2026-11-22T10:00:00Z", "until": "2026-11-22T09:00:00Z"}, "until", "until must be after since."),
    ],
)
def test_a_bad_audit_filter_is_a_400_naming_the_parameter(admin_api, query, field, message):
    response = admin_api.get(AUDIT, query)

    assert errors(response, field)[0].startswith(message)


def test_the_audit_log_pages_newest_first_with_a_cursor(admin_api, pim_admin):
    for number in range(5):
        record_event(actor=pim_admin, action="test.happened", data={"number": number})

    pages, url = [], AUDIT + "?action=test.happened&page_size=2"
    while url:
        body = admin_api.get(url).json()
        pages.append([event["data"]["number"] for event in body["results"]])
        url = body["next"]

    assert pages == [[4, 3], [2, 1], [0]]
    first = admin_api.get(AUDIT, {"action": "test.happened", "page_size": 1}).json()["results"][0]
    newest = AuditEvent.objects.order_by("-sequence").first()
    assert first | {"occurred_at": None} == {
        "sequence": newest.sequence, "occurred_at": None, "actor": "pimadmin", "action": "test.happened",
        "target_type": "", "target_id": "", "principal": "", "role": "", "scope": "", "justification": "",
        "client_ip": None, "data": {"number": 4}, "hash": newest.hash, "prev_hash": newest.prev_hash,
    }  # fmt: skip


# Query counts ----------------------------------------------------------------------------------

# Each list: the token with its user, the caller's role check, the rows. A first call with the
# token is made beforehand: it also writes last_used_at (at most once a minute).
LIST_QUERIES = 3


def make_rows(kind: str, count: int, admin) -> None:
    """`count` rows of every shape the list shows: users' and groups' assignments, made by an
    administrator, activations through a group."""
    groups = [Group.objects.create(name=f"group-{n}") for n in range(2)]
    for n in range(count):
        user = UserFactory()
        scope = ScopeFactory(path=f"/subscriptions/sub{n}")
        if kind == "roles":
            EligibleAssignmentFactory(principal=user, role=RoleFactory())
        elif kind == "scopes":
            ActiveAssignmentFactory(principal=user, role=role("user-administrator"), scope=scope)
        elif kind == "eligible-assignments":
            holder = {"principal": None, "group": groups[n % 2]} if n % 3 == 0 else {"principal": user}
            EligibleAssignmentFactory(**holder, role=RoleFactory(), scope=scope, created_by=admin,
                                      end_at=START + timedelta(days=n + 1))  # fmt: skip
        elif kind == "active-assignments":
            user.groups.add(groups[n % 2])
            ActiveAssignmentFactory(principal=user, role=role("exchange-administrator"), scope=scope, created_by=admin,
                                    source=ActiveSource.ACTIVATION, via_group=groups[n % 2],
                                    end_at=START + timedelta(hours=1))  # fmt: skip
        elif kind == "audit-events":
            record_event(actor=admin, action="test.happened", principal=user, role="exchange-administrator")


@pytest.mark.parametrize("rows", [3, 30])
@pytest.mark.parametrize("kind", ["roles", "scopes", "eligible-assignments", "active-assignments", "audit-events"])
def test_a_list_takes_the_same_queries_for_3_rows_as_for_30(admin_api, pim_admin, kind, rows,
                                                            django_assert_num_queries):  # fmt: skip
    make_rows(kind, rows, pim_admin)
    admin_api.get(f"{API}{kind}/", {"page_size": 1})  # the token's last_used_at is written now

    with django_assert_num_queries(LIST_QUERIES):
        response = admin_api.get(f"{API}{kind}/", {"page_size": 200})

    assert response.status_code == 200
    assert len(response.json()["results"]) >= rows


def test_a_filtered_list_adds_one_query_for_the_role_filter(admin_api, pim_admin, django_assert_num_queries):
    make_rows("eligible-assignments", 5, pim_admin)
    admin_api.get(ELIGIBLE, {"page_size": 1})

    with django_assert_num_queries(LIST_QUERIES + 1):  # the filter form looks the role up
        admin_api.get(ELIGIBLE, {"role": "exchange-administrator", "user": "alice", "expiring": 30})


def test_a_disabled_account_is_not_assigned(admin_api):
    UserFactory(username="erin", is_active=False)

    response = admin_api.post(ELIGIBLE, {"principal": "erin", "role": "exchange-administrator"}, format="json")

    assert errors(response, "principal") == [
        "The account 'erin' is disabled; only active accounts can be made eligible."
    ]
    assert not EligibleAssignment.objects.exists()
