"""Checking the scopes and roles of a file into changes: scopes made with their parents, roles
made, changed or (with prune) deleted."""

import copy
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models

from roles import rules, services
from roles.choices import Tier
from roles.models import Role, RoleSettings, Scope
from roles.policy.checks import (
    _ABSENT,
    _BAD,
    GIVEN_TWICE,
    _Bad,
    _boolean,
    _Entry,
    _entry,
    _shown,
    _text,
)
from roles.policy.document import ROLE_KEYS, SCOPE_KEYS, Problem
from roles.policy.export import _settings_of
from roles.policy.plan import Change, _setting_lines, _value
from roles.policy.role_settings import _SettingsChecks

NOT_A_SLUG = "'%(value)s' is not a slug: letters, digits, '-' and '_' only, e.g. helpdesk-operator."
TIER_UNKNOWN = "Must be one of %(allowed)s; it is %(value)s."
NAME_TAKEN = "The role %(other)s is already named '%(value)s'; role names are unique."
BUILTIN_READ_ONLY = (
    "%(slug)s is a built-in role: its name, tier and description cannot change (its settings can); it is %(current)s."
)
BUILTIN_WRONG = "builtin is read-only and tells whether PIM ships the role: %(slug)s has builtin: %(current)s."
SCOPE_RENAMED = "A policy file does not rename scopes: %(path)s is named %(current)s; give that name or leave it out."


class _DefinitionChecks(_SettingsChecks):
    """The scopes and roles sections of the file."""

    def _scopes(self, items) -> list[Change]:
        existing = {scope.path: scope for scope in Scope.objects.all()}
        wanted: dict[str, tuple[str, _Entry]] = {}  # path -> name, entry
        first_line: dict[str, int] = {}
        for index, line, node in items:
            entry = _entry(self.problems, node, f"scopes[{index}]", line, SCOPE_KEYS)
            if entry is None:
                continue
            path = entry.get("path", _text(400), required="the scope's path, e.g. /subscriptions/prod")
            name = entry.get("name", _text(Scope._meta.get_field("name").max_length))
            if path in (_BAD, _ABSENT):
                continue
            try:
                rules.check_scope_path(path)
            except ValidationError as refusal:
                entry.refuse("path", refusal.message_dict["path"][0])
                continue
            if path in first_line:
                entry.refuse(
                    "path", GIVEN_TWICE, what="The scope", what_lower="scope", value=path, first=first_line[path]
                )
                continue
            first_line[path] = entry.line_of("path")
            if path in existing:
                if isinstance(name, str) and name != existing[path].name:
                    entry.refuse("name", SCOPE_RENAMED, path=path, current=_shown(existing[path].name))
            elif name is not _BAD:
                wanted[path] = ("" if name is _ABSENT else name, entry)
        changes = []
        for path in sorted(wanted):  # a parent sorts before its children: it is made first, with its name
            name, entry = wanted[path]
            made = [ancestor for ancestor in rules.ancestor_paths(path) if ancestor not in self.scope_paths]
            self.scope_paths.update(made)
            lines = [
                f"+ scope {ancestor} ({name if ancestor == path else ancestor.rsplit('/', 1)[-1]})" for ancestor in made
            ]
            changes.append(Change("add", lines, _create_scope(path, name), entry))
        return changes

    # Roles

    def _roles(self, items) -> tuple[list[Change], list[Change], list[str]]:
        """Changes to the roles listed; deletions of custom roles left out (with prune); notes."""
        existing = {role.slug: role for role in Role.objects.select_related("settings")}
        names_in_file: dict[str, tuple[str, int, str]] = {}  # name -> slug, line, path
        first_line: dict[str, int] = {}
        changes: list[Change] = []
        for index, line, node in items:
            entry = _entry(self.problems, node, f"roles[{index}]", line, ROLE_KEYS)
            if entry is None:
                continue
            slug = entry.get("slug", self._slug, required="the role's identifier, e.g. helpdesk-operator")
            if slug in (_BAD, _ABSENT):
                continue
            if slug in first_line:
                entry.refuse(
                    "slug", GIVEN_TWICE, what="The role", what_lower="role", value=slug, first=first_line[slug]
                )
                continue
            first_line[slug] = entry.line_of("slug")
            name = entry.get(
                "name",
                _text(Role._meta.get_field("name").max_length),
                required="the role's name, e.g. Helpdesk Operator",
            )
            tier = entry.get("tier", self._tier, required=f"one of {', '.join(Tier.values)}")
            description = entry.get("description", _text())
            builtin = entry.get("builtin", _boolean)
            role = existing.get(slug)
            if isinstance(name, str):
                if name in names_in_file:
                    entry.refuse(
                        "name",
                        GIVEN_TWICE,
                        what="The role name",
                        what_lower="role name",
                        value=name,
                        first=names_in_file[name][1],
                    )
                names_in_file[name] = (slug, entry.line_of("name"), entry.where("name"))
            if isinstance(builtin, bool) and builtin != (role.is_builtin if role else False):
                entry.refuse("builtin", BUILTIN_WRONG, slug=slug, current=_shown(role.is_builtin if role else False))
            if role is None:
                changes += self._new_role(entry, slug, name, tier, description)
            else:
                changes += self._existing_role(entry, role, name, tier, description)
        for name, (slug, line, path) in names_in_file.items():
            # A role the file leaves out keeps its name, even one --prune deletes: deletions come last.
            other = next((role for role in existing.values() if role.name == name and role.slug != slug), None)
            if other is not None and other.slug not in first_line:
                self.problems.append(Problem(line, path, NAME_TAKEN % {"other": other.slug, "value": name}))
        deletions, notes = [], []
        for slug, role in sorted(existing.items()):
            if slug in first_line or role.is_builtin:
                continue
            if not self.prune:
                notes.append(f"= role {slug} kept (not in file; --prune deletes it)")
            elif _in_use(role):
                notes.append(f"= role {slug} kept: not in file, but assignments or requests still name it")
            else:
                deletions.append(Change("remove", [f"- role {slug} ({role.name})"], _delete_role(role)))
        return changes, deletions, notes

    @staticmethod
    def _slug(value) -> str:
        slug = _text(Role._meta.get_field("slug").max_length)(value)
        try:
            validate_slug(slug)
        except ValidationError:
            raise _Bad(NOT_A_SLUG % {"value": slug[:60]}) from None
        return slug

    @staticmethod
    def _tier(value) -> str:
        if value not in Tier.values:
            raise _Bad(TIER_UNKNOWN % {"allowed": ", ".join(Tier.values), "value": _shown(value)})
        return value

    def _new_role(self, entry: _Entry, slug, name, tier, description) -> list[Change]:
        defaults = RoleSettings(role=Role(slug=slug, name=name if isinstance(name, str) else slug))
        before = _settings_of(defaults)
        settings_change = self._settings(entry, slug, defaults, before)
        if not entry.ok or settings_change is None:
            return []
        changes, stages, after, _ = settings_change
        description = "" if description is _ABSENT else description
        lines = [f"+ role {slug} ({Tier(tier).label})", *_setting_lines(slug, before, after)]

        def run(actor):
            role = services.create_role(actor=actor, slug=slug, name=name, tier=tier, description=description)
            if changes or stages is not None:
                services.update_role_settings(actor=actor, role=role, changes=changes, stages=stages)

        return [Change("add", lines, run, entry)]

    def _existing_role(self, entry: _Entry, role: Role, name, tier, description) -> list[Change]:
        result = []
        wanted = {"name": name, "tier": tier, "description": description}
        differs = [key for key, value in wanted.items() if isinstance(value, str) and value != getattr(role, key)]
        if role.is_builtin:
            for key in differs:
                entry.refuse(key, BUILTIN_READ_ONLY, slug=role.slug, current=_shown(getattr(role, key)))
        elif differs and entry.ok:
            after = {key: value if isinstance(value, str) else getattr(role, key) for key, value in wanted.items()}
            lines = [
                f"~ role {role.slug}: {key} {_value(getattr(role, key))} -> {_value(after[key])}" for key in differs
            ]
            result.append(Change("change", lines, _update_role(role, after), entry))
        before = _settings_of(role.settings)
        settings_change = self._settings(entry, role.slug, copy.copy(role.settings), before)
        if settings_change is not None and entry.ok:
            changes, stages, after, settings_entry = settings_change
            if changes or (stages is not None and after["approval_stages"] != before["approval_stages"]):
                lines = _setting_lines(role.slug, before, after)
                result.append(Change("change", lines, _update_settings(role, changes, stages), settings_entry))
        return result


def _in_use(role: Role) -> bool:
    """Whether a row protects the role from deletion (assignments, and activation requests,
    which roles does not import): services.delete_role would refuse it."""
    for relation in Role._meta.get_fields(include_hidden=True):
        protects = relation.auto_created and not relation.concrete and relation.on_delete is models.PROTECT
        if protects and relation.related_model._base_manager.filter(**{relation.field.name: role}).exists():
            return True
    return False


# Each service call a change makes, as run(actor).


def _create_scope(path: str, name: str) -> Callable:
    return lambda actor: services.create_scope(actor=actor, path=path, name=name)


def _update_role(role: Role, values: dict) -> Callable:
    return lambda actor: services.update_role(actor=actor, role=role, **values)


def _update_settings(role: Role, changes: dict, stages) -> Callable:
    return lambda actor: services.update_role_settings(actor=actor, role=role, changes=changes, stages=stages)


def _delete_role(role: Role) -> Callable:
    return lambda actor: services.delete_role(actor=actor, role=role)
