"""apply_policy: a plan made through the services, in one transaction, as a PIM administrator."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record_event
from roles.policy.document import PolicyFile, PolicyRefused
from roles.policy.plan import Plan
from roles.policy.planner import plan_policy
from roles.selectors import is_pim_administrator

NOT_ADMINISTRATOR = (
    "%(actor)s does not hold an active Privileged Role Administrator or Global Administrator assignment at / "
    "now; activate the role first, or name another administrator with --actor."
)
CHANGED_MEANWHILE = "The database refused this change (%(error)s); was it changed meanwhile? Plan again."


def apply_policy(*, actor, policy: PolicyFile, prune: bool = False) -> Plan:
    """Make the database hold what `policy` says: the plan of plan_policy, made in one
    transaction through the services (each audits its change as `actor`), then one
    policy.applied event. `actor` must be an active PIM administrator now (ValidationError
    not_administrator otherwise). Any refusal of the file or by a service raises PolicyRefused
    and changes nothing. An empty plan writes nothing."""
    with transaction.atomic(durable=True):  # durable: all of the file or none of it, never a part
        now = timezone.now()
        if not is_pim_administrator(user=actor, at=now):
            raise ValidationError(NOT_ADMINISTRATOR, code="not_administrator", params={"actor": actor.get_username()})
        plan = plan_policy(policy, now=now, prune=prune)
        for change in plan.changes:
            try:
                change.run(actor)
            except ValidationError as refusal:
                raise PolicyRefused(policy.source, change.refused(refusal)) from None
            except IntegrityError as error:  # someone else changed the same rows meanwhile
                refusal = ValidationError(CHANGED_MEANWHILE, params={"error": error})
                raise PolicyRefused(policy.source, change.refused(refusal)) from None
        if plan.changes:
            record_event(
                actor=actor,
                action="policy.applied",
                data={"file": policy.source, "sha256": policy.sha256, **plan.counts()},
            )
    return plan
