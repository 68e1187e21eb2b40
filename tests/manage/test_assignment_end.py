"""An administrator moves the end of an assignment: within the role's rules, audited with the old
and new end, and the expiry side effects follow the new end."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django_q.models import Schedule
from pytest_django.asserts import assertContains

from audit.models import AuditEvent
from roles.choices import ActiveSource
from roles.models import Role
from roles.selectors import access_decision
from roles.services import ACTIVATION_END_FIXED, change_assignment_end
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory
from tests.manage.conftest import START

NOW = START


@pytest.fixture
def eligibility(clock, alice):
    return EligibleAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="security-reader"), start_at=NOW - timedelta(days=1),
        end_at=NOW + timedelta(days=10),
    )  # fmt: skip


def end_url(assignment) -> str:
    return reverse("manage:assignment-end", args=[assignment.kind, assignment.pk])


def test_moving_the_end_is_audited_with_old_and_new_and_the_expiry_follows(
    manager_client, eligibility, pim_admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(end_url(eligibility), {"end_at": "2026-12-20T17:30"}, follow=True)

    assertContains(response, "The assignment now ends 2026-12-20 17:30 UTC.")
    eligibility.refresh_from_db()
    new_end = datetime(2026, 12, 20, 17, 30, tzinfo=UTC)
    assert eligibility.end_at == new_end
    event = AuditEvent.objects.get(action="assignment.updated")
    assert event.actor == pim_admin
    assert event.data["end_at"] == [
        (NOW + timedelta(days=10)).isoformat().replace("+00:00", "Z"),
        "2026-12-20T17:30:00Z",
    ]
    assert Schedule.objects.get(name=f"pim.expire.eligible.{eligibility.pk}").next_run == new_end


def test_an_end_in_the_past_is_refused_beside_the_field_and_nothing_changes(manager_client, eligibility):
    response = manager_client.post(end_url(eligibility), {"end_at": "2026-11-01T10:00"})

    assert response.status_code == 400
    assertContains(response, "The new end must be in the future", status_code=400)
    eligibility.refresh_from_db()
    assert eligibility.end_at == NOW + timedelta(days=10)
    assert not AuditEvent.objects.filter(action="assignment.updated").exists()


def test_an_active_assignment_cannot_be_moved_past_the_roles_maximum(manager_client, alice):
    active = ActiveAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="security-reader"), start_at=NOW, end_at=NOW + timedelta(days=1),
        justification="Audit week",
    )  # fmt: skip

    response = manager_client.post(end_url(active), {"end_at": "2027-11-22T09:00"})

    assertContains(response, "allows active assignments of at most 180 days", status_code=400)
    active.refresh_from_db()
    assert active.end_at == NOW + timedelta(days=1)


def test_making_an_active_assignment_permanent_is_refused_when_the_role_does_not_allow_it(manager_client, alice):
    active = ActiveAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="security-reader"), start_at=NOW, end_at=NOW + timedelta(days=1),
        justification="Audit week",
    )  # fmt: skip

    response = manager_client.post(end_url(active), {"end_at": ""})

    assertContains(response, "does not allow permanent active assignments", status_code=400)


def test_an_eligibility_can_be_made_permanent_and_access_follows_the_new_end(manager_client, eligibility):
    manager_client.post(end_url(eligibility), {"end_at": ""})

    eligibility.refresh_from_db()
    assert eligibility.end_at is None
    assert eligibility.is_in_effect(NOW + timedelta(days=400))


def test_an_activations_end_is_not_moved_by_an_administrator(clock, pim_admin, alice):
    activated = ActiveAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="user-administrator"), start_at=NOW,
        end_at=NOW + timedelta(hours=2), source=ActiveSource.ACTIVATION,
    )  # fmt: skip

    with pytest.raises(ValidationError) as refused:
        change_assignment_end(actor=pim_admin, assignment=activated, end_at=NOW + timedelta(hours=20))

    assert refused.value.message_dict["end_at"] == [ACTIVATION_END_FIXED]
    assert (
        access_decision(username="alice", role_slug="user-administrator", at=NOW + timedelta(hours=3)).allowed is False
    )


def test_the_page_offers_no_end_form_for_an_activation(manager_client, alice):
    activated = ActiveAssignmentFactory(
        principal=alice, role=Role.objects.get(slug="user-administrator"), start_at=NOW,
        end_at=NOW + timedelta(hours=2), source=ActiveSource.ACTIVATION,
    )  # fmt: skip

    response = manager_client.get(reverse("manage:assignment", args=["active", activated.pk]))

    assert response.status_code == 200
    assert "Change end" not in response.content.decode()
