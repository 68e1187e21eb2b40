"""Activating from a later date and time, given in the viewer's time zone."""

from datetime import UTC, datetime

from django.urls import reverse
from pytest_django.asserts import assertContains

from activations.models import ActivationRequest
from roles.models import ActiveAssignment
from roles.selectors import access_decision
from tests.activations.pages.helpers import answers, eligible, field_errors, messages_of, nothing_created, rows, section

ACTIVATE = reverse("activations:activate")


def later(eligibility, *, start_at: str, time_zone: str = "Europe/Paris", **overrides) -> dict:
    return answers(eligibility, start="later", start_at=start_at, time_zone=time_zone, **overrides)


def test_a_paris_start_becomes_the_same_instant_in_utc(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, later(eligibility, start_at="2026-12-01T10:00", duration=120), follow=True)

    assignment = ActiveAssignment.objects.get(principal=alice)
    assert (assignment.start_at, assignment.end_at) == (
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),  # Paris is UTC+1 in winter
        datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
    )
    assert ActivationRequest.objects.get().status == "approved"
    assert messages_of(response) == [
        "User Administrator is scheduled: active from 2026-12-01 09:00 UTC until 2026-12-01 11:00 UTC."
    ]
    [row] = rows(section(response, "active-heading"))
    assert row[2] == "2026-12-01 09:00 UTC Scheduled"


def test_summer_time_is_taken_into_account(alice_client, alice, clock):
    clock.move_to("2026-06-01 08:00Z")
    eligibility = eligible(alice, "user-administrator")

    alice_client.post(ACTIVATE, later(eligibility, start_at="2026-06-02T10:00"))

    assert ActiveAssignment.objects.get(principal=alice).start_at == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)


def test_a_scheduled_role_gives_no_access_before_its_start(alice_client, alice, clock):
    eligibility = eligible(alice, "user-administrator")
    alice_client.post(ACTIVATE, later(eligibility, start_at="2026-12-01T10:00"))

    def allowed_at(moment: str) -> bool:
        return access_decision(username="alice", role_slug="user-administrator", at=datetime.fromisoformat(moment))

    assert not allowed_at("2026-12-01T08:59:59+00:00").allowed
    assert allowed_at("2026-12-01T09:00:00+00:00").allowed


def test_choosing_later_without_a_date_is_shown_beside_the_date_field(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, later(eligibility, start_at=""))

    assert response.status_code == 200
    assert field_errors(response, "start_at") == ["Choose the date and time the role should become active."]
    assertContains(
        response, '<input type="radio" name="start" value="later" id="id_start_1" required checked>', html=True
    )
    assert nothing_created()


def test_a_start_in_the_past_is_refused_beside_the_date_field(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    response = alice_client.post(ACTIVATE, later(eligibility, start_at="2026-11-22T09:00"))  # 08:00 UTC

    assert field_errors(response, "start_at") == [
        "The start cannot be in the past; choose now or a later time (it was 2026-11-22 08:00 UTC)."
    ]
    assert nothing_created()


def test_a_date_left_behind_when_choosing_now_is_ignored(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")

    alice_client.post(ACTIVATE, answers(eligibility, start="now", start_at="2026-12-01T10:00"))

    assert ActiveAssignment.objects.get(principal=alice).start_at == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_a_missing_start_choice_is_shown_with_the_start_choices(alice_client, alice):
    eligibility = eligible(alice, "user-administrator")
    no_start = {key: value for key, value in answers(eligibility).items() if key != "start"}

    response = alice_client.post(ACTIVATE, no_start)

    assert field_errors(response, "start") == ["Choose when the role should start: now or at a date and time."]
    assert nothing_created()
