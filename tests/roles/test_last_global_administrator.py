"""PIM never leaves the directory without a permanent active Global Administrator: removing the
last one, or giving it an end, is refused on every path, with a message that says why."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains

from audit.models import AuditEvent
from roles import services
from roles.models import ActiveAssignment, Role
from tests.activations.test_races_postgres import run_together
from tests.conftest import make_user, verify_session
from tests.factories import ActiveAssignmentFactory, root_scope

MESSAGE = (
    "root holds the last permanent active Global Administrator assignment at /. PIM keeps at least one, so that "
    "the directory can always be administered: give another account a permanent active Global Administrator "
    "assignment first."
)


@pytest.fixture
def root_admin(db):
    user = make_user("root")
    return ActiveAssignmentFactory(principal=user, role=Role.objects.get(slug="global-administrator"),
                                   scope=root_scope(), end_at=None)  # fmt: skip


def test_the_last_one_cannot_be_removed(root_admin, pim_admin):
    with pytest.raises(ValidationError) as refusal:
        services.remove_assignment(actor=pim_admin, assignment=root_admin)

    assert refusal.value.messages == [MESSAGE]
    root_admin.refresh_from_db()
    assert root_admin.ended_at is None
    assert not AuditEvent.objects.filter(action="assignment.removed").exists()


def test_the_last_one_cannot_be_given_an_end(root_admin, pim_admin):
    with pytest.raises(ValidationError, match="last permanent active Global Administrator"):
        services.change_assignment_end(actor=pim_admin, assignment=root_admin,
                                       end_at=timezone.now() + timedelta(days=1))  # fmt: skip

    root_admin.refresh_from_db()
    assert root_admin.end_at is None


def test_with_a_second_one_either_can_go(root_admin, pim_admin):
    second = ActiveAssignmentFactory(principal=make_user("backup"), role=root_admin.role, scope=root_scope(),
                                     end_at=None)  # fmt: skip

    assert services.remove_assignment(actor=pim_admin, assignment=root_admin) is True
    with pytest.raises(ValidationError, match="backup holds the last permanent active Global Administrator"):
        services.remove_assignment(actor=pim_admin, assignment=second)


def test_a_disabled_account_does_not_count(root_admin, pim_admin):
    ghost = make_user("ghost", is_active=False)
    ActiveAssignmentFactory(principal=ghost, role=root_admin.role, scope=root_scope(), end_at=None)

    with pytest.raises(ValidationError, match="root holds the last"):
        services.remove_assignment(actor=pim_admin, assignment=root_admin)


def test_the_console_says_so_and_keeps_it(root_admin, pim_admin, client):
    verify_session(client, pim_admin)

    response = client.post(reverse("manage:assignment-remove", args=["active", root_admin.pk]), follow=True)

    assertContains(response, MESSAGE)
    assert ActiveAssignment.objects.get(pk=root_admin.pk).ended_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_removing_the_last_two_at_the_same_moment_keeps_one():
    admin = make_user("pimadmin")
    global_admin = Role.objects.get(slug="global-administrator")
    first, second = (ActiveAssignmentFactory(principal=make_user(name), role=global_admin, scope=root_scope(),
                                             end_at=None) for name in ("first", "second"))  # fmt: skip

    outcomes = run_together(
        one=lambda: services.remove_assignment(actor=admin, assignment=first),
        two=lambda: services.remove_assignment(actor=admin, assignment=second),
    )

    assert sorted(type(outcome).__name__ for outcome in outcomes.values()) == ["ValidationError", "bool"]
    assert ActiveAssignment.objects.filter(role=global_admin, ended_at__isnull=True).count() == 1
