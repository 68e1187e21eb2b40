"""Reading a document's values: each typed value of an entry read at its key, each problem
reported at that key's line, and the state every section's checks share (_Checks)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from roles.bulk import ISO_DATE_AND_TIME
from roles.models import RoleSettings
from roles.policy.document import Problem, _Mapping, _Sequence

# One value.
REQUIRED = "Required: %(what)s."
UNKNOWN_KEY = "Unknown key '%(key)s'; allowed here: %(allowed)s."
NOT_A_MAPPING = "Must be a mapping (key: value lines) with the keys %(allowed)s; it is %(value)s."
NOT_A_LIST = "Must be a list of %(what)s; it is %(value)s."
NOT_TEXT = "Must be text; it is %(value)s (put it in quotes)."
TEXT_TOO_LONG = "Must be at most %(max)s characters; it has %(length)s."
NOT_AN_INTEGER = "Must be a whole number; it is %(value)s."
NOT_A_BOOLEAN = "Must be true or false; it is %(value)s."
NOT_A_TIME = (
    "%(value)s is not a date and time in ISO 8601 with a time zone; write e.g. 2026-12-22T09:00:00Z "
    "(a date alone is not accepted)."
)
LISTED_TWICE = "'%(value)s' is listed twice; list each name once."
GIVEN_TWICE = "%(what)s '%(value)s' is already given at line %(first)s; give each %(what_lower)s once."

# What the file asks of the database, in more than one section.
UNKNOWN_USER = "No account has the username '%(value)s'; give the username of an existing account."
UNKNOWN_GROUP = "No group is named '%(value)s'; give the name of an existing group."
USER_DISABLED = "The account '%(value)s' is disabled; only active accounts can be named here."


class _Bad(Exception):
    """A value that cannot be read; the message goes after its path."""


def _shown(value) -> str:
    """A value as a message quotes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else f"'{value[:60]}…'"
    return str(value)


def _text(max_length: int | None = None) -> Callable[[Any], str]:
    def read(value) -> str:
        if not isinstance(value, str):
            raise _Bad(NOT_TEXT % {"value": _shown(value)})
        if max_length is not None and len(value) > max_length:
            raise _Bad(TEXT_TOO_LONG % {"max": max_length, "length": len(value)})
        return value

    return read


def _integer(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(NOT_AN_INTEGER % {"value": _shown(value)})
    return value


def _boolean(value) -> bool:
    if not isinstance(value, bool):
        raise _Bad(NOT_A_BOOLEAN % {"value": _shown(value)})
    return value


def _or_null(read: Callable) -> Callable:
    return lambda value: None if value is None else read(value)


def _time(value) -> datetime:
    """ISO 8601 with a zone, in UTC, to the second (as exports write and plans compare)."""
    if not isinstance(value, str) or not ISO_DATE_AND_TIME.match(value):
        raise _Bad(NOT_A_TIME % {"value": _shown(value)})
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError(value)
        return parsed.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):
        raise _Bad(NOT_A_TIME % {"value": _shown(value)}) from None


def _names(what: str) -> Callable[[Any], tuple[str, ...]]:
    def read(value) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise _Bad(NOT_A_LIST % {"what": what, "value": _shown(value)})
        names = tuple(_text()(item) for item in value)
        for index, name in enumerate(names):
            if name in names[:index]:
                raise _Bad(LISTED_TWICE % {"value": name})
        return names

    return read


_ABSENT = object()  # an optional key left out: not compared
_BAD = object()  # a value that could not be read (already reported)


class _Entry:
    """One mapping of the file, named by its path (roles[2].settings), for reading typed values
    and reporting each problem at the line of its key."""

    def __init__(self, problems: list[Problem], node: _Mapping, path: str):
        self.problems, self.node, self.path = problems, node, path
        self.ok = True

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line_of(self, key: str | None = None) -> int:
        return self.node.key_lines.get(key, self.node.line)

    def refuse(self, key: str | None, message: str, /, **params) -> None:
        self.ok = False
        path = self.where(key) if key else self.path
        self.problems.append(Problem(self.line_of(key), path, message % params if params else message))

    def get(self, key: str, read: Callable, *, required: str = ""):
        """The value under `key` read by `read`; _ABSENT when left out, _BAD when refused."""
        if key not in self.node:
            if required:
                self.refuse(key, REQUIRED, what=required)
                return _BAD
            return _ABSENT
        try:
            return read(self.node[key])
        except _Bad as bad:
            self.refuse(key, str(bad))
            return _BAD


def _entry(problems: list[Problem], node, path: str, line: int, allowed: tuple[str, ...]) -> _Entry | None:
    """`node` as an _Entry when it is a mapping of known keys; None (reported) otherwise."""
    if not isinstance(node, _Mapping):
        message = NOT_A_MAPPING % {"allowed": ", ".join(allowed), "value": _shown(node)}
        problems.append(Problem(line, path, message))
        return None
    entry = _Entry(problems, node, path)
    for key in node:
        if key not in allowed:
            entry.refuse(str(key), UNKNOWN_KEY, key=key, allowed=", ".join(allowed))
    return entry


def _items(parent: _Entry, key: str, what: str) -> list[tuple[int, int, Any]]:
    """(index, line, item) of the list under `key`; none when left out or not a list (reported)."""
    value = parent.node.get(key)
    if not isinstance(value, _Sequence):
        parent.refuse(key, NOT_A_LIST, what=what, value=_shown(value))
        return []
    return [(index, value.item_lines[index], item) for index, item in enumerate(value)]


def _refusal_messages(refusal: ValidationError) -> list[tuple[str, str]]:
    """(field, message) of a service's or rule's refusal; field "" when it names none."""
    if hasattr(refusal, "error_dict"):
        return [(name, message) for name, messages in refusal.message_dict.items() for message in messages]
    return [("", message) for message in refusal.messages]


class _Checks:
    """What checking a document knows as it goes: the problems found so far, the scopes and role
    settings there will be once the plan is applied, and the accounts looked up. Each section is
    checked by a subclass (role_settings, definitions, assignments); planner._Planner combines
    them and puts the sections in order."""

    def __init__(self, *, now: datetime, prune: bool):
        self.now, self.prune = now, prune
        self.problems: list[Problem] = []
        self.scope_paths: set[str] = set()
        self.role_settings: dict[str, RoleSettings] = {}  # slug -> the settings once the plan is applied
        self.users: dict[str, Any] = {}

    def _find_users(self, names) -> dict:
        """The accounts with these usernames, each looked up once per plan."""
        User = get_user_model()
        missing = [name for name in names if name not in self.users]
        if missing:
            found = User.objects.filter(**{f"{User.USERNAME_FIELD}__in": missing})
            self.users |= {user.get_username(): user for user in found}
        return {name: self.users[name] for name in names if name in self.users}
