"""An access review, its occurrences and their items. Imported by roles.models: the tables
belong to the roles app."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from roles.models import ActiveAssignment, EligibleAssignment, Role, Scope
from roles.reviews import schedule
from roles.reviews.choices import (
    ApplyResult,
    EndType,
    NoResponse,
    OccurrenceStatus,
    Outcome,
    OutcomeSource,
    Recurrence,
    ReviewDecision,
    ReviewedTypes,
    ReviewerType,
)

INACTIVE_DAYS = (1, 730)
MAX_EXTRA_RECIPIENTS = 10


class AccessReview(models.Model):
    """What to review (roles, scopes, assignment types, inactive holders only), who reviews,
    when (a schedule of occurrences) and what happens at the end (completion settings)."""

    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)

    roles = models.ManyToManyField(Role, related_name="access_reviews")
    scopes = models.ManyToManyField(
        Scope, blank=True, related_name="access_reviews",
        help_text="Empty: every scope. Otherwise assignments at these scopes or below them.",
    )  # fmt: skip
    assignment_types = models.CharField(max_length=16, choices=ReviewedTypes.choices, default=ReviewedTypes.BOTH)
    inactive_days = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Only holders who have not used the role (activated it, or for an active assignment: signed in) "
        "for this many days. Empty: every holder.",
    )  # fmt: skip

    reviewer_type = models.CharField(max_length=16, choices=ReviewerType.choices, default=ReviewerType.USERS)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    reviewer_groups = models.ManyToManyField(Group, blank=True, related_name="+")
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Reviews an item nobody else may review (no approvers, a holder who is a reviewer).",
    )  # fmt: skip

    start_date = models.DateField()
    time_zone = models.CharField(max_length=64, default="UTC", help_text="Occurrences start at local midnight.")
    duration_days = models.PositiveSmallIntegerField(default=14)
    recurrence = models.CharField(max_length=16, choices=Recurrence.choices, default=Recurrence.ONE_TIME)
    end_type = models.CharField(max_length=16, choices=EndType.choices, default=EndType.NEVER)
    end_date = models.DateField(null=True, blank=True)
    end_after_occurrences = models.PositiveSmallIntegerField(null=True, blank=True)

    auto_apply = models.BooleanField(default=False, help_text="Apply the results as soon as an occurrence ends.")
    no_response = models.CharField(max_length=16, choices=NoResponse.choices, default=NoResponse.NO_CHANGE)
    require_justification = models.BooleanField(default=True, help_text="Reviewers explain an approval.")
    reminder_days_before = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Remind reviewers who have not finished this many days before the end."
    )
    extra_recipients = models.JSONField(default=list, blank=True, help_text="Also told when an occurrence ends.")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(assignment_types__in=ReviewedTypes.values), name="review_types_valid"),
            models.CheckConstraint(condition=Q(reviewer_type__in=ReviewerType.values), name="review_reviewer_valid"),
            models.CheckConstraint(condition=Q(recurrence__in=Recurrence.values), name="review_recurrence_valid"),
            models.CheckConstraint(condition=Q(no_response__in=NoResponse.values), name="review_no_response_valid"),
            models.CheckConstraint(
                condition=Q(inactive_days__isnull=True)
                | Q(inactive_days__gte=INACTIVE_DAYS[0], inactive_days__lte=INACTIVE_DAYS[1]),
                name="review_inactive_days_range",
            ),
            models.CheckConstraint(
                condition=Q(duration_days__gte=schedule.DURATION_DAYS[0], duration_days__lte=schedule.DURATION_DAYS[1]),
                name="review_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(end_type=EndType.NEVER, end_date__isnull=True, end_after_occurrences__isnull=True)
                | Q(end_type=EndType.ON_DATE, end_date__gte=models.F("start_date"), end_after_occurrences__isnull=True)
                | Q(end_type=EndType.AFTER_COUNT, end_date__isnull=True, end_after_occurrences__gte=1),
                name="review_end_consistent",
            ),
            models.CheckConstraint(
                condition=Q(reminder_days_before__isnull=True)
                | Q(reminder_days_before__gte=1, reminder_days_before__lt=models.F("duration_days")),
                name="review_reminder_within_duration",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def audit_fields(self) -> dict:
        return {}

    @property
    def schedule(self) -> schedule.Schedule:
        return schedule.Schedule(
            start_date=self.start_date, time_zone=self.time_zone, duration_days=self.duration_days,
            recurrence=self.recurrence, end_type=self.end_type, end_date=self.end_date,
            end_after_occurrences=self.end_after_occurrences,
        )  # fmt: skip

    @property
    def reviews_eligible(self) -> bool:
        return self.assignment_types in (ReviewedTypes.ELIGIBLE, ReviewedTypes.BOTH)

    @property
    def reviews_active(self) -> bool:
        return self.assignment_types in (ReviewedTypes.ACTIVE, ReviewedTypes.BOTH)


class ReviewOccurrence(models.Model):
    """One run of a review: from `starts_at` to `ends_at` (or until stopped early). Its items are
    the assignments in scope when it started; decisions apply to them only."""

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="occurrences")
    number = models.PositiveIntegerField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=OccurrenceStatus.choices, default=OccurrenceStatus.NOT_STARTED)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Who stopped it before its end.",
    )  # fmt: skip
    reminded_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Empty with applied_at: applied automatically.",
    )  # fmt: skip

    class Meta:
        ordering = ["review", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["review", "number"], name="occurrence_number_unique"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="occurrence_ends_after_start"),
            models.CheckConstraint(condition=Q(status__in=OccurrenceStatus.values), name="occurrence_status_valid"),
            models.CheckConstraint(
                condition=Q(status=OccurrenceStatus.NOT_STARTED, started_at__isnull=True)
                | (~Q(status=OccurrenceStatus.NOT_STARTED) & Q(started_at__isnull=False)),
                name="occurrence_started_when_not_new",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[OccurrenceStatus.NOT_STARTED, OccurrenceStatus.IN_PROGRESS], completed_at__isnull=True
                )
                | (
                    Q(status__in=[OccurrenceStatus.COMPLETED, OccurrenceStatus.APPLYING, OccurrenceStatus.APPLIED])
                    & Q(completed_at__isnull=False)
                ),
                name="occurrence_completed_when_closed",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(status=OccurrenceStatus.APPLIED, applied_at__isnull=False)
                | (~Q(status=OccurrenceStatus.APPLIED) & Q(applied_at__isnull=True)),
                name="occurrence_applied_at_when_applied",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "starts_at"], name="occurrence_status_start_idx"),
            models.Index(fields=["status", "ends_at"], name="occurrence_status_end_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.review} #{self.number}"

    def audit_fields(self) -> dict:
        return {}

    @property
    def is_open(self) -> bool:
        return self.status == OccurrenceStatus.IN_PROGRESS


class ReviewItem(models.Model):
    """One assignment under review in one occurrence: a snapshot of who held what, how it was
    used, what PIM recommends, the reviewer's decision, and what applying did."""

    occurrence = models.ForeignKey(ReviewOccurrence, on_delete=models.CASCADE, related_name="items")
    eligible_assignment = models.ForeignKey(
        EligibleAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    active_assignment = models.ForeignKey(
        ActiveAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Copied when the occurrence starts, so results read the same whatever changes after.
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="+")
    assigned_since = models.DateTimeField()
    assigned_until = models.DateTimeField(null=True, blank=True)

    last_activated_at = models.DateTimeField(null=True, blank=True)
    recent_activations = models.PositiveIntegerField(default=0, help_text="Activations in the 30 days before.")
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    recommendation = models.CharField(max_length=8, choices=Outcome.choices)
    recommendation_reason = models.CharField(max_length=200)

    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="review_items")
    decision = models.CharField(max_length=16, choices=ReviewDecision.choices, blank=True)
    justification = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True, help_text="Set at the close.")
    outcome_source = models.CharField(max_length=16, choices=OutcomeSource.choices, blank=True)
    result = models.CharField(max_length=16, choices=ApplyResult.choices, blank=True)
    result_note = models.CharField(max_length=300, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurrence", "role__name", "scope__path", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(eligible_assignment__isnull=False, active_assignment__isnull=True)
                | Q(eligible_assignment__isnull=True, active_assignment__isnull=False),
                name="item_one_assignment",
            ),
            models.CheckConstraint(
                condition=Q(principal__isnull=False, group__isnull=True)
                | Q(principal__isnull=True, group__isnull=False),
                name="item_user_or_group",
            ),
            models.UniqueConstraint(
                fields=["occurrence", "eligible_assignment"],
                condition=Q(eligible_assignment__isnull=False),
                name="item_eligible_once_per_occurrence",
            ),  # fmt: skip
            models.UniqueConstraint(
                fields=["occurrence", "active_assignment"],
                condition=Q(active_assignment__isnull=False),
                name="item_active_once_per_occurrence",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(decision="", decided_by__isnull=True, decided_at__isnull=True)
                | (Q(decision__in=ReviewDecision.values) & Q(decided_by__isnull=False, decided_at__isnull=False)),
                name="item_decision_with_reviewer",
            ),
            models.CheckConstraint(condition=Q(recommendation__in=Outcome.values), name="item_recommendation_valid"),
            models.CheckConstraint(
                condition=Q(outcome="", outcome_source="")
                | Q(outcome__in=Outcome.values, outcome_source__in=OutcomeSource.values),
                name="item_outcome_with_source",
            ),  # fmt: skip
            models.CheckConstraint(
                condition=Q(result="", applied_at__isnull=True)
                | Q(result__in=ApplyResult.values, applied_at__isnull=False),
                name="item_result_when_applied",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder_name} {self.kind} {self.role} at {self.scope}"

    @property
    def kind(self) -> str:
        return "eligible" if self.eligible_assignment_id else "active"

    @property
    def assignment(self):
        return self.eligible_assignment if self.eligible_assignment_id else self.active_assignment

    @property
    def holder_name(self) -> str:
        return f"group {self.group.name}" if self.group_id else self.principal.get_username()

    def audit_fields(self) -> dict:
        return {"principal": self.principal, "role": self.role.slug, "scope": self.scope.path,
                "justification": self.justification}  # fmt: skip
