"""Scale-out on PostgreSQL: two django-q2 clusters (real `manage.py qcluster` processes) against
one database expire 500 assignments, each queued several times over; every assignment gets exactly
one `assignment.expired` event and its grant exactly one revoke."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.tasks import async_task

from audit.models import AuditEvent
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Grant, Role, Scope
from roles.provisioning import services as provisioning
from roles.provisioning.choices import GrantState

ROOT = Path(__file__).resolve().parents[1]
COUNT = 500
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def cluster_env() -> dict[str, str]:
    """This process's environment, pointed at the test database the suite is using."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env = {**os.environ, "DATABASE_URL": url, "Q_WORKERS": "2", "PIM_ENV": "demo", "PIM_LOG_LEVEL": "WARNING"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@pytest.fixture
def lapsed(pim_admin):
    """500 users hold a role bound to the Django group "ops"; each is in the group (granted) and
    each assignment ended a minute ago, not yet swept."""
    role = Role.objects.create(slug="ops", name="Operations")
    from roles.models import RoleSettings

    RoleSettings.objects.create(role=role)
    target = provisioning.create_target(actor=pim_admin, role=role, name="Group ops", kind="django_group",
                                        params={"group": "ops"})  # fmt: skip
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"op{n:03d}", email=f"op{n:03d}@example.com") for n in range(COUNT)]
    )
    now = timezone.now()
    assignments = ActiveAssignment.objects.bulk_create([
        ActiveAssignment(principal=user, role=role, scope=Scope.objects.get(path="/"), source=ActiveSource.ADMIN,
                         start_at=now - timedelta(hours=2), end_at=now - timedelta(minutes=1), justification="x")
        for user in users
    ])  # fmt: skip
    Grant.objects.bulk_create([
        Grant(target=target, assignment=assignment, user=assignment.principal, state=GrantState.GRANTED,
              next_attempt_at=now, requested_at=assignment.start_at, granted_at=assignment.start_at)
        for assignment in assignments
    ])  # fmt: skip
    Group.objects.create(name="ops").user_set.add(*users)
    return assignments


def test_two_clusters_expire_and_revoke_each_assignment_once(lapsed):
    # The work, queued twice over as two schedulers and a retry would: every one-off expiry twice,
    # and sweeps besides. Whichever cluster takes a task, each side effect happens once.
    for assignment in lapsed:
        for _ in range(2):
            async_task("activations.tasks.expire_assignment", "active", assignment.pk)
    for _ in range(4):
        async_task("activations.tasks.sweep")
    clusters = [
        subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=cluster_env(),  # noqa: S603
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(2)
    ]  # fmt: skip
    try:
        # Waiting for real processes, bounded: not a stand-in for a clock.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if Grant.objects.filter(state=GrantState.REVOKED).count() == COUNT:
                break
            assert all(cluster.poll() is None for cluster in clusters), "a cluster stopped"
            time.sleep(0.5)
    finally:
        for cluster in clusters:
            if cluster.poll() is None:
                os.killpg(cluster.pid, signal.SIGTERM)
        for cluster in clusters:
            try:
                cluster.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)

    assert not ActiveAssignment.objects.open().filter(role__slug="ops").exists()
    expired = AuditEvent.objects.filter(action="assignment.expired").values("target_id").annotate(n=Count("pk"))
    assert len(expired) == COUNT and {row["n"] for row in expired} == {1}
    revoked = AuditEvent.objects.filter(action="provisioning.revoked").values("target_id").annotate(n=Count("pk"))
    assert len(revoked) == COUNT and {row["n"] for row in revoked} == {1}
    assert not Group.objects.get(name="ops").user_set.exists()
