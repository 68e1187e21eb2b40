"""Keep or remove, from actual use. Entra looks at sign-ins; for a privileged role what matters
is whether it was used: an eligibility that was activated in the last 30 days is kept, one that
was not is removed. A standing (administrator-made) active assignment is never activated, so
its holder's last sign-in stands in for use."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q

from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Assignment, EligibleAssignment
from roles.reviews.choices import Outcome

WINDOW_DAYS = 30


@dataclass(frozen=True)
class Usage:
    last_activated_at: datetime | None = None
    recent_activations: int = 0  # in the WINDOW_DAYS before
    last_sign_in_at: datetime | None = None

    def last_used_at(self, kind: str) -> datetime | None:
        return self.last_activated_at if kind == "eligible" else self.last_sign_in_at


def _holder_key(principal_id: int | None, group_id: int | None) -> tuple[str, int]:
    return ("group", group_id) if group_id else ("user", principal_id)


def usage_of(assignments: list[Assignment], *, now: datetime) -> dict[tuple[str, int], Usage]:
    """Usage of each assignment, keyed (kind, pk), in three queries whatever their number.
    Activations of an eligibility are the activated assignments of its holder (a user's own, or
    its group's members' through the group) at its role and scope."""
    since = now - timedelta(days=WINDOW_DAYS)
    eligible = [a for a in assignments if isinstance(a, EligibleAssignment)]
    activations = {}
    if eligible:
        rows = (
            ActiveAssignment.objects.filter(source=ActiveSource.ACTIVATION, start_at__lte=now)
            .filter(role__in={a.role_id for a in eligible}, scope__in={a.scope_id for a in eligible})
            .values("principal", "via_group", "role", "scope")
            .annotate(last=Max("start_at"), recent=Count("pk", filter=Q(start_at__gte=since)))
        )
        for row in rows:
            key = (*_holder_key(None if row["via_group"] else row["principal"], row["via_group"]), row["role"],
                   row["scope"])  # fmt: skip
            last, recent = activations.get(key, (None, 0))
            activations[key] = (max(filter(None, (last, row["last"]))), recent + row["recent"])
    users = get_user_model().objects
    sign_ins = dict(users.filter(pk__in={a.principal_id for a in assignments if a.principal_id})
                    .values_list("pk", "last_login"))  # fmt: skip
    group_ids = {a.group_id for a in assignments if a.group_id}
    group_sign_ins = {}
    if group_ids:
        members = users.filter(groups__in=group_ids).values("groups").annotate(last=Max("last_login"))
        group_sign_ins = dict(members.values_list("groups", "last"))
    usage = {}
    for assignment in assignments:
        holder = _holder_key(assignment.principal_id, assignment.group_id)
        last_sign_in = group_sign_ins.get(assignment.group_id) if assignment.group_id else sign_ins.get(
            assignment.principal_id)  # fmt: skip
        last, recent = activations.get((*holder, assignment.role_id, assignment.scope_id), (None, 0))
        if not isinstance(assignment, EligibleAssignment):
            last, recent = None, 0
        usage[(assignment.kind, assignment.pk)] = Usage(last, recent, last_sign_in)
    return usage


def is_inactive(usage: Usage, *, kind: str, days: int, now: datetime) -> bool:
    """Not used (activated; for an active assignment: signed in) in the last `days` days."""
    last = usage.last_used_at(kind)
    return last is None or last < now - timedelta(days=days)


def recommend(usage: Usage, *, kind: str, now: datetime) -> tuple[str, str]:
    """(Outcome, reason). Used at or after now - 30 days counts as used."""
    if kind == "eligible":
        if not is_inactive(usage, kind=kind, days=WINDOW_DAYS, now=now):
            times = "once" if usage.recent_activations == 1 else f"{usage.recent_activations} times"
            return Outcome.KEEP, f"Keep: activated {times} in the last {WINDOW_DAYS} days."
        if usage.last_activated_at is None:
            return Outcome.REMOVE, "Remove: never activated."
        return Outcome.REMOVE, f"Remove: not activated in {WINDOW_DAYS} days."
    if not is_inactive(usage, kind=kind, days=WINDOW_DAYS, now=now):
        return Outcome.KEEP, f"Keep: standing access; the holder signed in within the last {WINDOW_DAYS} days."
    return Outcome.REMOVE, f"Remove: standing access; no sign-in in {WINDOW_DAYS} days."
