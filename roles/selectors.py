"""Reads shared by pages, the admin and commands."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.rules import SCOPE_PATH_PATTERN


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


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    until: datetime | None = None  # None with allowed: permanent
    reason: str = ""


def access_decision(
    *, username: str, role_slug: str, scope_path: str = ROOT_SCOPE_PATH, at: datetime
) -> AccessDecision:
    """Whether `username` holds `role_slug` at `scope_path` at `at`, and until when. This is
    the one answer to "may this person act with this role here now": pages, commands and the
    API ask it. Computed from time: an assignment is gone at its end_at to the second."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return AccessDecision(False, reason=f"no account named {username}")
    if not user.is_active:
        return AccessDecision(False, reason=f"the account {username} is disabled")
    if not Role.objects.filter(slug=role_slug).exists():
        return AccessDecision(False, reason=f"no role with the slug {role_slug}")
    if not SCOPE_PATH_PATTERN.match(scope_path):
        return AccessDecision(False, reason=f"{scope_path} is not a scope path")
    ends = list(
        ActiveAssignment.objects.in_effect(at)
        .at_scope_covering(scope_path)
        .filter(principal=user, role__slug=role_slug)
        .values_list("end_at", flat=True)
    )
    if not ends:
        return AccessDecision(
            False, reason=f"{username} holds no active {role_slug} assignment at {scope_path} or above"
        )
    if any(end is None for end in ends):
        return AccessDecision(True, None)
    return AccessDecision(True, max(ends))


def is_approver(*, user, role: Role) -> bool:
    """Named in the role's settings as an approver, directly or through a group, right now."""
    role_settings = role.settings
    return (
        role_settings.approvers.filter(pk=user.pk, is_active=True).exists()
        or role_settings.approver_groups.filter(user=user, user__is_active=True).exists()
    )


def approvers_of(*, role: Role) -> QuerySet:
    """Every active user who may approve requests for `role` (directly or through a group)."""
    role_settings = role.settings
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(approver_of=role_settings) | Q(groups__approver_of=role_settings))
        .distinct()
        .order_by("username")
    )
