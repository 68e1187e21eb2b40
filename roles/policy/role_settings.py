"""Checking a role's settings in a file: the settings, notification rules and approval stages,
as update_role_settings checks them."""

from collections.abc import Callable

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from roles import notifications, rules
from roles.models import RoleSettings
from roles.policy.checks import (
    _ABSENT,
    _BAD,
    NOT_A_MAPPING,
    UNKNOWN_GROUP,
    UNKNOWN_USER,
    USER_DISABLED,
    _boolean,
    _Checks,
    _Entry,
    _entry,
    _integer,
    _items,
    _names,
    _or_null,
    _refusal_messages,
    _shown,
    _text,
)
from roles.policy.document import (
    SETTING_KEYS,
    STAGE_GROUP_KEYS,
    STAGE_KEYS,
    STAGE_USER_KEYS,
    Problem,
    _Mapping,
    _Sequence,
)
from roles.policy.plan import _comparable
from roles.selectors import stage_plans

UNKNOWN_RULE = "No notification rule is called '%(value)s'; the rules are %(allowed)s."


class _SettingsChecks(_Checks):
    """The settings of each role in the file, for definitions._DefinitionChecks."""

    def _settings(self, role_entry: _Entry, slug: str, role_settings: RoleSettings, before: dict):
        """(changes for update_role_settings, stages or None, settings after, the settings' entry)
        for the role's settings in the file, checked as update_role_settings checks them; None
        when refused.
        Also records the settings the role will have, for its assignments to be checked against."""
        self.role_settings[slug] = role_settings
        if "settings" not in role_entry.node:
            return {}, None, before, role_entry
        entry = _entry(
            self.problems,
            role_entry.node["settings"],
            role_entry.where("settings"),
            role_entry.line_of("settings"),
            SETTING_KEYS,
        )
        if entry is None:
            role_entry.ok = False
            return None
        changes = {}
        for name in SETTING_KEYS[:-2]:
            value = entry.get(name, _setting_reader(name))
            if value not in (_ABSENT, _BAD) and value != getattr(role_settings, name):
                changes[name] = value
                setattr(role_settings, name, value)
        try:
            rules.check_role_settings(
                {bound.field: getattr(role_settings, bound.field) for bound in rules.ROLE_SETTINGS_BOUNDS}
                | {"ticket_number_pattern": role_settings.ticket_number_pattern}
            )
        except ValidationError as refusal:
            for name, message in _refusal_messages(refusal):
                entry.refuse(name, message)
        after = dict(before) | {name: getattr(role_settings, name) for name in changes}
        if "notifications" in entry.node:
            wanted = self._notifications(entry)
            if wanted is not None:
                after["notifications"] = wanted
                if _comparable(wanted) != _comparable(before["notifications"]):
                    changes["notification_rules"] = wanted
        stages = None
        if "approval_stages" in entry.node:
            stages = self._stages(entry, role_settings)
            if stages is None:
                return None
            after["approval_stages"] = [plan.names() for plan in stages]
            self._check_stages(entry, role_settings.require_approval, stages)
        elif "require_approval" in changes and role_settings.pk:
            self._check_stages(entry, role_settings.require_approval, stage_plans(role_settings))
        elif "require_approval" in changes:
            self._check_stages(entry, role_settings.require_approval, [])
        if not entry.ok:
            role_entry.ok = False
            return None
        return changes, stages, after, entry

    def _notifications(self, settings_entry: _Entry) -> dict | None:
        node = settings_entry.node["notifications"]
        path = settings_entry.where("notifications")
        allowed = tuple(rule.key for rule in notifications.RULES)
        if not isinstance(node, _Mapping):
            settings_entry.refuse(
                "notifications", NOT_A_MAPPING, allowed="rule keys such as role.activated.admin", value=_shown(node)
            )
            return None
        wanted = {}
        for key, values in node.items():
            rule = notifications.RULES_BY_KEY.get(key)
            if rule is None:
                self.problems.append(
                    Problem(
                        node.key_lines[key],
                        f"{path}[{key}]",
                        UNKNOWN_RULE % {"value": key, "allowed": ", ".join(allowed)},
                    )
                )
                continue
            entry = _entry(self.problems, values, f"{path}[{key}]", node.key_lines[key], tuple(notifications.DEFAULT))
            if entry is None:
                settings_entry.ok = False
                continue
            read = {
                "default_recipients": _boolean,
                "critical_only": _boolean,
                "additional_recipients": _names("email addresses"),
            }
            rule_values = {part: entry.get(part, reader) for part, reader in read.items()}
            if not entry.ok:
                settings_entry.ok = False
                continue
            rule_values = {
                part: (list(value) if isinstance(value, tuple) else value)
                for part, value in rule_values.items()
                if value is not _ABSENT
            }
            try:
                notifications.check_notification_rules({key: rule_values})
            except ValidationError as refusal:
                for _, message in _refusal_messages(refusal):
                    entry.refuse("additional_recipients", message)
                settings_entry.ok = False
                continue
            wanted[key] = notifications.DEFAULT | rule_values
        if len(wanted) != len(node):
            settings_entry.ok = False
            return None
        return {key: values for key, values in wanted.items() if values != notifications.DEFAULT}

    def _stages(self, settings_entry: _Entry, role_settings: RoleSettings) -> list[rules.StagePlan] | None:
        # Someone already named may stay named when disabled, as on the settings page.
        named = set()
        if role_settings.pk:
            for plan in stage_plans(role_settings):
                named |= {user.get_username() for user in (*plan.approvers, *plan.escalation_approvers)}
        plans = []
        for index, line, node in _items(settings_entry, "approval_stages", "approval stages"):
            entry = _entry(self.problems, node, settings_entry.where(f"approval_stages[{index}]"), line, STAGE_KEYS)
            if entry is None:
                settings_entry.ok = False
                continue
            values = {}
            for key in STAGE_KEYS:
                if key in STAGE_USER_KEYS:
                    names = entry.get(key, _names("usernames"))
                    values[key] = self._stage_users(entry, key, names, named) if isinstance(names, tuple) else names
                elif key in STAGE_GROUP_KEYS:
                    names = entry.get(key, _names("group names"))
                    values[key] = self._groups(entry, key, names) if isinstance(names, tuple) else names
                else:
                    values[key] = entry.get(key, _or_null(_integer) if key == "escalate_after_minutes" else _integer)
            if not entry.ok:
                settings_entry.ok = False
                continue
            plans.append(rules.StagePlan(**{key: value for key, value in values.items() if value is not _ABSENT}))
        if not settings_entry.ok:
            return None
        return plans

    def _stage_users(self, entry: _Entry, key: str, names: tuple[str, ...], named: set[str]) -> tuple:
        users = self._find_users(names)
        for name in names:
            if name not in users:
                entry.refuse(key, UNKNOWN_USER, value=name)
            elif not users[name].is_active and name not in named:
                entry.refuse(key, USER_DISABLED, value=name)
        return tuple(sorted((users[name] for name in names if name in users), key=lambda user: user.get_username()))

    def _groups(self, entry: _Entry, key: str, names: tuple[str, ...]) -> tuple:
        groups = {group.name: group for group in Group.objects.filter(name__in=names)}
        for name in names:
            if name not in groups:
                entry.refuse(key, UNKNOWN_GROUP, value=name)
        return tuple(sorted(groups.values(), key=lambda group: group.name))

    def _check_stages(self, entry: _Entry, require_approval: bool, stages: list[rules.StagePlan]) -> None:
        """rules.check_stages, each problem at its stage's field when the file lists the stages."""
        try:
            rules.check_stages(require_approval=require_approval, stages=stages)
        except ValidationError as refusal:
            entry.ok = False
            listed = entry.node.get("approval_stages")
            for error in refusal.error_dict["stages"]:
                params = error.params or {}
                message = error.message % params if params else error.message
                stage = params.get("stage")
                if isinstance(listed, _Sequence) and stage is not None and stage <= len(listed):
                    node = listed[stage - 1]
                    key = params.get("field")
                    line = node.key_lines.get(key, node.line) if key else node.line
                    where = entry.where(f"approval_stages[{stage - 1}]") + (f".{key}" if key else "")
                    self.problems.append(Problem(line, where, message))
                else:
                    key = "approval_stages" if "approval_stages" in entry.node else "require_approval"
                    entry.refuse(key, message)


def _setting_reader(name: str) -> Callable:
    if name in rules.BOUNDS_BY_FIELD:
        return _integer
    model_field = RoleSettings._meta.get_field(name)
    return _boolean if isinstance(model_field, models.BooleanField) else _text(model_field.max_length)
