"""A plan: its changes (each one service call, with the entry of the file it comes from) and
the lines it prints for them."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from roles import notifications, rules
from roles.bulk import GROUP_PREFIX
from roles.policy.checks import _Entry, _refusal_messages, _shown
from roles.policy.document import Problem

NO_CHANGES = "No changes."
DONE = {"add": "added", "change": "changed", "replace": "replaced", "remove": "removed"}

# Where a service's refusal of a field shows in the file, when the file calls it otherwise.
FILE_KEYS = {"stages": "approval_stages", "notification_rules": "notifications"}


@dataclass
class Change:
    """One service call of a plan: the lines a plan prints for it, and the entry of the file it
    comes from (None for what the file leaves out), to name when the service refuses it."""

    kind: str  # add, change, replace, remove
    lines: list[str]
    run: Callable[[Any], object]  # run(actor)
    entry: _Entry | None = None

    def refused(self, refusal: ValidationError) -> list[Problem]:
        """The service's refusal of this change, each message at the line of the key it names."""
        problems = []
        for name, message in _refusal_messages(refusal):
            key = FILE_KEYS.get(name, name)
            if self.entry is None:
                problems.append(Problem(None, "", f"{self.lines[0]}: {message}"))
            elif key in self.entry.node:
                problems.append(Problem(self.entry.line_of(key), self.entry.where(key), message))
            else:
                problems.append(Problem(self.entry.line_of(), self.entry.path, message))
        return problems


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what stays as it is, and why

    def lines(self) -> list[str]:
        return [line for change in self.changes for line in change.lines]

    def counts(self) -> dict[str, int]:
        counts = {"add": 0, "change": 0, "replace": 0, "remove": 0}
        for change in self.changes:
            counts[change.kind] += 1
        return counts

    def summary(self, *, done: bool = False) -> str:
        """'1 to add, 2 to change' before; '1 added, 2 changed' after."""
        words = DONE if done else {kind: f"to {kind}" for kind in DONE}
        return ", ".join(f"{count} {words[kind]}" for kind, count in self.counts().items() if count)


def _value(value) -> str:
    """A setting's value as a plan line shows it (YAML's words)."""
    if isinstance(value, bool) or value is None:
        return _shown(value)
    if isinstance(value, str):
        return "'" + value.replace("\n", "\\n") + "'"  # one line per change, whatever the text
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _describe_stages(stages: list[dict]) -> str:
    if not stages:
        return "none"
    described = []
    for number, stage in enumerate(stages, start=1):
        who = [*stage["approvers"], *(GROUP_PREFIX + name for name in stage["approver_groups"])]
        text = (
            f"stage {number}: {', '.join(who) or 'nobody'}; "
            f"{rules.BOUNDS_BY_FIELD['approvals_required'].describe(stage['approvals_required'])}; "
            f"timeout {rules.describe_minutes(stage['timeout_minutes'])}"
        )
        if stage["escalate_after_minutes"] is not None:
            to = [*stage["escalation_approvers"], *(GROUP_PREFIX + name for name in stage["escalation_groups"])]
            text += f"; escalate after {rules.describe_minutes(stage['escalate_after_minutes'])} to {', '.join(to)}"
        described.append(text)
    return "[" + " | ".join(described) + "]"


def _setting_lines(slug: str, before: dict, after: dict) -> list[str]:
    lines = []
    prefix = f"~ role {slug} settings:"
    for name, old in before.items():
        new = after[name]
        if name == "notifications":
            for key in sorted(set(old) | set(new)):
                was = old.get(key, notifications.DEFAULT)
                now = new.get(key, notifications.DEFAULT)
                for part in notifications.DEFAULT:
                    if _compared(was[part]) != _compared(now[part]):
                        lines.append(f"{prefix} notifications {key} {part} {_value(was[part])} -> {_value(now[part])}")
        elif name == "approval_stages":
            if old != new:
                lines.append(f"{prefix} approval_stages {_describe_stages(old)} -> {_describe_stages(new)}")
        elif old != new:
            lines.append(f"{prefix} {name} {_value(old)} -> {_value(new)}")
    return lines


def _compared(value):
    """Additional recipients are a set: their order is no change."""
    return sorted(value) if isinstance(value, list) else value


def _comparable(chosen: dict) -> dict:
    """Notification rules (as _notifications_of gives them) with their additional recipients sorted."""
    return {key: {part: _compared(value) for part, value in values.items()} for key, values in chosen.items()}
