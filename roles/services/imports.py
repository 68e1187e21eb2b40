"""Bulk: a CSV file's eligible assignments, all or none."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.services import record_event
from roles.models import EligibleAssignment, RoleSettings
from roles.services.assignments import (
    assign_eligible,
)


def import_eligible_assignments(*, actor, rows: list, now: datetime) -> list[EligibleAssignment]:
    """Make every row of a CSV file (roles.bulk.parse_csv) an eligible assignment, or none. Each
    row is checked again here, under the lock of its role's settings, by roles.bulk.check_rows;
    any bad row raises roles.bulk.ImportRefused, listing every bad row, and nothing changes.
    Each assignment is made by assign_eligible (one assignment.created event each); one
    assignment.imported event counts them."""
    from roles import bulk  # here, not at the top: roles.bulk imports this module

    if not rows:
        return []
    with transaction.atomic():
        # In pk order, as bootstrap takes them; assign_eligible takes each again, already held.
        slugs = {row.cells["role"] for row in rows}
        list(RoleSettings.objects.select_for_update().filter(role__slug__in=slugs).order_by("pk"))
        results = bulk.check_rows(rows, now=now)
        if not all(result.ok for result in results):
            raise bulk.ImportRefused(results)
        created = []
        for result in results:
            try:
                created.append(assign_eligible(actor=actor, **result.service_arguments()))
            except ValidationError as refusal:  # another administrator got there first: none, still
                result.refuse(bulk.TRIPLE, refusal)
                raise bulk.ImportRefused(results) from None
        record_event(
            actor=actor,
            action="assignment.imported",
            data={"assignment_type": EligibleAssignment.kind, "count": len(created)},
        )
    return created
