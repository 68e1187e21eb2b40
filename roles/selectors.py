"""Reads shared by pages, the admin and commands."""

from datetime import datetime

from django.db.models import QuerySet

from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.models import ActiveAssignment, EligibleAssignment


def holds_role(*, user, role_slugs: tuple[str, ...], at: datetime, scope_path: str = ROOT_SCOPE_PATH) -> bool:
    """Whether `user` holds one of the roles, in effect at `at`, at `scope_path` or above. One query."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return (
        ActiveAssignment.objects.in_effect(at)
        .at_scope_covering(scope_path)
        .filter(principal=user, role__slug__in=role_slugs)
        .exists()
    )


def is_pim_administrator(*, user, at: datetime) -> bool:
    """An active Privileged Role Administrator or Global Administrator at the directory root."""
    return holds_role(user=user, role_slugs=ADMIN_ROLE_SLUGS, at=at)


def eligible_assignments_of(*, user, at: datetime) -> QuerySet[EligibleAssignment]:
    """Eligibilities in effect at `at`, with role, settings and scope preloaded. One query."""
    return (
        EligibleAssignment.objects.in_effect(at)
        .filter(principal=user)
        .select_related("role", "role__settings", "scope")
        .order_by("role__name", "scope__path")
    )


def active_assignments_of(*, user, at: datetime) -> QuerySet[ActiveAssignment]:
    """Active assignments in effect at `at`, with role and scope preloaded. One query."""
    return (
        ActiveAssignment.objects.in_effect(at)
        .filter(principal=user)
        .select_related("role", "scope")
        .order_by("role__name", "scope__path")
    )


def administrator_holders() -> set[str]:
    """Usernames with any open (eligible or active) Global or Privileged Role Administrator
    assignment. Bootstrap is refused while this is not empty."""
    return set(
        EligibleAssignment.objects.open()
        .filter(role__slug__in=ADMIN_ROLE_SLUGS)
        .values_list("principal__username", flat=True)
    ) | set(
        ActiveAssignment.objects.open()
        .filter(role__slug__in=ADMIN_ROLE_SLUGS)
        .values_list("principal__username", flat=True)
    )
