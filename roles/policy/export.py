"""What the database holds, as a policy document (export_policy) and as YAML (dump_policy)."""

from datetime import UTC, datetime

import yaml

from roles import notifications
from roles.bulk import GROUP_PREFIX
from roles.models import EligibleAssignment, Role, RoleSettings, Scope
from roles.policy.document import SETTING_KEYS, VERSION
from roles.selectors import stage_plans

HEADER = (
    "# PIM policy: scopes, roles with their settings, and eligible assignments. Times are UTC.\n"
    "# See what a changed file would do: python manage.py pim_policy plan FILE\n"
    "# Make it so: python manage.py pim_policy apply FILE --actor USERNAME\n"
)


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _second(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(microsecond=0)


def _holder(assignment: EligibleAssignment) -> str:
    """How a file names who holds an assignment: a username, or group:NAME (as CSV imports do)."""
    return GROUP_PREFIX + assignment.group.name if assignment.group_id else assignment.principal.get_username()


def _notifications_of(notification_rules: dict) -> dict:
    """The rules that differ from Entra's defaults, in full; a rule left out has the defaults."""
    chosen = {}
    for rule in notifications.RULES:
        wanted = notifications.settings_of(notification_rules, rule)
        if wanted != notifications.DEFAULT:
            chosen[rule.key] = {**wanted, "additional_recipients": list(wanted["additional_recipients"])}
    return chosen


def _settings_of(role_settings: RoleSettings) -> dict:
    """A role's settings as a file writes them; a role not saved yet (one a plan creates) has no stages."""
    values = {name: getattr(role_settings, name) for name in SETTING_KEYS[:-2]}
    stages = stage_plans(role_settings) if role_settings.pk else []
    return values | {
        "notifications": _notifications_of(role_settings.notification_rules),
        "approval_stages": [plan.names() for plan in stages],
    }


def export_policy(*, now: datetime) -> dict:
    """Everything a policy file manages, as a document that plans to no change on this database:
    every scope, every role with its settings, and each eligible assignment not yet ended."""
    roles = Role.objects.select_related("settings").order_by("slug")
    assignments = sorted(
        EligibleAssignment.objects.not_ended(now).select_related("principal", "group", "role", "scope"),
        key=lambda assignment: (assignment.role.slug, assignment.scope.path, _holder(assignment)),
    )
    return {
        "version": VERSION,
        "scopes": [{"path": scope.path, "name": scope.name} for scope in Scope.objects.order_by("path")],
        "roles": [
            {
                "slug": role.slug,
                "name": role.name,
                "tier": role.tier,
                "description": role.description,
                "builtin": role.is_builtin,
                "settings": _settings_of(role.settings),
            }
            for role in roles
        ],
        "eligible_assignments": [
            {
                "principal": _holder(assignment),
                "role": assignment.role.slug,
                "scope": assignment.scope.path,
                "start_at": _utc(assignment.start_at),
                "end_at": _utc(assignment.end_at),
                "justification": assignment.justification,
            }
            for assignment in assignments
        ],
    }


class _Dumper(yaml.SafeDumper):
    """Block style with list items indented under their key; a list of names on one line."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data) -> bool:
        return True  # the same list twice is written twice, never as &id001 / *id001


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(isinstance(item, str | int | bool | None) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_policy(document: dict) -> str:
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
