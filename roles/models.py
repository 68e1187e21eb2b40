"""What can be held and who holds it: roles, scopes, role settings and assignments."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from roles import rules
from roles.choices import ActiveSource, EndReason, Tier


class Role(models.Model):
    """A privileged role definition. Built-in roles come from a data migration."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.STANDARD)
    is_builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(tier__in=Tier.values), name="role_tier_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def audit_fields(self) -> dict:
        return {"role": self.slug}


class Scope(models.Model):
    """Where a role applies: '/' is the directory root; an assignment at a scope applies to
    every scope below it (see `ScopeQuerySet.covering`)."""

    path = models.CharField(max_length=400, unique=True)
    name = models.CharField(max_length=150, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["path"]
        constraints = [
            # Only the root has no parent.
            models.CheckConstraint(
                condition=Q(path="/", parent__isnull=True) | (~Q(path="/") & Q(parent__isnull=False)),
                name="scope_root_has_no_parent",
            ),
        ]

    def __str__(self) -> str:
        return self.path

    def clean(self) -> None:
        rules.check_scope_path(self.path)

    def audit_fields(self) -> dict:
        return {"scope": self.path}

    def covers(self, other: "Scope") -> bool:
        return self.path == "/" or other.path == self.path or other.path.startswith(self.path + "/")


def _bounded(field: str):
    bound = rules.BOUNDS_BY_FIELD[field]
    return [MinValueValidator(bound.low), MaxValueValidator(bound.high)]


def _range_constraint(field: str, prefix: str = "rolesettings") -> models.CheckConstraint:
    bound = rules.BOUNDS_BY_FIELD[field]
    return models.CheckConstraint(
        condition=Q(**{f"{field}__gte": bound.low, f"{field}__lte": bound.high}), name=f"{prefix}_{field}_range"
    )


class RoleSettings(models.Model):
    """The policy of one role, with Entra's knobs and defaults. Durations in whole minutes/days."""

    role = models.OneToOneField(Role, on_delete=models.CASCADE, primary_key=True, related_name="settings")

    # Activation
    activation_max_minutes = models.PositiveIntegerField(default=8 * 60, validators=_bounded("activation_max_minutes"))
    require_mfa_on_activation = models.BooleanField(default=True)
    require_justification_on_activation = models.BooleanField(default=True)
    require_ticket_on_activation = models.BooleanField(default=False)
    ticket_number_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text=r"Optional regular expression a ticket number must match, e.g. ^INC-\d{4,}$",
    )
    require_approval = models.BooleanField(
        default=False, help_text="Who approves, how many and how fast: the role's approval stages, in order."
    )

    # Assignment
    allow_permanent_eligible = models.BooleanField(default=True)
    max_eligible_days = models.PositiveIntegerField(default=365, validators=_bounded("max_eligible_days"))
    allow_permanent_active = models.BooleanField(default=False)
    max_active_days = models.PositiveIntegerField(default=180, validators=_bounded("max_active_days"))
    require_mfa_on_active_assignment = models.BooleanField(default=True)
    require_justification_on_active_assignment = models.BooleanField(default=True)

    # Notification (roles.notifications.RULES): rule key -> {default_recipients, additional_recipients,
    # critical_only}; a rule not listed has Entra's defaults.
    notification_rules = models.JSONField(default=dict, blank=True)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "role settings"
        constraints = [_range_constraint(bound.field) for bound in rules.ROLE_SETTINGS_BOUNDS]

    def __str__(self) -> str:
        return f"Settings of {self.role}"

    def audit_fields(self) -> dict:
        return {"role": self.role.slug}

    def clean(self) -> None:
        rules.check_role_settings(
            {bound.field: getattr(self, bound.field) for bound in rules.ROLE_SETTINGS_BOUNDS}
            | {"ticket_number_pattern": self.ticket_number_pattern}
        )


class ApprovalStage(models.Model):
    """One step of a role's approval: who may decide, how many distinct approvals it needs
    (N of M), how long it waits, and who is added when nobody has decided after a while.
    Stages run in `position` order; a request moves to the next once this one has its N."""

    role_settings = models.ForeignKey(RoleSettings, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField()
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="approver_of")
    approver_groups = models.ManyToManyField(Group, blank=True, related_name="approver_of")
    approvals_required = models.PositiveSmallIntegerField(default=1, validators=_bounded("approvals_required"))
    timeout_minutes = models.PositiveIntegerField(default=24 * 60, validators=_bounded("timeout_minutes"))
    escalate_after_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: no escalation. Otherwise less than the stage's timeout."
    )
    escalation_approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="escalation_of")
    escalation_groups = models.ManyToManyField(Group, blank=True, related_name="escalation_of")

    class Meta:
        ordering = ["role_settings", "position"]
        constraints = [
            models.UniqueConstraint(fields=["role_settings", "position"], name="stage_position_unique_per_role"),
            models.CheckConstraint(
                condition=Q(position__gte=1, position__lte=rules.MAX_STAGES), name="stage_position_range"
            ),
            _range_constraint("approvals_required", prefix="stage"),
            _range_constraint("timeout_minutes", prefix="stage"),
            models.CheckConstraint(
                condition=Q(escalate_after_minutes__isnull=True)
                | Q(
                    escalate_after_minutes__gte=rules.ESCALATION_MIN_MINUTES,
                    escalate_after_minutes__lt=models.F("timeout_minutes"),
                ),
                name="stage_escalation_before_timeout",
            ),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"Stage {self.position} of {self.role_settings.role}"


class AssignmentQuerySet(models.QuerySet):
    def in_effect(self, at: datetime):
        """In effect at `at`: started, not past its end, not ended early. This is the only
        definition of "holds a role" in PIM; access is gone at end_at whatever tasks ran."""
        return self.filter(
            Q(start_at__lte=at),
            Q(end_at__isnull=True) | Q(end_at__gt=at),
            Q(ended_at__isnull=True) | Q(ended_at__gt=at),
        )

    def open(self):
        """Not yet closed by a service (expired, deactivated or removed). May be past end_at."""
        return self.filter(ended_at__isnull=True)

    def not_ended(self, at: datetime):
        """In effect at `at` or scheduled to start later: not closed and not past its end. One
        that lapsed but is not yet swept does not count (services record its expiry first)."""
        return self.open().filter(Q(end_at__isnull=True) | Q(end_at__gt=at))

    def at_scope_covering(self, path: str):
        """Assignments made at `path` or at any scope above it."""
        return self.filter(scope__path__in=rules.ancestor_paths(path))

    def held_by(self, user):
        """Assignments that are `user`'s: made to them, or to a group they are a member of now.
        One activated through a group counts only while they are still in that group, so
        leaving the group ends it at once, whatever tasks have run. No extra query: the user's
        groups are a subquery (_InGroupsOf)."""
        own = Q(principal=user)
        if any(field.name == "via_group" for field in self.model._meta.fields):
            own &= Q(via_group__isnull=True) | Q(_InGroupsOf("via_group", user))
        return self.filter(own | Q(_InGroupsOf("group", user)))


class _InGroupsOf(models.Func):
    """A condition: the group foreign key `field` names one of `user`'s groups now. SQL's
    `field IN (subquery)`, but on PostgreSQL `field = ANY(ARRAY(subquery))`: the planner runs
    that subquery once, up front, and looks its ids up in the field's index, also inside the OR
    of held_by. With IN there it can't, and filters every row of the table (tens of ms at 20,000
    assignments, where the index finds the user's few in well under one)."""

    output_field = models.BooleanField()

    def __init__(self, field: str, user):
        memberships = Group.user_set.through.objects.filter(user=user).values("group_id")
        super().__init__(models.F(field), models.Subquery(memberships))

    def as_sql(self, compiler, connection, template="%(field)s IN %(groups)s"):
        field, groups = (compiler.compile(expression) for expression in self.get_source_expressions())
        return template % {"field": field[0], "groups": groups[0]}, (*field[1], *groups[1])

    def as_postgresql(self, compiler, connection):
        return self.as_sql(compiler, connection, template="%(field)s = ANY(ARRAY%(groups)s)")


@models.Field.register_lookup
class AnyOf(models.Lookup):
    """`id__any_of=[...]`: the column is one of these values, sent as one array parameter on
    PostgreSQL (`= ANY(%s)`) rather than one placeholder per value: a sweep's 2,000 ids cost
    psycopg more to splice into the SQL than PostgreSQL takes to update the rows. IN elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if not values:
            return "1 = 0", []  # one of nothing: no row (IN () is not SQL)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*params, values]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*params, *values]


class Assignment(models.Model):
    """What eligible and active assignments share: a principal holds a role at a scope for a window.
    The principal is a user or a Django group (whose members each hold it through the group)."""

    # No index of their own: each subclass's (principal, ended_at) and (group, ended_at) indexes
    # serve every lookup by holder, and one index fewer is one write fewer for each assignment
    # that starts or ends (a sweep ends thousands at once).
    principal = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        help_text="Instead of a user: every member of the group holds the assignment while a member.",
    )  # fmt: skip
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="+")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="+")
    start_at = models.DateTimeField()
    end_at = models.DateTimeField(null=True, blank=True, help_text="Empty means permanent.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    justification = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.holder_name} {self.kind} {self.role} at {self.scope}"

    @property
    def holder_name(self) -> str:
        """How the holder reads on pages and in messages: a username, or "group NAME"."""
        return f"group {self.group.name}" if self.group_id else self.principal.get_username()

    @property
    def is_permanent(self) -> bool:
        return self.end_at is None

    def is_held_by(self, user) -> bool:
        """Made to `user`, or to a group `user` is a member of now (as AssignmentQuerySet.held_by)."""
        if self.group_id is not None:
            return user.groups.filter(pk=self.group_id).exists()
        if self.principal_id != user.pk:
            return False
        via_group = getattr(self, "via_group_id", None)
        return via_group is None or user.groups.filter(pk=via_group).exists()

    def is_in_effect(self, at: datetime) -> bool:
        return (
            self.start_at <= at
            and (self.end_at is None or at < self.end_at)
            and (self.ended_at is None or at < self.ended_at)
        )

    def audit_fields(self) -> dict:
        return {
            "principal": self.principal,  # None for a group's: its events carry the group's name
            "role": self.role.slug,
            "scope": self.scope.path,
            "justification": self.justification,
        }

    @classmethod
    def window_constraints(cls, prefix: str) -> list[models.BaseConstraint]:
        return [
            models.CheckConstraint(
                condition=Q(end_at__isnull=True) | Q(end_at__gt=models.F("start_at")), name=f"{prefix}_end_after_start"
            ),
            # ended_at and end_reason are set together, by the service that closes it.
            models.CheckConstraint(
                condition=(Q(ended_at__isnull=True) & Q(end_reason=""))
                | (Q(ended_at__isnull=False) & Q(end_reason__in=EndReason.values)),
                name=f"{prefix}_ended_with_reason",
            ),
            # One open assignment per principal, role and scope; the same for groups.
            models.UniqueConstraint(
                fields=["principal", "role", "scope"],
                condition=Q(ended_at__isnull=True, principal__isnull=False),
                name=f"{prefix}_one_open_per_principal_role_scope",
            ),
            models.UniqueConstraint(
                fields=["group", "role", "scope"],
                condition=Q(ended_at__isnull=True, group__isnull=False),
                name=f"{prefix}_one_open_per_group_role_scope",
            ),
            # Held by a user or by a group, never both or neither.
            models.CheckConstraint(
                condition=Q(principal__isnull=False, group__isnull=True)
                | Q(principal__isnull=True, group__isnull=False),
                name=f"{prefix}_user_or_group",
            ),
        ]


class EligibleAssignment(Assignment):
    """The principal may activate the role at the scope between start_at and end_at."""

    kind = "eligible"

    class Meta:
        ordering = ["role__name", "scope__path"]
        constraints = Assignment.window_constraints("eligible")
        indexes = [
            models.Index(fields=["principal", "ended_at"], name="eligible_principal_open_idx"),
            models.Index(fields=["group", "ended_at"], name="eligible_group_open_idx"),
        ]


class ActiveAssignment(Assignment):
    """The principal holds the role at the scope between start_at and end_at. From an
    administrator (standing or time-bound) or from an activation (always time-bound)."""

    kind = "active"

    source = models.CharField(max_length=16, choices=ActiveSource.choices, default=ActiveSource.ADMIN)
    via_group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Activated through this group's eligibility: held only while the user is a member.",
    )  # fmt: skip
    # Set by the expiry sweep with the ended mark, cleared by the task that writes the holder's
    # "has expired" mail (activations.tasks.tell_holders_of_expiry): the mail is owed until then,
    # whatever crashes in between, and written once.
    expiry_notice_due = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["role__name", "scope__path"]
        constraints = [
            *Assignment.window_constraints("active"),
            models.CheckConstraint(
                condition=~Q(source=ActiveSource.ACTIVATION) | Q(end_at__isnull=False),
                name="active_activation_is_time_bound",
            ),
            models.CheckConstraint(condition=Q(source__in=ActiveSource.values), name="active_source_valid"),
            # Only a user's activation comes through a group.
            models.CheckConstraint(
                condition=Q(via_group__isnull=True) | Q(source=ActiveSource.ACTIVATION, principal__isnull=False),
                name="active_via_group_only_for_activations",
            ),
        ]
        indexes = [
            # Access checks and the expiry sweep: open assignments by principal / by end.
            models.Index(fields=["principal", "ended_at"], name="active_principal_open_idx"),
            models.Index(fields=["ended_at", "end_at"], name="active_open_end_idx"),
            models.Index(fields=["group", "ended_at"], name="active_group_open_idx"),
            models.Index(fields=["ended_at"], condition=Q(expiry_notice_due=True), name="active_expiry_notice_due_idx"),
        ]


class BreakGlassAccount(models.Model):
    """An emergency account: it keeps a permanent active Global Administrator assignment that no
    expiry, review, policy or fix removes while it is flagged, and every sign-in by it is an alert.
    Flagged and unflagged by an active Global Administrator (roles.services.breakglass)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass")
    reason = models.CharField(max_length=500)
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    flagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"Break-glass account {self.user}"

    def audit_fields(self) -> dict:
        return {"principal": self.user, "justification": self.reason}


# Provisioning and access reviews live in their own packages; importing their models here
# registers them with the roles app.
from roles.provisioning.models import Grant, ManagedGroup, Target  # noqa: E402
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence  # noqa: E402

__all__ = [
    "AccessReview",
    "ActiveAssignment",
    "ApprovalStage",
    "Assignment",
    "BreakGlassAccount",
    "EligibleAssignment",
    "Grant",
    "ManagedGroup",
    "ReviewItem",
    "ReviewOccurrence",
    "Role",
    "RoleSettings",
    "Scope",
    "Target",
]
