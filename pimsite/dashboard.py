"""/dashboard/: who holds what, how often roles are activated, what waits and what ends soon, for
the audit log's readers (pimsite.audit_views.audit_reader_required). The selectors below read
everything in a constant number of queries (tests/pimsite/test_dashboard.py pins it): counts
are aggregates and per-role subqueries, never a query per role or per day."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from audit.alerts import SEVERITIES
from audit.models import Alert, AlertStatus
from pimsite import dashboard_charts as charts
from pimsite.audit_views import audit_reader_required
from roles.models import ActiveAssignment, Assignment, EligibleAssignment
from roles.reviews import selectors as review_selectors
from roles.selectors import roles_with_assignment_counts

ACTIVATION_DAYS = 30  # the activations chart and the "last 30 days" count
RECENT_DAYS = 7
EXPIRING_DAYS = 14
# An activation that happened: granted, or approved and past its start (not yet marked granted).
ACTIVATED = Q(kind=RequestKind.ACTIVATE, status__in=[RequestStatus.PROVISIONED, RequestStatus.APPROVED])


@dataclass(frozen=True)
class RoleCounts:
    """One role's assignments in effect now."""

    name: str
    tier: str
    eligible: int
    permanent_active: int
    time_bound_active: int

    @property
    def active(self) -> int:
        return self.permanent_active + self.time_bound_active


@dataclass(frozen=True)
class Expiring:
    """An assignment in effect now whose end falls within EXPIRING_DAYS."""

    kind: str  # "eligible" or "active"
    holder: str
    role: str
    scope: str
    end_at: datetime


@dataclass
class Dashboard:
    at: datetime
    holders: int
    roles: list[RoleCounts]
    activations_per_day: list[tuple[date, int]]
    activations_recent: int  # in the last RECENT_DAYS
    activations_month: int  # in the last ACTIVATION_DAYS
    pending_approvals: int
    expiring: list[Expiring]
    alerts_by_severity: list[tuple[str, int]] | None  # None: alerts are not set up
    reviews: dict[str, int]  # roles.reviews.selectors.summary
    totals: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.totals = {
            "eligible": sum(role.eligible for role in self.roles),
            "permanent_active": sum(role.permanent_active for role in self.roles),
            "time_bound_active": sum(role.time_bound_active for role in self.roles),
        }


def role_counts(*, at: datetime) -> list[RoleCounts]:
    """Every role with its eligible, permanent active and time-bound active assignments in
    effect at `at`, at any scope, by name. One query (roles_with_assignment_counts)."""
    return [
        RoleCounts(
            name=role.name,
            tier=role.get_tier_display(),
            eligible=role.eligible_permanent + role.eligible_time_bound,
            permanent_active=role.active_permanent,
            time_bound_active=role.active_time_bound,
        )
        for role in roles_with_assignment_counts(at=at).order_by("name")
    ]


def privileged_user_count(*, at: datetime) -> int:
    """Active user accounts holding an eligible or active assignment in effect at `at`, their own
    or through a group they are a member of. One activated through a group counts only while they
    are still in it (as AssignmentQuerySet.held_by). One query."""
    eligible = EligibleAssignment.objects.in_effect(at)
    active = ActiveAssignment.objects.in_effect(at)
    own_active = active.filter(principal__isnull=False).filter(
        Q(via_group__isnull=True) | Q(via_group__user=F("principal"))
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(pk__in=eligible.filter(principal__isnull=False).values("principal"))
            | Q(pk__in=own_active.values("principal"))
            | Q(groups__in=eligible.filter(group__isnull=False).values("group"))
            | Q(groups__in=active.filter(group__isnull=False).values("group"))
        )
        .values("pk")
        .distinct()
        .count()
    )


def activation_counts(*, at: datetime) -> dict[str, int]:
    """Activations started in the last RECENT_DAYS and ACTIVATION_DAYS before `at`, and requests
    waiting for a decision (any kind). One query."""
    started = ACTIVATED & Q(start_at__lte=at)
    return ActivationRequest.objects.aggregate(
        recent=Count("pk", filter=started & Q(start_at__gt=at - timedelta(days=RECENT_DAYS))),
        month=Count("pk", filter=started & Q(start_at__gt=at - timedelta(days=ACTIVATION_DAYS))),
        pending=Count("pk", filter=Q(status=RequestStatus.PENDING_APPROVAL)),
    )


def activations_per_day(*, at: datetime) -> list[tuple[date, int]]:
    """Activations started on each of the ACTIVATION_DAYS UTC days up to and including `at`'s,
    oldest first, days without any included as 0. One query."""
    today = at.astimezone(UTC).date()
    first = today - timedelta(days=ACTIVATION_DAYS - 1)
    counted = dict(
        ActivationRequest.objects.filter(ACTIVATED, start_at__lte=at,
                                         start_at__gte=datetime.combine(first, datetime.min.time(), tzinfo=UTC))
        .annotate(day=TruncDate("start_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )  # fmt: skip
    return [(day, counted.get(day, 0)) for day in (first + timedelta(days=n) for n in range(ACTIVATION_DAYS))]


def expiring_assignments(*, at: datetime) -> list[Expiring]:
    """Eligible and active assignments in effect at `at` that end within EXPIRING_DAYS, soonest
    first. Two queries, one per kind, holder, role and scope joined in."""
    rows = []
    for model in (EligibleAssignment, ActiveAssignment):
        ending: list[Assignment] = (
            model.objects.in_effect(at)
            .filter(end_at__lte=at + timedelta(days=EXPIRING_DAYS))
            .select_related("principal", "group", "role", "scope")
        )
        rows += [Expiring(kind=model.kind, holder=a.holder_name, role=a.role.name, scope=a.scope.path,
                          end_at=a.end_at) for a in ending]  # fmt: skip
    return sorted(rows, key=lambda row: (row.end_at, row.role, row.holder))


def open_alerts_by_severity() -> list[tuple[str, int]]:
    """Open alerts (not dismissed, not resolved) counted by severity, most severe first. One query."""
    counted = Alert.objects.filter(status=AlertStatus.OPEN).order_by().values("severity").annotate(n=Count("pk"))
    return sorted(((row["severity"], row["n"]) for row in counted), key=lambda row: SEVERITIES.index(row[0]))


def dashboard_numbers(*, at: datetime) -> Dashboard:
    """Everything the dashboard shows, as of `at`. Eight queries whatever the data."""
    counts = activation_counts(at=at)
    return Dashboard(
        at=at,
        holders=privileged_user_count(at=at),
        roles=role_counts(at=at),
        activations_per_day=activations_per_day(at=at),
        activations_recent=counts["recent"],
        activations_month=counts["month"],
        pending_approvals=counts["pending"],
        expiring=expiring_assignments(at=at),
        alerts_by_severity=open_alerts_by_severity(),
        reviews=review_selectors.summary(),
    )


@audit_reader_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The numbers, three charts (each with a table of the same numbers) and what ends soon."""
    numbers = dashboard_numbers(at=timezone.now())
    context = {
        "numbers": numbers,
        "activations_chart": charts.activations_chart(numbers.activations_per_day),
        "holders_chart": charts.holders_chart([(role.name, role.eligible, role.active) for role in numbers.roles]),
        "assignments_chart": charts.assignments_chart(**numbers.totals),
        "days": {"recent": RECENT_DAYS, "month": ACTIVATION_DAYS, "expiring": EXPIRING_DAYS},
    }
    return render(request, "dashboard.html", context)
