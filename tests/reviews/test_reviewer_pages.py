"""The reviewers' pages at /reviews/: the inbox, one review's items, and deciding on them.

Cast (tests/conftest.py): alice and carol hold Exchange Administrator eligibilities under
review, bob reviews them, dave reviews nothing, pim_admin created the review."""

import datetime as dt
import html
import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from roles.choices import ActiveSource, EndReason
from roles.models import EligibleAssignment
from roles.reviews import services
from roles.reviews.choices import ReviewDecision, ReviewerType
from roles.reviews.models import ReviewItem
from tests.conftest import make_user, verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory

REASON = "Left the messaging team in March"


def seen(response) -> str:
    """The page's text as a person reads it: no tags, entities decoded, spaces collapsed."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def item_text(response, item) -> str:
    """The text of one item's card on the review page."""
    found = re.search(rf'<li class="card review-item" aria-labelledby="item-{item.pk}-heading">.*?</li>',
                      response.content.decode(), flags=re.S)  # fmt: skip
    assert found, f"item {item.pk} is not on the page"
    body = found.group(0)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def review_url(occurrence) -> str:
    return reverse("reviews:review", args=[occurrence.pk])


def decide_url(occurrence) -> str:
    return reverse("reviews:decide", args=[occurrence.pk])


@pytest.fixture
def bob_client(client, bob):
    verify_session(client, bob)
    return client


@pytest.fixture
def alices_eligibility(alice, exchange_admin):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


@pytest.fixture
def occurrence(make_review, start_review, alices_eligibility, bob):
    """A review of Exchange Administrator in progress, bob its reviewer, alice's eligibility its item."""
    return start_review(make_review(reviewers=[bob], description="Who still runs the mail servers?"))


def past_activation(user, role, *, days_ago: float):
    """An activation of `role` by `user` that started `days_ago` and expired an hour later."""
    start = timezone.now() - dt.timedelta(days=days_ago)
    end = start + dt.timedelta(hours=1)
    return ActiveAssignmentFactory(principal=user, role=role, source=ActiveSource.ACTIVATION, start_at=start,
                                   end_at=end, ended_at=end, end_reason=EndReason.EXPIRED)  # fmt: skip


def only_item(occurrence) -> ReviewItem:
    return occurrence.items.get()


# Inbox ---------------------------------------------------------------------------------------


def test_the_inbox_lists_an_open_review_with_its_end_and_the_reviewers_progress(
    make_review, start_review, exchange_admin, alice, bob, carol, bob_client
):
    first = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob], description="Who still runs the mail servers?"))
    item = occurrence.items.get(eligible_assignment=first)
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item.pk], decision=ReviewDecision.DENY,
                    justification=REASON)  # fmt: skip

    response = bob_client.get(reverse("reviews:inbox"))

    text = seen(response)
    assert "Quarterly Exchange review" in text
    assert "Who still runs the mail servers?" in text
    assert f"{occurrence.ends_at:%Y-%m-%d %H:%M} UTC" in text
    assert "1 of 2 decided" in text
    assert f'href="{review_url(occurrence)}"' in response.content.decode()


def test_the_inbox_says_so_when_nothing_waits(occurrence, client, dave):
    verify_session(client, dave)  # reviews nothing

    text = seen(client.get(reverse("reviews:inbox")))

    assert "No review waits for you." in text
    assert "Quarterly Exchange review" not in text


def test_the_inbox_lists_recently_completed_reviews_apart_from_open_ones(occurrence, bob_client, pim_admin):
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)

    text = seen(bob_client.get(reverse("reviews:inbox")))

    assert "No review waits for you." in text
    assert "Recently completed" in text
    assert "Quarterly Exchange review" in text.split("Recently completed", 1)[1]


INBOX_QUERIES = 6  # session, user, OTP device, open reviews, completed reviews, the navigation's roles


@pytest.mark.parametrize("n_reviews", [1, 6])
def test_the_inbox_query_count_does_not_grow_with_the_reviews(
    make_review, start_review, exchange_admin, alice, bob, bob_client, n_reviews, django_assert_num_queries
):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    for number in range(n_reviews):
        start_review(make_review(name=f"Review {number}", reviewers=[bob]))

    with django_assert_num_queries(INBOX_QUERIES):
        response = bob_client.get(reverse("reviews:inbox"))

    assert seen(response).count("0 of 1 decided") == n_reviews


# Who may see a review ------------------------------------------------------------------------


def test_only_a_reviewer_of_an_item_sees_the_review(occurrence, client, alice, bob, dave, pim_admin):
    url = review_url(occurrence)
    # Anonymous: to the sign-in page.
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))
    # Signed in, reviews nothing here: it does not exist.
    verify_session(client, dave)
    assert client.get(url).status_code == 404
    # The holder of the item under review, not a reviewer (not a self-review): 404.
    verify_session(client, alice)
    assert client.get(url).status_code == 404
    # An administrator who created the review but reviews no item: 404 here too (the console is hers).
    verify_session(client, pim_admin)
    assert client.get(url).status_code == 404
    # The reviewer.
    verify_session(client, bob)
    response = client.get(url)
    assert response.status_code == 200
    assert "alice: Exchange Administrator at / (eligible)" in seen(response)


def test_someone_who_reviews_nothing_cannot_decide_or_accept(occurrence, client, dave):
    item = only_item(occurrence)
    verify_session(client, dave)

    decided = client.post(decide_url(occurrence), {"items": [item.pk], "decision": "deny", "justification": "x"})
    accepted = client.post(reverse("reviews:accept", args=[occurrence.pk]))

    assert decided.status_code == 404
    assert accepted.status_code == 404
    item.refresh_from_db()
    assert item.decision == ""


def test_deciding_an_item_of_another_review_is_not_found_and_changes_nothing(
    occurrence, make_review, start_review, bob_client, carol, exchange_admin
):
    other_occurrence = start_review(make_review(name="Carol's review", reviewers=[carol]))
    others_item = other_occurrence.items.get()

    response = bob_client.post(decide_url(occurrence), {"items": [others_item.pk], "decision": "deny"})

    assert response.status_code == 404
    others_item.refresh_from_db()
    assert others_item.decision == ""


def test_deciding_and_accepting_take_post_only_and_check_csrf(occurrence, bob):
    item = only_item(occurrence)
    browser = Client(enforce_csrf_checks=True)
    verify_session(browser, bob)

    assert browser.get(decide_url(occurrence)).status_code == 405
    assert browser.get(reverse("reviews:accept", args=[occurrence.pk])).status_code == 405
    forged = browser.post(decide_url(occurrence), {"items": [item.pk], "decision": "deny", "justification": "x"})

    assert forged.status_code == 403
    item.refresh_from_db()
    assert item.decision == ""


# The review page -------------------------------------------------------------------------------


def test_each_item_shows_holder_role_scope_use_recommendation_and_decision(
    make_review, start_review, exchange_admin, alice, bob, carol, bob_client
):
    now = timezone.now()
    since = now - dt.timedelta(days=90)
    alices = EligibleAssignmentFactory(principal=alice, role=exchange_admin, start_at=since)
    # alice used it twice lately: two ended activations.
    for days_ago in (3, 10):
        past_activation(alice, exchange_admin, days_ago=days_ago)
    carol.last_login = now - dt.timedelta(days=2)
    carol.save(update_fields=["last_login"])
    carols = ActiveAssignmentFactory(principal=carol, role=exchange_admin, source=ActiveSource.ADMIN)
    mail_team = Group.objects.create(name="Mail team")
    EligibleAssignmentFactory(principal=None, group=mail_team, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))

    response = bob_client.get(review_url(occurrence))

    assert response.status_code == 200
    text = seen(response)
    assert "0 of 3 decided" in text
    alice_item = occurrence.items.get(eligible_assignment=alices)
    alice_card = item_text(response, alice_item)
    assert "Holder alice (Alice)" in alice_card
    assert "Role Exchange Administrator" in alice_card
    assert "Scope /" in alice_card
    assert "Type Eligible" in alice_card
    assert f"Assigned since {since:%Y-%m-%d %H:%M} UTC Assigned until Permanent" in alice_card
    assert f"Last activation {now - dt.timedelta(days=3):%Y-%m-%d} " in alice_card
    assert "2 in the last 30 days" in alice_card
    assert "Last sign-in Never" in alice_card
    assert "Recommendation Keep — Activated 2 times in the last 30 days." in alice_card
    assert "Decision Not decided yet" in alice_card

    carol_card = item_text(response, occurrence.items.get(active_assignment=carols))
    assert "Type Active" in carol_card
    assert f"Last sign-in {carol.last_login:%Y-%m-%d %H:%M} UTC" in carol_card
    assert "Recommendation Keep — Standing access; the holder signed in within the last 30 days." in carol_card

    group_card = item_text(response, occurrence.items.get(group=mail_team))
    assert "group Mail team: Exchange Administrator at / (eligible)" in group_card
    assert "Holder group Mail team" in group_card
    assert "Last activation Never; 0 in the last 30 days" in group_card
    assert "Recommendation Remove — Never activated." in group_card


def test_the_page_explains_that_dont_know_leaves_the_item_to_the_no_response_setting(occurrence, bob_client):
    text = seen(bob_client.get(review_url(occurrence)))

    assert "Don't know leaves the assignment to the review's “If reviewers don't respond” setting: No change." in text
    assert "You can change a decision until the review ends." in text


REVIEW_QUERIES = 6  # session, user, OTP device, occurrence with its review, items, the navigation's roles


@pytest.mark.parametrize("n_items", [1, 8])
def test_the_review_page_query_count_does_not_grow_with_the_items(
    make_review, start_review, exchange_admin, bob, bob_client, n_items, django_assert_num_queries
):
    for number in range(n_items):
        EligibleAssignmentFactory(principal=make_user(f"holder{number}"), role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    first, *rest = occurrence.items.order_by("pk")
    services.decide(actor=bob, occurrence=occurrence, item_ids=[first.pk], decision=ReviewDecision.DENY,
                    justification=REASON)  # fmt: skip

    with django_assert_num_queries(REVIEW_QUERIES):
        response = bob_client.get(review_url(occurrence))

    assert f"1 of {n_items} decided" in seen(response)


# Deciding ------------------------------------------------------------------------------------


def test_approving_without_a_justification_is_refused_with_the_rule_and_nothing_is_saved(occurrence, bob_client):
    item = only_item(occurrence)

    data = {"source": "item", "items": [item.pk], "decision": "approve", "justification": "  "}

    response = bob_client.post(decide_url(occurrence), data)

    assert response.status_code == 200
    text = seen(response)
    assert "Justification: this review asks reviewers to explain an approval." in text
    # Beside the item's own justification box, which is marked invalid.
    assert f'id="justification-{item.pk}-error"' in response.content.decode()
    assert f'aria-invalid="true" aria-describedby="justification-{item.pk}-error"' in response.content.decode()
    assert "Decision Not decided yet" in item_text(response, item)
    item.refresh_from_db()
    assert (item.decision, item.decided_by) == ("", None)


def test_approving_without_a_justification_is_fine_when_the_review_does_not_ask_for_one(
    make_review, start_review, alices_eligibility, bob, bob_client
):
    occurrence = start_review(make_review(reviewers=[bob], require_justification=False))
    item = only_item(occurrence)

    response = bob_client.post(decide_url(occurrence), {"source": "item", "items": [item.pk], "decision": "approve"},
                               follow=True)  # fmt: skip

    assert "Approved 1 assignment." in seen(response)
    assert "Decision Approve by bob" in item_text(response, item)


def test_denying_with_a_reason_saves_it_and_the_page_shows_it(occurrence, bob_client, bob):
    item = only_item(occurrence)

    response = bob_client.post(decide_url(occurrence),
                               {"source": "item", "items": [item.pk], "decision": "deny", "justification": REASON},
                               follow=True)  # fmt: skip

    assert response.redirect_chain == [(review_url(occurrence), 302)]
    assert "Denied 1 assignment." in seen(response)
    card = item_text(response, item)
    assert "Decision Deny by bob" in card
    assert f"Justification {REASON}" in card
    assert "1 of 1 decided" in seen(response)
    item.refresh_from_db()
    assert (item.decision, item.justification, item.decided_by) == (ReviewDecision.DENY, REASON, bob)


def test_a_reviewer_changes_a_decision_until_the_review_ends(occurrence, bob_client):
    item = only_item(occurrence)
    bob_client.post(decide_url(occurrence), {"items": [item.pk], "decision": "deny", "justification": REASON})

    response = bob_client.post(decide_url(occurrence),
                               {"items": [item.pk], "decision": "approve", "justification": "Still on call for mail"},
                               follow=True)  # fmt: skip

    assert "Approved 1 assignment." in seen(response)
    card = item_text(response, item)
    assert "Decision Approve by bob" in card
    assert "Justification Still on call for mail" in card
    assert REASON not in card


def test_dont_know_is_recorded_and_said_so(occurrence, bob_client):
    item = only_item(occurrence)

    response = bob_client.post(decide_url(occurrence), {"items": [item.pk], "decision": "dont_know"}, follow=True)

    assert "Marked “Don't know” for 1 assignment." in seen(response)
    assert "Decision Don't know by bob" in item_text(response, item)


def test_repeating_a_decision_changes_nothing_and_says_so(occurrence, bob_client):
    item = only_item(occurrence)
    data = {"items": [item.pk], "decision": "deny", "justification": REASON}
    bob_client.post(decide_url(occurrence), data)

    response = bob_client.post(decide_url(occurrence), data, follow=True)

    assert "Nothing changed: that decision was already recorded." in seen(response)


def test_a_too_long_justification_is_refused_with_the_limit(occurrence, bob_client):
    item = only_item(occurrence)

    data = {"source": "item", "items": [item.pk], "decision": "deny", "justification": "x" * 1001}

    response = bob_client.post(decide_url(occurrence), data)

    assert "Justification: at most 1000 characters; you gave 1001." in seen(response)
    item.refresh_from_db()
    assert item.decision == ""


def test_an_unknown_decision_is_refused_with_the_choices(occurrence, bob_client):
    item = only_item(occurrence)

    response = bob_client.post(decide_url(occurrence), {"items": [item.pk], "decision": "maybe"})

    assert "Decision: choose Approve, Deny or Don't know." in seen(response)
    item.refresh_from_db()
    assert item.decision == ""


# Several at once -------------------------------------------------------------------------------


@pytest.fixture
def three_items(make_review, start_review, exchange_admin, alice, bob, carol, dave):
    for holder in (alice, carol, dave):
        EligibleAssignmentFactory(principal=holder, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    return occurrence, list(occurrence.items.order_by("principal__username"))  # alice, carol, dave


def test_denying_a_selection_decides_each_selected_item_with_one_justification(three_items, bob_client, bob):
    occurrence, (alices, carols, daves) = three_items

    response = bob_client.post(decide_url(occurrence),
                               {"source": "bulk", "items": [alices.pk, daves.pk], "decision": "deny",
                                "justification": REASON}, follow=True)  # fmt: skip

    assert "Denied 2 assignments." in seen(response)
    assert "2 of 3 decided" in seen(response)
    for item in (alices, daves):
        assert "Decision Deny by bob" in item_text(response, item)
        assert f"Justification {REASON}" in item_text(response, item)
    assert "Decision Not decided yet" in item_text(response, carols)


def test_deciding_a_selection_of_none_is_refused_and_keeps_what_was_typed(three_items, bob_client):
    occurrence, items = three_items

    response = bob_client.post(decide_url(occurrence),
                               {"source": "bulk", "decision": "deny", "justification": REASON})  # fmt: skip

    assert response.status_code == 200
    assert "Items: choose at least one assignment." in seen(response)
    bulk = response.content.decode().split('id="review-bulk"', 1)[1]
    assert f">{REASON}</textarea>" in bulk  # typed once, not lost
    assert not ReviewItem.objects.exclude(decision="").exists()


def test_approving_a_selection_without_justification_keeps_the_selection_ticked(three_items, bob_client):
    occurrence, (alices, carols, daves) = three_items

    response = bob_client.post(decide_url(occurrence),
                               {"source": "bulk", "items": [alices.pk, carols.pk], "decision": "approve"})  # fmt: skip

    body = response.content.decode()
    assert "Justification: this review asks reviewers to explain an approval." in seen(response)
    assert 'id="bulk-justification-error"' in body
    assert re.search(rf'value="{alices.pk}" form="review-bulk" checked', body)
    assert re.search(rf'value="{carols.pk}" form="review-bulk" checked', body)
    assert re.search(rf'value="{daves.pk}" form="review-bulk">', body)
    assert not ReviewItem.objects.exclude(decision="").exists()


# Accepting recommendations -----------------------------------------------------------------------


def test_accepting_recommendations_decides_every_undecided_item_as_recommended(three_items, bob_client, bob):
    occurrence, (alices, carols, daves) = three_items
    # dave's item is decided already and stays as bob left it.
    services.decide(actor=bob, occurrence=occurrence, item_ids=[daves.pk],
                    decision=ReviewDecision.APPROVE, justification="Needs it for the migration")  # fmt: skip

    response = bob_client.post(reverse("reviews:accept", args=[occurrence.pk]), follow=True)

    assert "Accepted the recommendations for 2 assignments." in seen(response)
    # Nobody activated anything: each is recommended for removal, so each is denied.
    for item in (alices, carols):
        card = item_text(response, item)
        assert "Decision Deny by bob" in card
        assert "Justification Accepted recommendation. Remove: never activated." in card
    assert "Justification Needs it for the migration" in item_text(response, daves)
    assert "Accept recommendations" not in seen(response)  # nothing left to accept


def test_accepting_a_keep_recommendation_approves(make_review, start_review, exchange_admin, alice, bob, bob_client):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    past_activation(alice, exchange_admin, days_ago=1)
    occurrence = start_review(make_review(reviewers=[bob]))

    response = bob_client.post(reverse("reviews:accept", args=[occurrence.pk]), follow=True)

    assert "Accepted the recommendations for 1 assignment." in seen(response)
    assert "Decision Approve by bob" in item_text(response, only_item(occurrence))


# After the end -----------------------------------------------------------------------------------


def test_after_the_end_the_page_is_read_only_with_outcome_and_result(occurrence, bob_client, bob, pim_admin):
    item = only_item(occurrence)
    bob_client.post(decide_url(occurrence), {"items": [item.pk], "decision": "deny", "justification": REASON})
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)

    response = bob_client.get(review_url(occurrence))

    text = seen(response)
    assert "This review has ended: its decisions can no longer be changed." in text
    assert "The results have not been applied yet." in text
    card = item_text(response, item)
    assert "Decision Deny by bob" in card
    assert "Outcome Remove (Reviewer's decision)" in card
    body = response.content.decode()
    assert "<form" not in body.split('<main id="main"', 1)[1]  # no decision, selection or accept forms
    assert "Accept recommendations" not in text

    services.apply_results(actor=pim_admin, occurrence=occurrence)
    response = bob_client.get(review_url(occurrence))

    assert "The results have been applied." in seen(response)
    assert "Results applied 20" in seen(response)
    assert "Result Removed" in item_text(response, item)


def test_deciding_after_the_end_is_refused_and_changes_nothing(occurrence, bob_client, pim_admin):
    item = only_item(occurrence)
    page = bob_client.get(review_url(occurrence))  # the form was loaded while in progress...
    assert "Approve" in seen(page)
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)  # ...then the review was stopped

    data = {"items": [item.pk], "decision": "deny", "justification": REASON}
    response = bob_client.post(decide_url(occurrence), data)
    accepted = bob_client.post(reverse("reviews:accept", args=[occurrence.pk]))

    for refused in (response, accepted):
        assert refused.status_code == 200
        assert ("This review is completed; decisions can be made or changed only while it is in progress."
                in seen(refused))  # fmt: skip
        assert "This review has ended" in seen(refused)
    item.refresh_from_db()
    assert item.decision == ""


def test_a_review_that_ended_by_time_is_read_only(occurrence, client, bob, time_machine):
    time_machine.move_to(occurrence.ends_at + dt.timedelta(seconds=1), tick=False)
    assert services.close_due_occurrences(now=timezone.now()) == 1
    verify_session(client, bob)  # two weeks on: a new sign-in

    text = seen(client.get(review_url(occurrence)))

    assert "This review has ended" in text
    assert "Outcome Keep (No response: the review's rule)" in text


# Self-review ------------------------------------------------------------------------------------


def test_in_a_self_review_the_holder_reviews_her_own_assignment(
    make_review, start_review, alices_eligibility, alice, client
):
    occurrence = start_review(make_review(reviewer_type=ReviewerType.SELF))
    item = only_item(occurrence)
    verify_session(client, alice)

    inbox = seen(client.get(reverse("reviews:inbox")))
    page = client.get(review_url(occurrence))
    decided = client.post(decide_url(occurrence),
                          {"items": [item.pk], "decision": "deny", "justification": "I moved to finance"},
                          follow=True)  # fmt: skip

    assert "Quarterly Exchange review" in inbox and "0 of 1 decided" in inbox
    assert "alice: Exchange Administrator at / (eligible)" in seen(page)
    assert "Approve" in seen(page) and "Deny" in seen(page) and "Don't know" in seen(page)
    assert "Denied 1 assignment." in seen(decided)
    assert "Decision Deny by alice" in item_text(decided, item)
    assert "Justification I moved to finance" in item_text(decided, item)


# Escaping ------------------------------------------------------------------------------------------


def test_names_descriptions_and_justifications_are_escaped(
    make_review, start_review, exchange_admin, alice, bob, bob_client
):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    evil = "<script>alert('pwned')</script>"
    occurrence = start_review(make_review(name=f"Mail {evil}", description=f"About {evil}", reviewers=[bob]))
    item = only_item(occurrence)
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item.pk], decision=ReviewDecision.DENY,
                    justification=f"Because {evil}")  # fmt: skip

    for response in (bob_client.get(reverse("reviews:inbox")), bob_client.get(review_url(occurrence))):
        body = response.content.decode()
        assert "<script>alert" not in body
        assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in body
        assert f"Mail {evil}" in seen(response)  # shown as text


# Navigation --------------------------------------------------------------------------------------


def test_the_navigation_links_reviews_for_everyone_and_access_reviews_for_administrators(client, dave, pim_admin):
    def navigation() -> str:
        body = client.get(reverse("home")).content.decode()
        return body.split('<nav aria-label="Main">', 1)[1].split("</nav>", 1)[0]

    verify_session(client, dave)
    assert f'<a href="{reverse("reviews:inbox")}">Reviews</a>' in navigation()
    assert "Access reviews" not in navigation()

    verify_session(client, pim_admin)
    assert f'<a href="{reverse("reviews:inbox")}">Reviews</a>' in navigation()
    assert f'<a href="{reverse("reviews:manage")}">Access reviews</a>' in navigation()


def test_decisions_change_no_access_until_the_results_are_applied(three_items, bob_client):
    occurrence, items = three_items
    bob_client.post(decide_url(occurrence), {"items": [i.pk for i in items], "decision": "deny", "justification": "x"})

    assert EligibleAssignment.objects.filter(ended_at__isnull=True).count() == 3
