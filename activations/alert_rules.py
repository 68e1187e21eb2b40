"""The security alert rules about activations (Entra's PIM alerts), registered into
audit.alerts from ActivationsConfig.ready()."""

from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from audit.alerts import AlertRule, Finding, Threshold, register, scan_rule
from roles.alert_rules import remove_by_key
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, EligibleAssignment

# Roles activated too frequently ---------------------------------------------------------------


def scan_frequent_activations(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """Each user and role activated at least `activations` times in the last `window_minutes`."""
    since = now - timedelta(minutes=thresholds["window_minutes"])
    counts = (
        ActiveAssignment.objects.filter(
            source=ActiveSource.ACTIVATION, start_at__gt=since, start_at__lte=now, principal__isnull=False
        )  # fmt: skip
        .values("principal", "principal__username", "role", "role__name")
        .annotate(activations=Count("pk"))
        .filter(activations__gte=thresholds["activations"])
        .order_by("principal__username", "role__name")
    )
    return [
        Finding(
            f"{row['principal']}:{row['role']}",
            f"{row['principal__username']} activated {row['role__name']} "
            f"{row['activations']} times in {thresholds['window_minutes']} minutes",
        )  # fmt: skip
        for row in counts
    ]


FREQUENT_ACTIVATION = AlertRule(
    key="roles_activated_too_frequently",
    title="Roles are being activated too frequently",
    description="The same user activated the same role many times within the time window set.",
    why="Activating again and again usually means the maximum duration is too short for real work, or "
    "someone is scripting around just-in-time access.",
    how_to_fix="Ask the user why; lengthen the role's maximum activation duration if the work needs it.",
    severity="medium",
    thresholds=(
        Threshold("activations", "Activations of one role by one user", 3, 2, 100),
        Threshold("window_minutes", "Within (minutes)", 60, 5, 7 * 24 * 60),
    ),
    scan=scan_frequent_activations,
)


def activation_granted() -> None:
    """After an activation commits (activations.services.workflow.grant): check now rather
    than at the next scheduled scan, so the alert comes within seconds."""
    scan_rule(FREQUENT_ACTIVATION.key, now=timezone.now())


# Administrators not using their privileged roles ---------------------------------------------


def scan_unused_roles(thresholds: dict[str, int], now: datetime) -> list[Finding]:
    """A user's eligibility, held for at least `days`, that they have not activated in `days`."""
    since = now - timedelta(days=thresholds["days"])
    used = ActiveAssignment.objects.filter(
        source=ActiveSource.ACTIVATION, principal=OuterRef("principal"), role=OuterRef("role"), start_at__gt=since
    )
    unused = (
        EligibleAssignment.objects.in_effect(now)
        .filter(principal__isnull=False, start_at__lte=since)
        .exclude(Exists(used))
        .select_related("principal", "role", "scope")
        .order_by("principal__username", "role__name")
    )
    return [
        Finding(
            f"eligible:{eligibility.pk}",
            f"{eligibility.principal.get_username()}: {eligibility.role.name} at "
            f"{eligibility.scope.path}, not activated in {thresholds['days']} days",
            fix=True,
        )  # fmt: skip
        for eligibility in unused
    ]


UNUSED_ROLES = AlertRule(
    key="administrators_not_using_roles",
    title="Administrators aren't using their privileged roles",
    description="Users eligible for a role who have not activated it within the number of days set.",
    why="A role nobody uses is risk without benefit: the eligibility can still be activated by whoever "
    "takes over the account.",
    how_to_fix="Remove the eligible assignments nobody needs.",
    severity="low",
    thresholds=(Threshold("days", "Days without an activation", 30, 1, 365),),
    scan=scan_unused_roles,
    fix=remove_by_key,
    fix_label="Remove",
)


def register_rules() -> None:
    """Called from ActivationsConfig.ready()."""
    register(FREQUENT_ACTIVATION)
    register(UNUSED_ROLES)
