"""The policy file's format (version 1 and the keys of each entry), its problems and refusal,
and reading it: a YAML loader that keeps the line of every mapping, key and list item."""

import hashlib
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from yaml.constructor import ConstructorError

from roles import rules, services

VERSION = 1
MAX_BYTES = 5 * 1024 * 1024
ROOT_KEYS = ("version", "scopes", "roles", "eligible_assignments")
SCOPE_KEYS = ("path", "name")
ROLE_KEYS = ("slug", "name", "tier", "description", "builtin", "settings")
# Every role setting, with the notification rules as `notifications` and the stages beside them.
SETTING_KEYS = (
    *(name for name in services.SETTINGS_FIELDS if name != "notification_rules"),
    "notifications",
    "approval_stages",
)
STAGE_KEYS = tuple(rules.StagePlan().names())
STAGE_USER_KEYS = ("approvers", "escalation_approvers")
STAGE_GROUP_KEYS = ("approver_groups", "escalation_groups")
ASSIGNMENT_KEYS = ("principal", "role", "scope", "start_at", "end_at", "justification")

# The file as a whole.
FILE_TOO_LARGE = "The file is larger than 5 MB; a policy file can be at most 5 MB (5,242,880 bytes)."
NOT_UTF8 = "The file is not UTF-8 text; save it as UTF-8."
NOT_YAML = "Not valid YAML: %(problem)s."
ALIAS_REFUSED = "Aliases (*%(alias)s) are not accepted in a policy file; write the value out in full."
KEY_TWICE = "The key '%(key)s' is given twice in this mapping (first at line %(first)s); give it once."
NOT_A_KEY = "A key must be a plain word, e.g. slug."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (line, and path such as roles[2].tier) and why."""

    line: int | None
    path: str
    message: str

    def render(self, source: str) -> str:
        where = f"{source} line {self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyRefused(ValidationError):
    """The whole file is refused, nothing changed: one message per problem, in line order."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = sorted(problems, key=lambda problem: problem.line or 0)
        super().__init__([ValidationError(problem.render(source), code="policy_invalid") for problem in self.problems])


class _NotAccepted(ConstructorError):
    """Valid YAML that a policy file does not take (an alias, a key given twice); said as it is."""


class _Mapping(dict):
    """A YAML mapping that knows its line and the line of each of its keys."""

    line: int
    key_lines: dict


class _Sequence(list):
    """A YAML list that knows its line and the line of each item."""

    line: int
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """SafeLoader keeping lines (see _Mapping, _Sequence), refusing aliases and keys given
    twice, and reading times as text, for _time to parse with one message for every bad one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _NotAccepted(None, None, ALIAS_REFUSED % {"alias": event.anchor}, event.start_mark)
        return super().compose_node(parent, index)

    def construct_lined_mapping(self, node: yaml.MappingNode) -> _Mapping:
        self.flatten_mapping(node)
        mapping = _Mapping()
        mapping.line, mapping.key_lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool | None):
                raise _NotAccepted(None, None, NOT_A_KEY, key_node.start_mark)
            if key in mapping:
                message = KEY_TWICE % {"key": key, "first": mapping.key_lines[key]}
                raise _NotAccepted(None, None, message, key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_lined_sequence(self, node: yaml.SequenceNode) -> _Sequence:
        sequence = _Sequence(self.construct_object(item, deep=True) for item in node.value)
        sequence.line = node.start_mark.line + 1
        sequence.item_lines = [item.start_mark.line + 1 for item in node.value]
        return sequence


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_lined_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_lined_sequence)


@dataclass(frozen=True)
class PolicyFile:
    """A policy file read: its name (as messages show it), digest (for the audit event) and document."""

    source: str
    sha256: str
    document: Any


def read_policy(*, source: str, data: bytes) -> PolicyFile:
    """Parse a file's bytes; refuses what is not UTF-8 YAML. Its content is checked by plan_policy."""
    if len(data) > MAX_BYTES:
        raise PolicyRefused(source, [Problem(None, "", FILE_TOO_LARGE)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PolicyRefused(source, [Problem(data[: error.start].count(b"\n") + 1, "", NOT_UTF8)]) from None
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except _NotAccepted as error:
        raise PolicyRefused(source, [Problem(error.problem_mark.line + 1, "", error.problem)]) from None
    except yaml.YAMLError as error:  # the parser's own words, at the line it stopped
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        if getattr(error, "context", None):
            problem = f"{error.context}, {problem}"
        line = mark.line + 1 if mark is not None else None
        raise PolicyRefused(source, [Problem(line, "", NOT_YAML % {"problem": problem.rstrip(".")})]) from None
    finally:
        loader.dispose()
    return PolicyFile(source=source, sha256=hashlib.sha256(data).hexdigest(), document=document)
