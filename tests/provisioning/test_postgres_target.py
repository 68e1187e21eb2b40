"""The PostgreSQL-role target against the real thing: the throw-away PostgreSQL server that
`make test` starts. A login and a role are made there; activating grants it (pg_has_role is
true), expiry revokes it (false)."""

import os
import uuid
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from activations import tasks as activation_tasks
from roles import services as role_services
from roles.models import Grant
from roles.provisioning import services, tasks
from roles.provisioning.choices import GrantState
from tests.conftest import make_user
from tests.factories import root_scope

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def server(monkeypatch):
    """A login and a role on the test server; the target reads the connection string from
    PIM_TEST_REPORTING_DB (the database stores only that name). Dropped afterwards."""
    dsn = os.environ["DATABASE_URL"]
    monkeypatch.setenv("PIM_TEST_REPORTING_DB", dsn)
    suffix = uuid.uuid4().hex[:8]
    names = {"login": f"pim_login_{suffix}", "role": f"reporting_read_{suffix}"}
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{names["login"]}" LOGIN')
        connection.execute(f'CREATE ROLE "{names["role"]}" NOLOGIN')
    yield dsn, names
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP ROLE IF EXISTS "{names["login"]}"')
        connection.execute(f'DROP ROLE IF EXISTS "{names["role"]}"')


def has_role(dsn, login, role) -> bool:
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute("SELECT pg_has_role(%s, %s, 'member')", [login, role]).fetchone()[0]


def test_activation_grants_the_role_and_expiry_revokes_it(
    server, pim_admin, time_machine, django_capture_on_commit_callbacks
):
    dsn, names = server
    from roles.models import Role

    exchange = Role.objects.get(slug="exchange-administrator")
    user = make_user(names["login"])
    services.create_target(
        actor=pim_admin,
        role=exchange,
        name="Reporting DB",
        kind="postgres_role",
        params={"dsn_variable": "PIM_TEST_REPORTING_DB", "role": names["role"]},
    )
    time_machine.move_to(timezone.now(), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        role_services.assign_active(
            actor=None,
            principal=user,
            role=exchange,
            scope=root_scope(),
            start_at=timezone.now(),
            end_at=timezone.now() + timedelta(hours=1),
            justification="INC-9",
        )
    assert not has_role(dsn, names["login"], names["role"])

    tasks.run_provisioning()
    assert has_role(dsn, names["login"], names["role"])
    assert Grant.objects.get().state == GrantState.GRANTED
    assert tasks.run_provisioning() == "reconciled {}, attempted {}"  # granting again: nothing to do

    time_machine.move_to(timezone.now() + timedelta(hours=1, seconds=1), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        activation_tasks.sweep()
    tasks.run_provisioning()
    assert not has_role(dsn, names["login"], names["role"])
    assert Grant.objects.get().state == GrantState.REVOKED


def test_drift_on_postgres_sees_a_grant_made_by_hand(server, pim_admin):
    dsn, names = server
    from roles.models import Role

    target = services.create_target(
        actor=pim_admin,
        role=Role.objects.get(slug="exchange-administrator"),
        name="Reporting DB",
        kind="postgres_role",
        params={"dsn_variable": "PIM_TEST_REPORTING_DB", "role": names["role"], "revoke_outside_grants": True},
    )
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'GRANT "{names["role"]}" TO "{names["login"]}"')
    tasks.check_drift()
    target.refresh_from_db()
    assert target.outside_grants == [names["login"]]


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (
            {"PIM_TEST_REPORTING_DB": None},
            "the environment variable PIM_TEST_REPORTING_DB (the connection string) is not set",
        ),
        (
            {"PIM_TEST_REPORTING_DB": "not a connection string"},
            "the connection string in PIM_TEST_REPORTING_DB is not valid",
        ),
        (
            {"PIM_TEST_REPORTING_DB": "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"},
            "cannot connect with PIM_TEST_REPORTING_DB",
        ),
    ],
)
def test_bad_connection_strings_are_clear_errors_on_the_grant(
    server, pim_admin, monkeypatch, setup, error, django_capture_on_commit_callbacks
):
    _, names = server
    from roles.models import Role

    for variable, value in setup.items():
        if value is None:
            monkeypatch.delenv(variable)
        else:
            monkeypatch.setenv(variable, value)
    exchange = Role.objects.get(slug="exchange-administrator")
    user = make_user(names["login"])
    services.create_target(
        actor=pim_admin,
        role=exchange,
        name="Reporting DB",
        kind="postgres_role",
        params={"dsn_variable": "PIM_TEST_REPORTING_DB", "role": names["role"]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        role_services.assign_active(
            actor=None,
            principal=user,
            role=exchange,
            scope=root_scope(),
            start_at=timezone.now(),
            end_at=timezone.now() + timedelta(hours=1),
            justification="INC-9",
        )
    tasks.run_provisioning()
    grant = Grant.objects.get()
    assert grant.state == GrantState.PENDING and grant.last_error.startswith(error), grant.last_error


def test_a_login_missing_on_the_server_is_named(server, pim_admin, django_capture_on_commit_callbacks):
    _, names = server
    from roles.models import Role

    exchange = Role.objects.get(slug="exchange-administrator")
    services.create_target(
        actor=pim_admin,
        role=exchange,
        name="Reporting DB",
        kind="postgres_role",
        params={"dsn_variable": "PIM_TEST_REPORTING_DB", "role": names["role"]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        role_services.assign_active(
            actor=None,
            principal=make_user("nobody_there"),
            role=exchange,
            scope=root_scope(),
            start_at=timezone.now(),
            end_at=timezone.now() + timedelta(hours=1),
            justification="INC-9",
        )
    tasks.run_provisioning()
    assert Grant.objects.get().last_error == "the login nobody_there does not exist on the server"
