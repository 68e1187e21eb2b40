"""Every time-bound assignment, however it was made, gets a one-off expiry schedule at its end,
queued only once the transaction that made it commits."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

from roles.models import Role
from roles.services import assign_active, assign_eligible
from tests.factories import root_scope


def test_an_administrators_time_bound_eligibility_is_scheduled_to_expire_at_its_end(
    alice, pim_admin, django_capture_on_commit_callbacks
):
    end = timezone.now() + timedelta(days=30)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        eligibility = assign_eligible(
            actor=pim_admin, principal=alice, role=Role.objects.get(slug="security-reader"), scope=root_scope(),
            start_at=timezone.now(), end_at=end,
        )  # fmt: skip
        assert not Schedule.objects.exists()  # nothing before commit

    assert callbacks  # the schedule, among what waits for the commit (the outbox's mail too)
    schedule = Schedule.objects.get(name__startswith="pim.expire.")
    assert schedule.name == f"pim.expire.eligible.{eligibility.pk}"
    assert (schedule.func, schedule.next_run) == ("activations.tasks.expire_assignment", end)


def test_an_administrators_time_bound_active_assignment_is_scheduled_too(
    alice, pim_admin, django_capture_on_commit_callbacks
):
    end = timezone.now() + timedelta(days=2)
    with django_capture_on_commit_callbacks(execute=True):
        active = assign_active(
            actor=pim_admin, principal=alice, role=Role.objects.get(slug="security-reader"), scope=root_scope(),
            start_at=timezone.now(), end_at=end, justification="Audit week", mfa_verified_at=timezone.now(),
        )  # fmt: skip

    assert Schedule.objects.get(name=f"pim.expire.active.{active.pk}").next_run == end


def test_a_permanent_assignment_has_nothing_to_schedule(alice, pim_admin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assign_eligible(
            actor=pim_admin, principal=alice, role=Role.objects.get(slug="security-reader"), scope=root_scope(),
            start_at=timezone.now(), end_at=None,
        )  # fmt: skip

    assert not Schedule.objects.exists()
