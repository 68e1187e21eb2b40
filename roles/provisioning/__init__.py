"""Provisioning: what a role grants in real systems. A role is bound to targets (a Django group,
a PostgreSQL role, a webhook, or a kind another app registers); each user holding an active
assignment of the role has one Grant row per target, moved by django-q2 tasks from pending to
granted and, when the assignment ends, from revoking to revoked. Access in PIM itself never waits
for a target: a grant that lags shows as such, it does not change what PIM answers.

kinds: the registry and the built-in kinds; models: Target and Grant; services: every change;
engine: reconciling what should be granted with the rows, and carrying out one attempt;
drift: comparing a target's real grants with PIM's; tasks: django-q2 entry points."""
