"""The just-in-time workflow: requests to activate (and later deactivate, extend, renew) and
the approvers' decisions on them. The workflow itself lives in `activations.services`."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from activations.choices import Decision, RequestKind, RequestStatus
from roles.models import ActiveAssignment, EligibleAssignment, Role, Scope


class ActivationRequestQuerySet(models.QuerySet):
    def decided_by_approvers(self):
        """Activations and activation extensions: the role's approval stages decide them."""
        return self.filter(ACTIVATION_WORKFLOW)

    def decided_by_administrators(self):
        """Extend and renew of an eligible or administrator-made active assignment: PIM
        administrators decide them, not the role's approvers."""
        return self.exclude(ACTIVATION_WORKFLOW)


class ActivationRequest(models.Model):
    """Who asks to hold which eligibility, from when, for how long, and why; or to extend or
    renew what they hold (kind EXTEND / RENEW, see `is_decided_by_administrators`).

    Links point down the dependency line: the request references the active assignment it
    produced; the assignment records only that its source was an activation."""

    kind = models.CharField(max_length=16, choices=RequestKind.choices, default=RequestKind.ACTIVATE)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Empty only for extend or renew of an administrator-made active assignment (see target_active).
    eligibility = models.ForeignKey(
        EligibleAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    # Extend: the active assignment to extend (administrator-made, or activated: then eligibility
    # is the one it was activated from). Renew: the expired administrator-made one.
    target_active = models.ForeignKey(
        ActiveAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The active assignment this request extends or renews.",
    )  # fmt: skip
    requested_end_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Extend or renew of an assignment: the end the holder asks for (empty: permanent).",
    )  # fmt: skip
    # Copied from the eligibility so history and filters survive its end.
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="+")
    start_at = models.DateTimeField(help_text="When the role should become active (now, or a scheduled time).")
    # Activate: how long; an activation's extension: how much longer. Empty for extend or renew
    # of an assignment, which names its end instead (requested_end_at).
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    justification = models.TextField(blank=True)
    ticket_system = models.CharField(max_length=50, blank=True)
    ticket_number = models.CharField(max_length=50, blank=True)
    mfa_verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the requester last proved MFA before asking."
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING_APPROVAL)
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Approval runs through the role's stages in order; deadlines are fixed when a stage starts.
    stage = models.PositiveSmallIntegerField(default=1, help_text="The approval stage the request waits in.")
    decide_by = models.DateTimeField(
        null=True, blank=True, help_text="Without a decision by then, the request times out (the stage's timeout)."
    )
    escalates_at = models.DateTimeField(
        null=True, blank=True, help_text="From then on, the stage's escalation approvers may decide too."
    )
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When the escalation approvers were told.")
    decided_at = models.DateTimeField(null=True, blank=True)
    assignment = models.OneToOneField(
        ActiveAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="activation_request"
    )

    objects = ActivationRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_minutes__gte=1), name="request_duration_positive"),
            models.CheckConstraint(condition=Q(status__in=RequestStatus.values), name="request_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=RequestKind.values), name="request_kind_valid"),
            models.CheckConstraint(condition=Q(stage__gte=1), name="request_stage_positive"),
            # An activation is of an eligibility, for a duration; extend and renew name what they change.
            models.CheckConstraint(
                condition=~Q(kind=RequestKind.ACTIVATE) | Q(eligibility__isnull=False, duration_minutes__isnull=False),
                name="request_activate_has_eligibility",
            ),
            models.CheckConstraint(
                condition=Q(eligibility__isnull=False) | Q(target_active__isnull=False),
                name="request_names_an_assignment",
            ),
            # A double submit cannot leave two requests waiting on the same eligibility. Per
            # requester: a group's eligibility is shared by its members, each asks on their own.
            # Requests about an active assignment (target_active) are counted by the next one.
            models.UniqueConstraint(
                fields=["eligibility", "kind", "requester"],
                condition=Q(status=RequestStatus.PENDING_APPROVAL, target_active__isnull=True),
                name="request_one_pending_per_eligibility",
            ),
            # One pending extension (or renewal) per active assignment (services.request_extension,
            # request_renewal, request_activation_extension).
            models.UniqueConstraint(
                fields=["target_active", "kind"],
                condition=Q(status=RequestStatus.PENDING_APPROVAL, target_active__isnull=False),
                name="request_one_pending_per_target_active",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "role"], name="request_status_role_idx"),
            models.Index(fields=["requester", "-created_at"], name="request_requester_idx"),
            # The time-out sweep: pending requests past their deadline.
            models.Index(fields=["status", "decide_by"], name="request_status_deadline_idx"),
            # The escalation sweep: pending requests whose stage escalates, not yet announced.
            models.Index(fields=["status", "escalates_at"], name="request_status_escalation_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {self.role} at {self.scope} for {self.requester} ({self.get_status_display()})"
        )

    def audit_fields(self) -> dict:
        return {
            "principal": self.requester,
            "role": self.role.slug,
            "scope": self.scope.path,
            "justification": self.justification,
        }

    @property
    def is_decided_by_administrators(self) -> bool:
        """Extend or renew of an eligible or administrator-made active assignment: decided by
        PIM administrators. An activated role's extension names both the active assignment and
        the eligibility it came from, and goes through the role's approval stages like an
        activation. No query: it reads only this row's columns (as ACTIVATION_WORKFLOW)."""
        activation_extension = (
            self.kind == RequestKind.EXTEND and self.target_active_id is not None and self.eligibility_id is not None
        )
        return not (self.kind == RequestKind.ACTIVATE or activation_extension)


# The requests the role's approval stages decide (ActivationRequestQuerySet); the same rule as
# ActivationRequest.is_decided_by_administrators, as a filter.
ACTIVATION_WORKFLOW = Q(kind=RequestKind.ACTIVATE) | Q(
    kind=RequestKind.EXTEND, target_active__isnull=False, eligibility__isnull=False
)


class Approval(models.Model):
    """One approver's decision on one request."""

    request = models.ForeignKey(ActivationRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    stage = models.PositiveSmallIntegerField(default=1)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    justification = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request", "stage", "decided_at"]
        constraints = [
            # One person decides at most once per request, whatever the stage.
            models.UniqueConstraint(fields=["request", "approver"], name="approval_one_decision_per_approver"),
            models.CheckConstraint(condition=Q(decision__in=Decision.values), name="approval_decision_valid"),
            models.CheckConstraint(condition=Q(stage__gte=1), name="approval_stage_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} {self.get_decision_display().lower()} request {self.request_id}"

    def audit_fields(self) -> dict:
        return {
            "principal": self.request.requester,
            "role": self.request.role.slug,
            "scope": self.request.scope.path,
            "justification": self.justification,
        }
