"""plan_policy: a document checked section by section, in order, into a Plan."""

from datetime import datetime

from roles.models import Role, Scope
from roles.policy.assignments import _AssignmentChecks
from roles.policy.checks import _BAD, _entry, _integer, _items, _shown
from roles.policy.definitions import _DefinitionChecks
from roles.policy.document import ROOT_KEYS, VERSION, PolicyFile, PolicyRefused, Problem
from roles.policy.plan import Plan

EMPTY = "The file is empty; pim_policy export shows the form: version: 1, scopes, roles, eligible_assignments."
VERSION_WRONG = "Must be 1, the only policy format there is; it is %(value)s."


def plan_policy(policy: PolicyFile, *, now: datetime, prune: bool = False) -> Plan:
    """The changes that would make the database hold what `policy` says, checked against the
    rules the services apply; raises PolicyRefused listing every problem. Writes nothing."""
    return _Planner(now=now, prune=prune).plan(policy)


class _Planner(_DefinitionChecks, _AssignmentChecks):
    """Reads the document section by section (scopes, then roles, then assignments, each
    depending on the ones before) and collects problems and changes as it goes."""

    def plan(self, policy: PolicyFile) -> Plan:
        document = policy.document
        if document is None:
            raise PolicyRefused(policy.source, [Problem(1, "", EMPTY)])
        root = _entry(self.problems, document, "", getattr(document, "line", 1), ROOT_KEYS)
        if root is None:
            raise PolicyRefused(policy.source, self.problems)
        version = root.get("version", _integer, required="write version: 1 at the top of the file")
        if version not in (VERSION, _BAD):
            root.refuse("version", VERSION_WRONG, value=_shown(version))
        plan = Plan()
        self.scope_paths = set(Scope.objects.values_list("path", flat=True))
        if "scopes" in root.node:
            plan.changes += self._scopes(_items(root, "scopes", "scopes (path, name)"))
        self.role_settings = {role.slug: role.settings for role in Role.objects.select_related("settings")}
        deletions = []
        if "roles" in root.node:
            changes, deletions, plan.notes = self._roles(_items(root, "roles", "roles (slug, name, tier, ...)"))
            plan.changes += changes
        if "eligible_assignments" in root.node:
            items = _items(root, "eligible_assignments", "eligible assignments (principal, role, scope, ...)")
            plan.changes += self._assignments(items)
        if self.problems:
            raise PolicyRefused(policy.source, self.problems)
        plan.changes += deletions  # last: the role may be named by assignments until then
        return plan
