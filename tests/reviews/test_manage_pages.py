"""The administrators' console for access reviews (/reviews/manage/): who may open it, the list,
create and edit with every refusal beside its field, delete, the occurrence buttons (stop,
reset, apply) and the results page."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from audit.models import AuditEvent
from roles.models import EligibleAssignment, Role
from roles.permissions import NEEDS_ACTIVE_ADMIN_ROLE
from roles.reviews import rules, schedule, services
from roles.reviews.choices import OccurrenceStatus, ReviewDecision
from roles.reviews.forms import TIME_ZONE_REQUIRED
from roles.reviews.models import AccessReview, ReviewItem, ReviewOccurrence
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory, UserFactory
from tests.manage.conftest import START

pytestmark = pytest.mark.django_db


TODAY = "2026-11-22"
LIST = reverse("reviews:manage")
NEW = reverse("reviews:create")


def form_data(**overrides) -> dict:
    """What the new-review form posts: a one-time review of Exchange Administrator from today,
    reviewed by the users in `reviewers`."""
    data = {
        "name": "Exchange admins Q4",
        "description": "Who still needs Exchange Administrator?",
        "roles": [Role.objects.get(slug="exchange-administrator").pk],
        "scopes": [],
        "assignment_types": "both",
        "inactive_days": "",
        "reviewer_type": "users",
        "reviewers": [],
        "reviewer_groups": [],
        "fallback_reviewer": "",
        "start_date": TODAY,
        "time_zone": "UTC",
        "duration_days": "14",
        "recurrence": "one_time",
        "end_type": "never",
        "end_date": "",
        "end_after_occurrences": "",
        "no_response": "no_change",
        "require_justification": "on",
        "reminder_days_before": "",
        "extra_recipients": "",
    }
    return data | overrides


def field_errors(response, field: str) -> list[str]:
    """The messages shown beside one field of the form, as a reader sees them."""
    found = re.findall(rf'<p class="error" id="id_{field}_error" role="alert">(.*?)</p>', response.content.decode())
    return [html.unescape(text) for text in found]


def visible_text(markup: str) -> str:
    """What a reader sees of some HTML: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def page_text(response) -> str:
    return visible_text(response.content.decode())


# Access ----------------------------------------------------------------------------------------


def _every_console_url(review, occurrence) -> tuple[list[str], list[str]]:
    gets = [LIST, NEW, reverse("reviews:detail", args=[review.pk]), reverse("reviews:edit", args=[review.pk]),
            reverse("reviews:delete", args=[review.pk]), reverse("reviews:results", args=[occurrence.pk]),
            reverse("reviews:results-csv", args=[occurrence.pk])]  # fmt: skip
    posts = [NEW, reverse("reviews:edit", args=[review.pk]), reverse("reviews:delete", args=[review.pk]),
             reverse("reviews:stop", args=[occurrence.pk]), reverse("reviews:reset", args=[occurrence.pk]),
             reverse("reviews:apply", args=[occurrence.pk])]  # fmt: skip
    return gets, posts


def test_anonymous_visitor_is_sent_to_sign_in(client, clock, make_review, bob):
    # Rung 1: nobody signed in.
    make_review(reviewers=[bob])

    response = client.get(LIST)

    assertRedirects(response, "/accounts/login/?next=%2Freviews%2Fmanage%2F", fetch_redirect_response=False)


def test_a_user_without_an_admin_role_gets_403_on_every_console_url(client, clock, make_review, start_review, bob,
                                                                   dave):  # fmt: skip
    # Rung 2: signed in with a code, holds nothing.
    review = make_review(reviewers=[bob])
    occurrence = start_review(review)
    verify_session(client, dave)
    gets, posts = _every_console_url(review, occurrence)

    for url in gets:
        assertContains(client.get(url), "Being eligible is not enough", status_code=403)
    for url in posts:
        assert client.post(url, form_data()).status_code == 403
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS
    assert AccessReview.objects.count() == 1


def test_eligible_but_not_active_administrator_gets_403_on_every_console_url(
    client, clock, make_review, start_review, alice, bob
):
    # Rung 3: eligible for Privileged Role Administrator, but has not activated it.
    EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="privileged-role-administrator"))
    review = make_review(reviewers=[bob])
    occurrence = start_review(review)
    verify_session(client, alice)
    gets, posts = _every_console_url(review, occurrence)

    for url in gets:
        assertContains(client.get(url), NEEDS_ACTIVE_ADMIN_ROLE.split(":")[0], status_code=403)
    for url in posts:
        assert client.post(url, form_data()).status_code == 403
    assert AccessReview.objects.get().name == review.name


def test_an_active_administrator_sees_the_console(manager_client):
    # Rung 4: the right user.
    response = manager_client.get(LIST)

    assertContains(response, "Access reviews")
    assertContains(response, f'href="{NEW}"')
    assertContains(response, "No access review yet.")


@pytest.mark.parametrize(
    ("name", "method"),
    [("detail", "get"), ("edit", "get"), ("delete", "get"), ("delete", "post"), ("results", "get"),
     ("results-csv", "get"), ("stop", "post"), ("reset", "post"), ("apply", "post")],
)  # fmt: skip
def test_unknown_ids_are_404(manager_client, name, method):
    response = getattr(manager_client, method)(reverse(f"reviews:{name}", args=[987654]))

    assert response.status_code == 404


def test_the_buttons_answer_post_only(manager_client, make_review, start_review, bob):
    occurrence = start_review(make_review(reviewers=[bob]))

    for name in ("stop", "reset", "apply"):
        assert manager_client.get(reverse(f"reviews:{name}", args=[occurrence.pk])).status_code == 405
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.IN_PROGRESS


# The list --------------------------------------------------------------------------------------


def _row(response, review) -> str:
    content = response.content.decode()
    start = content.index(f'id="review-{review.pk}"')
    return visible_text(content[start : content.index("</tr>", start)])


def test_the_list_shows_each_review_with_its_status_timing_and_progress(
    manager_client, make_review, start_review, exchange_admin, alice, bob, carol
):
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    running = make_review(name="Exchange now", reviewers=[bob])
    occurrence = start_review(running)
    services.decide(actor=bob, occurrence=occurrence, item_ids=[occurrence.items.first().pk],
                    decision=ReviewDecision.DENY)  # fmt: skip
    planned = make_review(name="Billing monthly", roles=[Role.objects.get(slug="billing-administrator")],
                          reviewer_type="self", recurrence="monthly",
                          start_date=START.date() + timedelta(days=3))  # fmt: skip

    response = manager_client.get(LIST)

    assertContains(response, "New review")
    row = _row(response, running)
    assert "Exchange now" in row and "Exchange Administrator" in row
    assert "Specific users or groups" in row and "One time" in row
    assert "In progress" in row
    assert "Ends 2026-12-06 00:00 UTC" in row
    assert "1/2 decided" in row
    assert reverse("reviews:detail", args=[running.pk]) in response.content.decode()
    row = _row(response, planned)
    assert "Billing Administrator" in row and "The holders themselves (self-review)" in row and "Monthly" in row
    assert "Not started" in row
    assert "Starts 2026-11-25 00:00 UTC" in row
    assert "—" in row  # no progress before it starts


def test_the_list_shows_completed_and_applied_reviews(manager_client, pim_admin, make_review, start_review, bob):
    completed = make_review(name="Completed one", reviewers=[bob])
    services.stop_occurrence(actor=pim_admin, occurrence=start_review(completed))
    applied = make_review(name="Applied one", reviewers=[bob])
    occurrence = start_review(applied)
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    services.apply_results(actor=pim_admin, occurrence=occurrence)

    response = manager_client.get(LIST)

    assert "Completed" in _row(response, completed)
    assert "0/0 decided" in _row(response, completed)
    assert "Applied" in _row(response, applied)


# session, user, OTP device, administrator check, reviews with their current occurrence, their roles,
# open alerts (the navigation)
LIST_QUERIES = 7


@pytest.mark.parametrize("count", [1, 8])
def test_the_list_query_count_does_not_grow(manager_client, make_review, start_review, exchange_admin, bob, count,
                                            django_assert_num_queries):  # fmt: skip
    EligibleAssignmentFactory.create_batch(3, role=exchange_admin)
    for number in range(count):
        review = make_review(name=f"Review {number}", reviewers=[bob])
        if number % 2:
            start_review(review)

    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(LIST)

    assert len(response.context["reviews"]) == count


# Create ----------------------------------------------------------------------------------------


def test_creating_a_review_through_the_page_plans_its_first_occurrence_and_audits_it(manager_client, pim_admin, bob):
    scope = ScopeFactory(path="/subscriptions/mail")
    group = Group.objects.create(name="Messaging leads")

    response = manager_client.post(NEW, form_data(
        scopes=[scope.pk], reviewers=[bob.pk], reviewer_groups=[group.pk], inactive_days="90",
        recurrence="quarterly", end_type="after_count", end_after_occurrences="4", auto_apply="on",
        no_response="recommendation", reminder_days_before="3", extra_recipients="sec@example.com, ciso@example.com",
    ), follow=True)  # fmt: skip

    review = AccessReview.objects.get()
    assertRedirects(response, reverse("reviews:detail", args=[review.pk]))
    assertContains(response, "Review Exchange admins Q4 created; it starts on 2026-11-22 (UTC).")
    assert list(review.roles.values_list("slug", flat=True)) == ["exchange-administrator"]
    assert list(review.scopes.all()) == [scope]
    assert list(review.reviewers.all()) == [bob] and list(review.reviewer_groups.all()) == [group]
    assert (review.inactive_days, review.end_after_occurrences, review.reminder_days_before) == (90, 4, 3)
    assert review.auto_apply and review.require_justification and review.no_response == "recommendation"
    assert review.extra_recipients == ["sec@example.com", "ciso@example.com"]
    assert review.end_date is None and review.created_by == pim_admin
    first = review.occurrences.get()
    assert (first.number, first.status) == (1, OccurrenceStatus.NOT_STARTED)
    assert first.starts_at == datetime(2026, 11, 22, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="review.created", actor=pim_admin).count() == 1
    # The detail page shows what was saved.
    text = page_text(response)
    assert "Quarterly" in text and "After 4 occurrences" in text and "sec@example.com, ciso@example.com" in text
    assert "Scopes /subscriptions/mail" in text and "Messaging leads" in text


def test_the_new_review_form_starts_today_in_the_sites_time_zone(manager_client, settings):
    response = manager_client.get(NEW)

    form = response.context["form"]
    assert form["time_zone"].value() == settings.TIME_ZONE
    assert str(form["start_date"].value()) == TODAY
    assert form["duration_days"].value() == 14
    assertContains(response, 'type="date"')
    for section in ("What to review", "Who reviews", "When", "Upon completion"):
        assertContains(response, f"<legend>{section}</legend>", html=True)


def test_an_end_field_that_does_not_go_with_the_chosen_end_is_ignored(manager_client, bob):
    manager_client.post(NEW, form_data(reviewers=[bob.pk], recurrence="weekly", duration_days="5", end_type="never",
                                     end_date="2027-01-01", end_after_occurrences="3"))  # fmt: skip

    review = AccessReview.objects.get()
    assert (review.end_type, review.end_date, review.end_after_occurrences) == ("never", None, None)


BAD_INPUT = [
    pytest.param({"recurrence": "weekly", "duration_days": "7"}, "duration_days",
                 schedule.DURATION_OUT_OF_RANGE % {"recurrence": "weekly", "low": 1, "high": 6, "value": 7,
                                                   "why": ", shorter than its shortest period (7 days)"},
                 id="duration-longer-than-the-period"),
    pytest.param({"duration_days": "181"}, "duration_days",
                 schedule.DURATION_OUT_OF_RANGE % {"recurrence": "one time", "low": 1, "high": 180, "value": 181,
                                                   "why": ""}, id="duration-too-long"),
    pytest.param({"duration_days": "two weeks"}, "duration_days",
                 "Duration (days): a whole number of days from 1 to 180, shorter than the period.",
                 id="duration-not-a-number"),
    pytest.param({"recurrence": "monthly", "end_type": "on_date", "end_date": "2026-11-01"}, "end_date",
                 schedule.END_BEFORE_START % {"end": "2026-11-01", "start": TODAY}, id="end-before-start"),
    pytest.param({"recurrence": "monthly", "end_type": "on_date"}, "end_date", schedule.END_DATE_REQUIRED,
                 id="end-date-missing"),
    pytest.param({"recurrence": "monthly", "end_type": "after_count", "end_after_occurrences": "0"},
                 "end_after_occurrences", schedule.OCCURRENCES_OUT_OF_RANGE % {"low": 1, "high": 100, "value": 0},
                 id="no-occurrences"),
    pytest.param({"end_type": "on_date", "end_date": "2027-01-01"}, "end_type", schedule.ONE_TIME_HAS_NO_END,
                 id="one-time-with-an-end"),
    pytest.param({"reviewers": []}, "reviewers", rules.REVIEWERS_REQUIRED, id="no-reviewers"),
    pytest.param({"reviewer_type": "approvers"}, "fallback_reviewer", rules.FALLBACK_REQUIRED,
                 id="approvers-without-fallback"),
    pytest.param({"start_date": "2026-11-21"}, "start_date",
                 rules.START_IN_PAST % {"today": TODAY, "value": "2026-11-21"}, id="start-in-the-past"),
    pytest.param({"start_date": "22/11/2026"}, "start_date", "Start date: a date such as 2026-12-31.",
                 id="start-not-a-date"),
    pytest.param({"start_date": "9999-12-25"}, "start_date", "Start date: a date before 9000-01-01.",
                 id="start-at-the-end-of-the-calendar"),
    pytest.param({"time_zone": ""}, "time_zone", TIME_ZONE_REQUIRED, id="no-time-zone"),
    pytest.param({"extra_recipients": "sec@example.com, not-an-address"}, "extra_recipients",
                 rules.NOT_AN_ADDRESS % {"value": "not-an-address"}, id="invalid-email"),
    pytest.param({"extra_recipients": ",".join(f"p{n}@example.com" for n in range(11))}, "extra_recipients",
                 rules.TOO_MANY_RECIPIENTS % {"max": 10, "count": 11}, id="too-many-recipients"),
    pytest.param({"roles": []}, "roles", rules.ROLES_REQUIRED, id="no-roles"),
    pytest.param({"name": "  "}, "name", rules.NAME_REQUIRED, id="no-name"),
    pytest.param({"inactive_days": "731"}, "inactive_days",
                 rules.INACTIVE_DAYS_OUT_OF_RANGE % {"low": 1, "high": 730, "value": 731}, id="inactive-too-long"),
    pytest.param({"inactive_days": "0"}, "inactive_days",
                 rules.INACTIVE_DAYS_OUT_OF_RANGE % {"low": 1, "high": 730, "value": 0}, id="inactive-zero"),
    pytest.param({"reminder_days_before": "14"}, "reminder_days_before",
                 rules.REMINDER_OUT_OF_RANGE % {"high": 13, "duration": 14, "value": 14}, id="reminder-too-early"),
    pytest.param({"time_zone": "Mars/Olympus"}, "time_zone", schedule.UNKNOWN_TIME_ZONE % {"value": "Mars/Olympus"},
                 id="unknown-time-zone"),
    pytest.param({"recurrence": "fortnightly"}, "recurrence",
                 "Recurrence: 'fortnightly' is not one of the choices offered.", id="unknown-recurrence"),
    pytest.param({"roles": ["999999"]}, "roles", "Roles: '999999' is not one of the choices offered.",
                 id="unknown-role"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUT)
def test_bad_input_shows_the_message_beside_its_field_and_creates_nothing(manager_client, bob, overrides, field,
                                                                          message):  # fmt: skip
    data = form_data(reviewers=[bob.pk]) | overrides

    response = manager_client.post(NEW, data)

    assert response.status_code == 200
    assert message in field_errors(response, field)
    assert not AccessReview.objects.exists()
    assert not ReviewOccurrence.objects.exists()
    assert not AuditEvent.objects.filter(action="review.created").exists()
    # What was typed is still there to correct.
    assertContains(response, 'value="Exchange admins Q4"' if field != "name" else 'name="name"')


def test_a_start_in_the_past_is_judged_in_the_reviews_time_zone(manager_client, pim_admin, bob, clock):
    # 23:30 UTC on the 22nd is already the 23rd in Tokyo: the 22nd has passed there.
    clock.move_to(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), tick=False)
    verify_session(manager_client, pim_admin)

    response = manager_client.post(NEW, form_data(reviewers=[bob.pk], time_zone="Asia/Tokyo"))

    assert rules.START_IN_PAST % {"today": "2026-11-23", "value": TODAY} in field_errors(response, "start_date")
    assert not AccessReview.objects.exists()


# Edit ------------------------------------------------------------------------------------------


def test_editing_a_review_that_has_not_started_changes_it_and_its_planned_occurrence(
    manager_client, pim_admin, make_review, bob, carol
):
    review = make_review(reviewers=[bob])
    edit = reverse("reviews:edit", args=[review.pk])
    form = manager_client.get(edit).context["form"]
    assert form["name"].value() == review.name and not form.fields["roles"].disabled

    response = manager_client.post(edit, form_data(name="Exchange, renamed", reviewers=[carol.pk],
                                                 start_date="2026-12-01", duration_days="10"), follow=True)  # fmt: skip

    assertContains(response, "Review Exchange, renamed saved.")
    review.refresh_from_db()
    assert review.name == "Exchange, renamed" and list(review.reviewers.all()) == [carol]
    occurrence = review.occurrences.get()
    assert (occurrence.starts_at, occurrence.ends_at) == (datetime(2026, 12, 1, tzinfo=UTC),
                                                          datetime(2026, 12, 11, tzinfo=UTC))  # fmt: skip
    event = AuditEvent.objects.get(action="review.updated", actor=pim_admin)
    assert set(event.data["changes"]) >= {"name", "reviewers", "start_date", "duration_days"}


def test_editing_with_bad_input_shows_the_message_and_changes_nothing(manager_client, make_review, bob):
    review = make_review(reviewers=[bob])

    response = manager_client.post(reverse("reviews:edit", args=[review.pk]),
                                 form_data(name="Renamed", reviewers=[], reviewer_groups=[]))  # fmt: skip

    assert rules.REVIEWERS_REQUIRED in field_errors(response, "reviewers")
    review.refresh_from_db()
    assert review.name == "Quarterly Exchange review" and list(review.reviewers.all()) == [bob]
    assert not AuditEvent.objects.filter(action="review.updated").exists()


def test_once_started_what_is_reviewed_and_the_schedule_are_disabled_on_edit(
    manager_client, make_review, start_review, bob, carol
):
    review = make_review(reviewers=[bob])
    start_review(review)
    edit = reverse("reviews:edit", args=[review.pk])

    response = manager_client.get(edit)

    form = response.context["form"]
    for name in services.LOCKED_ONCE_STARTED:
        assert form.fields[name].disabled, name
    assert not form.fields["name"].disabled and not form.fields["reviewers"].disabled
    assertContains(response, "This review has started")
    assert re.search(r'<input type="date" name="start_date"[^>]*disabled', response.content.decode())
    # A changed role or duration is not taken (the fields are disabled); the name and reviewers are.
    response = manager_client.post(edit, form_data(name="Renamed", reviewers=[carol.pk], duration_days="3",
                                                 roles=[Role.objects.get(slug="billing-administrator").pk]),
                                 follow=True)  # fmt: skip
    assertContains(response, "Review Renamed saved.")
    review.refresh_from_db()
    assert review.name == "Renamed" and list(review.reviewers.all()) == [carol]
    assert review.duration_days == 14
    assert list(review.roles.values_list("slug", flat=True)) == ["exchange-administrator"]


# Delete ----------------------------------------------------------------------------------------


def test_deleting_a_review_that_has_not_started(manager_client, pim_admin, make_review, bob):
    review = make_review(reviewers=[bob])
    detail = manager_client.get(reverse("reviews:detail", args=[review.pk]))
    assertContains(detail, f'href="{reverse("reviews:delete", args=[review.pk])}"')
    confirm = manager_client.get(reverse("reviews:delete", args=[review.pk]))
    assertContains(confirm, "Delete Quarterly Exchange review?")

    response = manager_client.post(reverse("reviews:delete", args=[review.pk]), follow=True)

    assertRedirects(response, LIST)
    assertContains(response, "Review Quarterly Exchange review deleted.")
    assert not AccessReview.objects.exists() and not ReviewOccurrence.objects.exists()
    assert AuditEvent.objects.filter(action="review.deleted", actor=pim_admin).count() == 1


def test_a_started_review_cannot_be_deleted(manager_client, make_review, start_review, bob):
    review = make_review(reviewers=[bob])
    start_review(review)
    delete = reverse("reviews:delete", args=[review.pk])

    assertNotContains(manager_client.get(reverse("reviews:detail", args=[review.pk])), f'href="{delete}"')
    assertContains(manager_client.get(delete), services.NOT_DELETABLE)
    response = manager_client.post(delete, follow=True)

    assertRedirects(response, reverse("reviews:detail", args=[review.pk]))
    assertContains(response, services.NOT_DELETABLE)
    assert AccessReview.objects.filter(pk=review.pk).exists()
    assert not AuditEvent.objects.filter(action="review.deleted").exists()


# A review's page and its buttons ---------------------------------------------------------------


def _buttons(response) -> set[str]:
    """The buttons of the page itself (not the header's Sign out)."""
    content = response.content.decode()
    main = content[content.index('<main id="main"') :]
    return set(re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', main))


def test_the_detail_page_shows_the_settings_and_the_occurrences(manager_client, make_review, start_review,
                                                                exchange_admin, alice, bob):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    review = make_review(reviewers=[bob], recurrence="monthly", duration_days=7, reminder_days_before=2,
                         extra_recipients=["sec@example.com"], description="Mail <b>admins</b>")  # fmt: skip
    first = start_review(review)

    response = manager_client.get(reverse("reviews:detail", args=[review.pk]))

    text = page_text(response)
    for expected in ("Quarterly Exchange review", "Exchange Administrator", "Every scope", "Monthly",
                     "Eligible and active assignments", "Specific users or groups", "bob", "7 days",
                     "2 days before the end", "sec@example.com", "Never", "2026-11-22 (UTC)"):  # fmt: skip
        assert expected in text, expected
    assertContains(response, "Mail &lt;b&gt;admins&lt;/b&gt;")  # escaped
    # Latest first: the planned second occurrence, then the running first.
    assert [occurrence.number for occurrence in response.context["occurrences"]] == [2, 1]
    assert "1 2026-11-22 00:00 UTC 2026-11-29 00:00 UTC In progress 0/1 decided Results of occurrence 1" in text
    assertContains(response, f'href="{reverse("reviews:results", args=[first.pk])}"')
    assert "2 2026-12-22 00:00 UTC 2026-12-29 00:00 UTC Not started — —" in text
    assert _buttons(response) == {"Stop", "Reset decisions"}


# session, user, OTP device, administrator check, review with its people, roles, scopes, reviewers, reviewer
# groups, occurrences with their progress, open alerts (the navigation)
DETAIL_QUERIES = 11


@pytest.mark.parametrize("count", [1, 5])
def test_the_detail_page_query_count_does_not_grow(manager_client, make_review, exchange_admin, bob, count,
                                                   django_assert_num_queries):  # fmt: skip
    EligibleAssignmentFactory.create_batch(3, role=exchange_admin)
    review = make_review(reviewers=[bob], recurrence="weekly", duration_days=3)
    for number in range(1, count + 1):  # each week runs and ends, as the one-minute task would have it
        occurrence = review.occurrences.get(number=number)
        assert services.start_occurrence(occurrence_id=occurrence.pk, now=occurrence.starts_at)
        assert services.close_occurrence(occurrence_id=occurrence.pk, now=occurrence.ends_at)

    with django_assert_num_queries(DETAIL_QUERIES):
        response = manager_client.get(reverse("reviews:detail", args=[review.pk]))

    assert len(response.context["occurrences"]) == count + 1
    assert _buttons(response) == {"Apply results"}


def test_stopping_an_occurrence_in_progress_completes_it(manager_client, pim_admin, make_review, start_review,
                                                        exchange_admin, alice, bob):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    review = make_review(reviewers=[bob])
    occurrence = start_review(review)

    response = manager_client.post(reverse("reviews:stop", args=[occurrence.pk]), follow=True)

    assertRedirects(response, reverse("reviews:detail", args=[review.pk]))
    assertContains(response, "Occurrence 1 of Quarterly Exchange review stopped. Review the results, then apply them.")
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.COMPLETED and occurrence.stopped_by == pim_admin
    assert AuditEvent.objects.filter(action="review.stopped", actor=pim_admin).count() == 1
    assert _buttons(response) == {"Apply results"}
    assertContains(response, "stopped by pimadmin")


def test_stopping_an_occurrence_that_is_not_in_progress_shows_why(manager_client, pim_admin, make_review, start_review,
                                                                 bob):  # fmt: skip
    occurrence = start_review(make_review(reviewers=[bob]))
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)

    response = manager_client.post(reverse("reviews:stop", args=[occurrence.pk]), follow=True)

    assert response.status_code == 200
    assertContains(response, services.NOT_STOPPABLE % {"status": "completed"})
    assert AuditEvent.objects.filter(action="review.stopped").count() == 1


def test_resetting_decisions_clears_them_for_the_reviewers(manager_client, pim_admin, make_review, start_review,
                                                          exchange_admin, alice, bob):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    item = occurrence.items.get()
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item.pk], decision=ReviewDecision.DENY)

    response = manager_client.post(reverse("reviews:reset", args=[occurrence.pk]), follow=True)

    assertContains(response, "Decisions of occurrence 1 of Quarterly Exchange review reset: 1 cleared")
    item.refresh_from_db()
    assert (item.decision, item.decided_by) == ("", None)
    assert AuditEvent.objects.filter(action="review.reset", actor=pim_admin).count() == 1
    assert "0/1 decided" in page_text(response)


def test_resetting_a_completed_occurrence_is_refused(manager_client, pim_admin, make_review, start_review,
                                                    exchange_admin, alice, bob):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    item = occurrence.items.get()
    services.decide(actor=bob, occurrence=occurrence, item_ids=[item.pk], decision=ReviewDecision.DENY)
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)

    response = manager_client.post(reverse("reviews:reset", args=[occurrence.pk]), follow=True)

    assertContains(response, services.NOT_RESETTABLE % {"status": "completed"})
    item.refresh_from_db()
    assert item.decision == ReviewDecision.DENY
    assert not AuditEvent.objects.filter(action="review.reset").exists()


def test_applying_a_completed_review_ends_the_denied_assignment(manager_client, pim_admin, make_review, start_review,
                                                                exchange_admin, alice, bob, carol, clock):  # fmt: skip
    denied = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    kept = EligibleAssignmentFactory(principal=carol, role=exchange_admin)
    review = make_review(reviewers=[bob], duration_days=7)
    occurrence = start_review(review)
    items = {item.principal: item for item in occurrence.items.all()}
    services.decide(actor=bob, occurrence=occurrence, item_ids=[items[alice].pk], decision=ReviewDecision.DENY,
                    justification="left the messaging team")  # fmt: skip
    services.decide(actor=bob, occurrence=occurrence, item_ids=[items[carol].pk], decision=ReviewDecision.APPROVE,
                    justification="runs the mail migration")  # fmt: skip
    # The week passes; the one-minute task closes the occurrence at its end.
    clock.move_to(occurrence.ends_at + timedelta(minutes=1), tick=False)
    assert services.close_due_occurrences(now=occurrence.ends_at + timedelta(minutes=1)) == 1
    verify_session(manager_client, pim_admin)
    detail = manager_client.get(reverse("reviews:detail", args=[review.pk]))
    assert _buttons(detail) == {"Apply results"}
    assertContains(detail, "Completed")

    response = manager_client.post(reverse("reviews:apply", args=[occurrence.pk]), follow=True)

    assertRedirects(response, reverse("reviews:results", args=[occurrence.pk]))
    assertContains(response, "Results of occurrence 1 of Quarterly Exchange review applied: 1 removed, 1 kept.")
    assert "Removed" in html.unescape(_item_row(response, items[alice]))
    assert "Kept" in html.unescape(_item_row(response, items[carol]))
    assert EligibleAssignment.objects.get(pk=denied.pk).ended_at is not None
    assert EligibleAssignment.objects.get(pk=kept.pk).ended_at is None
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLIED and occurrence.applied_by == pim_admin
    assert AuditEvent.objects.filter(action="review.results_applied", actor=pim_admin).count() == 1
    assert _buttons(response) == set()  # nothing left to apply
    # A second press does nothing and says so.
    again = manager_client.post(reverse("reviews:apply", args=[occurrence.pk]), follow=True)
    assertContains(again, "had already been applied")
    assert AuditEvent.objects.filter(action="review.results_applied").count() == 1


def test_applying_an_occurrence_in_progress_is_refused(manager_client, make_review, start_review, exchange_admin,
                                                      alice, bob):  # fmt: skip
    eligibility = EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(actor=bob, occurrence=occurrence, item_ids=[occurrence.items.get().pk],
                    decision=ReviewDecision.DENY)  # fmt: skip

    response = manager_client.post(reverse("reviews:apply", args=[occurrence.pk]), follow=True)

    assertRedirects(response, reverse("reviews:detail", args=[occurrence.review_id]))
    assertContains(response, services.NOT_APPLICABLE % {"status": "in progress"})
    assert EligibleAssignment.objects.get(pk=eligibility.pk).ended_at is None
    assert not AuditEvent.objects.filter(action="review.results_applied").exists()


# Results ---------------------------------------------------------------------------------------


def _item_row(response, item) -> str:
    content = response.content.decode()
    start = content.index(f'id="item-{item.pk}"')
    return content[start : content.index("</tr>", start)]


def test_the_results_page_shows_every_item_and_the_counts(manager_client, pim_admin, make_review, start_review,
                                                         exchange_admin, alice, bob, carol):  # fmt: skip
    EligibleAssignmentFactory(principal=alice, role=exchange_admin, start_at=START - timedelta(days=40))
    group = Group.objects.create(name="Mail <ops>")
    ActiveAssignmentFactory(principal=None, group=group, role=exchange_admin, start_at=START - timedelta(days=10))
    occurrence = start_review(make_review(reviewers=[bob, carol], no_response="remove"))
    items = {item.kind: item for item in occurrence.items.all()}
    services.decide(actor=bob, occurrence=occurrence, item_ids=[items["eligible"].pk],
                    decision=ReviewDecision.APPROVE, justification="on call for mail")  # fmt: skip
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)

    response = manager_client.get(reverse("reviews:results", args=[occurrence.pk]))

    assertContains(response, f'href="{reverse("reviews:results-csv", args=[occurrence.pk])}"')
    assertContains(response, "Download CSV")
    for column in ("Holder", "Assigned since", "Last activation", "Last sign-in", "Recommendation", "Decided by",
                   "Justification", "Outcome", "Result"):  # fmt: skip
        assertContains(response, f'<th scope="col">{column}</th>', html=True)
    row = visible_text(_item_row(response, items["eligible"]))
    for expected in ("alice Exchange Administrator / Eligible 2026-10-13 09:00 UTC", "bob, carol Approve bob, ",
                     "on call for mail Keep Reviewer's decision"):  # fmt: skip
        assert expected in row, expected
    assert items["eligible"].recommendation_reason in row
    row = _item_row(response, items["active"])
    assert "group Mail &lt;ops&gt;" in row  # escaped
    assert "Active" in row and "Not decided" in row and "Remove" in row
    assert "No response: the review&#x27;s rule" in row
    summary = page_text(response)[page_text(response).index("Summary") :]
    for expected in ("2 items", "1 without a decision", "Approve: 1", "Deny: 0", "Outcome keep: 1",
                     "Outcome remove: 1"):  # fmt: skip
        assert expected in summary, expected
    assert _buttons(response) == {"Apply results"}


def test_the_results_of_an_occurrence_not_started_say_so(manager_client, make_review, bob):
    occurrence = make_review(reviewers=[bob]).occurrences.get()

    response = manager_client.get(reverse("reviews:results", args=[occurrence.pk]))

    assertContains(response, "This occurrence has not started")


# session, user, OTP device, administrator check, occurrence with its review, items, their reviewers,
# open alerts (the navigation)
RESULTS_QUERIES = 8


@pytest.mark.parametrize("count", [1, 12])
def test_the_results_page_query_count_does_not_grow(manager_client, make_review, start_review, exchange_admin, bob,
                                                    carol, count, django_assert_num_queries):  # fmt: skip
    for _ in range(count):
        EligibleAssignmentFactory(principal=UserFactory(), role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob, carol]))
    services.decide(actor=bob, occurrence=occurrence, item_ids=list(occurrence.items.values_list("pk", flat=True)),
                    decision=ReviewDecision.DENY)  # fmt: skip

    with django_assert_num_queries(RESULTS_QUERIES):
        response = manager_client.get(reverse("reviews:results", args=[occurrence.pk]))

    assert len(response.context["items"]) == count
    assert ReviewItem.objects.filter(occurrence=occurrence).count() == count


def test_stopping_a_review_that_applies_by_itself_says_so(manager_client, make_review, start_review, bob):
    occurrence = start_review(make_review(reviewers=[bob], auto_apply=True))

    response = manager_client.post(reverse("reviews:stop", args=[occurrence.pk]), follow=True)

    assertContains(response, "stopped. Its results are being applied automatically.")
