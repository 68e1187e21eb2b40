"""Scopes: valid paths, parents made on demand, and assignments that reach everything below."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from roles import rules, services
from roles.models import Role, Scope
from roles.selectors import holds_role
from tests.conftest import verify_session
from tests.factories import ActiveAssignmentFactory, ScopeFactory


@pytest.mark.parametrize(
    "path",
    [
        "",
        "subscriptions/prod",
        "/subscriptions/",
        "//prod",
        "/sub scriptions",
        "/-prod",
        "/prod/.hidden",
        "/" + "a" * 101,
    ],
)
def test_an_invalid_path_is_refused_with_an_example_of_a_valid_one(path):
    with pytest.raises(ValidationError) as refusal:
        rules.check_scope_path(path)

    message = refusal.value.message_dict["path"][0]
    assert "starts with '/'" in message
    assert "e.g. /subscriptions/prod" in message
    assert f"'{path[:60]}' is not one" in message


@pytest.mark.parametrize("path", ["/", "/subscriptions", "/subscriptions/prod/resourceGroups/web-01", "/a/b.c/d_e"])
def test_valid_paths_pass(path):
    rules.check_scope_path(path)


def test_full_clean_refuses_an_invalid_path(db):
    with pytest.raises(ValidationError) as refusal:
        Scope(path="/bad path", parent=Scope.objects.get(path="/")).full_clean()

    assert "'/bad path' is not one" in refusal.value.message_dict["path"][0]


def test_create_scope_creates_the_missing_parents_and_audits_each(pim_admin):
    web = services.create_scope(actor=pim_admin, path="/subscriptions/prod/resourceGroups/web", name="Web")

    assert web.name == "Web"
    assert web.parent.path == "/subscriptions/prod/resourceGroups"
    assert web.parent.parent.path == "/subscriptions/prod"
    assert web.parent.parent.parent.path == "/subscriptions"
    assert web.parent.parent.parent.parent.path == "/"
    created = AuditEvent.objects.filter(action="scope.created").order_by("sequence")
    assert [event.scope for event in created] == [
        "/subscriptions",
        "/subscriptions/prod",
        "/subscriptions/prod/resourceGroups",
        "/subscriptions/prod/resourceGroups/web",
    ]


def test_create_scope_returns_an_existing_scope_unchanged(pim_admin):
    first = services.create_scope(actor=pim_admin, path="/subscriptions/prod", name="Production")
    events = AuditEvent.objects.count()

    again = services.create_scope(actor=pim_admin, path="/subscriptions/prod", name="Other name")

    assert again == first
    assert Scope.objects.get(path="/subscriptions/prod").name == "Production"
    assert AuditEvent.objects.count() == events


def test_create_scope_refuses_an_invalid_path_and_creates_nothing(pim_admin):
    scopes = Scope.objects.count()

    with pytest.raises(ValidationError):
        services.create_scope(actor=pim_admin, path="/subscriptions/prod/", name="")

    assert Scope.objects.count() == scopes


@pytest.mark.parametrize(
    ("outer", "inner", "covers"),
    [
        ("/", "/subscriptions/prod", True),
        ("/subscriptions", "/subscriptions/prod", True),
        ("/subscriptions/prod", "/subscriptions/prod", True),
        ("/subscriptions/prod", "/subscriptions", False),
        ("/subscriptions/prod", "/subscriptions/production", False),  # a prefix of the name is not a parent
        ("/subscriptions/prod", "/subscriptions/dev", False),
    ],
)
def test_a_scope_covers_itself_and_what_is_below_it(outer, inner, covers):
    assert Scope(path=outer).covers(Scope(path=inner)) is covers


def test_ancestor_paths_lists_every_scope_that_reaches_a_path():
    assert rules.ancestor_paths("/a/b/c") == ["/", "/a", "/a/b", "/a/b/c"]
    assert rules.ancestor_paths("/") == ["/"]


def test_an_assignment_at_a_scope_applies_below_it_and_not_beside_or_above(alice):
    prod = ScopeFactory(path="/subscriptions/prod")
    role = Role.objects.get(slug="security-reader")
    ActiveAssignmentFactory(principal=alice, role=role, scope=prod)
    now = timezone.now()

    def holds(path: str) -> bool:
        return holds_role(user=alice, role_slugs=("security-reader",), at=now, scope_path=path)

    assert holds("/subscriptions/prod")
    assert holds("/subscriptions/prod/resourceGroups/web")
    assert not holds("/subscriptions/production")
    assert not holds("/subscriptions/dev")
    assert not holds("/subscriptions")
    assert not holds("/")


def test_an_assignment_at_the_root_applies_everywhere(alice):
    ActiveAssignmentFactory(principal=alice, role=Role.objects.get(slug="security-reader"))

    assert holds_role(
        user=alice, role_slugs=("security-reader",), at=timezone.now(), scope_path="/subscriptions/prod/rg/web"
    )


def test_an_invalid_path_in_the_admin_scope_form_is_shown_beside_the_field(client, pim_admin):
    verify_session(client, pim_admin)

    response = client.post(reverse("admin:roles_scope_add"), {"path": "no-slash", "name": "Bad"})

    assert response.status_code == 200
    assert "is not one" in response.content.decode()
    assert not Scope.objects.filter(path="no-slash").exists()
