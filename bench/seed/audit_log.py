"""The audit log: a year of events, COPYed in, chained as audit.services.record_event chains them."""

import json
import random
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from audit import chain
from audit.models import AuditChainHead, AuditEvent
from bench.seed.shapes import Size

ACTIONS = (
    ("auth.signed_in", 20),
    ("auth.mfa_verified", 20),
    ("activation.requested", 14),
    ("assignment.activated", 14),
    ("assignment.expired", 12),
    ("assignment.deactivated", 3),
    ("activation.refused", 3),
    ("activation.approved", 3),
    ("assignment.eligible_assigned", 4),
    ("assignment.removed", 2),
    ("role_settings.updated", 1),
    ("auth.mfa_failed", 2),
    ("api_token.created", 1),
    ("notification.sent", 1),
)
TARGETS = {
    "activation": "activations.activationrequest",
    "assignment": "roles.activeassignment",
    "role_settings": "roles.rolesettings",
    "api_token": "pimsite.apitoken",
}
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1",
    "pim-cli/0.1 (Python 3.11)",
    "",
)
JUSTIFICATIONS = (
    "",
    "",
    "INC-48213 unlock helpdesk admin",
    "CHG-2231 quarterly patching window",
    "Investigating sign-in failures for the finance team",
    "On-call: mailbox restore requested",
)
COLUMNS = (*chain.HASHED_FIELDS, "hash")


def load_audit_log(size: Size, rng: random.Random, *, users: dict, roles: list, scopes: list, end: datetime) -> None:
    """`size.events` events over the last year, oldest first, chained from the current head."""
    head = AuditChainHead.objects.get(pk=1)
    sequence, prev_hash = head.last_sequence, head.last_hash
    people = [(user.pk, user.username) for user in users.values()]
    slugs = [role.slug for role in roles]
    paths = [scope.path for scope in scopes]
    actions = [name for name, weight in ACTIONS for _ in range(weight)]
    start = end - timedelta(days=365)
    step = (end - start) / size.events
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(AuditEvent._meta.get_field(name).column) for name in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # noqa: S608  our own names
            for n in range(size.events):
                sequence += 1
                action = rng.choice(actions)
                actor_id, actor_name = rng.choice(people)
                principal_id, principal_name = (actor_id, actor_name) if rng.random() < 0.8 else rng.choice(people)
                kind = action.split(".")[0]
                target_type = TARGETS.get(kind, "")
                system = action == "assignment.expired"
                values = {
                    "sequence": sequence,
                    "occurred_at": (start + step * n + timedelta(microseconds=rng.randrange(1000))).astimezone(UTC),
                    "actor_id": None if system else actor_id,
                    "actor_username": "" if system else actor_name,
                    "action": action,
                    "target_type": target_type,
                    "target_id": str(rng.randrange(1, 50_000)) if target_type else "",
                    "principal_id": principal_id,
                    "principal_username": principal_name,
                    "role": rng.choice(slugs) if kind in ("activation", "assignment", "role_settings") else "",
                    "scope": rng.choice(paths) if kind in ("activation", "assignment") else "",
                    "justification": rng.choice(JUSTIFICATIONS) if kind == "activation" else "",
                    "client_ip": None
                    if system
                    else f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    "user_agent": "" if system else rng.choice(USER_AGENTS),
                    "data": _event_data(action, rng),
                    "prev_hash": prev_hash,
                }
                values["hash"] = prev_hash = chain.event_hash(values)
                copy.write_row([_copy_value(values[name]) for name in COLUMNS])
        AuditChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=prev_hash)


def _event_data(action: str, rng: random.Random) -> dict:
    # Strings and integers only: what the jsonb column gives back equals what was hashed.
    if action == "activation.requested":
        return {"duration_minutes": rng.choice((30, 60, 120, 240)), "approval": rng.random() < 0.2, "ticket": ""}
    if action in ("auth.mfa_verified", "auth.signed_in"):
        return {"device": "Authenticator app"}
    if action == "assignment.expired":
        return {"assignment_type": "active"}
    if action in ("activation.refused", "auth.mfa_failed"):
        return {"rule": "mfa_invalid", "message": "That code is not valid or was already used."}
    return {}


def _copy_value(value):
    return json.dumps(value) if isinstance(value, dict) else value
