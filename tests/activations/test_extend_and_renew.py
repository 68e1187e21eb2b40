"""Extend and renew, with Entra's windows: a holder asks to extend an eligible or
administrator-made active assignment from 14 days before its end, or to renew one up to 30
days after it expired; a PIM administrator (not the holder) decides within 14 days. An
activated role is extended by its holder within the role's maximum in total, with the same
requirements and approval as activating it. Every refusal names its rule and range and
changes nothing."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django_q.models import Schedule

from activations import services, tasks
from activations.choices import Decision, RequestKind, RequestStatus
from activations.exceptions import AlreadyDecided
from activations.models import ActivationRequest
from activations.selectors import assignment_changes_for, pending_for_approver
from roles import services as role_services
from roles.choices import ActiveSource, EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.selectors import access_decision
from roles.services import update_role_settings
from tests.activations.helpers import JUSTIFICATION, START, activate, events
from tests.conftest import make_user
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, root_scope

WHY = "Helpdesk rota continues into January"


@pytest.fixture(autouse=True)
def _clock_first(clock):
    """The clock stands at START before the cast is made (pim_admin's role starts then)."""


@pytest.fixture
def security_reader(db) -> Role:
    """Default settings: eligible may be permanent (else 365 days), active at most 180 days."""
    return Role.objects.select_related("settings").get(slug="security-reader")


@pytest.fixture
def erin(db):
    """A second PIM administrator: a permanent active Privileged Role Administrator at '/'."""
    user = make_user("erin")
    ActiveAssignmentFactory(
        principal=user, role=Role.objects.get(slug="privileged-role-administrator"), scope=root_scope()
    )
    return user


def eligible_until(user, role, end, **fields) -> EligibleAssignment:
    return EligibleAssignmentFactory(principal=user, role=role, start_at=START - timedelta(days=100), end_at=end,
                                     **fields)  # fmt: skip


def active_until(user, role, end, **fields) -> ActiveAssignment:
    return ActiveAssignmentFactory(principal=user, role=role, start_at=START - timedelta(days=100), end_at=end,
                                   justification="Audit season", **fields)  # fmt: skip


def refusal_messages(raised) -> list[str]:
    return raised.value.messages


# Asking to extend ----------------------------------------------------------------------------


def test_an_assignment_ending_in_15_days_is_too_early_to_extend_and_nothing_is_asked(alice, security_reader, clock):
    eligibility = eligible_until(alice, security_reader, START + timedelta(days=15))

    with pytest.raises(ValidationError) as raised:
        services.request_extension(actor=alice, assignment=eligibility, justification=WHY)

    assert refusal_messages(raised) == [
        "Security Reader at / ends at 2026-12-07 09:00 UTC; you can ask to extend it from 14 days before its end, "
        "that is from 2026-11-23 09:00 UTC."
    ]
    assert not ActivationRequest.objects.exists()
    [refused] = events("extension.refused")
    assert refused.data["rule"] == "extend_too_early"


def test_an_assignment_ending_in_14_days_can_be_asked_to_extend_and_the_administrators_are_told(
    alice, pim_admin, security_reader, clock, sync_tasks, django_capture_on_commit_callbacks
):
    eligibility = eligible_until(alice, security_reader, START + timedelta(days=14))

    with django_capture_on_commit_callbacks(execute=True):
        request = services.request_extension(actor=alice, assignment=eligibility, justification=WHY)

    assert (request.kind, request.status, request.requester) == (RequestKind.EXTEND, RequestStatus.PENDING_APPROVAL,
                                                                 alice)  # fmt: skip
    assert request.eligibility == eligibility and request.target_active is None
    assert request.requested_end_at is None  # the role allows permanent eligibility: the default
    assert request.decide_by == START + timedelta(days=14)
    [requested] = events("extension.requested")
    assert requested.actor == alice and requested.justification == WHY
    [to_admin] = [message for message in mail.outbox if message.to == ["pimadmin@example.com"]]
    assert to_admin.subject == "[PIM] alice asks to extend Security Reader (eligible)"
    assert f"/requests/{request.pk}/" in to_admin.body
    assert list(assignment_changes_for(user=pim_admin)) == [request]


def test_nobody_asks_to_extend_someone_elses_assignment(alice, dave, security_reader, clock):
    eligibility = eligible_until(alice, security_reader, START + timedelta(days=3))

    with pytest.raises(ValidationError) as raised:
        services.request_extension(actor=dave, assignment=eligibility, justification=WHY)

    assert refusal_messages(raised) == [
        "Only its holder can ask to extend it: Security Reader at / is assigned to alice."
    ]
    assert not ActivationRequest.objects.exists()


def test_a_permanent_assignment_has_nothing_to_extend(alice, security_reader, clock):
    eligibility = eligible_until(alice, security_reader, None)

    with pytest.raises(ValidationError, match="Security Reader at / is permanent; there is nothing to extend."):
        services.request_extension(actor=alice, assignment=eligibility, justification=WHY)


def test_an_extension_needs_a_justification_and_an_end_within_the_roles_maximum(alice, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=5))

    with pytest.raises(ValidationError) as raised:
        services.request_extension(
            actor=alice, assignment=active, justification=" ", requested_end_at=START + timedelta(days=200)
        )

    assert raised.value.message_dict == {
        "justification": ["Say why you need Security Reader longer (1 to 500 characters)."],
        "requested_end_at": [
            "Security Reader allows active assignments of at most 180 days; this one lasts 200.0 days."
        ],
    }
    assert not ActivationRequest.objects.exists()


def test_an_asked_end_must_be_later_than_the_current_one(alice, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=5))

    with pytest.raises(ValidationError) as raised:
        services.request_extension(
            actor=alice, assignment=active, justification=WHY, requested_end_at=START + timedelta(days=4)
        )

    assert raised.value.message_dict == {
        "requested_end_at": [
            "The end you ask for (2026-11-26 09:00 UTC) must be later than the current end (2026-11-27 09:00 UTC)."
        ]
    }


def test_an_activated_role_is_extended_from_my_roles_not_by_the_administrators(alice, exchange_admin, clock):
    [activation] = activate(alice, EligibleAssignmentFactory(principal=alice, role=exchange_admin))

    with pytest.raises(ValidationError, match="is activated, not assigned by an administrator"):
        services.request_extension(actor=alice, assignment=activation.assignment, justification=WHY)


def test_a_double_submit_leaves_one_pending_request(alice, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=5))
    first = services.request_extension(actor=alice, assignment=active, justification=WHY)

    with pytest.raises(ValidationError) as raised:
        services.request_extension(actor=alice, assignment=active, justification=WHY)

    assert refusal_messages(raised) == [
        "You already have a pending extension request for Security Reader at /; wait for its decision or cancel it."
    ]
    assert list(ActivationRequest.objects.all()) == [first]


# Deciding an extension -----------------------------------------------------------------------


def test_an_administrator_approves_an_extension_the_end_moves_and_so_does_the_expiry(
    alice, pim_admin, security_reader, clock, django_capture_on_commit_callbacks
):
    active = active_until(alice, security_reader, START + timedelta(days=5))
    request = services.request_extension(actor=alice, assignment=active, justification=WHY)
    assert request.requested_end_at == START + timedelta(days=180)  # the role's maximum from now

    clock.move_to(START + timedelta(days=1), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        request = services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)

    assert request.status == RequestStatus.PROVISIONED
    active.refresh_from_db()
    assert active.end_at == START + timedelta(days=180)
    assert Schedule.objects.get(name=f"pim.expire.active.{active.pk}").next_run == START + timedelta(days=180)
    [updated] = events("assignment.updated")
    assert updated.actor == pim_admin
    [approved] = events("extension.approved")
    assert approved.actor == pim_admin
    assert access_decision(username="alice", role_slug="security-reader", at=START + timedelta(days=179)).allowed


def test_an_administrator_may_approve_with_another_end_within_the_roles_rules(alice, pim_admin, security_reader, clock):
    eligibility = eligible_until(alice, security_reader, START + timedelta(days=10))
    request = services.request_extension(actor=alice, assignment=eligibility, justification=WHY)
    update_role_settings(actor=pim_admin, role=security_reader, changes={"allow_permanent_eligible": False})

    with pytest.raises(ValidationError) as raised:  # permanent, as asked, is no longer allowed
        services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)
    assert raised.value.message_dict["end_at"] == [
        "Security Reader does not allow permanent eligible assignments; set an end at most 365 days after the start."
    ]
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING_APPROVAL and not request.approvals.exists()

    services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE,
                            end_at=START + timedelta(days=90))  # fmt: skip

    eligibility.refresh_from_db()
    assert eligibility.end_at == START + timedelta(days=90)


def test_nobody_approves_their_own_extension_not_even_an_administrator(pim_admin, erin, security_reader, clock):
    mine = active_until(pim_admin, security_reader, START + timedelta(days=5))
    request = services.request_extension(actor=pim_admin, assignment=mine, justification=WHY)

    with pytest.raises(ValidationError, match="You cannot approve or deny your own request."):
        services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)

    assert not assignment_changes_for(user=pim_admin).exists()
    mine.refresh_from_db()
    assert mine.end_at == START + timedelta(days=5)
    assert services.decide_request(actor=erin, request=request, decision=Decision.APPROVE).status == (
        RequestStatus.PROVISIONED
    )


def test_the_roles_approvers_do_not_decide_extensions_of_assignments(alice, bob, exchange_admin, with_approval, clock):
    eligibility = eligible_until(alice, exchange_admin, START + timedelta(days=5))
    request = services.request_extension(actor=alice, assignment=eligibility, justification=WHY)

    assert not pending_for_approver(user=bob).exists()
    with pytest.raises(ValidationError, match="Only an active Privileged Role Administrator or Global Administrator"):
        services.decide_request(actor=bob, request=request, decision=Decision.APPROVE)
    assert not assignment_changes_for(user=bob).exists()


def test_a_denial_needs_a_justification_and_changes_nothing(alice, pim_admin, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=5))
    request = services.request_extension(actor=alice, assignment=active, justification=WHY)

    with pytest.raises(ValidationError, match=r"Say why you deny the request \(1 to 500 characters\)."):
        services.decide_request(actor=pim_admin, request=request, decision=Decision.DENY)
    request = services.decide_request(actor=pim_admin, request=request, decision=Decision.DENY,
                                      justification="Audit season is over")  # fmt: skip

    assert request.status == RequestStatus.DENIED
    active.refresh_from_db()
    assert active.end_at == START + timedelta(days=5)
    [denied] = events("extension.denied")
    assert denied.justification == "Audit season is over"
    with pytest.raises(AlreadyDecided):
        services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)


def test_a_pending_renewal_times_out_after_14_days_once(
    alice, security_reader, clock, sync_tasks, django_capture_on_commit_callbacks
):
    old = eligible_until(alice, security_reader, START - timedelta(days=1))
    request = services.request_renewal(actor=alice, assignment=old, justification=WHY)

    clock.move_to(START + timedelta(days=14) - timedelta(seconds=1), tick=False)
    assert "timed out 0" in tasks.sweep()
    clock.move_to(START + timedelta(days=14), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert "timed out 1" in tasks.sweep()
        assert "timed out 0" in tasks.sweep()

    request.refresh_from_db()
    assert request.status == RequestStatus.TIMED_OUT
    assert len(events("renewal.timed_out")) == 1
    [told] = [message for message in mail.outbox if message.to == ["alice@example.com"]]
    assert told.subject == "[PIM] Your request for Security Reader timed out"
    assert told.body.startswith("Your request to renew Security Reader at / timed out")


def test_an_extension_of_what_expired_meanwhile_fails_and_renewing_is_the_way(alice, pim_admin, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=2))
    request = services.request_extension(actor=alice, assignment=active, justification=WHY)

    clock.move_to(START + timedelta(days=2), tick=False)
    assert tasks.sweep() == "expired 1, started 0, timed out 0, escalated 0, failed 1"

    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED
    assert (
        request.status_reason == "The assignment this request would extend has ended, so it can no longer be extended."
    )
    assert services.request_renewal(actor=alice, assignment=active, justification=WHY).kind == RequestKind.RENEW


# Renew ---------------------------------------------------------------------------------------


def test_renewing_more_than_30_days_after_the_end_is_refused(alice, security_reader, clock):
    active = active_until(alice, security_reader, START - timedelta(days=31))

    with pytest.raises(ValidationError) as raised:
        services.request_renewal(actor=alice, assignment=active, justification=WHY)

    assert refusal_messages(raised) == [
        "Security Reader at / ended at 2026-10-22 09:00 UTC; it could be renewed for 30 days after its end, "
        "until 2026-11-21 09:00 UTC. Ask a Privileged Role Administrator for a new assignment."
    ]
    assert not ActivationRequest.objects.exists()
    assert events("renewal.refused")[0].data["rule"] == "renew_too_late"


def test_an_assignment_still_running_is_extended_not_renewed(alice, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=3))

    with pytest.raises(ValidationError, match="has not ended yet .* ask to extend it instead"):
        services.request_renewal(actor=alice, assignment=active, justification=WHY)


def test_an_assignment_an_administrator_removed_cannot_be_renewed(alice, pim_admin, security_reader, clock):
    active = active_until(alice, security_reader, START + timedelta(days=3))
    role_services.remove_assignment(actor=pim_admin, assignment=active)

    with pytest.raises(ValidationError) as raised:
        services.request_renewal(actor=alice, assignment=active, justification=WHY)

    assert refusal_messages(raised) == [
        "Security Reader at / was removed by an administrator, not expired; only an expired assignment can be renewed."
    ]


def test_an_approved_renewal_is_a_new_assignment_from_now(alice, pim_admin, security_reader, clock):
    old = active_until(alice, security_reader, START - timedelta(days=10), ended_at=START - timedelta(days=10),
                       end_reason=EndReason.EXPIRED)  # fmt: skip
    request = services.request_renewal(actor=alice, assignment=old, justification=WHY,
                                       requested_end_at=START + timedelta(days=30))  # fmt: skip

    request = services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE,
                                      mfa_verified_at=START)  # fmt: skip

    assert request.status == RequestStatus.PROVISIONED
    renewed = request.assignment
    assert (renewed.principal, renewed.role, renewed.scope, renewed.source) == (alice, security_reader, old.scope,
                                                                                ActiveSource.ADMIN)  # fmt: skip
    assert (renewed.start_at, renewed.end_at, renewed.justification) == (START, START + timedelta(days=30), WHY)
    assert renewed.created_by == pim_admin
    old.refresh_from_db()
    assert old.end_reason == EndReason.EXPIRED
    assert [e.action for e in events("assignment.created")] == ["assignment.created"]
    assert len(events("renewal.approved")) == 1


def test_renewing_an_active_assignment_needs_a_fresh_second_factor(alice, pim_admin, security_reader, clock):
    old = active_until(alice, security_reader, START - timedelta(days=10), ended_at=START - timedelta(days=10),
                       end_reason=EndReason.EXPIRED)  # fmt: skip
    request = services.request_renewal(actor=alice, assignment=old, justification=WHY,
                                       requested_end_at=START + timedelta(days=30))  # fmt: skip

    with pytest.raises(ValidationError) as raised:
        services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE,
                                mfa_verified_at=START - timedelta(minutes=11))  # fmt: skip

    assert "Security Reader requires multifactor authentication on active assignment" in raised.value.messages[0]
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING_APPROVAL
    assert not ActiveAssignment.objects.filter(principal=alice, ended_at__isnull=True).exists()


def test_an_expired_eligibility_not_yet_swept_is_renewed_as_a_new_eligibility(alice, pim_admin, security_reader, clock):
    old = eligible_until(alice, security_reader, START - timedelta(days=1))  # lapsed, not yet marked expired
    request = services.request_renewal(actor=alice, assignment=old, justification=WHY)

    services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)

    [renewed] = EligibleAssignment.objects.in_effect(START).filter(principal=alice, role=security_reader)
    assert renewed.pk != old.pk and renewed.end_at is None  # permanent: the role allows it, the default
    old.refresh_from_db()
    assert old.end_reason == EndReason.EXPIRED  # recorded on the way


def test_a_renewal_fails_when_an_administrator_assigned_the_role_again_meanwhile(
    alice, pim_admin, security_reader, clock
):
    old = eligible_until(alice, security_reader, START - timedelta(days=1))
    request = services.request_renewal(actor=alice, assignment=old, justification=WHY)
    role_services.assign_eligible(actor=pim_admin, principal=alice, role=security_reader, scope=root_scope(),
                                  start_at=START, end_at=None)  # fmt: skip

    request = services.decide_request(actor=pim_admin, request=request, decision=Decision.APPROVE)

    assert request.status == RequestStatus.FAILED
    assert "already has an open eligible assignment of Security Reader" in request.status_reason
    assert EligibleAssignment.objects.open().filter(principal=alice).count() == 1


# Extending an activation ---------------------------------------------------------------------


@pytest.fixture
def exchange_eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def extend(actor, assignment, **overrides):
    """request_activation_extension as the extend page calls it: 1 h more, a justification, a fresh code."""
    values = {"duration": timedelta(hours=1), "justification": JUSTIFICATION, "mfa_verified_at": START, **overrides}
    return services.request_activation_extension(actor=actor, assignment=assignment, **values)


def test_an_activation_without_approval_is_extended_at_once_and_its_expiry_follows(
    alice, exchange_eligibility, clock, django_capture_on_commit_callbacks
):
    [activation] = activate(alice, exchange_eligibility, duration=timedelta(hours=2))
    clock.move_to(START + timedelta(hours=1), tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        request = extend(alice, activation.assignment, duration=timedelta(hours=3),
                         mfa_verified_at=START + timedelta(hours=1))  # fmt: skip

    assert (request.kind, request.status, request.target_active) == (RequestKind.EXTEND, RequestStatus.PROVISIONED,
                                                                     activation.assignment)  # fmt: skip
    assignment = ActiveAssignment.objects.get(pk=activation.assignment.pk)
    assert assignment.end_at == START + timedelta(hours=5)
    assert Schedule.objects.get(name=f"pim.expire.active.{assignment.pk}").next_run == START + timedelta(hours=5)
    [extended] = events("assignment.extended")
    assert extended.actor == alice
    assert len(events("extension.requested")) == 1
    assert access_decision(username="alice", role_slug="exchange-administrator",
                           at=START + timedelta(hours=5) - timedelta(seconds=1)).allowed  # fmt: skip
    assert not access_decision(username="alice", role_slug="exchange-administrator",
                               at=START + timedelta(hours=5)).allowed  # fmt: skip


def test_an_activation_cannot_be_extended_beyond_the_roles_maximum_in_total(alice, exchange_eligibility, clock):
    [activation] = activate(alice, exchange_eligibility, duration=timedelta(hours=6))

    with pytest.raises(ValidationError) as raised:
        extend(alice, activation.assignment, duration=timedelta(hours=3))

    assert raised.value.message_dict == {
        "duration": [
            "Exchange Administrator allows at most 8 h in total; 6 h are already granted, so you can add at most 2 h."
        ]
    }
    assert ActiveAssignment.objects.get(pk=activation.assignment.pk).end_at == START + timedelta(hours=6)
    assert not ActivationRequest.objects.filter(kind=RequestKind.EXTEND).exists()
    assert extend(alice, activation.assignment, duration=timedelta(hours=2)).status == RequestStatus.PROVISIONED


def test_extending_an_activation_has_the_requirements_of_activating_it(alice, exchange_eligibility, clock):
    [activation] = activate(alice, exchange_eligibility)
    clock.move_to(START + timedelta(minutes=30), tick=False)

    with pytest.raises(ValidationError) as raised:
        extend(alice, activation.assignment, justification="", mfa_verified_at=START - timedelta(hours=1))

    assert set(raised.value.message_dict) == {"justification", "otp_token"}
    assert raised.value.message_dict["justification"] == [
        "Exchange Administrator requires a justification (1 to 500 characters)."
    ]
    assert ActiveAssignment.objects.get(pk=activation.assignment.pk).end_at == START + timedelta(hours=1)


def test_nobody_extends_someone_elses_activation(alice, dave, exchange_eligibility, clock):
    [activation] = activate(alice, exchange_eligibility)

    with pytest.raises(ValidationError) as raised:
        extend(dave, activation.assignment)

    assert raised.value.messages == [
        "Only its holder can ask to extend it: Exchange Administrator at / is assigned to alice."
    ]
    assert events("extension.refused")[0].actor == dave


def test_with_approval_an_extension_waits_and_is_granted_only_after_the_approval(
    alice, bob, exchange_eligibility, with_approval, clock
):
    [activation] = activate(alice, exchange_eligibility)
    activation = services.decide_request(actor=bob, request=activation, decision=Decision.APPROVE)
    assignment = activation.assignment

    request = extend(alice, assignment, duration=timedelta(hours=2))

    assert request.status == RequestStatus.PENDING_APPROVAL
    assert ActiveAssignment.objects.get(pk=assignment.pk).end_at == START + timedelta(hours=1)
    assert list(pending_for_approver(user=bob)) == [request]
    with pytest.raises(ValidationError, match="already have a pending extension request"):
        extend(alice, assignment, duration=timedelta(hours=1))

    request = services.decide_request(actor=bob, request=request, decision=Decision.APPROVE)

    assert request.status == RequestStatus.PROVISIONED
    assert ActiveAssignment.objects.get(pk=assignment.pk).end_at == START + timedelta(hours=3)
    assert [e.action for e in events("extension.approved")] == ["extension.approved"]
    assert len(events("assignment.extended")) == 1


def test_an_extension_still_waiting_when_the_activation_ends_fails(
    alice, bob, exchange_eligibility, with_approval, clock
):
    [activation] = activate(alice, exchange_eligibility)
    activation = services.decide_request(actor=bob, request=activation, decision=Decision.APPROVE)
    request = extend(alice, activation.assignment)
    clock.move_to(START + timedelta(hours=1), tick=False)  # the activation's end; the sweep has not run

    request = services.decide_request(actor=bob, request=request, decision=Decision.APPROVE)

    assert request.status == RequestStatus.FAILED
    assert request.status_reason == (
        "The activation of Exchange Administrator at / ended before the decision, so it could not be extended."
    )
    assert ActiveAssignment.objects.get(pk=activation.assignment.pk).end_at == START + timedelta(hours=1)
    assert len(events("extension.failed")) == 1


def test_a_retried_activation_extension_adds_the_time_once(alice, exchange_eligibility, clock):
    [activation] = activate(alice, exchange_eligibility)
    seen = activation.assignment.end_at
    extend(alice, activation.assignment, expected_end_at=seen)

    with pytest.raises(ValidationError) as raised:
        extend(alice, activation.assignment, expected_end_at=seen)

    assert raised.value.messages == [
        "Exchange Administrator was extended meanwhile: it is active until 2026-11-22 11:00 UTC, not "
        "2026-11-22 10:00 UTC. Nothing was added; extend it again if you still need more time."
    ]
    assert ActiveAssignment.objects.get(pk=activation.assignment.pk).end_at == START + timedelta(hours=2)
