"""/manage/groups/: the Django groups, which are under PIM, and bringing one under it."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from roles.models import ActiveAssignment, EligibleAssignment, ManagedGroup
from tests.conftest import verify_session

pytestmark = pytest.mark.django_db
GROUPS = reverse("manage:groups")


@pytest.fixture
def finance(alice, bob):
    group = Group.objects.create(name="Finance <Admins>")
    group.user_set.add(alice, bob)
    return group


def bring(client, group, **data):
    return client.post(reverse("manage:group-bring-under-pim", args=[group.pk]), data, follow=True)


def test_the_page_lists_groups_with_their_members_escaped(manager_client, finance):
    response = manager_client.get(GROUPS)
    assertContains(response, "Finance &lt;Admins&gt;")
    assertContains(response, "its 2 direct member(s) become")
    assertNotContains(response, "Finance <Admins>")


def test_bringing_a_group_under_pim_makes_its_members_eligible(manager_client, finance):
    response = bring(manager_client, finance, existing_members="eligible")
    assertContains(response, "Finance &lt;Admins&gt; is under PIM: membership is the role Member of Finance")
    managed = ManagedGroup.objects.get(group=finance)
    assert set(
        EligibleAssignment.objects.filter(role=managed.member_role).values_list("principal__username", flat=True)
    ) == {"alice", "bob"}
    assertContains(response, "(owners group: Finance &lt;Admins&gt; owners)")
    assertNotContains(response, "Finance &lt;Admins&gt; owners</th>")  # the owners group is not offered itself


def test_permanent_active_members_need_a_fresh_code(manager_client, finance, pim_admin, settings, time_machine):
    from datetime import timedelta

    from django.utils import timezone

    time_machine.move_to(timezone.now() + timedelta(minutes=settings.PIM_MFA_MAX_AGE + 1), tick=False)
    response = bring(manager_client, finance, existing_members="active")
    assert not ManagedGroup.objects.exists()
    assertContains(
        response,
        "Finance &lt;Admins&gt;: Member of Finance &lt;Admins&gt; requires multifactor "
        "authentication on active assignment: enter a current code",
    )
    assert not ActiveAssignment.objects.filter(role__slug__startswith="member-of").exists()


def test_a_bad_choice_is_named_and_nothing_changes(manager_client, finance):
    response = bring(manager_client, finance, existing_members="delete")
    assertContains(response, "The group&#x27;s direct members: choose eligible or permanent active.")
    assert not ManagedGroup.objects.exists()


def test_only_pim_administrators(client, alice, finance):
    verify_session(client, alice)
    assert client.get(GROUPS).status_code == 403
    assert client.post(reverse("manage:group-bring-under-pim", args=[finance.pk])).status_code == 403
    assert not ManagedGroup.objects.exists()


def test_the_django_admin_lists_groups_under_pim_read_only(manager_client, finance):
    bring(manager_client, finance, existing_members="eligible")
    response = manager_client.get(reverse("admin:roles_managedgroup_changelist"))
    assertContains(response, "Finance &lt;Admins&gt;")
    assert manager_client.get(reverse("admin:roles_managedgroup_add")).status_code == 403
