"""Reads that provisioning's pages, the API and the admin share."""

from collections import defaultdict

from django.db.models import Count, Q, QuerySet

from roles.models import ActiveAssignment
from roles.provisioning.choices import GrantState
from roles.provisioning.models import Grant, Target


def grants_by_assignment(*, assignment_ids, user=None) -> dict[int, list[Grant]]:
    """Each active assignment's grants (with their targets), in one query; only `user`'s when
    given (a group's assignment has one grant per member)."""
    grants = Grant.objects.filter(assignment_id__in=list(assignment_ids)).select_related("target")
    if user is not None:
        grants = grants.filter(user=user)
    found = defaultdict(list)
    for grant in grants.order_by("target__name", "pk"):
        found[grant.assignment_id].append(grant)
    return dict(found)


def targets_with_counts(*, role) -> QuerySet[Target]:
    """A role's targets, each with how many of its grants are in each state (`granted`,
    `pending`, `failed`, `revoking`). One query."""
    return (
        Target.objects.filter(role=role)
        .annotate(**{state: Count("grants", filter=Q(grants__state=state)) for state in
                     (GrantState.GRANTED, GrantState.PENDING, GrantState.FAILED, GrantState.REVOKING)})
        .order_by("name")
    )  # fmt: skip


def grants_of_target(*, target: Target) -> QuerySet[Grant]:
    """Every grant of a target, by state and then the most recently changed first."""
    return (
        Grant.objects.filter(target=target).select_related("user", "assignment__scope").order_by("state", "-updated_at")
    )


def grants_of_user(*, user, at) -> list[Grant]:
    """`user`'s grants from the active assignments they hold at `at` (their own and their
    groups'), by assignment and then target name, each with its assignment's role and scope
    loaded. Two queries."""
    assignments = {
        assignment.pk: assignment
        for assignment in ActiveAssignment.objects.in_effect(at).held_by(user)
        .select_related("role", "scope").order_by("start_at", "pk")
    }  # fmt: skip
    found = grants_by_assignment(assignment_ids=assignments, user=user)
    grants = []
    for assignment_id, assignment in assignments.items():
        for grant in found.get(assignment_id, []):
            grant.assignment = assignment  # already loaded: no query per row
            grants.append(grant)
    return grants
