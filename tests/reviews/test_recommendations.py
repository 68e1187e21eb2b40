"""Keep or remove, from whether the role was actually activated (or, for standing access, the
holder signed in): the threshold is 30 days, inclusive."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from roles.choices import ActiveSource, EndReason
from roles.reviews.choices import Outcome
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory

pytestmark = pytest.mark.django_db


def activation(user, role, *, days_ago: float, scope=None, via_group=None):
    start = timezone.now() - timedelta(days=days_ago)
    extra = {"scope": scope} if scope else {}
    # Past and expired, as the sweep leaves them.
    end = start + timedelta(hours=1)
    return ActiveAssignmentFactory(
        principal=user,
        role=role,
        source=ActiveSource.ACTIVATION,
        start_at=start,
        end_at=end,
        ended_at=end,
        end_reason=EndReason.EXPIRED,
        via_group=via_group,
        **extra,
    )


def recommendation_of(occurrence, holder: str):
    item = next(item for item in occurrence.items.all() if item.holder_name == holder)
    return item.recommendation, item.recommendation_reason, item


@pytest.fixture
def review_now(make_review, start_review, bob, time_machine):
    """Freeze time, then start a review of Exchange Administrator now."""
    time_machine.move_to(timezone.now(), tick=False)

    def run():
        return start_review(make_review(reviewers=[bob]))

    return run


def test_activated_within_30_days_is_kept_with_the_count(review_now, exchange_admin, alice):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    for days_ago in (2, 9, 29):
        activation(alice, exchange_admin, days_ago=days_ago)
    activation(alice, exchange_admin, days_ago=45)  # counts for "last", not for "recent"
    recommendation, reason, item = recommendation_of(review_now(), "alice")
    assert (recommendation, reason) == (Outcome.KEEP, "Keep: activated 3 times in the last 30 days.")
    assert item.recent_activations == 3
    assert item.last_activated_at == timezone.now() + timedelta(seconds=1) - timedelta(days=2, seconds=1)


def test_at_exactly_30_days_it_is_kept_and_a_second_later_it_is_not(review_now, exchange_admin, alice, carol):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    # start_review starts one second after "now": these sit exactly at, and just past, the threshold then.
    activation(alice, exchange_admin, days_ago=30 - 1 / 86400)
    activation(carol, exchange_admin, days_ago=30)
    occurrence = review_now()
    assert recommendation_of(occurrence, "alice")[:2] == (Outcome.KEEP, "Keep: activated once in the last 30 days.")
    assert recommendation_of(occurrence, "carol")[:2] == (Outcome.REMOVE, "Remove: not activated in 30 days.")


def test_never_activated_is_removed(review_now, exchange_admin, alice):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    recommendation, reason, item = recommendation_of(review_now(), "alice")
    assert (recommendation, reason) == (Outcome.REMOVE, "Remove: never activated.")
    assert item.last_activated_at is None and item.recent_activations == 0


def test_activations_at_another_scope_do_not_count(review_now, exchange_admin, alice):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    activation(alice, exchange_admin, days_ago=1, scope=ScopeFactory(path="/subscriptions/other"))
    assert recommendation_of(review_now(), "alice")[0] == Outcome.REMOVE


def test_a_groups_eligibility_counts_its_members_activations_through_the_group(
    review_now, exchange_admin, alice, carol
):
    team = Group.objects.create(name="mail-team")
    alice.groups.add(team)
    carol.groups.add(team)
    EligibleAssignmentFactory(principal=None, group=team, role=exchange_admin)
    activation(alice, exchange_admin, days_ago=3, via_group=team)
    activation(carol, exchange_admin, days_ago=4, via_group=team)
    activation(carol, exchange_admin, days_ago=5)  # her own eligibility's, not the group's
    recommendation, reason, _ = recommendation_of(review_now(), "group mail-team")
    assert (recommendation, reason) == (Outcome.KEEP, "Keep: activated 2 times in the last 30 days.")


def test_standing_access_rests_on_the_holders_last_sign_in(review_now, exchange_admin, alice, carol):
    alice.last_login = timezone.now() - timedelta(days=3)
    alice.save()
    carol.last_login = timezone.now() - timedelta(days=31)
    carol.save()
    ActiveAssignmentFactory(principal=alice, role=exchange_admin)
    ActiveAssignmentFactory(principal=carol, role=exchange_admin)
    occurrence = review_now()
    assert recommendation_of(occurrence, "alice")[:2] == (
        Outcome.KEEP,
        "Keep: standing access; the holder signed in within the last 30 days.",
    )
    recommendation, reason, item = recommendation_of(occurrence, "carol")
    assert (recommendation, reason) == (Outcome.REMOVE, "Remove: standing access; no sign-in in 30 days.")
    assert item.last_sign_in_at == carol.last_login
