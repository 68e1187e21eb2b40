"""Checking the eligible assignments of a file into changes: exactly the file's assignments,
each made, moved to a new end, replaced or removed."""

from collections.abc import Callable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from roles import rules, services
from roles.bulk import GROUP_PREFIX
from roles.models import EligibleAssignment, Role, Scope
from roles.policy.checks import (
    _ABSENT,
    GIVEN_TWICE,
    UNKNOWN_GROUP,
    UNKNOWN_USER,
    USER_DISABLED,
    _Checks,
    _Entry,
    _entry,
    _or_null,
    _refusal_messages,
    _text,
    _time,
)
from roles.policy.document import ASSIGNMENT_KEYS
from roles.policy.export import _holder, _second, _utc
from roles.policy.plan import Change, _value

UNKNOWN_ROLE = "No role has the slug '%(value)s' in the database or under roles in this file."
UNKNOWN_SCOPE = "No scope has the path '%(value)s' in the database or under scopes in this file; add it under scopes."


class _AssignmentChecks(_Checks):
    """The eligible_assignments section, checked against the role settings the plan gives."""

    def _assignments(self, items) -> list[Change]:
        rows = []
        for index, line, node in items:
            entry = _entry(self.problems, node, f"eligible_assignments[{index}]", line, ASSIGNMENT_KEYS)
            if entry is None:
                continue
            row = {
                "principal": entry.get("principal", _text(), required="a username, or group:NAME"),
                "role": entry.get("role", _text(), required="a role's slug, e.g. exchange-administrator"),
                "scope": entry.get("scope", _text(), required="a scope's path, e.g. /"),
                "start_at": entry.get("start_at", _time),
                "end_at": entry.get(
                    "end_at",
                    _or_null(_time),
                    required="a time such as 2027-01-01T00:00:00Z, or null for a permanent assignment",
                ),
                "justification": entry.get("justification", _text()),
            }
            rows.append((entry, row))
        principals = [row["principal"] for _, row in rows if isinstance(row["principal"], str)]
        users = self._find_users([name for name in principals if not name.startswith(GROUP_PREFIX)])
        group_names = [name.removeprefix(GROUP_PREFIX) for name in principals if name.startswith(GROUP_PREFIX)]
        groups = {GROUP_PREFIX + group.name: group for group in Group.objects.filter(name__in=group_names)}
        existing = {
            (_holder(assignment), assignment.role.slug, assignment.scope.path): assignment
            for assignment in EligibleAssignment.objects.not_ended(self.now).select_related(
                "principal", "group", "role", "scope"
            )
        }
        matched, first_line = set(), {}
        additions, replacements, moves = [], [], []
        for entry, row in rows:
            name, slug, path = row["principal"], row["role"], row["scope"]
            principal = (groups.get(name) or users.get(name)) if isinstance(name, str) else None
            if isinstance(name, str) and principal is None:
                if name.startswith(GROUP_PREFIX):
                    entry.refuse("principal", UNKNOWN_GROUP, value=name.removeprefix(GROUP_PREFIX))
                else:
                    entry.refuse("principal", UNKNOWN_USER, value=name)
            if isinstance(slug, str) and slug not in self.role_settings:
                entry.refuse("role", UNKNOWN_ROLE, value=slug)
            if isinstance(path, str) and path not in self.scope_paths:
                entry.refuse("scope", UNKNOWN_SCOPE, value=path)
            if not entry.ok:
                continue
            triple = (name, slug, path)
            if triple in first_line:
                entry.refuse(
                    None,
                    GIVEN_TWICE,
                    what="The eligible assignment",
                    what_lower="principal, role and scope",
                    value=f"{name} {slug} at {path}",
                    first=first_line[triple],
                )
                continue
            first_line[triple] = entry.line_of()
            current = existing.get(triple)
            if current is not None:
                matched.add(triple)
                change = self._compare(entry, row, current)
                if change is not None:
                    (replacements if change.kind == "replace" else moves).append(change)
                continue
            if not isinstance(principal, Group) and not principal.is_active:
                entry.refuse("principal", USER_DISABLED, value=name)  # one already eligible stays, as in the console
                continue
            start_at = self.now if row["start_at"] is _ABSENT else row["start_at"]
            justification = "" if row["justification"] is _ABSENT else row["justification"]
            if self._check_window(entry, slug, start_at, row["end_at"], justification):
                shown = "now" if row["start_at"] is _ABSENT else _utc(start_at)
                until = "permanent" if row["end_at"] is None else f"until {_utc(row['end_at'])}"
                lines = [f"+ eligible {name} {slug} at {path} from {shown}, {until}"]
                run = _assign(principal, slug, path, start_at, row["end_at"], justification)
                additions.append(Change("add", lines, run, entry))
        removals = [
            Change("remove", [f"- eligible {name} {slug} at {path}"], _remove(assignment))
            for (name, slug, path), assignment in sorted(existing.items())
            if (name, slug, path) not in matched
        ]
        # Removals first: a replaced or removed assignment frees its principal, role and scope.
        return removals + replacements + moves + additions

    def _compare(self, entry: _Entry, row: dict, current: EligibleAssignment) -> Change | None:
        """What makes `current` what the file's entry says: nothing, a new end, or a new assignment."""
        name, slug, path = row["principal"], row["role"], row["scope"]
        start_at = _second(current.start_at) if row["start_at"] is _ABSENT else row["start_at"]
        justification = current.justification if row["justification"] is _ABSENT else row["justification"]
        end_at = row["end_at"]
        differs = []
        if start_at != _second(current.start_at):
            differs.append(f"start_at {_utc(current.start_at)} -> {_utc(start_at)}")
        if justification != current.justification:
            differs.append(f"justification {_value(current.justification)} -> {_value(justification)}")
        if end_at != _second(current.end_at):
            differs.append(f"end_at {_utc(current.end_at) or 'permanent'} -> {_utc(end_at) or 'permanent'}")
        if not differs:
            return None
        what = f"eligible {name} {slug} at {path}: {'; '.join(differs)}"
        if start_at == _second(current.start_at) and justification == current.justification:
            if self._check_window(entry, slug, current.start_at, end_at, ""):
                return Change("change", [f"~ {what}"], _move_end(current, end_at), entry)
            return None
        if self._check_window(entry, slug, start_at, end_at, justification):
            principal = current.group or current.principal

            def run(actor):
                services.remove_assignment(actor=actor, assignment=current)
                _assign(principal, slug, path, start_at, end_at, justification)(actor)

            return Change("replace", [f"-/+ {what} (replaced: removed and made again)"], run, entry)
        return None

    def _check_window(self, entry: _Entry, slug: str, start_at, end_at, justification: str) -> bool:
        """The role's assignment rules (with the settings this plan gives it) and an end to come."""
        if end_at is not None and end_at <= self.now:
            entry.refuse("end_at", services.END_IN_PAST, end=_utc(end_at))
            return False
        try:
            rules.check_assignment_window(
                role_settings=self.role_settings[slug],
                kind=EligibleAssignment.kind,
                start_at=start_at,
                end_at=end_at,
                justification=justification,
            )
        except ValidationError as refusal:
            for name, message in _refusal_messages(refusal):
                entry.refuse(name if name in ASSIGNMENT_KEYS else None, message)
            return False
        return True


# Each service call, resolving by slug and path when it runs: earlier changes may have made them.


def _assign(principal, slug: str, path: str, start_at, end_at, justification: str) -> Callable:
    return lambda actor: services.assign_eligible(
        actor=actor,
        principal=principal,
        role=Role.objects.get(slug=slug),
        scope=Scope.objects.get(path=path),
        start_at=start_at,
        end_at=end_at,
        justification=justification,
    )


def _move_end(assignment: EligibleAssignment, end_at) -> Callable:
    return lambda actor: services.change_assignment_end(actor=actor, assignment=assignment, end_at=end_at)


def _remove(assignment: EligibleAssignment) -> Callable:
    return lambda actor: services.remove_assignment(actor=actor, assignment=assignment)
