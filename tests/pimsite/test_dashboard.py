"""/dashboard/: the numbers, the three charts and what ends soon, for the audit log's readers;
a constant number of queries whatever the data."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from audit.models import Alert
from pimsite import dashboard_charts
from roles.choices import ActiveSource, EndReason
from roles.models import EligibleAssignment, Role
from tests.conftest import make_user, verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, RoleFactory, UserFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
DASHBOARD = reverse("dashboard")
READER_SLUGS = ["global-administrator", "privileged-role-administrator", "security-administrator", "security-reader"]
CHART_TITLES = ["Activations per day, last 30 days", "Holders per role, eligible and active", "Assignments by type"]


def role(slug: str) -> Role:
    return Role.objects.get(slug=slug)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def reader_client(clock, carol) -> Client:
    """carol, OTP-verified, holding a permanent active Security Reader at '/' (not an administrator)."""
    ActiveAssignmentFactory(principal=carol, role=role("security-reader"))
    client = Client()
    verify_session(client, carol)
    return client


def activation(
    eligibility: EligibleAssignment,
    *,
    start_at: datetime,
    status: str = RequestStatus.PROVISIONED,
    kind: str = RequestKind.ACTIVATE,
) -> ActivationRequest:
    """A request row as the workflow leaves it (factories set the stage; no services run)."""
    return ActivationRequest.objects.create(
        kind=kind,
        requester=eligibility.principal,
        eligibility=eligibility,
        role=eligibility.role,
        scope=eligibility.scope,
        start_at=start_at,
        duration_minutes=60,
        status=status,
    )


# Access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", READER_SLUGS)
def test_each_reader_role_active_at_the_root_opens_the_dashboard(client, clock, dave, slug):
    # Who may read is tests/pimsite/test_reader_pages.py; here, what a reader sees, the nav link too.
    ActiveAssignmentFactory(principal=dave, role=role(slug))
    verify_session(client, dave)

    response = client.get(DASHBOARD)

    assertContains(response, "<h1>Dashboard</h1>", html=True)
    assertContains(response, f'<a href="{DASHBOARD}">Dashboard</a>', html=True)  # the nav link


def test_someone_who_is_not_a_reader_has_no_dashboard_link(mfa_client):
    response = mfa_client.get(reverse("home"))

    assertNotContains(response, f'href="{DASHBOARD}"')


# Numbers ---------------------------------------------------------------------------------------


@pytest.fixture
def seeded(clock, alice, bob, dave):
    """What the numbers below count, at START. carol (the reader) holds Security Reader."""
    user_admin, exchange = role("user-administrator"), role("exchange-administrator")
    # alice: eligible for User Administrator for good, and for Exchange until in 3 days (expiring).
    alice_user_admin = EligibleAssignmentFactory(principal=alice, role=user_admin, start_at=START - timedelta(days=60))
    EligibleAssignmentFactory(principal=alice, role=exchange, end_at=START + timedelta(days=3))
    # bob: permanently active User Administrator, and time-bound active Exchange for 20 days (not expiring).
    ActiveAssignmentFactory(principal=bob, role=user_admin)
    ActiveAssignmentFactory(principal=bob, role=exchange, end_at=START + timedelta(days=20))
    # The ops group (erin, frank) is eligible for Exchange until in 14 days (expiring, at the edge).
    ops = Group.objects.create(name="ops")
    for name in ("erin", "frank"):
        make_user(name).groups.add(ops)
    EligibleAssignmentFactory(principal=None, group=ops, role=exchange, end_at=START + timedelta(days=14))
    # Not counted: dave's assignment ended yesterday, one that starts tomorrow, a disabled account's.
    ActiveAssignmentFactory(
        principal=dave,
        role=user_admin,
        start_at=START - timedelta(days=5),
        end_at=START + timedelta(days=5),
        ended_at=START - timedelta(days=1),
        end_reason=EndReason.REMOVED,
    )
    EligibleAssignmentFactory(principal=dave, role=exchange, start_at=START + timedelta(days=1))
    EligibleAssignmentFactory(principal=UserFactory(username="gone", is_active=False), role=user_admin)

    # Activations of alice's User Administrator: two in the last 7 days, one 10 days ago, one 31 days ago.
    for days_ago in (2, 6.9, 10, 31):
        activation(alice_user_admin, start_at=START - timedelta(days=days_ago))
    activation(alice_user_admin, start_at=START + timedelta(days=1), status=RequestStatus.APPROVED)  # scheduled
    activation(alice_user_admin, start_at=START - timedelta(days=1), status=RequestStatus.DENIED)
    activation(alice_user_admin, start_at=START, status=RequestStatus.PENDING_APPROVAL)
    ActiveAssignmentFactory(
        principal=alice,
        role=exchange,
        source=ActiveSource.ACTIVATION,
        start_at=START - timedelta(hours=1),
        end_at=START - timedelta(minutes=1),
    )  # lapsed
    return {"user_admin": user_admin, "exchange": exchange}


def test_the_numbers_count_what_is_in_effect_now(reader_client, seeded):
    numbers = reader_client.get(DASHBOARD).context["numbers"]

    assert numbers.holders == 5  # carol, alice, bob, erin and frank (through ops)
    # Assignments count whoever holds them, the disabled account's too; carol's reader is included.
    assert numbers.totals == {"eligible": 4, "permanent_active": 2, "time_bound_active": 1}
    by_role = {row.name: (row.eligible, row.permanent_active, row.time_bound_active) for row in numbers.roles}
    assert by_role["User Administrator"] == (2, 1, 0)
    assert by_role["Exchange Administrator"] == (2, 0, 1)
    assert by_role["Security Reader"] == (0, 1, 0)
    assert by_role["Billing Administrator"] == (0, 0, 0)


def test_activations_are_counted_over_7_and_30_days_and_pending_requests_are_counted(reader_client, seeded):
    numbers = reader_client.get(DASHBOARD).context["numbers"]

    assert (numbers.activations_recent, numbers.activations_month, numbers.pending_approvals) == (2, 3, 1)
    per_day = dict(numbers.activations_per_day)
    assert len(per_day) == 30
    assert min(per_day) == date(2026, 10, 24) and max(per_day) == date(2026, 11, 22)
    assert {day: count for day, count in per_day.items() if count} == {
        date(2026, 11, 20): 1,
        date(2026, 11, 15): 1,
        date(2026, 11, 12): 1,
    }


def test_an_activation_drops_out_of_the_last_7_days_a_second_after_7_days(reader_client, seeded, clock):
    # The activation at START - 6.9 days is in; move the clock just past its 7 days.
    clock.move_to(START + timedelta(days=0.1, seconds=1))

    numbers = reader_client.get(DASHBOARD).context["numbers"]

    assert (numbers.activations_recent, numbers.activations_month) == (1, 3)


def test_assignments_ending_within_14_days_are_listed_soonest_first(reader_client, seeded):
    response = reader_client.get(DASHBOARD)

    expiring = [(row.holder, row.role, row.scope, row.kind, row.end_at) for row in response.context["numbers"].expiring]
    assert expiring == [
        ("alice", "Exchange Administrator", "/", "eligible", START + timedelta(days=3)),
        ("group ops", "Exchange Administrator", "/", "eligible", START + timedelta(days=14)),
    ]
    assertContains(response, "group ops")


def test_alerts_say_honestly_when_there_are_none(reader_client):
    response = reader_client.get(DASHBOARD)

    assertContains(response, "No open alerts.")


def test_access_reviews_in_progress_are_counted_with_their_decisions(reader_client, pim_admin, bob, alice, carol):
    from roles.reviews import services as review_services
    from roles.reviews.choices import ReviewDecision
    from tests.reviews.conftest import review_values

    exchange = Role.objects.get(slug="exchange-administrator")
    for user in (alice, carol):
        EligibleAssignmentFactory(principal=user, role=exchange, start_at=START - timedelta(days=1))
    review = review_services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))
    review_services.start_due_occurrences(now=START)
    occurrence = review.occurrences.get(number=1)
    review_services.decide(
        actor=bob, occurrence=occurrence, item_ids=[occurrence.items.first().pk], decision=ReviewDecision.DENY
    )

    response = reader_client.get(DASHBOARD)

    assert response.context["numbers"].reviews == {"in_progress": 1, "to_decide": 2, "decided": 1, "awaiting_apply": 0}
    assertContains(response, '<dd id="number-reviews-decided">1 of 2</dd>', html=True)


def test_open_alerts_are_counted_by_severity_most_severe_first(reader_client):
    for rule, severity, status in [
        ("a", "high", "open"),
        ("b", "critical", "open"),
        ("c", "high", "open"),
        ("d", "critical", "resolved"),
    ]:
        Alert.objects.create(rule_key=rule, severity=severity, status=status, first_seen=START, last_seen=START)

    response = reader_client.get(DASHBOARD)

    assert response.context["numbers"].alerts_by_severity == [("critical", 1), ("high", 2)]
    assertContains(response, "<dt>High</dt><dd>2</dd>", html=True)


# Charts ----------------------------------------------------------------------------------------


def test_the_three_charts_have_titles_descriptions_axis_labels_and_tables(reader_client, seeded):
    content = reader_client.get(DASHBOARD).content.decode()

    assert content.count('<svg class="chart" role="img"') == 3
    for title in CHART_TITLES:
        assert re.search(rf'<title id="chart-[a-z]+-title">{re.escape(title)}</title>', content)
    assert "3 activations from 2026-10-24 to 2026-11-22 (UTC days)" in content  # the activations desc
    assert "Exchange Administrator: 2 eligible, 1 active" in content  # the holders desc
    for axis in ("Activations", "Day (UTC, month-day)", "Holders (assignments in effect)", "Assignment type"):
        assert f">{axis}</text>" in content
    assert content.count('<table class="visually-hidden">') == 3
    assert 'style="' not in content  # the CSP forbids inline styles


def test_a_role_name_is_escaped_in_the_charts_and_tables(reader_client):
    EligibleAssignmentFactory(role=RoleFactory(name='<script>alert("x")</script>'))

    content = reader_client.get(DASHBOARD).content.decode()

    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;: 1 eligible" in content  # in the holders chart


def test_the_activations_chart_labels_every_fifth_day_and_the_last():
    per_day = [(date(2026, 10, 24) + timedelta(days=n), n % 3) for n in range(30)]

    svg = dashboard_charts.activations_chart(per_day)

    labels = re.findall(r'text-anchor="middle">(\d\d-\d\d)</text>', svg)
    assert labels == ["10-24", "10-29", "11-03", "11-08", "11-13", "11-18", "11-22"]
    assert svg.count('class="chart-bar chart-activation"') == 30


@pytest.mark.parametrize(
    ("maximum", "expected"),
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (4, [0, 1, 2, 3, 4]),
        (7, [0, 2, 4, 6, 8]),
        (23, [0, 5, 10, 15, 20, 25]),
        (140, [0, 50, 100, 150]),
    ],
)
def test_the_y_axis_ticks_are_round_and_cover_the_largest_value(maximum, expected):
    assert dashboard_charts.ticks(maximum) == expected


# Queries ---------------------------------------------------------------------------------------

# session, user, OTP device, reader roles (acts_as_audit_reader, which the nav reuses), activation
# counts, privileged users, per-role counts, activations per day, expiring eligible, expiring
# active, open alerts by severity, access reviews, and the navigation's open-alert count.
DASHBOARD_QUERIES = 13


@pytest.mark.parametrize("n_roles", [1, 12])
def test_the_dashboard_query_count_does_not_grow(reader_client, n_roles, django_assert_num_queries):
    for _ in range(n_roles):
        eligibility = EligibleAssignmentFactory(end_at=START + timedelta(days=5))
        ActiveAssignmentFactory(
            principal=eligibility.principal,
            role=eligibility.role,
            source=ActiveSource.ACTIVATION,
            end_at=START + timedelta(hours=1),
        )
        activation(eligibility, start_at=START - timedelta(days=n_roles))

    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = reader_client.get(DASHBOARD)

    assert len(response.context["numbers"].expiring) == 2 * n_roles
