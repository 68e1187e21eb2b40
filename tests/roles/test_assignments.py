"""Administrators' assignments follow the role's settings; a refusal names the rule and
changes nothing. One open assignment per principal, role and scope."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from roles import rules, services
from roles.choices import EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, root_scope

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def user_admin_role(db):
    return Role.objects.get(slug="user-administrator")


def assign(kind: str, *, actor, principal, role, end_at, justification="Ticket CHG-1 rota", start_at=NOW):
    # An administrator who entered a code just now (active assignments of most roles need one).
    extra = {"mfa_verified_at": NOW} if kind == "active" else {}
    service = services.assign_eligible if kind == "eligible" else services.assign_active
    return service(
        **extra,
        actor=actor,
        principal=principal,
        role=role,
        scope=root_scope(),
        start_at=start_at,
        end_at=end_at,
        justification=justification,
    )


def assert_nothing_assigned() -> None:
    assert not EligibleAssignment.objects.exists()
    assert not ActiveAssignment.objects.filter(role__slug="user-administrator").exists()
    assert not AuditEvent.objects.filter(action="assignment.created").exists()


def test_a_permanent_eligible_assignment_is_created_and_audited(pim_admin, alice, user_admin_role):
    assignment = assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    assert assignment.is_permanent
    assert assignment.created_by == pim_admin
    event = AuditEvent.objects.get(action="assignment.created")
    assert event.actor == pim_admin
    assert event.principal == alice
    assert event.role == "user-administrator"
    assert event.scope == "/"
    assert event.data["assignment_type"] == "eligible"


def test_a_time_bound_active_assignment_within_the_maximum_is_created(pim_admin, alice, user_admin_role):
    assignment = assign(
        "active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=180)
    )

    assert assignment.source == "admin"
    assert AuditEvent.objects.filter(action="assignment.created", data__assignment_type="active").count() == 1


def test_a_permanent_active_assignment_is_refused_by_default_naming_the_role_and_maximum(
    pim_admin, alice, user_admin_role
):
    with pytest.raises(ValidationError) as refusal:
        assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    message = refusal.value.message_dict["end_at"][0]
    assert "User Administrator does not allow permanent active assignments" in message
    assert "at most 180 days" in message
    assert_nothing_assigned()


def test_a_permanent_eligible_assignment_is_refused_when_the_role_forbids_it(pim_admin, alice, user_admin_role):
    services.update_role_settings(
        actor=pim_admin, role=user_admin_role, changes={"allow_permanent_eligible": False, "max_eligible_days": 90}
    )

    with pytest.raises(ValidationError) as refusal:
        assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    assert "does not allow permanent eligible assignments; set an end at most 90 days" in refusal.value.messages[0]
    assert_nothing_assigned()


def test_an_active_assignment_longer_than_the_maximum_is_refused(pim_admin, alice, user_admin_role):
    with pytest.raises(ValidationError) as refusal:
        assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=181))

    assert refusal.value.message_dict["end_at"] == [
        "User Administrator allows active assignments of at most 180 days; this one lasts 181.0 days."
    ]
    assert_nothing_assigned()


def test_an_active_assignment_needs_a_justification(pim_admin, alice, user_admin_role):
    with pytest.raises(ValidationError) as refusal:
        assign(
            "active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=1),
            justification="   ",
        )  # fmt: skip

    assert refusal.value.message_dict["justification"] == [
        "User Administrator requires a justification for active assignments (1 to 500 characters)."
    ]
    assert_nothing_assigned()


def test_an_eligible_assignment_needs_no_justification(pim_admin, alice, user_admin_role):
    assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None, justification="")

    assert EligibleAssignment.objects.filter(principal=alice).count() == 1


def test_a_justification_over_500_characters_is_refused(pim_admin, alice, user_admin_role):
    with pytest.raises(ValidationError) as refusal:
        assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None, justification="x" * 501)

    assert refusal.value.message_dict["justification"] == [
        "A justification can be at most 500 characters; this one has 501."
    ]
    assert_nothing_assigned()


@pytest.mark.parametrize("end_at", [NOW, NOW - timedelta(hours=1)])
def test_an_end_not_after_the_start_is_refused(pim_admin, alice, user_admin_role, end_at):
    with pytest.raises(ValidationError) as refusal:
        assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=end_at)

    assert refusal.value.message_dict["end_at"][0].startswith("The end (")
    assert "must be after the start" in refusal.value.message_dict["end_at"][0]
    assert_nothing_assigned()


def test_a_second_open_assignment_of_the_same_role_and_scope_is_refused(pim_admin, alice, user_admin_role):
    assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    with pytest.raises(ValidationError) as refusal:
        assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=30))

    assert refusal.value.messages == [
        services.ALREADY_ASSIGNED
        % {"principal": "alice", "kind": "eligible", "role": "User Administrator", "scope": "/"}
    ]
    assert EligibleAssignment.objects.filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.created").count() == 1


def test_the_database_refuses_a_duplicate_open_assignment_written_around_the_service(alice, user_admin_role):
    EligibleAssignmentFactory(principal=alice, role=user_admin_role)

    with pytest.raises(IntegrityError), transaction.atomic():
        EligibleAssignmentFactory(principal=alice, role=user_admin_role)


def test_the_database_refuses_an_end_before_the_start(alice, user_admin_role):
    with pytest.raises(IntegrityError), transaction.atomic():
        EligibleAssignmentFactory(principal=alice, role=user_admin_role, start_at=NOW, end_at=NOW - timedelta(days=1))


def test_eligible_and_active_assignments_of_the_same_role_can_coexist(pim_admin, alice, user_admin_role):
    assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)
    assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=1))

    assert AuditEvent.objects.filter(action="assignment.created", principal=alice).count() == 2


def test_an_ended_assignment_does_not_block_a_new_one(pim_admin, alice, user_admin_role):
    first = assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)
    services.remove_assignment(actor=pim_admin, assignment=first)

    second = assign("eligible", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    assert second.pk != first.pk


def test_a_lapsed_but_unswept_assignment_does_not_block_a_new_one(pim_admin, alice, user_admin_role, time_machine):
    lapsed = ActiveAssignmentFactory(
        principal=alice, role=user_admin_role, start_at=NOW - timedelta(days=2), end_at=NOW - timedelta(days=1)
    )

    renewed = assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=NOW + timedelta(days=1))

    lapsed.refresh_from_db()
    assert lapsed.ended_at == lapsed.end_at
    assert lapsed.end_reason == EndReason.EXPIRED
    assert renewed.is_in_effect(timezone.now())
    assert AuditEvent.objects.filter(action="assignment.expired", target_id=str(lapsed.pk)).count() == 1


def test_a_refused_assignment_leaves_a_lapsed_one_as_it_was(pim_admin, alice, user_admin_role):
    ActiveAssignmentFactory(
        principal=alice, role=user_admin_role, start_at=NOW - timedelta(days=2), end_at=NOW - timedelta(days=1)
    )

    with pytest.raises(ValidationError):
        assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    assert ActiveAssignment.objects.open().filter(principal=alice).count() == 1
    assert not AuditEvent.objects.exists()


def test_the_messages_are_the_rule_constants(pim_admin, alice, user_admin_role):
    """API clients and the audit log rely on these codes."""
    with pytest.raises(ValidationError) as refusal:
        assign("active", actor=pim_admin, principal=alice, role=user_admin_role, end_at=None)

    assert refusal.value.error_dict["end_at"][0].code == "permanent_not_allowed"
    assert refusal.value.error_dict["end_at"][0].message == rules.PERMANENT_NOT_ALLOWED
