"""PIM for groups: a Django group brought under PIM becomes two roles provisioned through the
Django-group target; its direct members become assignments; membership is then just in time."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from activations.choices import Decision
from activations.services import decide_request, request_activation
from audit.models import AuditEvent
from roles.models import ActiveAssignment, EligibleAssignment, ManagedGroup, Role
from roles.provisioning import tasks
from roles.provisioning.groups import bring_group_under_pim
from tests.provisioning.conftest import members

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(alice, bob):
    group = Group.objects.create(name="Finance Admins")
    group.user_set.add(alice, bob)
    return group


def test_direct_members_become_eligible_and_leave_the_group(
    finance, pim_admin, alice, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        managed = bring_group_under_pim(actor=pim_admin, group=finance, existing_members="eligible")
    member_role, owner_role = managed.member_role, managed.owner_role
    assert (member_role.slug, member_role.name) == ("member-of-finance-admins", "Member of Finance Admins")
    assert (owner_role.slug, owner_role.name) == ("owner-of-finance-admins", "Owner of Finance Admins")
    assert managed.owners_group.name == "Finance Admins owners"
    assert [target.params for target in member_role.targets.all()] == [{"group": "Finance Admins"}]
    assert [target.params for target in owner_role.targets.all()] == [{"group": "Finance Admins owners"}]
    assert set(EligibleAssignment.objects.filter(role=member_role).values_list("principal__username", flat=True)) == {
        "alice",
        "bob",
    }
    assert members("Finance Admins") == []  # membership is just in time from now on
    event = AuditEvent.objects.get(action="group.brought_under_pim")
    assert (event.data["members"], event.data["existing_members"]) == (["alice", "bob"], "eligible")


def test_activating_membership_needs_an_owners_approval_and_puts_the_user_in_the_group(
    finance, pim_admin, alice, carol, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        managed = bring_group_under_pim(actor=pim_admin, group=finance, existing_members="eligible")
    managed.owners_group.user_set.add(carol)  # carol holds ownership (as provisioning would make her)
    eligibility = EligibleAssignment.objects.get(role=managed.member_role, principal=alice)
    with django_capture_on_commit_callbacks(execute=True):
        (request,) = request_activation(
            actor=alice,
            eligibilities=[eligibility],
            duration=timedelta(hours=1),
            justification="month-end close",
            mfa_verified_at=timezone.now(),
        )
        decide_request(actor=carol, request=request, decision=Decision.APPROVE, justification="ok")
    tasks.run_provisioning()
    assert members("Finance Admins") == ["alice"]


def test_direct_members_can_become_permanent_active_members(finance, pim_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        managed = bring_group_under_pim(
            actor=pim_admin, group=finance, existing_members="active", mfa_verified_at=timezone.now()
        )
    assert set(
        ActiveAssignment.objects.filter(role=managed.member_role, end_at__isnull=True).values_list(
            "principal__username", flat=True
        )
    ) == {"alice", "bob"}
    tasks.run_provisioning()
    assert members("Finance Admins") == ["alice", "bob"]  # they stay, now through PIM


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        ("twice", "Group 'Finance Admins' is already under PIM."),
        ("role", "A role named 'member-of-finance-admins' exists already"),
    ],
)
def test_refusals_change_nothing(finance, pim_admin, prepare, message):
    if prepare == "twice":
        bring_group_under_pim(actor=pim_admin, group=finance, existing_members="eligible")
    else:
        Role.objects.create(slug="member-of-finance-admins", name="Finance membership")
    roles_before = Role.objects.count()
    with pytest.raises(ValidationError, match=message):
        bring_group_under_pim(actor=pim_admin, group=finance, existing_members="eligible")
    assert Role.objects.count() == roles_before
    assert ManagedGroup.objects.count() == (1 if prepare == "twice" else 0)


def test_a_bad_choice_for_existing_members_names_the_field(finance, pim_admin):
    with pytest.raises(ValidationError) as refusal:
        bring_group_under_pim(actor=pim_admin, group=finance, existing_members="delete")
    assert refusal.value.message_dict["existing_members"] == [
        "Existing members: one of eligible, active; 'delete' was given."
    ]
