"""Access reviews in the Django admin: found and read by a PIM administrator, changed only through
the services (the /reviews/manage/ pages), so the admin offers no add, change or delete.

Cast (tests/conftest.py): alice and carol hold Exchange Administrator eligibilities under review,
bob reviews them, dave holds nothing, pim_admin administers PIM."""

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from roles.reviews import services
from roles.reviews.choices import ReviewDecision
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence
from tests.conftest import verify_session
from tests.factories import EligibleAssignmentFactory, UserFactory

REASON = "Left the messaging team in March"


@pytest.fixture
def admin_client(client, pim_admin):
    """pim_admin, signed in with password and code: the admin is open to them."""
    verify_session(client, pim_admin)
    return client


@pytest.fixture
def occurrence(make_review, start_review, exchange_admin, alice, carol, bob):
    """A review of Exchange Administrator in progress; bob has denied alice's eligibility."""
    for user in (alice, carol):
        EligibleAssignmentFactory(principal=user, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(actor=bob, occurrence=occurrence, item_ids=[occurrence.items.get(principal=alice).pk],
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip
    return occurrence


def changelist(model: str) -> str:
    return reverse(f"admin:roles_{model}_changelist")


def test_the_review_list_shows_each_review_and_where_to_change_it(admin_client, occurrence):
    response = admin_client.get(changelist("accessreview"))

    assertContains(response, "Quarterly Exchange review")
    assertContains(response, "Exchange Administrator")
    assertContains(response, "In progress")
    assertContains(response, f'<a href="{reverse("reviews:manage")}">')
    assertNotContains(response, reverse("admin:roles_accessreview_add"))


def test_reviews_are_found_by_name_and_role(admin_client, make_review, bob):
    make_review(reviewers=[bob])

    found = admin_client.get(changelist("accessreview"), {"q": "exchange-administrator"})
    missed = admin_client.get(changelist("accessreview"), {"q": "billing"})

    assertContains(found, "Quarterly Exchange review")
    assertNotContains(missed, "Quarterly Exchange review")


def test_a_review_page_is_read_only_with_its_occurrences_and_a_link_to_change_it(admin_client, occurrence):
    response = admin_client.get(reverse("admin:roles_accessreview_change", args=[occurrence.review_id]))

    assertContains(response, reverse("reviews:detail", args=[occurrence.review_id]))
    assertContains(response, reverse("admin:roles_reviewoccurrence_change", args=[occurrence.pk]))
    assert 'name="_save"' not in response.content.decode()


def test_an_occurrence_links_to_its_items_and_its_results(admin_client, occurrence):
    response = admin_client.get(reverse("admin:roles_reviewoccurrence_change", args=[occurrence.pk]))

    assertContains(response, f"?occurrence__id__exact={occurrence.pk}")
    assertContains(response, reverse("reviews:results", args=[occurrence.pk]))
    assertContains(admin_client.get(changelist("reviewoccurrence")), "Quarterly Exchange review #1")


def test_the_item_list_shows_decisions_and_filters_by_occurrence(admin_client, occurrence, make_review, bob):
    other = make_review(name="Other review", reviewers=[bob])

    response = admin_client.get(changelist("reviewitem"), {"occurrence__id__exact": occurrence.pk})

    assert response.status_code == 200
    listed = response.context["cl"].result_list
    assert {item.pk for item in listed} == set(occurrence.items.values_list("pk", flat=True))
    assertContains(response, "alice eligible Exchange Administrator at /")
    assertContains(response, "Deny")
    assert other.pk not in {item.occurrence.review_id for item in listed}


def test_items_are_found_by_holder(admin_client, occurrence):
    response = admin_client.get(changelist("reviewitem"), {"q": "carol"})

    assert [item.principal.username for item in response.context["cl"].result_list] == ["carol"]


@pytest.mark.parametrize("model", ["accessreview", "reviewoccurrence", "reviewitem"])
def test_reviews_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, occurrence, model):
    obj = {"accessreview": occurrence.review, "reviewoccurrence": occurrence,
           "reviewitem": occurrence.items.first()}[model]  # fmt: skip

    assert admin_client.get(reverse(f"admin:roles_{model}_add")).status_code == 403
    assert admin_client.post(reverse(f"admin:roles_{model}_change", args=[obj.pk]), {"name": "x"}).status_code == 403
    assert admin_client.post(reverse(f"admin:roles_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert (AccessReview.objects.count(), ReviewOccurrence.objects.count(), ReviewItem.objects.count()) == (1, 1, 2)
    assert AccessReview.objects.get().name == "Quarterly Exchange review"


def test_someone_without_an_active_administrator_role_is_kept_out(client, dave, occurrence):
    verify_session(client, dave)

    response = client.get(changelist("accessreview"))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# session, user, OTP device, PIM administrator check (cached for the request), two counts
# (matching and in all), the rows; then the review filter's choices (items) or the reviews'
# roles, prefetched (reviews).
CHANGELIST_QUERIES = 8


@pytest.mark.parametrize("holders", [2, 20])
def test_the_changelists_query_counts_do_not_grow_with_the_rows(
    admin_client, make_review, start_review, exchange_admin, bob, holders, django_assert_max_num_queries
):
    for _ in range(holders):
        EligibleAssignmentFactory(principal=UserFactory(), role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    for n in range(holders):
        make_review(name=f"Review {n}", reviewers=[bob])

    with django_assert_max_num_queries(CHANGELIST_QUERIES):
        items = admin_client.get(changelist("reviewitem"))
    with django_assert_max_num_queries(CHANGELIST_QUERIES):
        reviews = admin_client.get(changelist("accessreview"))

    assert items.context["cl"].result_count == occurrence.items.count() == holders
    assert reviews.context["cl"].result_count == holders + 1
