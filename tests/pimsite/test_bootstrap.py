"""`manage.py bootstrap`: the first account gets permanent active Global Administrator and
Privileged Role Administrator at '/', once. After that it changes nothing."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from roles.models import ActiveAssignment, Role
from tests.factories import ActiveAssignmentFactory, EligibleAssignmentFactory, UserFactory

STRONG_PASSWORD = "violet-anchor-meadow-42"
User = get_user_model()


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("PIM_BOOTSTRAP_PASSWORD", STRONG_PASSWORD)


def bootstrap() -> None:
    call_command("bootstrap", username="root", email="root@example.com")


def test_bootstrap_creates_the_first_administrator_with_standing_ga_and_pra(db, password, capsys):
    bootstrap()

    user = User.objects.get(username="root")
    assert user.email == "root@example.com"
    assert user.check_password(STRONG_PASSWORD)
    assert not user.is_staff and not user.is_superuser  # PIM governs the admin, not these flags
    held = ActiveAssignment.objects.filter(principal=user).values_list("role__slug", "scope__path", "end_at")
    assert sorted(held) == [("global-administrator", "/", None), ("privileged-role-administrator", "/", None)]
    assert AuditEvent.objects.filter(action="account.created", principal=user).count() == 1
    assert AuditEvent.objects.filter(action="assignment.created", principal=user).count() == 2
    assert "Created root with permanent active Global Administrator" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "slug"),
    [
        ("active", "global-administrator"),
        ("active", "privileged-role-administrator"),
        ("eligible", "global-administrator"),
        ("eligible", "privileged-role-administrator"),
    ],
)
def test_bootstrap_is_refused_once_anyone_holds_either_role(db, password, kind, slug):
    factory = ActiveAssignmentFactory if kind == "active" else EligibleAssignmentFactory
    factory(principal=UserFactory(username="first"), role=Role.objects.get(slug=slug))
    users, events = User.objects.count(), AuditEvent.objects.count()

    with pytest.raises(CommandError) as refusal:
        bootstrap()

    assert "first already hold Global Administrator or Privileged Role Administrator" in str(refusal.value)
    assert "Nothing was changed." in str(refusal.value)
    assert User.objects.count() == users
    assert AuditEvent.objects.count() == events


def test_bootstrap_runs_once(db, password):
    bootstrap()
    users = User.objects.count()

    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("bootstrap", username="second", email="second@example.com")

    assert User.objects.count() == users
    assert ActiveAssignment.objects.count() == 2


def test_bootstrap_is_allowed_again_after_every_administrator_assignment_ended(db, password, pim_admin):
    from roles import services

    services.remove_assignment(actor=None, assignment=ActiveAssignment.objects.get(principal=pim_admin))

    bootstrap()

    assert ActiveAssignment.objects.open().filter(principal__username="root").count() == 2


def test_a_weak_password_is_refused_with_the_validators_reason(db, monkeypatch):
    monkeypatch.setenv("PIM_BOOTSTRAP_PASSWORD", "short")

    with pytest.raises(CommandError) as refusal:
        bootstrap()

    assert "This password is too short. It must contain at least 12 characters." in str(refusal.value)
    assert not User.objects.filter(username="root").exists()
    assert not ActiveAssignment.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_common_password_is_refused(db, monkeypatch):
    monkeypatch.setenv("PIM_BOOTSTRAP_PASSWORD", "password1234")

    with pytest.raises(CommandError, match="This password is too common"):
        bootstrap()

    assert not User.objects.filter(username="root").exists()


def test_an_existing_username_is_refused(db, password):
    UserFactory(username="root")

    with pytest.raises(CommandError, match="An account named root already exists"):
        bootstrap()

    assert not ActiveAssignment.objects.exists()


def test_without_a_password_or_a_terminal_bootstrap_is_refused(db, monkeypatch):
    monkeypatch.delenv("PIM_BOOTSTRAP_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: False)

    with pytest.raises(CommandError, match="Set PIM_BOOTSTRAP_PASSWORD, or run in a terminal"):
        bootstrap()

    assert not User.objects.filter(username="root").exists()


def test_in_a_terminal_the_password_is_asked_twice(db, monkeypatch):
    monkeypatch.delenv("PIM_BOOTSTRAP_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": STRONG_PASSWORD)

    bootstrap()

    assert User.objects.get(username="root").check_password(STRONG_PASSWORD)


def test_two_different_passwords_at_the_prompt_change_nothing(db, monkeypatch):
    monkeypatch.delenv("PIM_BOOTSTRAP_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: True)
    answers = iter([STRONG_PASSWORD, STRONG_PASSWORD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    with pytest.raises(CommandError, match="The two passwords differ; nothing was changed."):
        bootstrap()

    assert not User.objects.filter(username="root").exists()
