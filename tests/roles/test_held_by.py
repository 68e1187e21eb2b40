"""AssignmentQuerySet.held_by: whose assignments are whose, and on PostgreSQL a plan that finds
them through the indexes rather than by filtering the whole table."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from roles.choices import ActiveSource
from roles.models import ActiveAssignment, EligibleAssignment
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, RoleFactory


@pytest.fixture
def teams(alice, bob):
    """alice is in "mail" and not in "left" (she was, once); bob is in "left"."""
    mail, left = Group.objects.create(name="mail"), Group.objects.create(name="left")
    mail.user_set.add(alice)
    left.user_set.add(bob)
    return mail, left


def test_eligible_ones_are_the_users_own_and_their_groups_now(alice, bob, teams):
    mail, left = teams
    own = EligibleAssignmentFactory(principal=alice)
    through_mail = EligibleAssignmentFactory(principal=None, group=mail)
    EligibleAssignmentFactory(principal=None, group=left)
    EligibleAssignmentFactory(principal=bob)

    assert set(EligibleAssignment.objects.held_by(alice)) == {own, through_mail}


def test_an_activation_through_a_group_is_held_only_while_a_member(alice, bob, teams):
    mail, left = teams
    end = timezone.now() + timedelta(hours=1)
    standing = ActiveAssignmentFactory(principal=alice)
    via_mail = ActiveAssignmentFactory(principal=alice, via_group=mail, source=ActiveSource.ACTIVATION, end_at=end)
    ActiveAssignmentFactory(principal=alice, via_group=left, source=ActiveSource.ACTIVATION, end_at=end)
    to_mail = ActiveAssignmentFactory(principal=None, group=mail)
    ActiveAssignmentFactory(principal=None, group=left)
    ActiveAssignmentFactory(principal=bob, via_group=left, source=ActiveSource.ACTIVATION, end_at=end)

    assert set(ActiveAssignment.objects.held_by(alice)) == {standing, via_mail, to_mail}
    assert set(ActiveAssignment.objects.held_by(bob)) == {ActiveAssignment.objects.get(group=left),
                                                          ActiveAssignment.objects.get(principal=bob)}  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("model", [EligibleAssignment, ActiveAssignment])
def test_on_postgresql_the_groups_part_is_an_index_condition(alice, teams, model):
    """With `group_id IN (subquery)` inside held_by's OR, PostgreSQL can only filter row by row
    (the whole table, at 20,000 assignments tens of ms); `= ANY(ARRAY(subquery))` lets a bitmap
    scan of the group index answer it. Sequential scans off: the tables here are tiny."""
    mail, _ = teams
    role = RoleFactory()
    EligibleAssignmentFactory(principal=None, group=mail, role=role)
    ActiveAssignmentFactory(principal=None, group=mail, role=role)
    # Just the condition: without the page's ordering joins, the plan is the scan of this table.
    sql, params = model.objects.held_by(alice).order_by().values("pk").query.sql_with_params()

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Cond: (group_id = ANY" in plan, plan
