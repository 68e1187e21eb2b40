"""Query budgets: every page and every API list endpoint that had no exact pinned query count
(none, or only a ceiling from django_assert_max_num_queries), or no proof that the count stays
the same however many rows it shows. tests/QUERY_BUDGETS.md lists every page and endpoint, and
where the others are pinned.

Each case builds its data twice, with 1 row and with MANY rows, through the factories and the
services, and asks for the page as the person who reads it. The count is exact
(django_assert_num_queries), and the same for both sizes. A count that grows with the rows is
an N+1: that case is marked xfail(strict) with the relation it queries per row, so fixing it
turns the mark into a failure and the budget gets written down.

Cast (tests/conftest.py): alice holds roles, bob approves and reviews, carol reads the audit log,
pim_admin administers PIM. The clock stands still at START (before pim_admin is made, so the
administrator's assignment is in effect)."""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains
from rest_framework.test import APIClient

from activations import services as activation_services
from activations.choices import Decision
from audit import alerts, outbox
from audit.models import Alert, AlertStatus, Webhook
from audit.services import record_event
from pimsite.services import create_api_token
from roles import services as role_services
from roles.models import BreakGlassAccount, Role
from roles.provisioning import services as provisioning_services
from roles.provisioning.groups import bring_group_under_pim
from roles.provisioning.tasks import run_provisioning
from roles.reviews import services as review_services
from roles.reviews.choices import Recurrence, ReviewDecision
from roles.rules import MAX_STAGES, StagePlan
from tests.activations.pages.helpers import activate_url, signed_in
from tests.api.conftest import api_client
from tests.conftest import make_user
from tests.factories import (
    ActiveAssignmentFactory,
    EligibleAssignmentFactory,
    RoleFactory,
    ScopeFactory,
    UserFactory,
)
from tests.reviews.conftest import review_values

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
MANY = 15
JUSTIFICATION = "INC-4711 restore the CEO's mailbox"


@dataclass(frozen=True)
class Visit:
    """What a case built: who asks, for which URL, and a text the response shows only when the
    last of the rows is listed (None: the page lists no rows of its own)."""

    client: Client
    url: str
    shows: str | None = None


@dataclass(frozen=True)
class Budget:
    """A page's pinned count, how to build its rows, and, for an N+1, what it queries per row."""

    queries: int
    build: Callable[[SimpleNamespace, int], Visit]
    status: int = 200
    n_plus_one: str = ""


def cases(budgets: dict[str, Budget]):
    """Each budget with 1 row and with MANY; an N+1's MANY case is expected to fail."""
    for name, budget in budgets.items():
        for rows in (1, MANY):
            marks = []
            if budget.n_plus_one and rows == MANY:
                marks = [pytest.mark.xfail(strict=True, reason=f"N+1: {budget.n_plus_one}")]
            yield pytest.param(budget, rows, id=f"{name}-{rows}", marks=marks)


@pytest.fixture
def clock(time_machine):
    """Stop the clock at START; requested before pim_admin (see the module's docstring)."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def cast(clock, alice, bob, carol, pim_admin, django_capture_on_commit_callbacks):
    return SimpleNamespace(
        alice=alice, bob=bob, carol=carol, pim_admin=pim_admin, capture=django_capture_on_commit_callbacks
    )


def check(visit: Visit, budget: Budget, assert_num_queries) -> None:
    with assert_num_queries(budget.queries):
        response = visit.client.get(visit.url)
    assert response.status_code == budget.status
    if visit.shows is not None:
        assertContains(response, visit.shows, status_code=budget.status)


# Building rows -------------------------------------------------------------------------------


def builtin(slug: str) -> Role:
    return Role.objects.select_related("settings").get(slug=slug)


GROUP_NUMBERS = itertools.count()


def holder(number: int) -> dict:
    """Rows of both shapes: a user holds the first, a group the second, and so on."""
    if number % 2 == 0:
        return {"principal": UserFactory()}
    return {"principal": None, "group": Group.objects.create(name=f"holders {next(GROUP_NUMBERS)}")}


def own_roles(user, n: int) -> list:
    """`user` eligible for n custom roles, each at its own scope, every second one through a
    group they are a member of: what the navigation and the pages without rows of their own read
    around the row they show."""
    eligibilities = []
    for number in range(n):
        held = holder(number)
        if "group" in held:
            user.groups.add(held["group"])
        else:
            held = {"principal": user}
        eligibilities.append(EligibleAssignmentFactory(**held, role=RoleFactory(), scope=ScopeFactory()))
    return eligibilities


def activate(user, eligibility):
    """What the activate page does with a valid answer: 1 h from now, a justification, a code."""
    [request] = activation_services.request_activation(
        actor=user,
        eligibilities=[eligibility],
        duration=timedelta(hours=1),
        justification=JUSTIFICATION,
        mfa_verified_at=START,
    )
    return request


def activated_roles(user, n: int) -> list:
    """`user` eligible for n custom roles, and each activated: n eligible, n active, n requests."""
    return [activate(user, eligibility) for eligibility in own_roles(user, n)]


def needs_bobs_approval(role: Role, bob) -> Role:
    role_services.update_role_settings(
        actor=None, role=role, changes={"require_approval": True}, stages=[StagePlan(approvers=(bob,))]
    )
    return role


def waiting_for_bob(cast, n: int) -> list:
    """n of alice's Exchange Administrator requests, each at its own scope, waiting for bob."""
    role = needs_bobs_approval(builtin("exchange-administrator"), cast.bob)
    return [
        activate(cast.alice, EligibleAssignmentFactory(principal=cast.alice, role=role, scope=ScopeFactory()))
        for _ in range(n)
    ]


def targets_of(role: Role, n: int, *, actor) -> list:
    """n Django-group provisioning targets of `role`."""
    return [
        provisioning_services.create_target(
            actor=actor, role=role, name=f"Group {number}", kind="django_group", params={"group": f"group-{number}"}
        )
        for number in range(n)
    ]


def review_of(cast, **overrides):
    return review_services.create_review(actor=cast.pim_admin, values=review_values(**overrides))


def started(review):
    occurrence = review.occurrences.get(number=1)
    assert review_services.start_occurrence(occurrence_id=occurrence.pk, now=START + timedelta(seconds=1))
    occurrence.refresh_from_db()
    return occurrence


def ran_weekly(cast, n: int):
    """A weekly review whose first n occurrences ran and ended (the next one is planned)."""
    EligibleAssignmentFactory(principal=cast.alice, role=builtin("exchange-administrator"))
    review = review_of(cast, reviewers=[cast.bob], recurrence=Recurrence.WEEKLY, duration_days=3)
    for number in range(1, n + 1):
        occurrence = review.occurrences.get(number=number)
        assert review_services.start_occurrence(occurrence_id=occurrence.pk, now=occurrence.starts_at)
        assert review_services.close_occurrence(occurrence_id=occurrence.pk, now=occurrence.ends_at)
    return review


def make_alert(number: int, **values) -> Alert:
    return Alert.objects.create(
        rule_key=f"test_rule_{number}",
        severity="high",
        first_seen=START - timedelta(hours=number),
        last_seen=START - timedelta(hours=number),
        items=[{"key": f"k{number}", "label": f"Item {number}", "fix": False}],
        **values,
    )


def reader(cast):
    """carol, holding an active Security Reader assignment at '/': she reads the log and alerts."""
    ActiveAssignmentFactory(principal=cast.carol, role=builtin("security-reader"))
    return signed_in(cast.carol)


# Accounts and the site's own pages -----------------------------------------------------------


def login_page(cast, n):
    UserFactory.create_batch(n)
    return Visit(Client(), reverse("accounts:login"))


def verify_page(cast, n):
    own_roles(cast.alice, n)
    client = Client()
    client.force_login(cast.alice)  # password given, code not yet
    return Visit(client, reverse("accounts:verify"))


def enrol_page(cast, n):
    erin = UserFactory(username="erin")  # no authenticator app yet
    own_roles(erin, n)
    client = Client()
    client.force_login(erin)
    return Visit(client, reverse("accounts:enrol"))


def password_page(cast, n):
    own_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), reverse("accounts:password"))


def home_page(cast, n):
    requests = activated_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), reverse("home"), shows=requests[-1].role.name)


def notifications_page(cast, n):
    for number in range(n):
        outbox.queue(
            rule="activation.notice",
            recipients=[cast.alice],
            subject=f"[PIM] Notice {number}",
            body="",
            link="https://pim.example.com/requests/7/",
        )
    return Visit(signed_in(cast.alice), reverse("accounts:notifications"), shows=f"[PIM] Notice {n - 1}")


def tokens_page(cast, n):
    for number in range(n):
        create_api_token(actor=cast.alice, name=f"deploy script {number}", permissions=["api"])
    return Visit(signed_in(cast.alice), reverse("account-tokens"), shows=f"deploy script {n - 1}")


def admin_refused_page(cast, n):
    own_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), reverse("admin-refused"))


def api_docs_page(cast, n):
    own_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), reverse("api-docs"))


# In the counts below, "3" is the session, the user and their OTP device, read on every signed-in
# page; "nav" is the navigation's role check (acts_as_audit_reader, which also answers
# "administrator?"); "alerts" is the open-alert count the navigation shows readers and administrators.
SITE_PAGES = {
    "login": Budget(0, login_page),  # no session yet: the form reads nothing (rows: user accounts)
    "verify": Budget(3, verify_page),  # session, user, their confirmed authenticator apps; no navigation yet
    # session, user, confirmed authenticator and backup-code devices (none), then the pending device
    # the QR code shows, made on this first visit: savepoint, look-up, insert, release
    "enrol": Budget(8, enrol_page),
    "password": Budget(4, password_page),  # 3, nav
    "home": Budget(7, home_page),  # 3, eligible count, requests waiting for you (count), nav, active roles
    "notifications": Budget(6, notifications_page),  # 3, the paginator's count, nav, the page of messages
    "api-tokens": Budget(5, tokens_page),  # 3, nav, the tokens
    "admin-refused": Budget(4, admin_refused_page, status=403),  # 3, nav
    "api-docs": Budget(0, api_docs_page),  # Swagger UI's page is static; the browser fetches the schema
}


@pytest.mark.parametrize(("budget", "rows"), cases(SITE_PAGES))
def test_the_sites_own_pages_take_the_same_queries_for_1_row_as_for_many(cast, budget, rows, django_assert_num_queries):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# Activations ---------------------------------------------------------------------------------


def my_roles_page(cast, n):
    requests = activated_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), reverse("activations:my-roles"), shows=requests[-1].role.name)


def activate_page(cast, n):
    eligibilities = own_roles(cast.alice, n)
    return Visit(signed_in(cast.alice), activate_url(*eligibilities), shows=eligibilities[-1].role.name)


def approvals_page(cast, n):
    requests = waiting_for_bob(cast, n)
    return Visit(signed_in(cast.bob), reverse("activations:approvals"), shows=requests[-1].scope.path)


def approvals_page_with_changes(cast, n):
    """pim_admin's inbox: alice asks to extend n eligible assignments ending within 14 days."""
    asked = []
    for _ in range(n):
        eligibility = EligibleAssignmentFactory(
            principal=cast.alice, role=RoleFactory(), scope=ScopeFactory(), end_at=START + timedelta(days=7)
        )
        asked.append(
            activation_services.request_extension(actor=cast.alice, assignment=eligibility, justification=JUSTIFICATION)
        )
    return Visit(signed_in(cast.pim_admin), reverse("activations:approvals"), shows=asked[-1].role.name)


def approvals_history_page(cast, n):
    requests = waiting_for_bob(cast, n)
    for request in requests:
        activation_services.decide_request(actor=cast.bob, request=request, decision=Decision.APPROVE)
    # The history names the role, the same for every row; each row links to its request.
    shows = f'href="{reverse("activations:request", args=[requests[-1].pk])}"'
    return Visit(signed_in(cast.bob), reverse("activations:approvals") + "?tab=history", shows=shows)


def request_page(cast, n):
    """alice's activation of a role that provisions n targets, granted."""
    exchange = builtin("exchange-administrator")
    targets_of(exchange, n, actor=cast.pim_admin)
    with cast.capture(execute=True):
        request = activate(cast.alice, EligibleAssignmentFactory(principal=cast.alice, role=exchange))
    run_provisioning()
    return Visit(signed_in(cast.alice), reverse("activations:request", args=[request.pk]), shows=f"Group {n - 1}")


def extend_activation_page(cast, n):
    requests = activated_roles(cast.alice, n)
    url = reverse("activations:extend-activation", args=[requests[-1].assignment_id])
    return Visit(signed_in(cast.alice), url, shows=requests[-1].role.name)


def request_extension_page(cast, n):
    own_roles(cast.alice, n)
    ending = EligibleAssignmentFactory(
        principal=cast.alice, role=builtin("user-administrator"), end_at=START + timedelta(days=7)
    )
    url = reverse("activations:request-extension", args=["eligible", ending.pk])
    return Visit(signed_in(cast.alice), url, shows="User Administrator")


def request_renewal_page(cast, n):
    own_roles(cast.alice, n)
    expired = EligibleAssignmentFactory(
        principal=cast.alice,
        role=builtin("user-administrator"),
        start_at=START - timedelta(days=60),
        end_at=START - timedelta(days=3),
    )
    url = reverse("activations:request-renewal", args=["eligible", expired.pk])
    return Visit(signed_in(cast.alice), url, shows="User Administrator")


ACTIVATION_PAGES = {
    # 3, requests, eligible roles (held and pending as EXISTS), recently expired eligible and active
    # assignments (to renew, one UNION), active roles (whether they have grants as EXISTS), nav. Their
    # grants on targets are one more query when there are any (test_provisioning_state.py).
    # (test_my_roles_page.py has a ceiling of 9 for a fuller page.)
    "my-roles": Budget(8, my_roles_page),
    "activate": Budget(5, activate_page),  # 3, the chosen eligibilities with their settings, nav
    # 3, administrator check (the changes section), nav, the pending requests (stage progress as subqueries)
    "approvals": Budget(6, approvals_page),
    # 3, administrator check, assignment_changes_for's own administrator check, alerts, pending
    # requests, extend and renew requests with their assignments
    "approvals-with-changes": Budget(8, approvals_page_with_changes),
    "approvals-history": Budget(6, approvals_history_page),  # 3, nav, pending (the tab's count), decisions
    # 3, the request (joined, with its stage progress), may the viewer decide, its grants, nav,
    # approvals, timeline (test_provisioning_state.py has the same as a ceiling)
    "request": Budget(9, request_page),
    # 3, the assignment with its settings, its eligibility, that eligibility's role and settings, nav
    "extend-activation": Budget(8, extend_activation_page),
    "request-extension": Budget(5, request_extension_page),  # 3, the assignment with its settings, nav
    "request-renewal": Budget(5, request_renewal_page),  # 3, the assignment with its settings, nav
}


@pytest.mark.parametrize(("budget", "rows"), cases(ACTIVATION_PAGES))
def test_the_activation_pages_take_the_same_queries_for_1_row_as_for_many(
    cast, budget, rows, django_assert_num_queries
):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# Audit log and alerts ------------------------------------------------------------------------


def my_events_page(cast, n):
    for number in range(n):
        record_event(actor=cast.alice, action="test.happened", principal=cast.alice, role=f"custom-role-{number}")
    return Visit(signed_in(cast.alice), reverse("audit:mine"), shows=f"custom-role-{n - 1}")


def event_page(cast, n):
    for number in range(n):
        record_event(actor=cast.alice, action="test.happened", principal=cast.alice, role=f"custom-role-{number}")
    request = activate(cast.alice, EligibleAssignmentFactory(principal=cast.alice, role=RoleFactory()))
    event = record_event(actor=cast.alice, action="test.looked_at", target=request)
    return Visit(signed_in(cast.alice), reverse("audit:event", args=[event.sequence]), shows="test.looked_at")


def alerts_page(cast, n):
    for number in range(n):
        dismissed = {
            "status": AlertStatus.DISMISSED,
            "dismissed_by": cast.pim_admin,
            "dismiss_reason": "Known",
            "dismissed_until": START + timedelta(days=1),
        }
        make_alert(number, **(dismissed if number % 2 else {}))
    return Visit(reader(cast), reverse("alerts:list"), shows=f"test_rule_{n - 1}")


def alert_settings_page(cast, n):
    changes = {rule.key: {"enabled": False, "thresholds": {}} for rule in alerts.rules()[:n]}
    alerts.update_settings(actor=cast.pim_admin, changes=changes)
    return Visit(signed_in(cast.pim_admin), reverse("alerts:settings"))


AUDIT_PAGES = {
    "audit-mine": Budget(5, my_events_page),  # 3, a page of events (keyset, no count), nav
    "audit-event": Budget(5, event_page),  # 3, the event, nav
    "alerts": Budget(6, alerts_page),  # 3, nav, alerts with who dismissed them, alerts
    "alert-settings": Budget(6, alert_settings_page),  # 3, administrator check, the saved settings, alerts
}


@pytest.mark.parametrize(("budget", "rows"), cases(AUDIT_PAGES))
def test_the_audit_and_alert_pages_take_the_same_queries_for_1_row_as_for_many(
    cast, budget, rows, django_assert_num_queries
):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# Downloads: streamed, so the count covers reading the whole body -------------------------------


def audit_export(url_name: str):
    def build(cast, n):
        for number in range(n):
            record_event(actor=cast.alice, action="test.happened", principal=cast.alice, role=f"custom-role-{number}")
        return Visit(reader(cast), reverse(url_name), shows=f"custom-role-{n - 1}")

    return build


def assignments_export(cast, n):
    eligible = eligible_and_active(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:assignment-export"), shows=eligible[-1].role.slug)


DOWNLOADS = {
    # session, user, OTP device, the audit reader check, then the events by one streaming cursor
    "audit-export-csv": Budget(5, audit_export("audit:export-csv")),
    "audit-export-jsonl": Budget(5, audit_export("audit:export-jsonl")),
    # session, user, OTP device, the administrator check, the assignments by one streaming query
    "assignments-export-csv": Budget(5, assignments_export),
}


@pytest.mark.parametrize(("budget", "rows"), cases(DOWNLOADS))
def test_the_downloads_take_the_same_queries_for_1_row_as_for_many(cast, budget, rows, django_assert_num_queries):
    visit = budget.build(cast, rows)
    with django_assert_num_queries(budget.queries):
        response = visit.client.get(visit.url)
        body = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    assert visit.shows in body


# The /manage/ console ------------------------------------------------------------------------


def assigned_roles(n: int) -> list[Role]:
    """n custom roles, each with an eligible and a time-bound active assignment in effect."""
    roles = RoleFactory.create_batch(n)
    for role in roles:
        EligibleAssignmentFactory(role=role, scope=ScopeFactory())
        ActiveAssignmentFactory(role=role, end_at=START + timedelta(hours=1))
    return roles


def roles_page(cast, n):
    roles = assigned_roles(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:roles"), shows=roles[-1].name)


def role_create_page(cast, n):
    assigned_roles(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:role-create"))


def role_edit_page(cast, n):
    role = RoleFactory()
    EligibleAssignmentFactory.create_batch(n, role=role)
    return Visit(signed_in(cast.pim_admin), reverse("manage:role-edit", args=[role.slug]), shows=role.name)


def builtin_role_page(cast, n):
    EligibleAssignmentFactory.create_batch(n, role=builtin("exchange-administrator"))
    url = reverse("manage:role-edit", args=["exchange-administrator"])
    return Visit(signed_in(cast.pim_admin), url, shows="Exchange Administrator")


def role_delete_page(cast, n):
    role = RoleFactory()
    EligibleAssignmentFactory.create_batch(n, role=role)
    return Visit(signed_in(cast.pim_admin), reverse("manage:role-delete", args=[role.slug]), shows=role.name)


def role_settings_page(cast, n):
    """A role approved in min(n, MAX_STAGES) stages (the page's rows; MANY is MAX_STAGES here),
    each by n users and n groups."""
    role = RoleFactory()
    approvers = tuple(UserFactory.create_batch(n))
    groups = tuple(Group.objects.create(name=f"approvers {number}") for number in range(n))
    stages = [StagePlan(approvers=approvers, approver_groups=groups) for _ in range(min(n, MAX_STAGES))]
    role_services.update_role_settings(actor=None, role=role, changes={"require_approval": True}, stages=stages)
    url = reverse("manage:role-settings", args=[role.slug])
    return Visit(signed_in(cast.pim_admin), url, shows=approvers[-1].username)


def eligible_and_active(n: int) -> list:
    """n holders, each eligible for a role and active in it for a day; the eligibilities."""
    scope, creator = ScopeFactory(), UserFactory()
    eligible = [EligibleAssignmentFactory(**holder(number), created_by=creator, scope=scope) for number in range(n)]
    for number in range(n):
        ActiveAssignmentFactory(**holder(number), end_at=START + timedelta(days=1))
    return eligible


def assignments_page(cast, n):
    eligible = eligible_and_active(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:assignments"), shows=eligible[-1].role.name)


def assignment_create_page(cast, n):
    assigned_roles(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:assignment-create"))


def assignment_import_page(cast, n):
    assigned_roles(n)
    return Visit(signed_in(cast.pim_admin), reverse("manage:assignment-import"))


def eligible_assignment_page(cast, n):
    assigned_roles(n)
    assignment = EligibleAssignmentFactory(principal=cast.alice, role=RoleFactory(), created_by=cast.pim_admin)
    url = reverse("manage:assignment", args=["eligible", assignment.pk])
    return Visit(signed_in(cast.pim_admin), url, shows=assignment.role.name)


def active_assignment_page(cast, n):
    assigned_roles(n)
    [request] = activated_roles(cast.alice, 1)
    url = reverse("manage:assignment", args=["active", request.assignment_id])
    return Visit(signed_in(cast.pim_admin), url, shows=request.role.name)


def scopes_page(cast, n):
    scopes = [ScopeFactory(path=f"/subscriptions/sub{number}") for number in range(n)]
    for scope in scopes:
        EligibleAssignmentFactory(scope=scope)
        ActiveAssignmentFactory(scope=scope)
    return Visit(signed_in(cast.pim_admin), reverse("manage:scopes"), shows=scopes[-1].path)


def break_glass_page(cast, n):
    accounts = [
        BreakGlassAccount.objects.create(
            user=make_user(f"emergency{number}"), reason="Sealed envelope", flagged_by=cast.pim_admin
        )
        for number in range(n)
    ]
    return Visit(signed_in(cast.pim_admin), reverse("manage:break-glass"), shows=accounts[-1].user.username)


def groups_page(cast, n):
    """n groups with two members each, all under PIM (each with its owners group)."""
    groups = []
    for number in range(n):
        group = Group.objects.create(name=f"Team {number}")
        group.user_set.add(UserFactory(), UserFactory())
        bring_group_under_pim(actor=cast.pim_admin, group=group, existing_members="eligible", mfa_verified_at=START)
        groups.append(group)
    return Visit(signed_in(cast.pim_admin), reverse("manage:groups"), shows=groups[-1].name)


def discovery_page(cast, n):
    standing = [
        ActiveAssignmentFactory(**holder(number), role=RoleFactory(), scope=ScopeFactory(), created_by=cast.pim_admin)
        for number in range(n)
    ]
    return Visit(signed_in(cast.pim_admin), reverse("manage:discovery"), shows=standing[-1].role.name)


def target_create_page(cast, n):
    exchange = builtin("exchange-administrator")
    targets_of(exchange, n, actor=cast.pim_admin)
    url = reverse("manage:target-create", args=[exchange.slug])
    return Visit(signed_in(cast.pim_admin), url, shows="Exchange Administrator")


def target_edit_page(cast, n):
    exchange = builtin("exchange-administrator")
    targets = targets_of(exchange, n, actor=cast.pim_admin)
    url = reverse("manage:target-edit", args=[exchange.slug, targets[-1].pk])
    return Visit(signed_in(cast.pim_admin), url, shows=targets[-1].name)


# Every console page: 3, the administrator check (which the navigation reuses), alerts; then:
CONSOLE_PAGES = {
    "roles": Budget(6, roles_page),  # the roles with their counts (subqueries)
    "role-create": Budget(5, role_create_page),  # nothing more
    "role-edit": Budget(6, role_edit_page),  # the role with its settings
    "role-edit-builtin": Budget(6, builtin_role_page),  # the role with its settings
    "role-delete": Budget(6, role_delete_page),  # the role
    # the role with its settings, its stages and their approvers, approver groups, escalation
    # approvers and escalation groups (prefetched): 11; then the users and the groups every stage form
    # offers, read once for the formset (roles.forms.StagePeople): 2, whatever the number of stages.
    "role-settings": Budget(13, role_settings_page),
    "assignments": Budget(8, assignments_page),  # eligible, active, the roles for the filter
    "assignment-create": Budget(9, assignment_create_page),  # the form's users, groups, roles, scopes
    "assignment-import": Budget(5, assignment_import_page),  # nothing more
    "assignment-eligible": Budget(6, eligible_assignment_page),  # the assignment, its people, role, scope
    "assignment-active": Budget(6, active_assignment_page),  # the assignment, its people, role, scope
    "scopes": Budget(6, scopes_page),  # the scopes with their counts (subqueries)
    "break-glass": Budget(7, break_glass_page),  # the flagged accounts, the form's users
    "groups": Budget(7, groups_page),  # the groups under PIM (joined), the groups with member counts
    "discovery": Budget(6, discovery_page),  # the standing assignments, joined
    "target-create": Budget(6, target_create_page),  # the role
    "target-edit": Budget(6, target_edit_page),  # the target with its role
}


@pytest.mark.parametrize(("budget", "rows"), cases(CONSOLE_PAGES))
def test_the_console_pages_take_the_same_queries_for_1_row_as_for_many(cast, budget, rows, django_assert_num_queries):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# Access reviews ------------------------------------------------------------------------------


def review_create_page(cast, n):
    UserFactory.create_batch(n)
    for number in range(n):
        Group.objects.create(name=f"reviewers {number}")
    return Visit(signed_in(cast.pim_admin), reverse("reviews:create"))


def reviewed_by_many(cast, n):
    """A review of n roles at n scopes, by n reviewers and n groups, with a fallback reviewer."""
    reviewers = UserFactory.create_batch(n)
    return review_of(
        cast,
        roles=RoleFactory.create_batch(n),
        scopes=[ScopeFactory() for _ in range(n)],
        reviewers=reviewers,
        reviewer_groups=[Group.objects.create(name=f"leads {number}") for number in range(n)],
        fallback_reviewer=cast.carol,
    ), reviewers


def review_edit_page(cast, n):
    review, reviewers = reviewed_by_many(cast, n)
    url = reverse("reviews:edit", args=[review.pk])
    return Visit(signed_in(cast.pim_admin), url, shows=reviewers[-1].username)


def review_delete_page(cast, n):
    review, _ = reviewed_by_many(cast, n)
    return Visit(signed_in(cast.pim_admin), reverse("reviews:delete", args=[review.pk]), shows=review.name)


# 3, administrator check, alerts; then:
REVIEW_PAGES = {
    # the form's roles, scopes, reviewers (users), groups, fallback reviewers (users)
    "review-create": Budget(10, review_create_page),
    # the review with its people, its roles, scopes, reviewers and reviewer groups (prefetched),
    # whether it has started; the form's five lists as on review-create
    "review-edit": Budget(16, review_edit_page),
    "review-delete": Budget(7, review_delete_page),  # the review, whether it has started
}


@pytest.mark.parametrize(("budget", "rows"), cases(REVIEW_PAGES))
def test_the_review_console_pages_take_the_same_queries_for_1_row_as_for_many(
    cast, budget, rows, django_assert_num_queries
):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# The Django admin's changelists of PIM's models ----------------------------------------------


def changelist(cast, model: str, shows: str | None = None) -> Visit:
    app, name = model.split(".")
    return Visit(signed_in(cast.pim_admin), reverse(f"admin:{app}_{name}_changelist"), shows=shows)


def admin_audit_events(cast, n):
    for number in range(n):
        record_event(actor=cast.alice, action="test.happened", role=f"custom-role-{number}")
    return changelist(cast, "audit.auditevent", shows=f"custom-role-{n - 1}")


def admin_webhooks(cast, n):
    for number in range(n):
        outbox.save_webhook(
            actor=cast.pim_admin, webhook=Webhook(name=f"Channel {number}", url=f"https://hooks{number}.example.com/x")
        )
    return changelist(cast, "audit.webhook", shows=f"hooks{n - 1}.example.com")


def admin_outbox(cast, n):
    webhook = outbox.save_webhook(
        actor=cast.pim_admin, webhook=Webhook(name="Channel", url="https://hooks.example.com/x")
    )
    for number in range(n):
        outbox.queue(rule="activation.notice", recipients=[cast.alice], subject=f"[PIM] Notice {number}", body="")
    assert webhook.pk
    return changelist(cast, "audit.outboxmessage", shows=f"[PIM] Notice {n - 1}")


def admin_alerts(cast, n):
    for number in range(n):
        make_alert(
            number,
            status=AlertStatus.DISMISSED,
            dismissed_by=cast.pim_admin,
            dismiss_reason="Known",
            dismissed_until=START + timedelta(days=1),
        )
    return changelist(cast, "audit.alert", shows=f"test_rule_{n - 1}")


def admin_alert_settings(cast, n):
    rules = alerts.rules()[:n]
    alerts.update_settings(
        actor=cast.pim_admin, changes={rule.key: {"enabled": False, "thresholds": {}} for rule in rules}
    )
    return changelist(cast, "audit.alertrulesetting", shows=rules[-1].key)


def admin_requests(cast, n):
    requests = waiting_for_bob(cast, n)
    return changelist(cast, "activations.activationrequest", shows=requests[-1].scope.path)


def admin_approvals(cast, n):
    requests = waiting_for_bob(cast, n)
    for request in requests:
        activation_services.decide_request(actor=cast.bob, request=request, decision=Decision.APPROVE)
    return changelist(cast, "activations.approval", shows=requests[-1].scope.path)


def admin_reviews(cast, n):
    reviews = [
        review_of(cast, name=f"Review {number}", reviewers=[cast.bob], roles=RoleFactory.create_batch(2))
        for number in range(n)
    ]
    return changelist(cast, "roles.accessreview", shows=reviews[-1].name)


def admin_occurrences(cast, n):
    review = ran_weekly(cast, n)
    return changelist(cast, "roles.reviewoccurrence", shows=f"{review.name} #{n}")


def admin_review_items(cast, n):
    holders = [
        EligibleAssignmentFactory(principal=UserFactory(), role=builtin("exchange-administrator")) for _ in range(n)
    ]
    occurrence = started(review_of(cast, reviewers=[cast.bob]))
    review_services.decide(
        actor=cast.bob,
        occurrence=occurrence,
        decision=ReviewDecision.DENY,
        item_ids=list(occurrence.items.values_list("pk", flat=True)),
        justification="Left",
    )
    return changelist(cast, "roles.reviewitem", shows=holders[-1].principal.username)


def admin_roles(cast, n):
    roles = RoleFactory.create_batch(n)
    return changelist(cast, "roles.role", shows=roles[-1].name)


def admin_role_settings(cast, n):
    roles = RoleFactory.create_batch(n)
    return changelist(cast, "roles.rolesettings", shows=roles[-1].name)


def admin_scopes(cast, n):
    scopes = [ScopeFactory() for _ in range(n)]
    return changelist(cast, "roles.scope", shows=scopes[-1].path)


def admin_eligible(cast, n):
    rows = [
        EligibleAssignmentFactory(**holder(number), role=RoleFactory(), scope=ScopeFactory()) for number in range(n)
    ]
    return changelist(cast, "roles.eligibleassignment", shows=rows[-1].role.name)


def admin_active(cast, n):
    requests = activated_roles(cast.alice, n)
    return changelist(cast, "roles.activeassignment", shows=requests[-1].role.name)


def admin_break_glass(cast, n):
    accounts = [
        BreakGlassAccount.objects.create(
            user=make_user(f"emergency{number}"), reason="Sealed envelope", flagged_by=cast.pim_admin
        )
        for number in range(n)
    ]
    return changelist(cast, "roles.breakglassaccount", shows=accounts[-1].user.username)


def admin_targets(cast, n):
    targets = targets_of(builtin("exchange-administrator"), n, actor=cast.pim_admin)
    return changelist(cast, "roles.target", shows=targets[-1].name)


def admin_grants(cast, n):
    exchange = builtin("exchange-administrator")
    targets = targets_of(exchange, n, actor=cast.pim_admin)
    with cast.capture(execute=True):
        activate(cast.alice, EligibleAssignmentFactory(principal=cast.alice, role=exchange))
    run_provisioning()
    return changelist(cast, "roles.grant", shows=targets[-1].name)


def admin_managed_groups(cast, n):
    groups = []
    for number in range(n):
        group = Group.objects.create(name=f"Team {number}")
        bring_group_under_pim(actor=cast.pim_admin, group=group, existing_members="eligible", mfa_verified_at=START)
        groups.append(group)
    return changelist(cast, "roles.managedgroup", shows=groups[-1].name)


# Every changelist: 3, the site's administrator check, then two counts (matching, and in all) and
# the rows with list_select_related joined in: 7. More where the list has more:
ADMIN_CHANGELISTS = {
    # one count (show_full_result_count is off), the rows, the date hierarchy (range, days), the
    # action and role filters' choices
    "auditevent": Budget(10, admin_audit_events),
    "webhook": Budget(7, admin_webhooks),
    "outboxmessage": Budget(10, admin_outbox),  # + the date hierarchy (range, days), the rule filter's choices
    "alert": Budget(11, admin_alerts),  # + the date hierarchy (range, days), the severity and rule filters' choices
    "alertrulesetting": Budget(7, admin_alert_settings),
    # + the role filter's roles (test_admin.py has a ceiling of 11 for this list)
    "activationrequest": Budget(8, admin_requests),
    "approval": Budget(7, admin_approvals),
    "accessreview": Budget(8, admin_reviews),  # + the reviews' roles, prefetched (test_review_admin.py: ceiling 8)
    "reviewoccurrence": Budget(7, admin_occurrences),
    "reviewitem": Budget(8, admin_review_items),  # + the review filter's reviews (test_review_admin.py: ceiling 8)
    "role": Budget(7, admin_roles),
    "rolesettings": Budget(7, admin_role_settings),
    "scope": Budget(7, admin_scopes),
    "eligibleassignment": Budget(8, admin_eligible),  # + the role filter's roles
    "activeassignment": Budget(8, admin_active),  # + the role filter's roles
    "breakglassaccount": Budget(7, admin_break_glass),
    "target": Budget(8, admin_targets),  # + the role filter's roles
    "grant": Budget(8, admin_grants),  # + the target role filter's roles
    "managedgroup": Budget(7, admin_managed_groups),
}


@pytest.mark.parametrize(("budget", "rows"), cases(ADMIN_CHANGELISTS))
def test_the_admin_changelists_take_the_same_queries_for_1_row_as_for_many(
    cast, budget, rows, django_assert_num_queries
):
    check(budget.build(cast, rows), budget, django_assert_num_queries)


# API list endpoints --------------------------------------------------------------------------


def token_of(user) -> APIClient:
    """`user`'s token, used once already: a token's first call also writes last_used_at."""
    client = api_client(user)
    client.get(reverse("api-me"))
    return client


def api_me(cast, n):
    requests = activated_roles(cast.alice, n)
    return Visit(token_of(cast.alice), reverse("api-me"), shows=requests[-1].role.slug)


def api_my_active(cast, n):
    requests = activated_roles(cast.alice, n)
    return Visit(token_of(cast.alice), reverse("api-me-active"), shows=requests[-1].role.slug)


def api_occurrences(cast, n):
    review = ran_weekly(cast, n)
    url = reverse("api-review-occurrences", args=[review.pk])
    return Visit(token_of(cast.pim_admin), url + "?page_size=200", shows=f'"number":{n + 1}')


def api_my_reviews(cast, n):
    EligibleAssignmentFactory(principal=cast.alice, role=builtin("exchange-administrator"))
    reviews = [started(review_of(cast, name=f"Review {number}", reviewers=[cast.bob])) for number in range(n)]
    return Visit(token_of(cast.bob), reverse("api-my-reviews"), shows=reviews[-1].review.name)


API_LISTS = {
    # the token with its user, administrator check, eligible (settings joined, held as EXISTS), active
    "me": Budget(4, api_me),
    "me-active-assignments": Budget(2, api_my_active),  # the token with its user, the rows
    # the token with its user, administrator check, the review, the occurrences with their progress
    "review-occurrences": Budget(4, api_occurrences),
    "my-reviews": Budget(2, api_my_reviews),  # the token with its user, the occurrences with their counts
}


@pytest.mark.parametrize(("budget", "rows"), cases(API_LISTS))
def test_the_api_lists_take_the_same_queries_for_1_row_as_for_many(cast, budget, rows, django_assert_num_queries):
    check(budget.build(cast, rows), budget, django_assert_num_queries)
