"""Each activation rule refuses with a message that names it and its range, creates nothing,
and still leaves an activation.refused event naming the rule."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from activations.models import ActivationRequest
from roles import services as role_services
from roles.models import ActiveAssignment, RoleSettings
from tests.activations.helpers import START, activate, events
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def assert_refused(actor, *eligibilities, rule: str, message: str, **overrides) -> None:
    """The activation is refused with `message`, nothing new exists, and the refusal is audited."""
    requests_before = ActivationRequest.objects.count()
    assignments_before = ActiveAssignment.objects.count()

    with pytest.raises(ValidationError) as refused:
        activate(actor, *eligibilities, **overrides)

    assert refused.value.messages == [message]
    assert ActivationRequest.objects.count() == requests_before
    assert ActiveAssignment.objects.count() == assignments_before
    [refusal] = events("activation.refused")
    assert refusal.actor == actor
    assert refusal.data == {"rule": rule, "message": message}


NOT_ELIGIBLE_NOW = "You are not eligible for Exchange Administrator at / at 2026-11-22 09:00 UTC."


def test_someone_elses_eligibility_cannot_be_activated(alice, dave, eligibility):
    assert_refused(dave, eligibility, rule="not_eligible", message=NOT_ELIGIBLE_NOW)


def test_an_eligibility_that_has_ended_cannot_be_activated(alice, exchange_admin, clock):
    ended = EligibleAssignmentFactory(
        principal=alice, role=exchange_admin, start_at=START - timedelta(days=7), end_at=START - timedelta(seconds=1)
    )

    assert_refused(alice, ended, rule="not_eligible", message=NOT_ELIGIBLE_NOW)


def test_an_eligibility_removed_by_an_administrator_cannot_be_activated(alice, pim_admin, eligibility):
    role_services.remove_assignment(actor=pim_admin, assignment=eligibility)

    assert_refused(alice, eligibility, rule="not_eligible", message=NOT_ELIGIBLE_NOW)


def test_an_eligibility_that_starts_later_cannot_be_activated_yet(alice, exchange_admin, clock):
    later = EligibleAssignmentFactory(principal=alice, role=exchange_admin, start_at=START + timedelta(days=1))

    assert_refused(alice, later, rule="not_eligible", message=NOT_ELIGIBLE_NOW)


def test_a_scheduled_start_outside_the_eligibility_is_refused(alice, exchange_admin, clock):
    ends_soon = EligibleAssignmentFactory(principal=alice, role=exchange_admin, end_at=START + timedelta(hours=2))

    assert_refused(
        alice, ends_soon, start_at=START + timedelta(hours=3), rule="not_eligible",
        message="You are not eligible for Exchange Administrator at / at 2026-11-22 12:00 UTC.",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("duration", "asked"),
    [(timedelta(minutes=29), "29 min"), (timedelta(hours=8, minutes=1), "8 h 1 min")],
)
def test_a_duration_outside_30_minutes_to_the_roles_maximum_is_refused(alice, eligibility, duration, asked):
    assert_refused(
        alice, eligibility, duration=duration, rule="duration_out_of_range",
        message=f"Exchange Administrator can be activated for 30 min to 8 h; you asked for {asked}.",
    )  # fmt: skip


@pytest.mark.parametrize("duration", [timedelta(minutes=30), timedelta(hours=8)])
def test_the_ends_of_the_duration_range_are_allowed(alice, eligibility, duration):
    [request] = activate(alice, eligibility, duration=duration)

    assert request.assignment.end_at == START + duration


def test_the_maximum_follows_the_roles_settings(alice, eligibility, exchange_admin):
    RoleSettings.objects.filter(role=exchange_admin).update(activation_max_minutes=90)

    assert_refused(
        alice, eligibility, duration=timedelta(hours=2), rule="duration_out_of_range",
        message="Exchange Administrator can be activated for 30 min to 1 h 30 min; you asked for 2 h.",
    )  # fmt: skip


def test_a_duration_past_the_end_of_the_eligibility_names_the_most_allowed(alice, exchange_admin, clock):
    ends_soon = EligibleAssignmentFactory(
        principal=alice, role=exchange_admin, end_at=START + timedelta(hours=1, minutes=30)
    )

    assert_refused(
        alice, ends_soon, duration=timedelta(hours=2), rule="beyond_eligibility",
        message="Your eligibility for Exchange Administrator ends at 2026-11-22 10:30 UTC; from the start you "
        "chose you can activate it for at most 1 h 30 min.",
    )  # fmt: skip


@pytest.mark.parametrize("justification", ["", "   "])
def test_a_missing_justification_is_refused_when_the_role_requires_one(alice, eligibility, justification):
    assert_refused(
        alice, eligibility, justification=justification, rule="justification_required",
        message="Exchange Administrator requires a justification (1 to 500 characters).",
    )  # fmt: skip


def test_no_justification_is_needed_when_the_role_does_not_require_one(alice, eligibility, exchange_admin):
    RoleSettings.objects.filter(role=exchange_admin).update(require_justification_on_activation=False)

    [request] = activate(alice, eligibility, justification="")

    assert request.assignment is not None


def test_a_justification_over_500_characters_is_refused(alice, eligibility):
    assert_refused(
        alice, eligibility, justification="x" * 501, rule="justification_too_long",
        message="A justification can be at most 500 characters; this one has 501.",
    )  # fmt: skip


@pytest.mark.parametrize(("system", "number"), [("", ""), ("ServiceNow", ""), ("", "INC-4711")])
def test_missing_ticket_information_is_refused_when_the_role_requires_it(
    alice, eligibility, exchange_admin, system, number
):
    RoleSettings.objects.filter(role=exchange_admin).update(require_ticket_on_activation=True)

    assert_refused(
        alice, eligibility, ticket_system=system, ticket_number=number, rule="ticket_required",
        message="Exchange Administrator requires ticket information: both the ticket system and the ticket number.",
    )  # fmt: skip


def test_the_ticket_is_kept_with_the_request(alice, eligibility, exchange_admin):
    RoleSettings.objects.filter(role=exchange_admin).update(require_ticket_on_activation=True)

    [request] = activate(alice, eligibility, ticket_system=" ServiceNow ", ticket_number="INC-4711")

    assert (request.ticket_system, request.ticket_number) == ("ServiceNow", "INC-4711")
    assert events("activation.requested")[0].data["ticket"] == "ServiceNow INC-4711"


MFA_MESSAGE = (
    "Exchange Administrator requires a verification code: your last one was more than 10 minutes ago. "
    "Enter the code your authenticator app shows now."
)


@pytest.mark.parametrize("verified_ago", [None, timedelta(minutes=10, seconds=1)])
def test_a_missing_or_stale_code_is_refused_when_the_role_requires_one(alice, eligibility, verified_ago):
    verified = None if verified_ago is None else START - verified_ago

    assert_refused(alice, eligibility, mfa_verified_at=verified, rule="mfa_required", message=MFA_MESSAGE)


def test_a_code_from_exactly_10_minutes_ago_still_counts(alice, eligibility):
    [request] = activate(alice, eligibility, mfa_verified_at=START - timedelta(minutes=10))

    assert request.assignment is not None


def test_no_code_is_needed_when_the_role_does_not_require_one(alice, eligibility, exchange_admin):
    RoleSettings.objects.filter(role=exchange_admin).update(require_mfa_on_activation=False)

    [request] = activate(alice, eligibility, mfa_verified_at=None)

    assert request.assignment is not None


def test_a_role_already_active_at_that_scope_is_refused_with_a_hint_to_extend(alice, eligibility):
    activate(alice, eligibility)

    assert_refused(
        alice, eligibility, rule="already_active",
        message="Exchange Administrator is already active for you at / (until 2026-11-22 10:00 UTC); "
        "extend it instead of activating again.",
    )  # fmt: skip


def test_a_permanent_assignment_from_an_administrator_counts_as_already_active(alice, eligibility, exchange_admin):
    ActiveAssignmentFactory(principal=alice, role=exchange_admin)

    assert_refused(
        alice, eligibility, rule="already_active",
        message="Exchange Administrator is already active for you at / (until permanent); "
        "extend it instead of activating again.",
    )  # fmt: skip


def test_a_role_with_a_pending_request_is_refused(alice, eligibility, with_approval):
    activate(alice, eligibility)

    assert_refused(
        alice, eligibility, rule="already_pending",
        message="You already have a pending request for Exchange Administrator at /; "
        "wait for its decision or cancel it.",
    )  # fmt: skip


def test_a_role_can_be_activated_again_once_the_last_activation_has_expired(alice, eligibility, clock):
    activate(alice, eligibility)
    clock.move_to(START + timedelta(hours=1), tick=False)  # ended; no task has recorded it yet

    [request] = activate(alice, eligibility)

    assert request.assignment.start_at == START + timedelta(hours=1)
    assert len(events("assignment.expired")) == 1  # the lapsed one is closed first


def test_a_start_in_the_past_is_refused(alice, eligibility):
    assert_refused(
        alice, eligibility, start_at=START - timedelta(minutes=5), rule="start_in_past",
        message="The start cannot be in the past; choose now or a later time (it was 2026-11-22 08:55 UTC).",
    )  # fmt: skip


def test_a_start_a_few_seconds_ago_counts_as_now(alice, eligibility):
    # The page's "now" was computed a moment before the request arrived.
    [request] = activate(alice, eligibility, start_at=START - timedelta(seconds=30))

    assert request.assignment.start_at == START
