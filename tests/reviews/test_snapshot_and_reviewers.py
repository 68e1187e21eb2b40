"""What an occurrence reviews (a snapshot at its start) and who reviews each item."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from roles.choices import ActiveSource
from roles.models import ApprovalStage, ReviewItem, Role
from roles.reviews import services
from roles.reviews.choices import OccurrenceStatus, Recurrence, ReviewedTypes, ReviewerType
from tests.conftest import make_user
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

pytestmark = pytest.mark.django_db


def holders(occurrence) -> list[tuple[str, str]]:
    return sorted((item.holder_name, item.kind) for item in occurrence.items.all())


def test_an_assignment_made_after_the_start_is_not_in_the_occurrence(
    make_review, start_review, exchange_admin, alice, bob, carol
):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    assert holders(occurrence) == [("alice", "eligible")]
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS


def test_snapshot_covers_the_chosen_roles_types_and_scopes(
    make_review, start_review, exchange_admin, alice, bob, carol, dave
):
    subscription = ScopeFactory(path="/subscriptions/prod")
    group = ScopeFactory(path="/subscriptions/prod/rg-mail", parent=subscription)
    other = ScopeFactory(path="/subscriptions/test")
    EligibleAssignmentFactory(principal=alice, role=exchange_admin, scope=group)  # below the chosen scope: in
    EligibleAssignmentFactory(principal=carol, role=exchange_admin, scope=other)  # another scope: out
    ActiveAssignmentFactory(principal=dave, role=exchange_admin, scope=subscription)  # active, admin-made: in
    ActiveAssignmentFactory(
        principal=carol,
        role=exchange_admin,
        scope=subscription,
        source=ActiveSource.ACTIVATION,
        end_at=timezone.now() + timedelta(hours=1),
    )  # an activation: out
    EligibleAssignmentFactory(principal=dave, role=Role.objects.get(slug="billing-administrator"))  # other role
    EligibleAssignmentFactory(
        principal=bob,
        role=exchange_admin,
        end_at=timezone.now() + timedelta(seconds=1),
        start_at=timezone.now() - timedelta(days=1),
    )  # ended by the start: out
    review = make_review(reviewers=[bob], scopes=[subscription])
    occurrence = start_review(review)
    assert holders(occurrence) == [("alice", "eligible"), ("dave", "active")]

    only_active = start_review(make_review(reviewers=[bob], assignment_types=ReviewedTypes.ACTIVE))
    assert holders(only_active) == [("dave", "active")]


def test_inactive_holders_only(make_review, start_review, exchange_admin, bob, alice, carol, time_machine):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    # carol activated 10 days ago; alice never.
    ActiveAssignmentFactory(
        principal=carol,
        role=exchange_admin,
        source=ActiveSource.ACTIVATION,
        start_at=timezone.now() - timedelta(days=10),
        end_at=timezone.now() - timedelta(days=10) + timedelta(hours=1),
    )
    assert holders(start_review(make_review(reviewers=[bob], inactive_days=7))) == [
        ("alice", "eligible"),
        ("carol", "eligible"),
    ]
    assert holders(start_review(make_review(reviewers=[bob], inactive_days=30))) == [("alice", "eligible")]


def test_nobody_reviews_their_own_access_and_the_fallback_takes_what_is_left(
    make_review, start_review, exchange_admin, alice, bob, carol
):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=bob, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob], fallback_reviewer=carol))
    reviewers = {item.holder_name: [user.username for user in item.reviewers.all()] for item in occurrence.items.all()}
    assert reviewers == {"alice": ["bob"], "bob": ["carol"]}


def test_reviewer_groups_are_resolved_to_their_members_at_the_start(
    make_review, start_review, exchange_admin, alice, bob, carol
):
    auditors = Group.objects.create(name="auditors")
    bob.groups.add(auditors)
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewer_groups=[auditors]))
    carol.groups.add(auditors)  # joins after the start
    assert [user.username for user in occurrence.items.get().reviewers.all()] == ["bob"]


def test_self_review_gives_each_holder_their_own_and_a_group_to_its_members(
    make_review, start_review, exchange_admin, alice, bob, carol
):
    mail_team = Group.objects.create(name="mail-team")
    bob.groups.add(mail_team)
    carol.groups.add(mail_team)
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=None, group=mail_team, role=exchange_admin)
    occurrence = start_review(make_review(reviewer_type=ReviewerType.SELF))
    reviewers = {
        item.holder_name: sorted(user.username for user in item.reviewers.all()) for item in occurrence.items.all()
    }
    assert reviewers == {"alice": ["alice"], "group mail-team": ["bob", "carol"]}


def test_the_roles_approvers_review_and_a_role_without_approvers_goes_to_the_fallback(
    make_review, start_review, exchange_admin, alice, bob, carol, dave
):
    stage = ApprovalStage.objects.create(role_settings=exchange_admin.settings, position=1)
    stage.approvers.add(bob)
    billing = Role.objects.get(slug="billing-administrator")
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=billing)
    occurrence = start_review(
        make_review(reviewer_type=ReviewerType.APPROVERS, roles=[exchange_admin, billing], fallback_reviewer=dave)
    )
    reviewers = {item.role.slug: [user.username for user in item.reviewers.all()] for item in occurrence.items.all()}
    assert reviewers == {"exchange-administrator": ["bob"], "billing-administrator": ["dave"]}


def test_starting_tells_each_reviewer_once_and_is_audited(make_review, start_review, exchange_admin, alice, carol, bob):
    from audit.models import AuditEvent, OutboxMessage

    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    review = make_review(reviewers=[bob], name="Exchange Q4")
    start_review(review)
    mail = OutboxMessage.objects.get(rule="review.started.reviewer")
    assert mail.address == bob.email
    assert mail.subject == "Access review 'Exchange Q4': 2 assignment(s) to review"
    event = AuditEvent.objects.get(action="review.started")
    assert event.data["items"] == 2 and event.data["reviewers"] == ["bob"]


def test_starting_twice_takes_one_snapshot(make_review, exchange_admin, alice, bob):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    review = make_review(reviewers=[bob])
    occurrence = review.occurrences.get()
    later = timezone.now() + timedelta(seconds=5)
    assert services.start_occurrence(occurrence_id=occurrence.pk, now=later) is True
    assert services.start_occurrence(occurrence_id=occurrence.pk, now=later) is False
    assert services.start_due_occurrences(now=later) == 0
    assert ReviewItem.objects.filter(occurrence=occurrence).count() == 1


def test_a_review_starting_tomorrow_does_not_start_today(make_review, bob):
    review = make_review(reviewers=[bob], start_date=timezone.now().date() + timedelta(days=1))
    assert services.start_due_occurrences(now=timezone.now()) == 0
    assert review.occurrences.get().status == OccurrenceStatus.NOT_STARTED


def test_a_recurring_review_plans_its_next_occurrence_when_one_starts(make_review, start_review, bob):
    review = make_review(reviewers=[bob], recurrence=Recurrence.WEEKLY, duration_days=5)
    first = start_review(review)
    second = review.occurrences.get(number=2)
    assert second.status == OccurrenceStatus.NOT_STARTED
    assert second.starts_at - first.starts_at == timedelta(days=7)
    assert first.ends_at - first.starts_at == timedelta(days=5)


def test_a_group_holder_with_no_active_member_is_still_reviewed_by_the_named_reviewer(
    make_review, start_review, exchange_admin, bob
):
    empty = Group.objects.create(name="empty")
    EligibleAssignmentFactory(principal=None, group=empty, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    assert [user.username for user in occurrence.items.get().reviewers.all()] == ["bob"]


def test_an_inactive_reviewer_is_not_given_items(make_review, start_review, exchange_admin, alice, bob):
    ghost = make_user("ghost", is_active=False)
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[ghost, bob]))
    assert [user.username for user in occurrence.items.get().reviewers.all()] == ["bob"]
