"""The /manage/ assignment pages: list with filters, new assignment, detail and remove."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from roles import rules, services
from roles.mfa import REUSED_OR_WRONG_CODE
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.selectors import access_decision
from tests.conftest import current_code, verify_session, wrong_code
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory, UserFactory
from tests.manage.conftest import START

LIST = reverse("manage:assignments")
NEW = reverse("manage:assignment-create")
JUSTIFICATION = "INC-4711 helpdesk cover"


def role(slug: str) -> Role:
    return Role.objects.select_related("settings").get(slug=slug)


def new_assignment(**overrides) -> dict:
    """What an administrator types to make someone eligible for User Administrator at '/' for 30 days."""
    return {
        "principal": overrides.pop("principal").pk,
        "role": role("user-administrator").pk,
        "scope": ScopeFactory(path="/").pk,
        "kind": "eligible",
        "start_at": "2026-11-22T09:00",
        "end_at": "2026-12-22T09:00",
        "justification": JUSTIFICATION,
    } | overrides


def errors(response, field: str) -> list[str]:
    return list(response.context["form"].errors.get(field, []))


# Access ----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(LIST)

    assertRedirects(response, "/accounts/login/?next=%2Fmanage%2Fassignments%2F", fetch_redirect_response=False)


@pytest.mark.parametrize("url", [LIST, NEW, reverse("manage:scopes")])
def test_a_verified_user_without_an_active_administrator_role_is_refused(client, dave, url):
    # Rung 2: signed in with a code, but holds no active Privileged Role Administrator.
    EligibleAssignmentFactory(principal=dave, role=role("privileged-role-administrator"))
    verify_session(client, dave)

    response = client.get(url)

    assert response.status_code == 403


def test_a_pim_administrator_sees_the_assignments_page(manager_client):
    # Rung 3: the right user.
    response = manager_client.get(LIST)

    assertContains(response, "<h1>Assignments</h1>", html=True)
    assertContains(response, "New assignment")


# List and filters --------------------------------------------------------------------------


@pytest.fixture
def cast(clock, alice, bob, carol):
    """alice: eligible User Administrator at '/', permanent. bob: active Exchange Administrator at
    /mail until in 5 days. carol: eligible Exchange Administrator at /mail until in 60 days, and one
    removed eligible User Administrator that must not show."""
    mail = ScopeFactory(path="/mail")
    EligibleAssignmentFactory(principal=alice, role=role("user-administrator"), justification="Helpdesk lead")
    ActiveAssignmentFactory(principal=bob, role=role("exchange-administrator"), scope=mail,
                            end_at=START + timedelta(days=5), justification="Migration")  # fmt: skip
    EligibleAssignmentFactory(principal=carol, role=role("exchange-administrator"), scope=mail,
                              end_at=START + timedelta(days=60))  # fmt: skip
    EligibleAssignmentFactory(principal=carol, role=role("user-administrator"), ended_at=START,
                              end_reason="removed", start_at=START - timedelta(days=1))  # fmt: skip


def listed(response) -> list[tuple[str, str, str, str]]:
    """(user, role, scope, type) of each row shown."""
    return [(a.principal.username, a.role.name, a.scope.path, a.kind) for a in response.context["assignments"]]


def test_the_list_shows_assignments_not_ended_with_their_details(manager_client, cast):
    response = manager_client.get(LIST)

    assert ("bob", "Exchange Administrator", "/mail", "active") in listed(response)
    assert ("carol", "Exchange Administrator", "/mail", "eligible") in listed(response)
    assert ("alice", "User Administrator", "/", "eligible") in listed(response)
    assert ("carol", "User Administrator", "/", "eligible") not in listed(response)
    assertContains(response, "Permanent")
    assertContains(response, "Helpdesk lead")
    assertContains(response, "2026-11-27 09:00 UTC")  # bob's end
    assertContains(response, "Assigned by an administrator")  # bob's source


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"type": "active"}, {"bob", "pimadmin"}),
        ({"type": "eligible"}, {"alice", "carol"}),
        ({"role": "user-administrator"}, {"alice"}),
        ({"user": "carol"}, {"carol"}),
        ({"scope": "/mail"}, {"bob", "carol"}),
        ({"duration": "permanent"}, {"alice", "pimadmin"}),
        ({"duration": "time-bound"}, {"bob", "carol"}),
        ({"expiring": "7"}, {"bob"}),
        ({"expiring": "90", "type": "eligible"}, {"carol"}),
    ],
)
def test_each_filter_narrows_the_list(manager_client, cast, query, expected):
    response = manager_client.get(LIST, query)

    assert {user for user, *_ in listed(response)} == expected


@pytest.mark.parametrize("value", ["0", "366", "soon"])
def test_a_bad_expiring_value_is_ignored_with_a_message_naming_the_range(manager_client, cast, value):
    response = manager_client.get(LIST, {"expiring": value})

    assertContains(response, "Expiring within is a whole number of days from 1 to 365. That filter was ignored.")
    assert {user for user, *_ in listed(response)} == {"alice", "bob", "carol", "pimadmin"}


LIST_QUERIES = (
    8  # session, user, OTP device, administrator check, open alerts (nav), roles for the filter, eligible, active
)


@pytest.mark.parametrize("count", [1, 15])
def test_the_list_query_count_does_not_grow(manager_client, count, django_assert_max_num_queries):
    EligibleAssignmentFactory.create_batch(count, created_by=UserFactory(), scope=ScopeFactory(path="/mail"))
    ActiveAssignmentFactory.create_batch(count, end_at=START + timedelta(days=1))

    with django_assert_max_num_queries(LIST_QUERIES):
        response = manager_client.get(LIST)

    assert len(response.context["assignments"]) == 2 * count + 1  # and pim_admin's own


# New assignment ----------------------------------------------------------------------------


def test_making_dave_eligible_shows_in_the_list_in_his_roles_and_in_the_audit_log(manager_client, pim_admin, dave):
    response = manager_client.post(NEW, new_assignment(principal=dave), follow=True)

    assertContains(response, "dave is now eligible for User Administrator at /.")
    assert ("dave", "User Administrator", "/", "eligible") in listed(response)
    event = AuditEvent.objects.get(action="assignment.created")
    assert event.actor == pim_admin
    dave_client = Client()
    verify_session(dave_client, dave)
    assertContains(dave_client.get(reverse("activations:my-roles")), "User Administrator")


def test_the_form_shows_start_as_now_in_utc_and_says_so(manager_client):
    response = manager_client.get(NEW)

    assertContains(response, 'value="2026-11-22T09:00"')
    assertContains(response, "Date and time in UTC")


def test_an_entered_time_is_read_as_utc(manager_client, dave):
    manager_client.post(NEW, new_assignment(principal=dave, start_at="2026-11-23T10:30", end_at=""))

    assert EligibleAssignment.objects.get(principal=dave).start_at == START + timedelta(days=1, hours=1, minutes=30)


def test_a_permanent_active_assignment_is_refused_naming_180_days(manager_client, dave):
    response = manager_client.post(NEW, new_assignment(principal=dave, kind="active", end_at=""))

    assert errors(response, "end_at") == [
        "User Administrator does not allow permanent active assignments; set an end at most 180 days after the start."
    ]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_an_active_assignment_longer_than_allowed_is_refused(manager_client, dave):
    response = manager_client.post(NEW, new_assignment(principal=dave, kind="active", end_at="2027-11-22T09:00"))

    assert errors(response, "end_at") == [
        "User Administrator allows active assignments of at most 180 days; this one lasts 365.0 days."
    ]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_an_active_assignment_needs_a_justification(manager_client, dave):
    response = manager_client.post(NEW, new_assignment(principal=dave, kind="active", justification=" "))

    assert errors(response, "justification") == [rules.JUSTIFICATION_REQUIRED % {"role": "User Administrator"}]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_an_end_before_the_start_is_refused_beside_the_end(manager_client, dave):
    response = manager_client.post(NEW, new_assignment(principal=dave, end_at="2026-11-21T09:00"))

    assert errors(response, "end_at") == [
        "The end (2026-11-21T09:00:00+00:00) must be after the start (2026-11-22T09:00:00+00:00)."
    ]
    assert not EligibleAssignment.objects.filter(principal=dave).exists()


def test_a_second_open_assignment_of_the_same_role_and_scope_is_refused(manager_client, dave):
    EligibleAssignmentFactory(principal=dave, role=role("user-administrator"))

    response = manager_client.post(NEW, new_assignment(principal=dave))

    assertContains(response, services.ALREADY_ASSIGNED % {"principal": "dave", "kind": "eligible",
                                                           "role": "User Administrator", "scope": "/"})  # fmt: skip
    assert EligibleAssignment.objects.filter(principal=dave).count() == 1


def test_a_refusal_from_the_service_is_shown_on_the_form(manager_client, dave, monkeypatch):
    # The form's pre-check passed, but another administrator got there first.
    monkeypatch.setattr("roles.services.check_not_assigned", lambda *args, **kwargs: None)
    EligibleAssignmentFactory(principal=dave, role=role("user-administrator"))

    response = manager_client.post(NEW, new_assignment(principal=dave))

    assert response.status_code == 200
    assertContains(response, "dave already has an open eligible assignment of User Administrator at /")


def test_disabled_users_are_not_offered(manager_client, dave):
    UserFactory(username="gone", is_active=False)

    response = manager_client.get(NEW)

    assertContains(response, ">dave</option>")
    assertNotContains(response, ">gone</option>")


# Detail and remove -------------------------------------------------------------------------


def test_the_detail_page_shows_everything_and_a_remove_button(manager_client, pim_admin, dave):
    assignment = ActiveAssignmentFactory(principal=dave, role=role("user-administrator"), created_by=pim_admin,
                                         end_at=START + timedelta(days=3), justification=JUSTIFICATION)  # fmt: skip

    response = manager_client.get(reverse("manage:assignment", args=["active", assignment.pk]))

    for text in ("User Administrator", "dave", "Assigned by an administrator", "2026-11-25 09:00 UTC",
                 "In effect", "pimadmin", JUSTIFICATION):  # fmt: skip
        assertContains(response, text)
    assertContains(response, '<button type="submit">Remove</button>', html=True)


@pytest.mark.parametrize("kind", ["eligible", "pending", "Active"])
def test_an_unknown_kind_or_id_is_not_found(manager_client, dave, kind):
    assignment = ActiveAssignmentFactory(principal=dave, end_at=START + timedelta(days=1))

    # No eligible assignment has that id; the other kinds do not exist.
    assert manager_client.get(reverse("manage:assignment", args=[kind, assignment.pk])).status_code == 404
    assert manager_client.get(reverse("manage:assignment", args=["active", assignment.pk + 999])).status_code == 404


def test_removing_an_active_assignment_ends_daves_access(manager_client, pim_admin, dave):
    assignment = services.assign_active(actor=pim_admin, principal=dave, role=role("user-administrator"),
                                        scope=ScopeFactory(path="/"), start_at=START,
                                        end_at=START + timedelta(days=30), justification=JUSTIFICATION,
                                        mfa_verified_at=START)  # fmt: skip
    assert access_decision(username="dave", role_slug="user-administrator", at=START).allowed

    response = manager_client.post(reverse("manage:assignment-remove", args=["active", assignment.pk]), follow=True)

    assertContains(response, "Removed the active assignment of User Administrator at / from dave.")
    assert ("dave", "User Administrator", "/", "active") not in listed(response)
    assert AuditEvent.objects.filter(action="assignment.removed", actor=pim_admin).count() == 1
    assert not access_decision(username="dave", role_slug="user-administrator", at=START).allowed


def test_removing_an_ended_assignment_says_it_had_already_ended(manager_client, dave):
    assignment = EligibleAssignmentFactory(principal=dave, start_at=START - timedelta(days=2),
                                           end_at=START - timedelta(days=1))  # fmt: skip
    url = reverse("manage:assignment", args=["eligible", assignment.pk])

    response = manager_client.post(reverse("manage:assignment-remove", args=["eligible", assignment.pk]), follow=True)

    assertRedirects(response, url)
    assertContains(response, "This assignment had already ended; nothing was changed.")
    assertNotContains(response, '<button type="submit">Remove</button>', html=True)
    assert not AuditEvent.objects.filter(action="assignment.removed").exists()


def test_remove_only_accepts_post(manager_client, dave):
    assignment = EligibleAssignmentFactory(principal=dave)

    response = manager_client.get(reverse("manage:assignment-remove", args=["eligible", assignment.pk]))

    assert response.status_code == 405
    assert EligibleAssignment.objects.get(pk=assignment.pk).ended_at is None


# MFA on active assignment ------------------------------------------------------------------


def active_for_dave(dave, **overrides) -> dict:
    return new_assignment(principal=dave, kind="active", end_at="2026-11-23T09:00", **overrides)


def test_an_active_assignment_needs_a_fresh_code_when_the_role_requires_mfa(manager_client, pim_admin, dave, clock):
    clock.move_to(START + timedelta(minutes=11), tick=False)  # the sign-in code is too old by now

    response = manager_client.post(NEW, active_for_dave(dave))

    assert errors(response, "otp_token") == [
        "User Administrator requires multifactor authentication on active assignment: enter a current code from "
        "your authenticator app (a code you entered in the last 10 minutes counts too)."
    ]
    assert not ActiveAssignment.objects.filter(principal=dave).exists()


def test_a_wrong_code_is_refused_and_a_right_one_assigns(manager_client, pim_admin, dave, clock):
    clock.move_to(START + timedelta(minutes=11), tick=False)
    device = pim_admin.totpdevice_set.get()

    wrong = manager_client.post(NEW, active_for_dave(dave, otp_token=wrong_code(device)))
    assert errors(wrong, "otp_token") == [REUSED_OR_WRONG_CODE]
    clock.move_to(START + timedelta(minutes=11, seconds=2), tick=False)  # past the 1 s throttle after a wrong code

    right = manager_client.post(NEW, active_for_dave(dave, otp_token=current_code(device)), follow=True)
    assertContains(right, "dave is now active for User Administrator at /.")
    created = AuditEvent.objects.get(action="assignment.created", data__assignment_type="active")
    assert created.actor == pim_admin
    assert AuditEvent.objects.filter(action="auth.mfa_verified", actor=pim_admin).count() == 1


def test_within_minutes_of_the_last_code_no_new_code_is_asked(manager_client, dave, clock):
    clock.move_to(START + timedelta(minutes=9), tick=False)

    response = manager_client.post(NEW, active_for_dave(dave), follow=True)

    assertContains(response, "dave is now active for User Administrator at /.")


def test_a_role_without_mfa_on_active_assignment_needs_no_code(manager_client, dave, clock):
    services.update_role_settings(actor=None, role=role("user-administrator"),
                                  changes={"require_mfa_on_active_assignment": False})  # fmt: skip
    clock.move_to(START + timedelta(hours=2), tick=False)

    response = manager_client.post(NEW, active_for_dave(dave), follow=True)

    assertContains(response, "dave is now active for User Administrator at /.")
