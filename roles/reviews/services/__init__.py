"""Every change to access reviews. One function per change: keyword-only arguments, acting user
first (None: the django-q2 tasks), one transaction, rows locked, the audit event inside.

An occurrence moves not started -> in progress -> completed -> applying -> applied, each step a
compare-and-swap under a row lock, so a task that runs twice, late or after a crash does each
thing once. definitions: create, update, delete; running: start (the snapshot), remind, close;
deciding: reviewers' decisions; applying: carrying out the results."""

from roles.reviews.services.applying import NOT_APPLICABLE, apply_results
from roles.reviews.services.deciding import (
    JUSTIFICATION_REQUIRED,
    NOT_A_REVIEWER,
    NOT_IN_PROGRESS,
    NOT_RESETTABLE,
    accept_recommendations,
    decide,
    reset_decisions,
)
from roles.reviews.services.definitions import (
    LOCKED_ONCE_STARTED,
    MANY_FIELDS,
    NOT_DELETABLE,
    SCALAR_FIELDS,
    create_review,
    delete_review,
    update_review,
    values_of,
)
from roles.reviews.services.running import (
    NOT_STOPPABLE,
    assignments_in_scope,
    close_due_occurrences,
    close_occurrence,
    send_due_reminders,
    start_due_occurrences,
    start_occurrence,
    stop_occurrence,
)

__all__ = [
    "JUSTIFICATION_REQUIRED",
    "LOCKED_ONCE_STARTED",
    "MANY_FIELDS",
    "NOT_APPLICABLE",
    "NOT_A_REVIEWER",
    "NOT_DELETABLE",
    "NOT_IN_PROGRESS",
    "NOT_RESETTABLE",
    "NOT_STOPPABLE",
    "SCALAR_FIELDS",
    "accept_recommendations",
    "apply_results",
    "assignments_in_scope",
    "close_due_occurrences",
    "close_occurrence",
    "create_review",
    "decide",
    "delete_review",
    "reset_decisions",
    "send_due_reminders",
    "start_due_occurrences",
    "start_occurrence",
    "stop_occurrence",
    "update_review",
    "values_of",
]
