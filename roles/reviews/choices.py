from django.db import models


class ReviewedTypes(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible assignments"
    ACTIVE = "active", "Active assignments (made by an administrator)"
    BOTH = "both", "Eligible and active assignments"


class ReviewerType(models.TextChoices):
    USERS = "users", "Specific users or groups"
    SELF = "self", "The holders themselves (self-review)"
    APPROVERS = "approvers", "The role's approvers"


class Recurrence(models.TextChoices):
    ONE_TIME = "one_time", "One time"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Semi-annually"
    ANNUAL = "annual", "Annually"


class EndType(models.TextChoices):
    NEVER = "never", "Never"
    ON_DATE = "on_date", "On a date"
    AFTER_COUNT = "after_count", "After a number of occurrences"


class NoResponse(models.TextChoices):
    NO_CHANGE = "no_change", "No change"
    REMOVE = "remove", "Remove access"
    APPROVE = "approve", "Approve access"
    RECOMMENDATION = "recommendation", "Take recommendations"


class OccurrenceStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", "Approve"
    DENY = "deny", "Deny"
    DONT_KNOW = "dont_know", "Don't know"


class Outcome(models.TextChoices):
    """What an item comes to when its occurrence closes."""

    KEEP = "keep", "Keep"
    REMOVE = "remove", "Remove"


class OutcomeSource(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer's decision"
    NO_RESPONSE = "no_response", "No response: the review's rule"
    RECOMMENDATION = "recommendation", "No response: the recommendation"


class ApplyResult(models.TextChoices):
    REMOVED = "removed", "Removed"
    KEPT = "kept", "Kept"
    PROTECTED = "protected", "Kept: lockout protection"
    ALREADY_ENDED = "already_ended", "Already ended"
