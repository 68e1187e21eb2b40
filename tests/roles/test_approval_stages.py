"""Approval stages in the role settings: each stage names its approvers and how many distinct
approvals it needs, its timeout and an optional escalation; the rules name the stage, the
field and the allowed range, and a refused change leaves every stage as it was."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from roles import rules, services
from roles.models import ApprovalStage, Role
from roles.rules import StagePlan
from roles.selectors import stage_plans


@pytest.fixture
def exchange(db):
    return Role.objects.get(slug="exchange-administrator")


def update(role, actor, *stages, **changes):
    return services.update_role_settings(actor=actor, role=role, changes=changes, stages=list(stages))


def stage_messages(refusal) -> list[str]:
    return refusal.value.message_dict["stages"]


def test_require_approval_without_a_stage_is_refused_and_changes_nothing(exchange, pim_admin):
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, require_approval=True)

    assert stage_messages(refusal) == [rules.APPROVERS_REQUIRED]
    assert exchange.settings.require_approval is False
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_a_stage_without_approvers_is_named_by_its_number(exchange, pim_admin, bob):
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, StagePlan(approvers=(bob,)), StagePlan(), require_approval=True)

    assert stage_messages(refusal) == ["Stage 2 needs at least one approver (a user or a group)."]
    assert not ApprovalStage.objects.exists()


def test_more_approvals_than_named_approvers_is_refused_unless_a_group_can_supply_them(exchange, pim_admin, bob):
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, StagePlan(approvers=(bob,), approvals_required=2), require_approval=True)

    assert stage_messages(refusal)[0].startswith("Stage 1: approvals required is 2, but only 1 approver(s) are named")

    helpdesk = Group.objects.create(name="Helpdesk leads")
    update(exchange, pim_admin, StagePlan(approvers=(bob,), approver_groups=(helpdesk,), approvals_required=2),
           require_approval=True)  # fmt: skip
    assert exchange.settings.stages.get().approvals_required == 2


RANGE = "Stage 1: %s must be between %s; it is %s."
ESCALATION = (
    "Stage 1: escalate after must be at least 30 min and less than the stage's approval timeout (%s); it is %s."
)
ESCALATES = {"escalation_approvers": "bob"}  # replaced by the bob fixture


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"approvals_required": 0}, RANGE % ("approvals required", "1 approval and 25 approvals", "0 approvals")),
        ({"timeout_minutes": 59}, RANGE % ("approval timeout", "1 h and 14 days", "59 min")),
        ({"timeout_minutes": 15 * 24 * 60}, RANGE % ("approval timeout", "1 h and 14 days", "15 days")),
        ({"timeout_minutes": 120, "escalate_after_minutes": 120, **ESCALATES}, ESCALATION % ("2 h", "2 h")),
        ({"escalate_after_minutes": 20, **ESCALATES}, ESCALATION % ("24 h", "20 min")),
        ({"escalate_after_minutes": 60}, rules.ESCALATION_WITHOUT_APPROVERS % {"stage": 1}),
    ],
)  # fmt: skip
def test_stage_values_out_of_range_name_the_stage_the_field_and_the_range(exchange, pim_admin, bob, plan, message):
    if plan.get("escalation_approvers"):
        plan = {**plan, "escalation_approvers": (bob,)}
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, StagePlan(approvers=(bob,), **plan), require_approval=True)

    assert stage_messages(refusal) == [message]
    assert not ApprovalStage.objects.exists()


def test_escalation_approvers_without_a_time_are_refused(exchange, pim_admin, bob, carol):
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, StagePlan(approvers=(bob,), escalation_approvers=(carol,)))

    assert stage_messages(refusal) == ["Stage 1: escalation approvers need an 'escalate after' time."]


def test_at_most_five_stages(exchange, pim_admin, bob):
    with pytest.raises(ValidationError) as refusal:
        update(exchange, pim_admin, *[StagePlan(approvers=(bob,))] * 6)

    assert stage_messages(refusal) == ["A role has at most 5 approval stages; 6 were given."]


def test_stages_are_saved_in_order_and_audited_by_name(exchange, pim_admin, bob, carol, dave):
    security = Group.objects.create(name="Security leads")

    update(
        exchange, pim_admin,
        StagePlan(approvers=(carol, bob), approvals_required=2, timeout_minutes=240),
        StagePlan(approver_groups=(security,), escalate_after_minutes=60, escalation_approvers=(dave,)),
        require_approval=True,
    )  # fmt: skip

    first, second = stage_plans(exchange.settings)
    assert (first.approvers, first.approvals_required, first.timeout_minutes) == ((bob, carol), 2, 240)
    assert (second.approver_groups, second.escalate_after_minutes, second.escalation_approvers) == (
        (security,), 60, (dave,),
    )  # fmt: skip
    event = AuditEvent.objects.get(action="settings.updated")
    before, after = event.data["changes"]["stages"]
    assert before == []
    assert [stage["approvers"] for stage in after] == [["bob", "carol"], []]
    assert after[1]["approver_groups"] == ["Security leads"]
    assert after[1]["escalation_approvers"] == ["dave"]


def test_saving_the_same_stages_again_writes_nothing(exchange, pim_admin, bob):
    update(exchange, pim_admin, StagePlan(approvers=(bob,)), require_approval=True)
    update(exchange, pim_admin, StagePlan(approvers=(bob,)), require_approval=True)

    assert AuditEvent.objects.filter(action="settings.updated").count() == 1


def test_stages_without_require_approval_are_kept_but_not_asked(exchange, pim_admin, bob):
    update(exchange, pim_admin, StagePlan(approvers=(bob,)), require_approval=False)

    assert exchange.settings.stages.count() == 1
    assert exchange.settings.require_approval is False


@pytest.mark.parametrize(
    "values",
    [
        {"approvals_required": 0},
        {"timeout_minutes": 59},
        {"escalate_after_minutes": 1440},  # not before the 24 h timeout
        {"position": 0},
    ],
)
def test_the_database_refuses_stages_written_around_the_service(exchange, values):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalStage.objects.create(role_settings=exchange.settings, **{"position": 1, **values})


def test_the_database_refuses_two_stages_at_one_position(exchange):
    ApprovalStage.objects.create(role_settings=exchange.settings, position=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalStage.objects.create(role_settings=exchange.settings, position=1)
