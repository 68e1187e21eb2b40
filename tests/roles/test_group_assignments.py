"""Assignments to a Django group: every member is eligible (or active) through it, My roles says
"via group", and leaving the group ends what a member had through it at once."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from pytest_django.asserts import assertContains

from activations import services as activation_services
from activations.choices import RequestStatus
from activations.selectors import eligible_roles_for
from audit.models import AuditEvent
from roles import bulk, services
from roles.models import ActiveAssignment, EligibleAssignment, Role, Scope
from roles.rules import StagePlan
from roles.selectors import access_decision
from tests.activations.helpers import START, activate
from tests.activations.pages.helpers import section, signed_in, text


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def exchange(db) -> Role:
    return Role.objects.get(slug="exchange-administrator")


@pytest.fixture
def mail_admins(alice, bob) -> Group:
    group = Group.objects.create(name="Mail admins")
    group.user_set.add(alice, bob)
    return group


@pytest.fixture
def group_eligibility(clock, pim_admin, exchange, mail_admins) -> EligibleAssignment:
    return services.assign_eligible(
        actor=pim_admin, principal=mail_admins, role=exchange, scope=Scope.objects.get(path="/"),
        start_at=START, end_at=None, justification="Mail team",
    )  # fmt: skip


def holds_exchange(username: str, at=None) -> bool:
    return access_decision(username=username, role_slug="exchange-administrator", at=at or START).allowed


def test_every_member_is_eligible_through_the_group_and_nobody_else(group_eligibility, alice, bob, carol):
    assert list(eligible_roles_for(user=alice, at=START)) == [group_eligibility]
    assert list(eligible_roles_for(user=bob, at=START)) == [group_eligibility]
    assert not eligible_roles_for(user=carol, at=START).exists()
    created = AuditEvent.objects.get(action="assignment.created")
    assert created.data["group"] == "Mail admins"
    assert created.principal_username == ""


def test_my_roles_says_via_group(group_eligibility, alice):
    response = signed_in(alice).get(reverse("activations:my-roles"))

    assert "via group Mail admins" in text(section(response, "eligible-heading"))


def test_members_activate_on_their_own_and_hold_it_through_the_group(group_eligibility, alice, bob):
    [mine] = activate(alice, group_eligibility)
    [theirs] = activate(bob, group_eligibility)

    assert mine.status == theirs.status == RequestStatus.PROVISIONED
    assert (mine.assignment.principal, mine.assignment.via_group.name) == (alice, "Mail admins")
    assert holds_exchange("alice") and holds_exchange("bob")
    page = signed_in(alice).get(reverse("activations:my-roles"))
    assert "Activated via group Mail admins" in text(section(page, "active-heading"))


def test_a_non_member_cannot_activate_the_groups_eligibility(group_eligibility, carol):
    with pytest.raises(ValidationError, match="not eligible"):
        activate(carol, group_eligibility)

    assert not ActiveAssignment.objects.filter(principal=carol).exists()


@pytest.mark.parametrize(
    "leave",
    [
        lambda group, user: group.user_set.remove(user),
        lambda group, user: user.groups.remove(group),
        lambda group, user: user.groups.clear(),
        lambda group, user: group.user_set.clear(),
    ],
    ids=["group.user_set.remove", "user.groups.remove", "user.groups.clear", "group.user_set.clear"],
)
def test_leaving_the_group_ends_the_activated_role_at_once(group_eligibility, mail_admins, alice, clock, leave):
    activate(alice, group_eligibility)
    clock.move_to(START + timedelta(minutes=5), tick=False)

    leave(mail_admins, alice)

    assert not holds_exchange("alice", START + timedelta(minutes=5))
    ended = ActiveAssignment.objects.get(principal=alice)
    assert ended.ended_at == START + timedelta(minutes=5)
    [event] = AuditEvent.objects.filter(action="assignment.removed")
    assert event.data["reason"] == "alice is no longer a member of Mail admins."
    assert not eligible_roles_for(user=alice, at=START + timedelta(minutes=5)).exists()


def test_access_through_the_group_follows_membership_even_without_the_signal(group_eligibility, mail_admins, alice):
    activate(alice, group_eligibility)

    # Membership changed behind Django's back (raw SQL, another tool): no signal, still no access.
    Group.user_set.through.objects.filter(user=alice, group=mail_admins).delete()

    assert not holds_exchange("alice")


def test_a_pending_request_of_a_member_who_left_cannot_be_approved(
    group_eligibility, mail_admins, alice, carol, exchange, clock
):
    services.update_role_settings(actor=None, role=exchange, changes={"require_approval": True},
                                  stages=[StagePlan(approvers=(carol,))])  # fmt: skip
    [request] = activate(alice, group_eligibility)
    mail_admins.user_set.remove(alice)

    request = activation_services.decide_request(actor=carol, request=request, decision="approve")

    assert request.status == RequestStatus.FAILED
    assert not holds_exchange("alice")


def test_an_active_assignment_to_a_group_is_held_by_its_members_while_members(
    clock, pim_admin, exchange, mail_admins, alice, carol
):
    services.assign_active(
        actor=pim_admin, principal=mail_admins, role=exchange, scope=Scope.objects.get(path="/"),
        start_at=START, end_at=START + timedelta(days=7), justification="Migration week", mfa_verified_at=START,
    )  # fmt: skip

    assert holds_exchange("alice") and not holds_exchange("carol")
    mail_admins.user_set.remove(alice)
    assert not holds_exchange("alice")


def test_removing_the_groups_eligibility_ends_every_members_activation(group_eligibility, pim_admin, alice, bob):
    activate(alice, group_eligibility)
    activate(bob, group_eligibility)

    services.remove_assignment(actor=pim_admin, assignment=group_eligibility)

    assert not holds_exchange("alice") and not holds_exchange("bob")
    assert ActiveAssignment.objects.filter(ended_at__isnull=False).count() == 2


def test_a_group_has_one_open_assignment_per_role_and_scope(group_eligibility, pim_admin, exchange, mail_admins):
    with pytest.raises(ValidationError) as refusal:
        services.assign_eligible(actor=pim_admin, principal=mail_admins, role=exchange,
                                 scope=Scope.objects.get(path="/"), start_at=START, end_at=None)  # fmt: skip

    assert refusal.value.messages == [
        "group Mail admins already has an open eligible assignment of Exchange Administrator at /; "
        "update or remove that one instead."
    ]


def test_the_database_refuses_an_assignment_to_both_or_neither(exchange, alice, mail_admins):
    root = Scope.objects.get(path="/")
    for holder in ({"principal": alice, "group": mail_admins}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            EligibleAssignment.objects.create(role=exchange, scope=root, start_at=START, **holder)


# The console and the CSV import ------------------------------------------------------------


@pytest.fixture
def console(clock, pim_admin):
    return signed_in(pim_admin)


def console_form(**overrides) -> dict:
    return {
        "role": Role.objects.get(slug="exchange-administrator").pk,
        "scope": Scope.objects.get(path="/").pk,
        "kind": "eligible",
        "start_at": "2026-11-22T09:00",
        "end_at": "",
        "justification": "Mail team",
    } | overrides


def test_the_console_assigns_a_role_to_a_group_and_lists_it(console, mail_admins):
    response = console.post(reverse("manage:assignment-create"), console_form(group=mail_admins.pk), follow=True)

    assertContains(response, "group Mail admins is now eligible for Exchange Administrator at /.")
    assert EligibleAssignment.objects.get().group == mail_admins
    listed = console.get(reverse("manage:assignments"), {"user": "Mail admins"})
    assertContains(listed, ">group Mail admins</a>")


@pytest.mark.parametrize("holder", ["both", "neither"])
def test_the_console_asks_for_a_user_or_a_group(console, mail_admins, alice, holder):
    chosen = {"principal": alice.pk, "group": mail_admins.pk} if holder == "both" else {}

    response = console.post(reverse("manage:assignment-create"), console_form(**chosen))

    assert response.context["form"].errors["principal"] == [
        "Choose a user or a group to assign the role to (one of them, not both)."
    ]
    assert not EligibleAssignment.objects.exists()


def test_a_csv_row_can_name_a_group(console, mail_admins):
    rows = bulk.parse_csv("principal,role,scope,start,end,justification\n"
                          "group:Mail admins,exchange-administrator,/,,,Mail team\n"
                          "group:Nobody,exchange-administrator,/,,,Mail team\n")  # fmt: skip
    results = bulk.check_rows(rows, now=START)

    assert results[0].ok and results[0].principal == mail_admins
    assert [str(error) for error in results[1].errors] == [
        "principal: No group is named 'Nobody'; give group:NAME with the name of an existing group."
    ]
