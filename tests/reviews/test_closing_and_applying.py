"""Closing an occurrence (the no-response rule), applying its results once, and never locking
the directory out."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent, OutboxMessage
from roles.choices import EndReason
from roles.models import ActiveAssignment, BreakGlassAccount, EligibleAssignment, Role
from roles.reviews import services, tasks
from roles.reviews.choices import ApplyResult, NoResponse, OccurrenceStatus, Outcome, OutcomeSource, ReviewDecision
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, root_scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_holders(exchange_admin, alice, carol, dave):
    """alice, carol and dave are eligible for Exchange Administrator; none has activated it."""
    return {
        user.username: EligibleAssignmentFactory(principal=user, role=exchange_admin) for user in (alice, carol, dave)
    }


def item_of(occurrence, username):
    return occurrence.items.get(principal__username=username)


def end(occurrence, time_machine):
    time_machine.move_to(occurrence.ends_at + timedelta(seconds=1), tick=False)
    return tasks.run_reviews()


@pytest.mark.parametrize(
    ("rule", "outcome", "source"),
    [
        (NoResponse.NO_CHANGE, Outcome.KEEP, OutcomeSource.NO_RESPONSE),
        (NoResponse.APPROVE, Outcome.KEEP, OutcomeSource.NO_RESPONSE),
        (NoResponse.REMOVE, Outcome.REMOVE, OutcomeSource.NO_RESPONSE),
        (NoResponse.RECOMMENDATION, Outcome.REMOVE, OutcomeSource.RECOMMENDATION),  # never activated: remove
    ],
)
def test_each_no_response_rule_settles_undecided_and_dont_know_items(
    rule, outcome, source, make_review, start_review, three_holders, bob, time_machine
):
    occurrence = start_review(make_review(reviewers=[bob], no_response=rule))
    services.decide(
        actor=bob,
        occurrence=occurrence,
        item_ids=[item_of(occurrence, "alice").pk],
        decision=ReviewDecision.APPROVE,
        justification="runs the mail migration",
    )
    services.decide(
        actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "carol").pk], decision=ReviewDecision.DONT_KNOW
    )
    assert "closed 1" in end(occurrence, time_machine)
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.COMPLETED
    assert (item_of(occurrence, "alice").outcome, item_of(occurrence, "alice").outcome_source) == (
        Outcome.KEEP,
        OutcomeSource.REVIEWER,
    )
    for username in ("carol", "dave"):
        item = item_of(occurrence, username)
        assert (item.outcome, item.outcome_source) == (outcome, source)


def test_without_auto_apply_nothing_is_removed_until_an_administrator_applies(
    make_review, start_review, three_holders, bob, pim_admin, time_machine
):
    occurrence = start_review(make_review(reviewers=[bob], no_response=NoResponse.REMOVE, auto_apply=False))
    end(occurrence, time_machine)
    assert EligibleAssignment.objects.open().filter(role__slug="exchange-administrator").count() == 3
    assert services.apply_results(actor=pim_admin, occurrence=occurrence) == 3
    assert EligibleAssignment.objects.open().filter(role__slug="exchange-administrator").count() == 0
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.applied_by) == (OccurrenceStatus.APPLIED, pim_admin)


def test_auto_apply_removes_each_denied_assignment_once_even_when_run_twice(
    make_review, start_review, three_holders, bob, time_machine, django_capture_on_commit_callbacks, monkeypatch
):
    review = make_review(reviewers=[bob], auto_apply=True)
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)  # queued tasks run at once, as the cluster would
    occurrence = start_review(review)
    denied = item_of(occurrence, "alice")
    services.decide(
        actor=bob,
        occurrence=occurrence,
        item_ids=[denied.pk],
        decision=ReviewDecision.DENY,
        justification="moved to finance",
    )
    with django_capture_on_commit_callbacks(execute=True):  # the apply task queued at the close runs (sync)
        end(occurrence, time_machine)
    assert tasks.apply_occurrence(occurrence.pk) == "applied 0"  # a second run: nothing left to do
    services.apply_results(actor=None, occurrence=occurrence)
    events = AuditEvent.objects.filter(action="review.applied")
    assert events.count() == 1
    event = events.get()
    assert (event.principal_username, event.data["review"], event.data["assignment_type"]) == (
        "alice",
        review.pk,
        "eligible",
    )
    eligibility = EligibleAssignment.objects.get(pk=three_holders["alice"].pk)
    assert eligibility.end_reason == EndReason.REVIEWED and eligibility.ended_by is None
    results = {item.principal.username: item.result for item in occurrence.items.all()}
    assert results == {"alice": ApplyResult.REMOVED, "carol": ApplyResult.KEPT, "dave": ApplyResult.KEPT}
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLIED and occurrence.applied_by is None


def test_an_apply_cut_short_by_a_crash_is_finished_by_the_next_run(
    make_review, start_review, three_holders, bob, pim_admin, time_machine, monkeypatch
):
    from roles.reviews.services import applying

    occurrence = start_review(make_review(reviewers=[bob], no_response=NoResponse.REMOVE))
    end(occurrence, time_machine)
    real = applying.remove_assignment
    calls = []

    def crash_on_second(**kwargs):
        calls.append(kwargs["assignment"].pk)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(applying, "remove_assignment", crash_on_second)
    with pytest.raises(RuntimeError):
        services.apply_results(actor=pim_admin, occurrence=occurrence)
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLYING
    assert occurrence.items.filter(applied_at__isnull=False).count() == 1
    monkeypatch.setattr(applying, "remove_assignment", real)
    assert "resumed 1" in tasks.run_reviews()
    assert AuditEvent.objects.filter(action="review.applied").count() == 3
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLIED


def test_an_activation_of_a_removed_eligibility_ends_with_it(
    make_review, start_review, exchange_admin, alice, bob, pim_admin, time_machine
):
    from roles.choices import ActiveSource

    EligibleAssignmentFactory(principal=alice, role=exchange_admin)
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(
        actor=bob, occurrence=occurrence, item_ids=[occurrence.items.get().pk], decision=ReviewDecision.DENY
    )
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    active = ActiveAssignmentFactory(
        principal=alice, role=exchange_admin, source=ActiveSource.ACTIVATION, end_at=timezone.now() + timedelta(hours=2)
    )
    services.apply_results(actor=pim_admin, occurrence=occurrence)
    active.refresh_from_db()
    assert active.ended_at is not None and active.end_reason == EndReason.REVIEWED


def test_lockout_protection_keeps_the_last_permanent_global_administrator_and_break_glass_accounts(
    make_review, start_review, pim_admin, alice, bob, carol, time_machine
):
    global_admin = Role.objects.get(slug="global-administrator")
    alices = ActiveAssignmentFactory(principal=alice, role=global_admin, scope=root_scope())  # the only permanent GA
    carols = EligibleAssignmentFactory(principal=carol, role=global_admin)
    BreakGlassAccount.objects.create(user=carol, reason="sealed envelope", flagged_by=pim_admin)
    occurrence = start_review(make_review(reviewers=[bob], roles=[global_admin], no_response=NoResponse.REMOVE))
    end(occurrence, time_machine)
    services.apply_results(actor=pim_admin, occurrence=occurrence)
    assert ActiveAssignment.objects.get(pk=alices.pk).ended_at is None
    assert EligibleAssignment.objects.get(pk=carols.pk).ended_at is None
    results = {item.holder_name: (item.result, item.result_note) for item in occurrence.items.all()}
    assert results["alice"][0] == ApplyResult.PROTECTED
    assert "last permanent active Global Administrator" in results["alice"][1]
    assert results["carol"] == (
        ApplyResult.PROTECTED,
        "Kept: carol is a break-glass account; no review removes its access.",
    )
    assert AuditEvent.objects.filter(action="review.protected").count() == 2


def test_an_assignment_removed_before_applying_is_reported_as_already_ended(
    make_review, start_review, three_holders, bob, pim_admin, time_machine
):
    from roles.services import remove_assignment

    occurrence = start_review(make_review(reviewers=[bob], no_response=NoResponse.REMOVE))
    end(occurrence, time_machine)
    remove_assignment(actor=pim_admin, assignment=three_holders["dave"])
    services.apply_results(actor=pim_admin, occurrence=occurrence)
    assert item_of(occurrence, "dave").result == ApplyResult.ALREADY_ENDED


def test_completion_notice_goes_to_the_creator_and_the_extra_recipients(
    make_review, start_review, three_holders, bob, pim_admin, time_machine
):
    occurrence = start_review(make_review(reviewers=[bob], extra_recipients=["ciso@example.com"], name="Q4"))
    end(occurrence, time_machine)
    addresses = set(OutboxMessage.objects.filter(rule="review.completed.admin").values_list("address", flat=True))
    assert addresses == {pim_admin.email, "ciso@example.com"}
    assert AuditEvent.objects.filter(action="review.completed").get().data["undecided"] == 3


def test_reminders_go_once_to_reviewers_with_items_left(
    make_review, start_review, three_holders, bob, carol, time_machine
):
    occurrence = start_review(make_review(reviewers=[bob, carol], reminder_days_before=3))
    # bob reviews all three items, carol those of alice and dave (not her own). alice's is decided.
    services.decide(
        actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk], decision=ReviewDecision.DENY
    )
    time_machine.move_to(occurrence.ends_at - timedelta(days=3, seconds=1), tick=False)
    assert services.send_due_reminders(now=timezone.now()) == 0  # not yet
    time_machine.move_to(occurrence.ends_at - timedelta(days=3), tick=False)
    assert services.send_due_reminders(now=timezone.now()) == 2
    assert services.send_due_reminders(now=timezone.now()) == 0
    reminders = {
        message.recipient.username: message.subject
        for message in OutboxMessage.objects.filter(rule="review.reminder.reviewer")
    }
    assert reminders == {
        "bob": "Reminder: Access review 'Quarterly Exchange review': 2 assignment(s) to review",
        "carol": "Reminder: Access review 'Quarterly Exchange review': 1 assignment(s) to review",
    }


def test_stop_early_then_reset_is_refused_and_decisions_stay(make_review, start_review, three_holders, bob, pim_admin):
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(
        actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk], decision=ReviewDecision.DENY
    )
    services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    occurrence.refresh_from_db()
    assert (occurrence.status, occurrence.stopped_by) == (OccurrenceStatus.COMPLETED, pim_admin)
    with pytest.raises(ValidationError, match="only while the review is in progress; this one is completed"):
        services.reset_decisions(actor=pim_admin, occurrence=occurrence)
    with pytest.raises(ValidationError, match="Only a review in progress can be stopped"):
        services.stop_occurrence(actor=pim_admin, occurrence=occurrence)
    with pytest.raises(ValidationError, match="only while it is in progress"):
        services.decide(
            actor=bob,
            occurrence=occurrence,
            item_ids=[item_of(occurrence, "alice").pk],
            decision=ReviewDecision.APPROVE,
            justification="changed my mind",
        )
    assert item_of(occurrence, "alice").decision == ReviewDecision.DENY


def test_reset_clears_every_decision(make_review, start_review, three_holders, bob, pim_admin):
    occurrence = start_review(make_review(reviewers=[bob]))
    assert services.accept_recommendations(actor=bob, occurrence=occurrence) == 3
    assert services.reset_decisions(actor=pim_admin, occurrence=occurrence) == 3
    assert not occurrence.items.exclude(decision="").exists()


def test_applying_before_the_end_is_refused(make_review, start_review, three_holders, bob, pim_admin):
    occurrence = start_review(make_review(reviewers=[bob]))
    with pytest.raises(ValidationError, match="once the review has completed; this one is in progress"):
        services.apply_results(actor=pim_admin, occurrence=occurrence)


def test_deciding_an_item_one_does_not_review_is_refused(make_review, start_review, three_holders, bob, carol):
    occurrence = start_review(make_review(reviewers=[bob]))
    with pytest.raises(PermissionDenied):
        services.decide(
            actor=carol,
            occurrence=occurrence,
            item_ids=[item_of(occurrence, "alice").pk],
            decision=ReviewDecision.APPROVE,
            justification="mine now",
        )
    assert not occurrence.items.exclude(decision="").exists()


def test_approval_needs_a_justification_when_the_review_asks(make_review, start_review, three_holders, bob):
    occurrence = start_review(make_review(reviewers=[bob], require_justification=True))
    with pytest.raises(ValidationError) as refusal:
        services.decide(
            actor=bob,
            occurrence=occurrence,
            item_ids=[item_of(occurrence, "alice").pk],
            decision=ReviewDecision.APPROVE,
            justification="  ",
        )
    assert refusal.value.message_dict == {"justification": [services.JUSTIFICATION_REQUIRED]}
    # Denying needs none; a decision can be changed while the review runs.
    services.decide(
        actor=bob, occurrence=occurrence, item_ids=[item_of(occurrence, "alice").pk], decision=ReviewDecision.DENY
    )
    services.decide(
        actor=bob,
        occurrence=occurrence,
        item_ids=[item_of(occurrence, "alice").pk],
        decision=ReviewDecision.APPROVE,
        justification="still on call",
    )
    item = item_of(occurrence, "alice")
    assert (item.decision, item.justification, item.decided_by) == (ReviewDecision.APPROVE, "still on call", bob)
    assert list(
        AuditEvent.objects.filter(action="review.decided").order_by("sequence").values_list("data__decision", flat=True)
    ) == ["deny", "approve"]


def test_accepting_recommendations_decides_only_what_is_undecided(
    make_review, start_review, three_holders, exchange_admin, bob
):
    occurrence = start_review(make_review(reviewers=[bob]))
    services.decide(
        actor=bob,
        occurrence=occurrence,
        item_ids=[item_of(occurrence, "alice").pk],
        decision=ReviewDecision.APPROVE,
        justification="keeps the lights on",
    )
    assert services.accept_recommendations(actor=bob, occurrence=occurrence) == 2
    decisions = {item.principal.username: (item.decision, item.justification) for item in occurrence.items.all()}
    assert decisions["alice"] == (ReviewDecision.APPROVE, "keeps the lights on")
    assert decisions["carol"] == (ReviewDecision.DENY, "Accepted recommendation. Remove: never activated.")


def test_setup_schedules_runs_reviews_every_minute():
    from io import StringIO

    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("setup_schedules", stdout=StringIO())
    call_command("setup_schedules", stdout=StringIO())  # again: still one schedule
    schedule = Schedule.objects.get(name="pim.reviews")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "roles.reviews.tasks.run_reviews",
        Schedule.MINUTES,
        1,
    )


def test_an_automatic_apply_whose_task_was_lost_is_done_by_the_next_run(
    make_review, start_review, three_holders, bob, time_machine
):
    # The close queues the apply after commit; here that callback never runs (broker down).
    occurrence = start_review(make_review(reviewers=[bob], auto_apply=True, no_response=NoResponse.REMOVE))
    end(occurrence, time_machine)
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.APPLIED
    assert AuditEvent.objects.filter(action="review.applied").count() == 3


def test_without_auto_apply_the_run_leaves_a_completed_review_to_the_administrators(
    make_review, start_review, three_holders, bob, time_machine
):
    occurrence = start_review(make_review(reviewers=[bob], auto_apply=False, no_response=NoResponse.REMOVE))
    end(occurrence, time_machine)
    assert "resumed 0" in tasks.run_reviews()
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.COMPLETED
    assert not AuditEvent.objects.filter(action="review.applied").exists()
