"""Deactivating an activated role early: it leaves My roles and access ends at once."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertRedirects

from activations import services
from audit.models import AuditEvent
from roles.models import ActiveAssignment
from roles.selectors import access_decision
from tests.activations.pages.helpers import JUSTIFICATION, START, eligible, messages_of, role, signed_in
from tests.factories import ActiveAssignmentFactory


@pytest.fixture
def activated(clock, alice) -> ActiveAssignment:
    """alice activated User Administrator for 2 h at START."""
    [request] = services.request_activation(
        actor=alice, eligibilities=[eligible(alice, "user-administrator")], duration=timedelta(hours=2),
        justification=JUSTIFICATION, mfa_verified_at=timezone.now(),
    )  # fmt: skip
    return request.assignment


def deactivate_url(assignment: ActiveAssignment) -> str:
    return reverse("activations:deactivate", args=[assignment.pk])


def holds_user_administrator(at) -> bool:
    return access_decision(username="alice", role_slug="user-administrator", at=at).allowed


def test_deactivating_removes_the_role_and_the_access_at_once(alice_client, activated, clock):
    clock.move_to(START + timedelta(minutes=30))

    response = alice_client.post(deactivate_url(activated), follow=True)

    assertRedirects(response, reverse("activations:my-roles"))
    assert messages_of(response) == ["User Administrator is deactivated."]
    assertContains(response, "You hold no active role right now.")
    assert not holds_user_administrator(START + timedelta(minutes=30))
    event = AuditEvent.objects.get(action="assignment.deactivated")
    assert event.actor.username == "alice"


def test_the_role_can_be_activated_again_after_deactivating(alice_client, activated):
    response = alice_client.post(deactivate_url(activated), follow=True)

    assertContains(response, 'aria-label="Activate User Administrator at /">Activate</a>')


def test_someone_elses_assignment_is_not_found(activated, dave):
    # Not "forbidden": dave cannot learn that the assignment exists.
    assert signed_in(dave).post(deactivate_url(activated)).status_code == 404
    assert holds_user_administrator(START)


def test_a_role_assigned_by_an_administrator_cannot_be_deactivated_here(alice_client, alice):
    standing = ActiveAssignmentFactory(principal=alice, role=role("security-reader"))

    response = alice_client.post(deactivate_url(standing), follow=True)

    assert messages_of(response) == [
        "Security Reader was assigned to you by an administrator, not activated; "
        "ask a Privileged Role Administrator to remove it."
    ]
    standing.refresh_from_db()
    assert standing.ended_at is None


def test_deactivating_twice_says_it_has_already_ended(alice_client, activated):
    alice_client.post(deactivate_url(activated), follow=True)

    response = alice_client.post(deactivate_url(activated), follow=True)

    assert messages_of(response) == ["This role assignment has already ended."]


def test_deactivating_is_a_post(alice_client, activated):
    assert alice_client.get(deactivate_url(activated)).status_code == 405
    assert holds_user_administrator(START)
