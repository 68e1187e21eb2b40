"""Fixtures for the workflow's service, task and command tests.

The clock stands still at helpers.START unless a test moves it. Most tests use the built-in
Exchange Administrator role with its default settings: 30 min to 8 h, a justification and
a fresh code required, no approval."""

import pytest
from django.contrib.auth.models import Group

from roles.models import ApprovalStage, Role, RoleSettings
from tests.activations.helpers import START


@pytest.fixture
def clock(time_machine):
    """Stop the clock at START; tests move it with clock.move_to(...)."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def exchange_admin(db) -> Role:
    return Role.objects.get(slug="exchange-administrator")


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 runs queued tasks at once, in this process, so mail lands in mail.outbox."""
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)


@pytest.fixture
def with_approval(exchange_admin, bob, carol) -> Group:
    """Exchange Administrator needs one approval within 2 h: bob is named as an approver,
    carol approves through the Mail approvers group."""
    group = Group.objects.create(name="Mail approvers")
    carol.groups.add(group)
    RoleSettings.objects.filter(role=exchange_admin).update(require_approval=True)
    stage = ApprovalStage.objects.create(role_settings_id=exchange_admin.pk, position=1, timeout_minutes=120)
    stage.approvers.set([bob])
    stage.approver_groups.set([group])
    return group
