"""Discovery: standing privileged access listed by role, converted to eligibility one at a time
or a whole role at once, with a justification, audited; the last permanent Global Administrator
stays."""

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains

from audit.models import AuditEvent
from roles.choices import EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role
from roles.selectors import access_decision
from tests.conftest import make_user
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, root_scope
from tests.manage.conftest import START

PAGE = reverse("manage:discovery")


def standing(user, slug: str) -> ActiveAssignment:
    return ActiveAssignmentFactory(principal=user, role=Role.objects.get(slug=slug), scope=root_scope(), end_at=None)


def test_the_page_lists_standing_access_by_role(manager_client, alice, bob):
    standing(alice, "exchange-administrator")
    standing(bob, "exchange-administrator")

    response = manager_client.get(PAGE)

    assertContains(response, '<h2 id="role-exchange-administrator">Exchange Administrator', count=1)
    assertContains(response, "<td>alice</td>")
    assertContains(response, "<td>bob</td>")


def test_converting_one_makes_the_holder_eligible_and_ends_the_standing_access(manager_client, pim_admin, alice):
    active = standing(alice, "exchange-administrator")

    response = manager_client.post(reverse("manage:discovery-convert", args=[active.pk]),
                                   {"justification": "Least privilege review"}, follow=True)  # fmt: skip

    assertContains(response, "alice is now eligible for Exchange Administrator at / instead of permanently active.")
    active.refresh_from_db()
    assert (active.ended_at, active.end_reason) == (START, EndReason.REMOVED)
    eligibility = EligibleAssignment.objects.get(principal=alice)
    assert eligibility.end_at is None  # the role allows permanent eligibility
    assert not access_decision(username="alice", role_slug="exchange-administrator", at=START).allowed
    event = AuditEvent.objects.get(action="assignment.converted_to_eligible")
    assert (event.actor, event.justification) == (pim_admin, "Least privilege review")


def test_an_existing_eligibility_is_kept_rather_than_doubled(manager_client, alice):
    active = standing(alice, "exchange-administrator")
    EligibleAssignmentFactory(principal=alice, role=active.role)

    manager_client.post(reverse("manage:discovery-convert", args=[active.pk]), {"justification": "JIT"})

    assert EligibleAssignment.objects.filter(principal=alice).count() == 1


def test_a_justification_is_required(manager_client, alice):
    active = standing(alice, "exchange-administrator")

    response = manager_client.post(reverse("manage:discovery-convert", args=[active.pk]), {"justification": ""},
                                   follow=True)  # fmt: skip

    assertContains(response, "Justification: This field is required.")
    assert ActiveAssignment.objects.get(pk=active.pk).ended_at is None


@pytest.mark.parametrize("others", [0, 1])
def test_converting_a_whole_role_keeps_the_last_permanent_global_administrator(manager_client, pim_admin, others):
    holders = [standing(make_user(f"ga{index}"), "global-administrator") for index in range(1 + others)]

    response = manager_client.post(reverse("manage:discovery-convert-role", args=["global-administrator"]),
                                   {"justification": "JIT everything"}, follow=True)  # fmt: skip

    still_standing = ActiveAssignment.objects.filter(pk__in=[h.pk for h in holders], ended_at__isnull=True)
    assert still_standing.count() == 1  # all but one converted: the last one stays
    assertContains(response, "holds the last permanent active Global Administrator assignment")
    assertContains(response, f"Global Administrator: {others} standing assignment(s) converted to eligible.")
