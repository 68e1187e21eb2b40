"""Reads shared by My roles, the approvals inbox, request pages and (later) the API."""

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from activations.choices import Decision, RequestKind, RequestStatus
from activations.models import ActivationRequest, Approval
from activations.rules import RENEW_UNTIL_DAYS
from audit.models import AuditEvent
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment, ApprovalStage, EligibleAssignment
from roles.provisioning.models import Grant
from roles.reusable import ReusableQuery
from roles.selectors import is_approver, is_pim_administrator

RECENT_REQUESTS = 20

# What My roles shows of an eligible row's role settings: what activating asks for
# (templates/activations/_requirements.html) and for how long at most.
REQUIREMENT_SETTINGS = (
    "require_mfa_on_activation",
    "require_justification_on_activation",
    "require_ticket_on_activation",
    "require_approval",
)
SHOWN_SETTINGS = ("activation_max_minutes", *REQUIREMENT_SETTINGS)

# get_FOO_display() for rows read as values.
SOURCE_LABELS = dict(ActiveSource.choices)
KIND_LABELS = dict(RequestKind.choices)
STATUS_LABELS = dict(RequestStatus.choices)


def eligible_roles_for(*, user, at: datetime) -> QuerySet[EligibleAssignment]:
    """Eligibilities in effect at `at`, the user's own and their groups', each marked with
    whether the user holds it or has asked for it. One query."""
    held = ActiveAssignment.objects.not_ended(at).filter(principal=user, role=OuterRef("role"), scope=OuterRef("scope"))
    pending = ActivationRequest.objects.filter(
        eligibility=OuterRef("pk"), requester=user, kind=RequestKind.ACTIVATE, status=RequestStatus.PENDING_APPROVAL
    )
    return (
        EligibleAssignment.objects.in_effect(at)
        .held_by(user)
        .select_related("role", "role__settings", "scope", "created_by", "group")
        .annotate(is_held=Exists(held), is_pending=Exists(pending))
        .order_by("role__name", "scope__path")
    )


def active_roles_for(*, user, at: datetime) -> QuerySet[ActiveAssignment]:
    """Active assignments in effect at `at` or scheduled to start later. One query."""
    return (
        ActiveAssignment.objects.not_ended(at)
        .held_by(user)
        .select_related("role", "scope", "group", "via_group")
        .order_by("start_at", "role__name")
    )


def eligible_rows_for(*, user, at: datetime) -> list[dict]:
    """eligible_roles_for as My roles lists it: a dict per eligibility of only the columns the
    page shows, its role's settings (SHOWN_SETTINGS) flattened in, rather than six joined model
    instances per row (full user rows among them). One query, its SQL written once per process
    (roles.reusable: the ORM takes longer to write it than PostgreSQL to answer it)."""
    return _eligible_rows.dicts(user_id=user.pk, at=at)


@ReusableQuery
def _eligible_rows(user_id: int, at: datetime) -> QuerySet:
    username = F(f"created_by__{get_user_model().USERNAME_FIELD}")
    return eligible_roles_for(user=user_id, at=at).values(
        "pk", "principal_id", "group_id", "end_at", "justification", "is_held", "is_pending",
        role_name=F("role__name"), scope_path=F("scope__path"), group_name=F("group__name"),
        granted_by=username, **{name: F(f"role__settings__{name}") for name in SHOWN_SETTINGS},
    )  # fmt: skip


def active_rows_for(*, user, at: datetime) -> list[dict]:
    """active_roles_for as My roles lists it: a dict per assignment of only what the page shows,
    with `source_label`, and `has_grants`: whether `user` has grants of it on targets, so the page
    asks for grants only when there are some. One query, its SQL written once per process."""
    rows = _active_rows.dicts(user_id=user.pk, at=at)
    for row in rows:
        row["source_label"] = SOURCE_LABELS.get(row["source"], row["source"])
    return rows


@ReusableQuery
def _active_rows(user_id: int, at: datetime) -> QuerySet:
    grants = Grant.objects.filter(assignment=OuterRef("pk"), user=user_id)
    return (
        active_roles_for(user=user_id, at=at).annotate(has_grants=Exists(grants)).values(
            "pk", "principal_id", "start_at", "end_at", "source", "group_id", "via_group_id", "has_grants",
            role_name=F("role__name"), scope_path=F("scope__path"), group_name=F("group__name"),
            via_group_name=F("via_group__name"),
        )
    )  # fmt: skip


def requests_of(*, user) -> list[dict]:
    """Every pending request of the user and their RECENT_REQUESTS most recent decided ones,
    newest first, as dicts of what My roles shows and reads (with `kind_label` and
    `status_label`). One query, its SQL written once per process: a pending request never drops
    off behind newer decided ones."""
    rows = _request_rows.dicts(user_id=user.pk)
    for row in rows:
        row["kind_label"] = KIND_LABELS.get(row["kind"], row["kind"])
        row["status_label"] = STATUS_LABELS.get(row["status"], row["status"])
    return rows


@ReusableQuery
def _request_rows(user_id: int) -> QuerySet:
    own = ActivationRequest.objects.filter(requester=user_id)
    recent = own.exclude(status=RequestStatus.PENDING_APPROVAL).order_by("-created_at").values("pk")[:RECENT_REQUESTS]
    return (
        own.filter(Q(status=RequestStatus.PENDING_APPROVAL) | Q(pk__in=recent))
        .order_by("-created_at")
        .values(
            "pk", "kind", "status", "created_at", "duration_minutes", "eligibility_id", "target_active_id",
            role_name=F("role__name"), scope_path=F("scope__path"),
        )
    )  # fmt: skip


def _may_decide(user, at: datetime) -> Q:
    """The request's current stage names `user` as an approver, or as an escalation approver
    once the stage has escalated. The same rule as roles.selectors.may_decide_at_stage."""
    stage = ApprovalStage.objects.filter(role_settings__role=OuterRef("role"), position=OuterRef("stage"))
    direct = stage.filter(Q(approvers=user) | Q(approver_groups__user=user))
    escalation = stage.filter(Q(escalation_approvers=user) | Q(escalation_groups__user=user))
    return Q(Exists(direct)) | (Q(escalates_at__lte=at) & Q(Exists(escalation)))


def pending_for_approver(*, user, at: datetime | None = None) -> QuerySet[ActivationRequest]:
    """Pending requests waiting in a stage `user` may decide at `at` (default now), not their
    own, not yet decided by them."""
    at = at or timezone.now()
    decided_by_user = Approval.objects.filter(request=OuterRef("pk"), approver=user)
    return (
        ActivationRequest.objects.decided_by_approvers()  # extend and renew of assignments: administrators'
        .filter(status=RequestStatus.PENDING_APPROVAL)
        # An eligibility removed a moment ago: nothing left to decide (the sweep fails the request).
        .filter(eligibility__ended_at__isnull=True)
        .filter(_may_decide(user, at))
        .exclude(requester=user)
        .exclude(Exists(decided_by_user))
        .annotate(**stage_progress())
        .select_related("role", "scope", "requester", "role__settings")
        .order_by("decide_by", "created_at")
    )


def stage_progress() -> dict:
    """Annotations saying where a pending request stands: its role's number of stages, the
    approvals its current stage needs and those it has. Subqueries: no query per request."""
    stages = ApprovalStage.objects.filter(role_settings__role=OuterRef("role")).order_by()
    current = stages.filter(position=OuterRef("stage"))
    given = (
        Approval.objects.filter(request=OuterRef("pk"), stage=OuterRef("stage"), decision=Decision.APPROVE)
        .order_by()
        .values("request")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return {
        "stage_count": Coalesce(Subquery(stages.values("role_settings").annotate(n=Count("pk")).values("n")), 0),
        "approvals_needed": Coalesce(Subquery(current.values("approvals_required")[:1]), 0),
        "approvals_given": Coalesce(Subquery(given), 0),
    }


def can_decide_now(*, user, request: ActivationRequest) -> bool:
    """Whether the request waits in `user`'s inbox: the same rule as the inbox itself."""
    if request.is_decided_by_administrators:  # Extend and renew (below)
        return assignment_changes_for(user=user).filter(pk=request.pk).exists()
    return pending_for_approver(user=user).filter(pk=request.pk).exists()


def decided_by_approver(*, user) -> QuerySet[Approval]:
    """The approver's own decisions, newest first."""
    return (
        Approval.objects.filter(approver=user)
        .select_related("request__role", "request__scope", "request__requester")
        .order_by("-decided_at")[:50]
    )


def can_view_request(*, user, request: ActivationRequest) -> bool:
    """The requester, the role's approvers and PIM administrators see a request."""
    if request.requester_id == user.pk:
        return True
    return is_approver(user=user, role=request.role) or is_pim_administrator(user=user, at=timezone.now())


def timeline_of(request: ActivationRequest) -> QuerySet[AuditEvent]:
    """The request's story from the audit log: its own events and its assignment's."""
    about = Q(target_type=ActivationRequest._meta.label_lower, target_id=str(request.pk))
    if request.assignment_id:
        about |= Q(target_type=ActiveAssignment._meta.label_lower, target_id=str(request.assignment_id))
    about |= _changed_assignment_events(request)  # Extend and renew (below)
    return AuditEvent.objects.filter(about).order_by("sequence")


def pending_requests_per_role(now):
    """Per role (as an annotation on Role): requests waiting for a decision. For the console."""
    waiting = (
        ActivationRequest.objects.filter(role=OuterRef("pk"), status=RequestStatus.PENDING_APPROVAL)
        .order_by()
        .values("role")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(waiting), 0)


# Extend and renew ----------------------------------------------------------------------------


def assignment_changes_for(*, user, at: datetime | None = None) -> QuerySet[ActivationRequest]:
    """Pending extend and renew requests of assignments, for a PIM administrator at `at`
    (default now) to decide: not their own. Empty for anyone else. The request's assignment
    (eligible or active) is joined: no query per request."""
    at = at or timezone.now()
    if not is_pim_administrator(user=user, at=at):
        return ActivationRequest.objects.none()
    return (
        ActivationRequest.objects.decided_by_administrators()
        .filter(status=RequestStatus.PENDING_APPROVAL)
        .exclude(requester=user)
        .select_related("role", "scope", "requester", "eligibility", "target_active", "role__settings")
        .order_by("decide_by", "created_at")
    )


def expired_recently(*, user, at: datetime) -> list[dict]:
    """The user's own eligible and administrator-made active assignments that expired (not
    removed) within the renewal window before `at`, and are not held again: what they may ask
    to renew. Newest end first; on the same end, eligible before active, then by role name and
    scope path. As dicts (`kind`, `pk`, `role_name`, `scope_path`, `end_at`). One query, a UNION
    of the two tables, its SQL written once per process (My roles asks it on every load)."""
    found = _expired_rows.dicts(user_id=user.pk, since=at - timedelta(days=RENEW_UNTIL_DAYS), at=at)
    found.sort(key=lambda row: (row["kind"] != EligibleAssignment.kind, row["role_name"], row["scope_path"]))
    return sorted(found, key=lambda row: row["end_at"], reverse=True)  # stable: the order above within an end


@ReusableQuery
def _expired_rows(user_id: int, since: datetime, at: datetime) -> QuerySet:
    parts = []
    for model, extra in ((EligibleAssignment, {}), (ActiveAssignment, {"source": ActiveSource.ADMIN})):
        held_again = model.objects.not_ended(at).filter(
            principal=OuterRef("principal"), role=OuterRef("role"), scope=OuterRef("scope")
        )
        # Expired: closed as expired, or past its end and not yet swept.
        expired = Q(end_reason=EndReason.EXPIRED) | Q(ended_at__isnull=True)
        parts.append(
            model.objects.filter(principal=user_id, end_at__gt=since, end_at__lte=at, **extra)
            .filter(expired)
            .exclude(Exists(held_again))
            .order_by()
            .values("pk", "end_at", kind=Value(model.kind), role_name=F("role__name"), scope_path=F("scope__path"))
        )
    return parts[0].union(parts[1], all=True)


def _changed_assignment_events(request: ActivationRequest) -> Q:
    """An extend or renew request's story includes what happened to the assignment it changes
    from the moment it was asked (assignment.extended, assignment.updated)."""
    if request.kind not in (RequestKind.EXTEND, RequestKind.RENEW):
        return Q(pk__in=[])
    if request.target_active_id:
        target = Q(target_type=ActiveAssignment._meta.label_lower, target_id=str(request.target_active_id))
    else:
        target = Q(target_type=EligibleAssignment._meta.label_lower, target_id=str(request.eligibility_id))
    return target & Q(occurred_at__gte=request.created_at)
