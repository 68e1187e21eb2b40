"""Policy as code: scopes, roles with their settings, and eligible assignments as one YAML
document (version 1), which `manage.py pim_policy` exports, plans and applies.

`export_policy` writes what the database holds. `read_policy` reads a file and keeps the line of
every mapping, key and list item. `plan_policy` holds the document to the rules the services
apply and lists the changes (each one service call) that would make the database match it; it
writes nothing. `apply_policy` makes exactly those changes through the services, in one
transaction, attributed to an active PIM administrator. Any problem refuses the whole file
(PolicyRefused, one message per problem with its line) and nothing changes.

What a file says (README, "Policy as code"):
- scopes listed are created with their parents; scopes are never renamed or deleted;
- roles listed are created or updated; built-in roles change only their settings; custom
  roles left out are kept, or deleted with `prune` when nothing refers to them;
- eligible assignments are exactly the file's: one not in the database is made, one not in the
  file is removed, a different end is moved, a different start or justification replaces it
  (removed and made again, which also ends what was activated from it);
- a section left out is not managed at all, and an optional key left out of an entry is not
  compared: a new entry gets the default, an existing one keeps its value.

Times are UTC ISO 8601 with a zone, compared to the second.

Modules, in the order they import each other: document (the format, reading a file), checks
(reading its values, each problem at its line), export, plan (Plan and Change, how a plan
prints), role_settings, definitions (scopes and roles) and assignments (each checks its section
into changes), planner (plan_policy: the sections in order), apply. Names with a leading
underscore are shared within this package only."""

from roles.policy.apply import apply_policy
from roles.policy.document import PolicyFile, PolicyRefused, read_policy
from roles.policy.export import dump_policy, export_policy
from roles.policy.plan import NO_CHANGES, Plan
from roles.policy.planner import plan_policy

__all__ = [
    "NO_CHANGES",
    "Plan",
    "PolicyFile",
    "PolicyRefused",
    "apply_policy",
    "dump_policy",
    "export_policy",
    "plan_policy",
    "read_policy",
]
