"""The /manage/scopes/ page: the scope tree with what is assigned at each scope, and adding a scope."""

from datetime import timedelta

import pytest
from django.urls import reverse
from pytest_django.asserts import assertContains

from audit.models import AuditEvent
from roles import rules
from roles.models import Scope
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, ScopeFactory
from tests.manage.conftest import START

SCOPES = reverse("manage:scopes")


def tree(response) -> list[tuple[str, int, int, int]]:
    """(path, depth, eligible in effect, active in effect) of each row, in page order."""
    return [(s.path, s.depth, s.eligible_count, s.active_count) for s in response.context["scopes"]]


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    assert client.get(SCOPES)["Location"] == "/accounts/login/?next=%2Fmanage%2Fscopes%2F"


def test_the_tree_is_sorted_indented_and_counts_assignments_in_effect_at_each_scope(manager_client, alice, bob):
    sub = ScopeFactory(path="/subscriptions")
    prod = ScopeFactory(path="/subscriptions/prod", parent=sub)
    ScopeFactory(path="/subscriptions-old")
    EligibleAssignmentFactory(principal=alice, scope=prod)
    ActiveAssignmentFactory(principal=bob, scope=prod, end_at=START + timedelta(hours=1))
    # Expired yesterday: not counted.
    ActiveAssignmentFactory(principal=alice, scope=prod, start_at=START - timedelta(days=2),
                            end_at=START - timedelta(days=1))  # fmt: skip

    response = manager_client.get(SCOPES)

    assert tree(response) == [
        ("/", 0, 0, 1),  # pim_admin's own Privileged Role Administrator
        ("/subscriptions", 1, 0, 0),
        ("/subscriptions/prod", 2, 1, 1),
        ("/subscriptions-old", 1, 0, 0),
    ]
    assertContains(response, "<code>/subscriptions/prod</code>", html=True)


def test_adding_a_scope_creates_it_and_its_missing_parent(manager_client, pim_admin):
    response = manager_client.post(SCOPES, {"path": "/subscriptions/test/rg1", "name": "Test RG 1"}, follow=True)

    assertContains(response, "Scope /subscriptions/test/rg1 is ready.")
    paths = [path for path, *_ in tree(response)]
    assert paths == ["/", "/subscriptions", "/subscriptions/test", "/subscriptions/test/rg1"]
    rg1 = Scope.objects.get(path="/subscriptions/test/rg1")
    assert (rg1.name, rg1.parent.path, rg1.parent.parent.path) == ("Test RG 1", "/subscriptions/test", "/subscriptions")
    assert AuditEvent.objects.filter(action="scope.created", actor=pim_admin).count() == 3


@pytest.mark.parametrize("path", ["subscriptions", "/a//b", "/-dash", "/with space"])
def test_an_invalid_path_is_refused_beside_the_field(manager_client, path):
    response = manager_client.post(SCOPES, {"path": path})

    assert response.context["form"].errors["path"] == [rules.SCOPE_PATH_INVALID % {"path": path}]
    assertContains(response, 'id="id_path_error"')
    assert not Scope.objects.exclude(path="/").exists()
