"""Reads shared by pages, the admin and commands."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, IntegerField, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, JSONObject
from django.utils.dateparse import parse_datetime

from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.models import ActiveAssignment, ApprovalStage, Assignment, EligibleAssignment, Role, Scope
from roles.reusable import ReusableQuery
from roles.rules import SCOPE_PATH_PATTERN, StagePlan, ancestor_paths
from roles.until_changed import UntilChanged


def holds_role(*, user, role_slugs: tuple[str, ...], at: datetime, scope_path: str = ROOT_SCOPE_PATH) -> bool:
    """Whether `user` holds one of the roles, in effect at `at`, at `scope_path` or above. One query."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return (
        ActiveAssignment.objects.in_effect(at)
        .at_scope_covering(scope_path)
        .held_by(user)
        .filter(role__slug__in=role_slugs)
        .exists()
    )


def is_pim_administrator(*, user, at: datetime) -> bool:
    """An active Privileged Role Administrator or Global Administrator at the directory root."""
    return holds_role(user=user, role_slugs=ADMIN_ROLE_SLUGS, at=at)


def administrator_holders() -> set[str]:
    """Usernames (and "group NAME"s) with any open (eligible or active) Global or Privileged
    Role Administrator assignment. Bootstrap is refused while this is not empty."""
    holders = set()
    for model in (EligibleAssignment, ActiveAssignment):
        held = model.objects.open().filter(role__slug__in=ADMIN_ROLE_SLUGS)
        for username, group in held.values_list("principal__username", "group__name"):
            holders.add(username or f"group {group}")
    return holders


def administrators_to_notify() -> QuerySet:
    """Active users who hold Global or Privileged Role Administrator, eligible or active (their
    own or through a group): Entra's "Admin" default recipients of a role's notifications."""
    held = {model: model.objects.open().filter(role__slug__in=ADMIN_ROLE_SLUGS)
            for model in (EligibleAssignment, ActiveAssignment)}  # fmt: skip
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(pk__in=held[EligibleAssignment].values("principal"))
            | Q(pk__in=held[ActiveAssignment].values("principal"))
            | Q(groups__in=held[EligibleAssignment].values("group"))
            | Q(groups__in=held[ActiveAssignment].values("group"))
        )
        .distinct()
        .order_by("username")
    )


def members_of(assignment) -> QuerySet | list:
    """Who an assignment is for: its user, or its group's active members."""
    if assignment.group_id:
        return assignment.group.user_set.filter(is_active=True).order_by("username")
    return [assignment.principal]


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    until: datetime | None = None  # None with allowed: permanent
    reason: str = ""
    assignment_id: int | None = None  # the assignment that lasts longest
    via: str | None = None  # how it is held: "activation", "admin", or "group" (an assignment to a group)
    # The first instant after the decision's `at` at which it may change by the clock alone (an
    # assignment starting or ending); None: none to come. Changes by writes are another matter.
    changes_at: datetime | None = None


@ReusableQuery
def _decision_facts(username: str, role_slug: str, scope_paths: list[str], at: datetime) -> QuerySet:
    """The account named `username` (no row: none), whether it is active, whether the role
    exists, and its longest-lasting assignment of the role at one of `scope_paths` in effect at
    `at` (None: none). One statement, because on a busy server a round trip to PostgreSQL
    costs more than planning a subquery; JSON carries the assignment's columns out of its one."""
    account = get_user_model().objects.filter(username=username)
    # held_by() only compares the user with columns, so a subquery for the pk can stand in for
    # one, and a disabled account holds nothing.
    holder = account.filter(is_active=True).values("pk")[:1]
    held = (
        ActiveAssignment.objects.in_effect(at)
        .filter(scope__path__in=scope_paths, role__slug=role_slug)  # at_scope_covering(), paths given
        .held_by(holder)
        # Permanent first, then the latest end (the answer says how long access lasts for sure);
        # between equals, the one nearest the root.
        .order_by(F("end_at").desc(nulls_first=True), "scope__path", "pk")
        .values(row=JSONObject(pk="pk", end_at="end_at", source="source", group_id="group_id"))[:1]
    )
    # The first instant after `at` at which the answer can change by the clock alone: a start,
    # an end or an early end still to come among these assignments (roles.until_changed keeps
    # an answer until then). One group: every row is of this one role.
    upcoming = (
        ActiveAssignment.objects.filter(scope__path__in=scope_paths, role__slug=role_slug)
        .held_by(holder)
        .filter(Q(end_at__isnull=True) | Q(end_at__gt=at), Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .order_by()
        .values("role")
        .annotate(
            row=JSONObject(start=Min("start_at", filter=Q(start_at__gt=at)), end=Min("end_at"), ended=Min("ended_at"))
        )  # fmt: skip
        .values("row")[:1]
    )
    role = Exists(Role.objects.filter(slug=role_slug))
    return account.annotate(role_exists=role, held=Subquery(held), upcoming=Subquery(upcoming)).values_list(
        "is_active", "role_exists", "held", "upcoming"
    )


def access_decision(
    *, username: str, role_slug: str, scope_path: str = ROOT_SCOPE_PATH, at: datetime
) -> AccessDecision:
    """Whether `username` holds `role_slug` at `scope_path` at `at`, and until when. This is
    the one answer to "may this person act with this role here now": pages, commands and the
    API ask it. Computed from time: an assignment is gone at its end_at to the second. One
    query, whose SQL is written once."""
    valid_path = SCOPE_PATH_PATTERN.match(scope_path) is not None
    # Not a path: the query still says whether the account and the role exist, and '/' keeps
    # its list of paths at one of the lengths already written.
    covering = _covering_paths(scope_path if valid_path else ROOT_SCOPE_PATH)
    found = _decision_facts.rows(username=username, role_slug=role_slug, scope_paths=covering, at=at)
    if not found:
        return AccessDecision(False, reason=f"no account named {username}")
    [(is_active, role_exists, held, upcoming)] = found
    if not is_active:
        return AccessDecision(False, reason=f"the account {username} is disabled")
    if not role_exists:
        return AccessDecision(False, reason=f"no role with the slug {role_slug}")
    if not valid_path:
        return AccessDecision(False, reason=f"{scope_path} is not a scope path")
    instants = [_json_time(text) for text in (upcoming or {}).values() if text]
    changes_at = min(instants) if instants else None
    if held is None:
        reason = f"{username} holds no active {role_slug} assignment at {scope_path} or above"
        return AccessDecision(False, reason=reason, changes_at=changes_at)
    until = _json_time(held["end_at"]) if held["end_at"] else None
    via = "group" if held["group_id"] else held["source"]
    return AccessDecision(True, until, assignment_id=held["pk"], via=via, changes_at=changes_at)


def _json_time(text: str) -> datetime:
    moment = parse_datetime(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite's JSON: UTC, no zone


_DECISIONS = UntilChanged("access decisions")


def cached_access_decision(
    *, username: str, role_slug: str, scope_path: str = ROOT_SCOPE_PATH, at: datetime
) -> AccessDecision:
    """access_decision, from this process's memory while the answer still holds (see
    roles.until_changed: until its changes_at, or until a write to what it reads). For the API's
    /check/, which a gateway asks for every request it serves; no query when it is known."""
    key = (username, role_slug, scope_path)
    decision = _DECISIONS.get(key, at=at)
    if decision is None:
        generation = _DECISIONS.generation()  # before the read: a change during it is not kept
        decision = access_decision(username=username, role_slug=role_slug, scope_path=scope_path, at=at)
        _DECISIONS.remember(key, decision, generation=generation, at=at, until=decision.changes_at)
    return decision


def _covering_paths(path: str) -> list[str]:
    """ancestor_paths(path), its last repeated to a length of 1, 2, 4, 8...: the SQL is written
    once per length of the list, so for a few lengths rather than one per depth asked."""
    paths = ancestor_paths(path)
    length = 1 << (len(paths) - 1).bit_length()
    return paths + paths[-1:] * (length - len(paths))


def stage_plans(role_settings) -> list[StagePlan]:
    """The role's approval stages, in order, as plans (what the settings page and audit show)."""
    stages = role_settings.stages.prefetch_related(
        "approvers", "approver_groups", "escalation_approvers", "escalation_groups"
    ).order_by("position")
    return [
        StagePlan(
            approvers=tuple(sorted(stage.approvers.all(), key=lambda user: user.get_username())),
            approver_groups=tuple(sorted(stage.approver_groups.all(), key=lambda group: group.name)),
            approvals_required=stage.approvals_required,
            timeout_minutes=stage.timeout_minutes,
            escalate_after_minutes=stage.escalate_after_minutes,
            escalation_approvers=tuple(sorted(stage.escalation_approvers.all(), key=lambda user: user.get_username())),
            escalation_groups=tuple(sorted(stage.escalation_groups.all(), key=lambda group: group.name)),
        )
        for stage in stages
    ]


def stage_of(*, role: Role, position: int) -> ApprovalStage | None:
    """The role's approval stage at `position` as the settings say now (None: no such stage)."""
    return ApprovalStage.objects.filter(role_settings__role=role, position=position).first()


def _named_in(stages, *, escalation: bool) -> Q:
    """Users named in these stages as approvers (directly or through a group), and also as
    escalation approvers when `escalation`."""
    named = Q(approver_of__in=stages) | Q(groups__approver_of__in=stages)
    if escalation:
        named |= Q(escalation_of__in=stages) | Q(groups__escalation_of__in=stages)
    return named


def stage_deciders(*, stage: ApprovalStage, escalated: bool = False, only_escalation: bool = False) -> QuerySet:
    """Active users who may decide at this stage: its approvers, plus its escalation approvers
    once the stage has escalated. `only_escalation`: just those added by escalation."""
    stages = ApprovalStage.objects.filter(pk=stage.pk)
    if only_escalation:
        named = Q(escalation_of__in=stages) | Q(groups__escalation_of__in=stages)
    else:
        named = _named_in(stages, escalation=escalated)
    return get_user_model().objects.filter(is_active=True).filter(named).distinct().order_by("username")


def may_decide_at_stage(*, user, stage: ApprovalStage | None, escalated: bool) -> bool:
    """Named at this stage right now (the settings are read at the moment of deciding)."""
    if stage is None or not user.is_active:
        return False
    return stage_deciders(stage=stage, escalated=escalated).filter(pk=user.pk).exists()


def is_approver(*, user, role: Role) -> bool:
    """Named in any approval stage of the role, escalation included: may see its requests."""
    stages = ApprovalStage.objects.filter(role_settings__role=role)
    return (
        get_user_model().objects.filter(pk=user.pk, is_active=True).filter(_named_in(stages, escalation=True)).exists()
    )


def assignments_not_ended(*, model: type[Assignment], at: datetime, filters: dict) -> QuerySet[Assignment]:
    """Eligible or active assignments (`model`) in effect at `at` or scheduled to start later,
    narrowed by the filters of roles.forms.AssignmentFilterForm: role (a Role), user (a
    username or a group's name), scope (a path, exact), duration ("permanent" or "time-bound"),
    expiring (ending within that many days). Holder, role, scope and creator (and an active
    one's group of activation) are joined in, so the rows never query. One query; the console
    list and the API both read it."""
    lookups = Q()
    if "role" in filters:
        lookups &= Q(role=filters["role"])
    if "user" in filters:  # a username, or a group's name
        lookups &= Q(principal__username=filters["user"]) | Q(group__name=filters["user"])
    if "scope" in filters:
        lookups &= Q(scope__path=filters["scope"])
    if filters.get("duration") == "permanent":
        lookups &= Q(end_at__isnull=True)
    elif filters.get("duration") == "time-bound":
        lookups &= Q(end_at__isnull=False)
    if "expiring" in filters:
        lookups &= Q(end_at__isnull=False, end_at__lte=at + timedelta(days=filters["expiring"]))
    related = ["principal", "group", "role", "scope", "created_by"]
    if model is ActiveAssignment:
        related.append("via_group")
    return model.objects.not_ended(at).filter(lookups).select_related(*related)


def _in_effect_count(model: type[Assignment], *, at: datetime, per: str, **filters) -> Coalesce:
    """How many assignments of `model` in effect at `at` (and matching `filters`) each outer
    row has, by its `per` field ("role", "scope"), as a subquery: assignments point at roles and
    scopes with related_name="+", so there is no reverse relation to count over."""
    count = (
        model.objects.in_effect(at).filter(**{per: OuterRef("pk")}, **filters)
        .order_by().values(per).annotate(n=Count("pk")).values("n")
    )  # fmt: skip
    return Coalesce(Subquery(count, output_field=IntegerField()), 0)


def scopes_with_assignment_counts(*, at: datetime) -> QuerySet[Scope]:
    """Every scope with its parent, and `eligible_count` / `active_count`: assignments in
    effect at `at` made at that very scope. One query."""
    return Scope.objects.select_related("parent").annotate(
        eligible_count=_in_effect_count(EligibleAssignment, at=at, per="scope"),
        active_count=_in_effect_count(ActiveAssignment, at=at, per="scope"),
    )


def roles_with_assignment_counts(*, at: datetime) -> QuerySet[Role]:
    """Every role with the console list's counts of assignments in effect at `at`, at any scope:
    `eligible_permanent`, `eligible_time_bound`, `active_permanent`, `active_time_bound`. One query."""
    return Role.objects.annotate(**{
        f"{model.kind}_{'permanent' if permanent else 'time_bound'}": _in_effect_count(
            model, at=at, per="role", end_at__isnull=permanent)
        for model in (EligibleAssignment, ActiveAssignment) for permanent in (True, False)
    })  # fmt: skip


def standing_assignments() -> QuerySet[ActiveAssignment]:
    """Discovery: permanent active assignments made by administrators (standing access), by role.
    One query."""
    return (
        ActiveAssignment.objects.open()
        .filter(end_at__isnull=True, source="admin")
        .select_related("role", "scope", "principal", "group", "created_by")
        .order_by("role__name", "scope__path", "pk")
    )
