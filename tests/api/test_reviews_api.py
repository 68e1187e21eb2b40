"""Access reviews through /api/v1/: administrators create, change, stop, reset and apply them;
reviewers decide on what they review. The same services and rules as the /reviews/ pages, as
JSON: bad input is a 400 naming the field, the rule and the range, and nothing changes; a
state that forbids the change is a 409; non-administrators get 403 on collections and 404 on
objects; an occurrence in which the caller reviews nothing does not exist for them.

Cast (tests/conftest.py): alice and carol hold Exchange Administrator eligibilities under review,
bob reviews them, dave holds and reviews nothing, pim_admin administers."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from roles.choices import EndReason
from roles.models import EligibleAssignment
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.reviews import rules, schedule, services
from roles.reviews.api import UNKNOWN_GROUP, UNKNOWN_USER
from roles.reviews.choices import OccurrenceStatus, ReviewDecision, ReviewerType
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence
from tests.api.conftest import START, api_client
from tests.factories import EligibleAssignmentFactory, ScopeFactory, UserFactory
from tests.reviews.conftest import review_values

API = "/api/v1/"
REVIEWS = f"{API}reviews/"
TODAY = START.date().isoformat()
REASON = "Left the messaging team in March"


def errors(response, field: str) -> list[str]:
    assert response.status_code == 400, response.content
    return response.json()["errors"][field]


def review_actions() -> list[str]:
    return list(AuditEvent.objects.filter(action__startswith="review.").order_by("sequence")
                .values_list("action", flat=True))  # fmt: skip


def new_review(**overrides) -> dict:
    """The least a new review needs: a name, roles, reviewers, a start."""
    return {"name": "Quarterly Exchange review", "roles": ["exchange-administrator"], "reviewers": ["bob"],
            "start_date": TODAY} | overrides  # fmt: skip


def start(review: AccessReview) -> ReviewOccurrence:
    """Start the review's first occurrence, as the one-minute task does."""
    occurrence = review.occurrences.get(number=1)
    assert services.start_occurrence(occurrence_id=occurrence.pk, now=timezone.now() + timedelta(seconds=1))
    occurrence.refresh_from_db()
    return occurrence


def results(client, occurrence) -> dict[str, dict]:
    """The results by holder's username."""
    response = client.get(f"{API}review-occurrences/{occurrence.pk}/results/")
    assert response.status_code == 200, response.content
    return {row["principal"]: row for row in response.json()["results"]}


@pytest.fixture
def bob_api(clock, bob) -> APIClient:
    """bob, who reviews, with a token."""
    return api_client(bob)


@pytest.fixture
def holders(clock, alice, carol, exchange_admin) -> dict[str, EligibleAssignment]:
    """alice and carol are eligible for Exchange Administrator; neither has activated it."""
    return {user.username: EligibleAssignmentFactory(principal=user, role=exchange_admin) for user in (alice, carol)}


@pytest.fixture
def review(clock, pim_admin, bob) -> AccessReview:
    """A one-time review of Exchange Administrator by bob, starting today, not started yet."""
    return services.create_review(actor=pim_admin, values=review_values(reviewers=[bob]))


@pytest.fixture
def occurrence(review, holders) -> ReviewOccurrence:
    """The review's first occurrence, in progress: alice's and carol's eligibilities are its items."""
    return start(review)


def item_of(occurrence, username: str) -> ReviewItem:
    return occurrence.items.get(principal__username=username)


# Who may call ----------------------------------------------------------------------------------


def object_calls(review, occurrence) -> list[tuple[str, str]]:
    return [
        ("get", f"{REVIEWS}{review.pk}/"),
        ("patch", f"{REVIEWS}{review.pk}/"),
        ("delete", f"{REVIEWS}{review.pk}/"),
        ("get", f"{REVIEWS}{review.pk}/occurrences/"),
        ("get", f"{API}review-occurrences/{occurrence.pk}/results/"),
        ("post", f"{API}review-occurrences/{occurrence.pk}/stop/"),
        ("post", f"{API}review-occurrences/{occurrence.pk}/reset/"),
        ("post", f"{API}review-occurrences/{occurrence.pk}/apply/"),
    ]


def test_anonymous_callers_get_401(db, review, occurrence):
    client = APIClient()

    # No credentials at all: 401, on collections, objects and the reviewers' inbox alike.
    for method, url in [("get", REVIEWS), ("post", REVIEWS), ("get", f"{API}my-reviews/"),
                        *object_calls(review, occurrence)]:  # fmt: skip
        assert getattr(client, method)(url, {}, format="json").status_code == 401, url


def test_a_user_without_an_active_administrator_role_gets_403_on_the_collection(dave_api):
    # Signed in, but no active administrator role: the collection says why.
    listed = dave_api.get(REVIEWS)
    created = dave_api.post(REVIEWS, new_review(), format="json")

    assert listed.status_code == 403
    assert listed.json() == {"detail": NEEDS_ACTIVE_ADMIN_ROLE, "code": "permission_denied"}
    assert created.status_code == 403
    assert not AccessReview.objects.exists()


def test_a_user_without_an_active_administrator_role_gets_404_on_objects(dave_api, review, occurrence):
    # Signed in, no administrator role: that a review or an occurrence exists is not told.
    for method, url in object_calls(review, occurrence):
        assert getattr(dave_api, method)(url, {"name": "Renamed"}, format="json").status_code == 404, url
    review.refresh_from_db()
    occurrence.refresh_from_db()
    assert review.name == "Quarterly Exchange review"
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS


def test_a_non_reviewer_gets_404_on_an_occurrences_items_decide_and_accept(dave_api, occurrence):
    # dave reviews nothing in this occurrence: for him it does not exist.
    item = item_of(occurrence, "alice")
    url = f"{API}my-reviews/{occurrence.pk}/"

    assert dave_api.get(f"{url}items/").status_code == 404
    assert dave_api.post(f"{url}decide/", {"items": [item.pk], "decision": "deny", "justification": REASON},
                         format="json").status_code == 404  # fmt: skip
    assert dave_api.post(f"{url}accept-recommendations/", {}, format="json").status_code == 404
    assert dave_api.get(f"{API}my-reviews/").json() == []
    assert not ReviewItem.objects.exclude(decision="").exists()


def test_an_administrator_who_does_not_review_gets_404_on_the_reviewer_endpoints(admin_api, occurrence):
    # Administering reviews is not reviewing: the reviewer's endpoints are the reviewer's.
    assert admin_api.get(f"{API}my-reviews/{occurrence.pk}/items/").status_code == 404


# Creating --------------------------------------------------------------------------------------


def test_creating_a_review_writes_it_its_first_occurrence_and_one_audit_event(admin_api, bob, carol):
    Group.objects.create(name="mail-leads")
    ScopeFactory(path="/subscriptions/mail")

    response = admin_api.post(REVIEWS, new_review(
        scopes=["/subscriptions/mail"], reviewer_groups=["mail-leads"], fallback_reviewer="carol",
        recurrence="monthly", duration_days=7, end_type="after_count", end_after_occurrences=3,
        reminder_days_before=2, extra_recipients=["soc@example.com"], require_justification=False,
    ), format="json")  # fmt: skip

    assert response.status_code == 201, response.json()
    body = response.json()
    review = AccessReview.objects.get()
    assert body | {"created_at": None, "updated_at": None} == {
        "id": review.pk, "name": "Quarterly Exchange review", "description": "", "roles": ["exchange-administrator"],
        "scopes": ["/subscriptions/mail"], "assignment_types": "both", "inactive_days": None,
        "reviewer_type": "users", "reviewers": ["bob"], "reviewer_groups": ["mail-leads"],
        "fallback_reviewer": "carol", "start_date": TODAY, "time_zone": "UTC", "duration_days": 7,
        "recurrence": "monthly", "end_type": "after_count", "end_date": None, "end_after_occurrences": 3,
        "auto_apply": False, "no_response": "no_change", "require_justification": False,
        "reminder_days_before": 2, "extra_recipients": ["soc@example.com"], "status": "not_started",
        "current_occurrence": None, "next_starts_at": "2026-11-22T00:00:00Z", "created_by": "pimadmin",
        "created_at": None, "updated_at": None,
    }  # fmt: skip
    assert list(review.reviewers.all()) == [bob]
    assert [(o.number, o.status) for o in review.occurrences.all()] == [(1, OccurrenceStatus.NOT_STARTED)]
    assert review_actions() == ["review.created"]


def test_the_list_shows_each_review_with_its_status_and_current_occurrence(admin_api, pim_admin, review, occurrence):
    services.create_review(actor=pim_admin, values=review_values(name="Next month", reviewer_type=ReviewerType.SELF,
                                                            start_date=START.date() + timedelta(days=30)))  # fmt: skip

    response = admin_api.get(REVIEWS)

    assert response.status_code == 200
    by_name = {row["name"]: row for row in response.json()["results"]}
    assert by_name["Quarterly Exchange review"]["status"] == "in_progress"
    assert by_name["Quarterly Exchange review"]["current_occurrence"] == {
        "id": occurrence.pk, "number": 1, "status": "in_progress", "ends_at": "2026-12-06T00:00:00Z"}  # fmt: skip
    assert by_name["Quarterly Exchange review"]["next_starts_at"] is None  # one-time: nothing after
    assert (by_name["Next month"]["status"], by_name["Next month"]["current_occurrence"]) == ("not_started", None)
    assert by_name["Next month"]["next_starts_at"] == "2026-12-22T00:00:00Z"


def duration_message(high: int, value: int) -> str:
    return schedule.DURATION_OUT_OF_RANGE % {"recurrence": "weekly", "low": 1, "high": high, "value": value,
                                             "why": ", shorter than its shortest period (7 days)"}  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"recurrence": "weekly", "duration_days": 7}, "duration_days", duration_message(6, 7)),
        ({"recurrence": "weekly", "duration_days": 3, "end_type": "on_date", "end_date": "2026-11-01"}, "end_date",
         schedule.END_BEFORE_START % {"end": "2026-11-01", "start": TODAY}),
        ({"reviewers": []}, "reviewers", rules.REVIEWERS_REQUIRED),
        ({"roles": ["mail-boss"]}, "roles", "No role has the slug 'mail-boss'; GET /api/v1/roles/ lists them."),
        ({"roles": []}, "roles", rules.ROLES_REQUIRED),
        ({"reviewers": ["bob", "nobody"]}, "reviewers", UNKNOWN_USER % {"value": "nobody"}),
        ({"reviewer_groups": ["ghosts"]}, "reviewer_groups", UNKNOWN_GROUP % {"value": "ghosts"}),
        ({"fallback_reviewer": "nobody"}, "fallback_reviewer", UNKNOWN_USER % {"value": "nobody"}),
        ({"scopes": ["/nowhere"]}, "scopes",
         "No scope has the path '/nowhere'; create it with POST /api/v1/scopes/ first."),
        ({"recurrence": "daily"}, "recurrence",
         "Recurrence: 'daily' is not one of one_time, weekly, monthly, quarterly, semiannual, annual."),
        ({"start_date": "2026-11-21"}, "start_date", rules.START_IN_PAST % {"today": TODAY, "value": "2026-11-21"}),
        ({"start_date": "9999-12-31"}, "start_date",
         rules.START_TOO_FAR % {"latest": "2031-11-21", "value": "9999-12-31"}),
        ({"end_date": "2027-01-01"}, "end_date", schedule.END_DATE_UNUSED),
        ({"inactive_days": 1000}, "inactive_days", rules.INACTIVE_DAYS_OUT_OF_RANGE % {
            "low": 1, "high": 730, "value": 1000}),
        ({"reminder_days_before": 14}, "reminder_days_before", rules.REMINDER_OUT_OF_RANGE % {
            "high": 13, "duration": 14, "value": 14}),
        ({"extra_recipients": ["not-an-address"]}, "extra_recipients", rules.NOT_AN_ADDRESS % {
            "value": "not-an-address"}),
    ],
)  # fmt: skip
def test_a_bad_new_review_is_a_400_naming_the_field_and_the_range_and_creates_nothing(
    admin_api, bob, carol, overrides, field, message
):
    response = admin_api.post(REVIEWS, new_review(**overrides), format="json")

    assert errors(response, field) == [message]
    assert not AccessReview.objects.exists()
    assert not ReviewOccurrence.objects.exists()
    assert review_actions() == []


def test_a_review_without_a_name_roles_or_start_is_a_400_naming_each(admin_api):
    response = admin_api.post(REVIEWS, {}, format="json")

    assert set(response.json()["errors"]) == {"name", "roles", "start_date"}
    assert not AccessReview.objects.exists()


# Changing and deleting -------------------------------------------------------------------------


def test_changing_some_settings_keeps_the_others_and_audits_the_change(admin_api, review, carol):
    response = admin_api.patch(f"{REVIEWS}{review.pk}/", {"name": "Exchange, Q4", "reviewers": ["bob", "carol"]},
                               format="json")  # fmt: skip

    assert response.status_code == 200, response.json()
    assert (response.json()["name"], response.json()["reviewers"]) == ("Exchange, Q4", ["bob", "carol"])
    assert response.json()["roles"] == ["exchange-administrator"]
    review.refresh_from_db()
    assert (review.name, review.duration_days, review.require_justification) == ("Exchange, Q4", 14, True)
    [event] = AuditEvent.objects.filter(action="review.updated")
    assert set(event.data["changes"]) == {"name", "reviewers"}


def test_sending_a_review_back_unchanged_writes_nothing(admin_api, review):
    body = admin_api.get(f"{REVIEWS}{review.pk}/").json()
    writable = {key: body[key] for key in (*services.SCALAR_FIELDS, *services.MANY_FIELDS)}

    response = admin_api.patch(f"{REVIEWS}{review.pk}/", writable, format="json")

    assert response.status_code == 200, response.json()
    assert "review.updated" not in review_actions()


def test_changing_the_end_type_drops_the_end_date_kept_from_before(admin_api, pim_admin, bob):
    review = services.create_review(actor=pim_admin, values=review_values(
        reviewers=[bob], recurrence="weekly", duration_days=3, end_type="on_date",
        end_date=START.date() + timedelta(days=60)))  # fmt: skip

    response = admin_api.patch(f"{REVIEWS}{review.pk}/", {"end_type": "after_count", "end_after_occurrences": 4},
                               format="json")  # fmt: skip

    assert response.status_code == 200, response.json()
    review.refresh_from_db()
    assert (review.end_type, review.end_date, review.end_after_occurrences) == ("after_count", None, 4)


def test_a_bad_change_is_a_400_and_changes_nothing(admin_api, review):
    response = admin_api.patch(f"{REVIEWS}{review.pk}/", {"name": "Renamed", "reviewer_groups": ["ghosts"]},
                               format="json")  # fmt: skip

    assert errors(response, "reviewer_groups") == [UNKNOWN_GROUP % {"value": "ghosts"}]
    review.refresh_from_db()
    assert review.name == "Quarterly Exchange review"
    assert "review.updated" not in review_actions()


def test_once_started_what_is_reviewed_is_fixed(admin_api, review, occurrence):
    response = admin_api.patch(f"{REVIEWS}{review.pk}/", {"roles": ["user-administrator"], "duration_days": 10},
                               format="json")  # fmt: skip

    assert set(response.json()["errors"]) == {"roles", "duration_days"}
    assert errors(response, "roles")[0].startswith("Roles: fixed once the review has started")
    assert [role.slug for role in review.roles.all()] == ["exchange-administrator"]


def test_a_review_that_has_not_started_is_deleted(admin_api, review):
    response = admin_api.delete(f"{REVIEWS}{review.pk}/")

    assert response.status_code == 204
    assert not AccessReview.objects.exists()
    assert not ReviewOccurrence.objects.exists()
    assert review_actions() == ["review.created", "review.deleted"]


def test_deleting_a_started_review_is_a_409_and_keeps_it(admin_api, review, occurrence):
    response = admin_api.delete(f"{REVIEWS}{review.pk}/")

    assert response.status_code == 409
    assert response.json() == {"detail": services.NOT_DELETABLE, "code": "review_started"}
    assert AccessReview.objects.filter(pk=review.pk).exists()


def test_an_unknown_review_or_occurrence_is_404(admin_api):
    assert admin_api.get(f"{REVIEWS}999999/").status_code == 404
    assert admin_api.get(f"{REVIEWS}999999/occurrences/").status_code == 404
    assert admin_api.get(f"{API}review-occurrences/999999/results/").status_code == 404
    assert admin_api.post(f"{API}review-occurrences/999999/stop/").status_code == 404


# Occurrences and results -----------------------------------------------------------------------


def test_the_occurrences_show_their_progress(admin_api, bob, review, occurrence):
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk],
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip

    response = admin_api.get(f"{REVIEWS}{review.pk}/occurrences/")

    assert response.status_code == 200
    [row] = response.json()["results"]
    assert (row["id"], row["number"], row["status"], row["total"], row["decided"]) == (
        occurrence.pk, 1, "in_progress", 2, 1)  # fmt: skip
    assert (row["starts_at"], row["ends_at"], row["stopped_by"]) == (
        "2026-11-22T00:00:00Z", "2026-12-06T00:00:00Z", None)  # fmt: skip


def test_a_decision_shows_in_the_results_then_the_outcome_then_what_applying_did(
    admin_api, bob_api, occurrence, holders
):
    before = results(admin_api, occurrence)
    assert (before["alice"]["decision"], before["carol"]["decision"]) == ("", "")

    body = {"items": [item_of(occurrence, "alice").pk], "decision": "deny", "justification": REASON}
    decided = bob_api.post(f"{API}my-reviews/{occurrence.pk}/decide/", body, format="json")

    assert decided.json() == {"changed": 1}
    alice = results(admin_api, occurrence)["alice"]
    assert (alice["decision"], alice["justification"], alice["decided_by"], alice["reviewers"]) == (
        "deny", REASON, "bob", ["bob"])  # fmt: skip
    assert (alice["outcome"], alice["result"]) == ("", "")

    stopped = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/")

    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["stopped_by"]) == ("completed", "pimadmin")
    rows = results(admin_api, occurrence)
    assert (rows["alice"]["outcome"], rows["alice"]["outcome_source"]) == ("remove", "reviewer")
    assert (rows["carol"]["outcome"], rows["carol"]["outcome_source"]) == ("keep", "no_response")

    applied = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/apply/")

    assert applied.status_code == 200
    assert (applied.json()["applied"], applied.json()["occurrence"]["status"]) == (2, "applied")
    rows = results(admin_api, occurrence)
    assert (rows["alice"]["result"], rows["carol"]["result"]) == ("removed", "kept")
    assert rows["alice"]["eligible_assignment"] == holders["alice"].pk


def test_applying_ends_a_denied_eligibility_once(admin_api, bob, occurrence, holders):
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk],
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip
    admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/")

    first = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/apply/")
    second = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/apply/")

    assert (first.status_code, first.json()["applied"]) == (200, 2)
    assert (second.status_code, second.json()["applied"]) == (200, 0)
    ended = EligibleAssignment.objects.get(pk=holders["alice"].pk)
    assert ended.ended_at == START and ended.end_reason == EndReason.REVIEWED
    assert EligibleAssignment.objects.get(pk=holders["carol"].pk).ended_at is None
    assert AuditEvent.objects.filter(action="review.applied").count() == 1
    assert AuditEvent.objects.filter(action="review.results_applied").count() == 1


def test_applying_an_occurrence_in_progress_is_a_409(admin_api, occurrence, holders):
    response = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/apply/")

    assert response.status_code == 409
    assert response.json() == {"detail": services.NOT_APPLICABLE % {"status": "in progress"}, "code": "not_completed"}
    assert not EligibleAssignment.objects.filter(ended_at__isnull=False).exists()


def test_stopping_twice_is_a_409(admin_api, occurrence):
    assert admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/").status_code == 200

    response = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/")

    assert response.status_code == 409
    assert response.json() == {"detail": services.NOT_STOPPABLE % {"status": "completed"}, "code": "not_in_progress"}
    assert review_actions().count("review.stopped") == 1


def test_resetting_clears_every_decision_while_in_progress(admin_api, bob, occurrence):
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item.pk for item in occurrence.items.all()],
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip

    response = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/reset/")

    assert response.status_code == 200
    assert (response.json()["cleared"], response.json()["occurrence"]["decided"]) == (2, 0)
    assert not occurrence.items.exclude(decision="").exists()
    admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/")
    refused = admin_api.post(f"{API}review-occurrences/{occurrence.pk}/reset/")
    assert refused.status_code == 409
    assert refused.json()["detail"] == services.NOT_RESETTABLE % {"status": "completed"}


# Reviewers -------------------------------------------------------------------------------------


def test_the_inbox_shows_what_the_reviewer_has_to_decide(bob_api, bob, occurrence):
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk],
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip

    response = bob_api.get(f"{API}my-reviews/")

    assert response.status_code == 200
    assert response.json() == [{
        "id": occurrence.pk, "review": occurrence.review_id, "review_name": "Quarterly Exchange review",
        "description": "", "number": 1, "starts_at": "2026-11-22T00:00:00Z", "ends_at": "2026-12-06T00:00:00Z",
        "require_justification": True, "mine": 2, "mine_decided": 1,
    }]  # fmt: skip


def test_the_reviewer_sees_their_items_with_usage_recommendation_and_decision(bob_api, occurrence, holders):
    response = bob_api.get(f"{API}my-reviews/{occurrence.pk}/items/")

    assert response.status_code == 200
    rows = {row["principal"]: row for row in response.json()["results"]}
    assert set(rows) == {"alice", "carol"}
    assert rows["alice"] | {"recommendation_reason": None} == {
        "id": item_of(occurrence, "alice").pk, "kind": "eligible", "principal": "alice", "group": None,
        "role": "exchange-administrator", "role_name": "Exchange Administrator", "scope": "/",
        "assigned_since": "2026-11-22T09:00:00Z", "assigned_until": None, "last_activated_at": None,
        "recent_activations": 0, "last_sign_in_at": None, "recommendation": "remove",
        "recommendation_reason": None, "decision": "", "justification": "", "decided_by": None, "decided_at": None,
    }  # fmt: skip


def test_approving_without_a_justification_when_required_is_a_400_naming_it(bob_api, occurrence):
    body = {"items": [item_of(occurrence, "alice").pk], "decision": "approve"}

    response = bob_api.post(f"{API}my-reviews/{occurrence.pk}/decide/", body, format="json")

    assert errors(response, "justification") == [services.JUSTIFICATION_REQUIRED]
    assert not occurrence.items.exclude(decision="").exists()
    assert "review.decided" not in review_actions()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"items": [], "decision": "deny"}, "items", "Items: choose at least one assignment."),
        ({"items": None, "decision": "deny"}, "items", "This field may not be null."),
        ({"decision": "maybe"}, "decision", "Decision: 'maybe' is not one of approve, deny, dont_know."),
    ],
)
def test_a_bad_decision_is_a_400_naming_the_field(bob_api, occurrence, body, field, message):
    body = {"items": [item_of(occurrence, "alice").pk]} | body

    response = bob_api.post(f"{API}my-reviews/{occurrence.pk}/decide/", body, format="json")

    assert errors(response, field) == [message]
    assert not occurrence.items.exclude(decision="").exists()


def test_deciding_an_item_someone_else_reviews_is_a_400_naming_it(clock, pim_admin, alice, carol, holders):
    # A self-review: alice reviews her own eligibility, carol hers.
    occurrence = start(services.create_review(actor=pim_admin, values=review_values(reviewer_type=ReviewerType.SELF)))
    carols = item_of(occurrence, "carol")

    response = api_client(alice).post(f"{API}my-reviews/{occurrence.pk}/decide/", {
        "items": [item_of(occurrence, "alice").pk, carols.pk], "decision": "deny"}, format="json")  # fmt: skip

    assert errors(response, "items") == [services.NOT_A_REVIEWER % {"item": carols.pk}]
    assert not occurrence.items.exclude(decision="").exists()


def test_a_later_decision_replaces_an_earlier_one_and_ends_with_the_occurrence(admin_api, bob_api, occurrence):
    url = f"{API}my-reviews/{occurrence.pk}/decide/"
    item = item_of(occurrence, "alice")

    bob_api.post(url, {"items": [item.pk], "decision": "deny", "justification": REASON}, format="json")
    changed = bob_api.post(url, {"items": [item.pk], "decision": "approve", "justification": "Still on call"},
                           format="json")  # fmt: skip

    assert changed.json() == {"changed": 1}
    item.refresh_from_db()
    assert (item.decision, item.justification) == (ReviewDecision.APPROVE, "Still on call")
    admin_api.post(f"{API}review-occurrences/{occurrence.pk}/stop/")
    late = bob_api.post(url, {"items": [item.pk], "decision": "deny", "justification": REASON}, format="json")
    assert late.status_code == 409
    assert late.json()["code"] == "not_in_progress"
    item.refresh_from_db()
    assert item.decision == ReviewDecision.APPROVE


def test_accepting_the_recommendations_decides_what_is_left(bob_api, bob, occurrence):
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk],
                    decision=ReviewDecision.APPROVE, justification="Still on call")  # fmt: skip

    response = bob_api.post(f"{API}my-reviews/{occurrence.pk}/accept-recommendations/", {}, format="json")

    assert response.json() == {"changed": 1}
    assert item_of(occurrence, "alice").decision == ReviewDecision.APPROVE  # decided before: unchanged
    carol = item_of(occurrence, "carol")
    assert carol.decision == ReviewDecision.DENY  # never activated: PIM recommends removal
    assert carol.justification.startswith("Accepted recommendation.")


def test_accepting_the_recommendations_of_chosen_items(bob_api, occurrence):
    alice = item_of(occurrence, "alice")

    response = bob_api.post(f"{API}my-reviews/{occurrence.pk}/accept-recommendations/", {"items": [alice.pk]},
                            format="json")  # fmt: skip

    assert response.json() == {"changed": 1}
    assert item_of(occurrence, "alice").decision == ReviewDecision.DENY
    assert item_of(occurrence, "carol").decision == ""


# Query counts ----------------------------------------------------------------------------------

# The token with its user; the administrator check (administrators' endpoints only); the object
# the list belongs to (the review, the occurrence); the rows; then one query per prefetched
# relation. A first call with the token is made beforehand: it also writes last_used_at.
REVIEW_LIST_QUERIES = 7  # token, administrator, rows, roles, scopes, reviewers, reviewer groups
OCCURRENCE_LIST_QUERIES = 4  # token, administrator, review, rows
RESULTS_QUERIES = 5  # token, administrator, occurrence, rows, reviewers
INBOX_QUERIES = 2  # token, rows
MY_ITEMS_QUERIES = 3  # token, occurrence, rows


def reviewed_by_bob(count: int, admin, bob, exchange_admin) -> ReviewOccurrence:
    """A review in progress of `count` holders' eligibilities, in scopes, by bob and a group."""
    for _ in range(count):
        EligibleAssignmentFactory(principal=UserFactory(), role=exchange_admin, scope=ScopeFactory())
    group = Group.objects.create(name="mail-leads")
    return start(services.create_review(actor=admin, values=review_values(reviewers=[bob], reviewer_groups=[group])))


@pytest.mark.parametrize("rows", [3, 30])
def test_the_review_list_takes_the_same_queries_for_3_reviews_as_for_30(
    admin_api, pim_admin, bob, carol, exchange_admin, rows, django_assert_num_queries
):
    group = Group.objects.create(name="mail-leads")
    for n in range(rows):
        services.create_review(actor=pim_admin, values=review_values(
            name=f"Review {n}", reviewers=[bob, carol], reviewer_groups=[group], fallback_reviewer=carol,
            scopes=[ScopeFactory()]))  # fmt: skip
    admin_api.get(REVIEWS, {"page_size": 1})

    with django_assert_num_queries(REVIEW_LIST_QUERIES):
        response = admin_api.get(REVIEWS, {"page_size": 200})

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_the_occurrence_and_results_lists_take_the_same_queries_for_3_items_as_for_30(
    admin_api, pim_admin, bob, exchange_admin, rows, django_assert_num_queries
):
    occurrence = reviewed_by_bob(rows, pim_admin, bob, exchange_admin)
    services.decide(actor=bob, occurrence=occurrence, item_ids=list(occurrence.items.values_list("pk", flat=True)),
                    decision=ReviewDecision.DENY, justification=REASON)  # fmt: skip
    admin_api.get(REVIEWS, {"page_size": 1})

    with django_assert_num_queries(OCCURRENCE_LIST_QUERIES):
        admin_api.get(f"{REVIEWS}{occurrence.review_id}/occurrences/")
    with django_assert_num_queries(RESULTS_QUERIES):
        response = admin_api.get(f"{API}review-occurrences/{occurrence.pk}/results/", {"page_size": 200})

    assert len(response.json()["results"]) == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_the_reviewers_lists_take_the_same_queries_for_3_items_as_for_30(
    bob_api, pim_admin, bob, exchange_admin, rows, django_assert_num_queries
):
    occurrence = reviewed_by_bob(rows, pim_admin, bob, exchange_admin)
    bob_api.get(f"{API}my-reviews/")

    with django_assert_num_queries(INBOX_QUERIES):
        inbox = bob_api.get(f"{API}my-reviews/")
    with django_assert_num_queries(MY_ITEMS_QUERIES):
        items = bob_api.get(f"{API}my-reviews/{occurrence.pk}/items/", {"page_size": 200})

    assert inbox.json()[0]["mine"] == rows
    assert len(items.json()["results"]) == rows
