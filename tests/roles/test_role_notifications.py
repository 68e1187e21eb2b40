"""Entra's notification rules for assignments: the administrators' alert and the assignee's
notice go out through the outbox after the change commits, as each role's rules say."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail

from audit.models import OutboxMessage
from roles import services
from roles.models import Role, Scope
from tests.conftest import make_user
from tests.factories import EligibleAssignmentFactory

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def sync_delivery(monkeypatch, time_machine):
    """django-q2 runs the delivery task at once, in this process, so mail lands in mail.outbox."""
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    time_machine.move_to(START, tick=False)


@pytest.fixture
def security_lead(db):
    """A second administrator: eligible Global Administrator, told about assignments."""
    lead = make_user("seclead")
    EligibleAssignmentFactory(principal=lead, role=Role.objects.get(slug="global-administrator"))
    return lead


def assign(role_slug: str, principal, actor, *, kind="eligible", **rules):
    role = Role.objects.get(slug=role_slug)
    if rules:
        services.update_role_settings(actor=None, role=role, changes={"notification_rules": rules})
    extra = {"mfa_verified_at": START} if kind == "active" else {}  # the administrator entered a code just now
    assign = services.assign_eligible if kind == "eligible" else services.assign_active
    return assign(actor=actor, principal=principal, role=role, scope=Scope.objects.get(path="/"), start_at=START,
                  end_at=START + timedelta(days=30), justification="INC-4711 helpdesk cover", **extra)  # fmt: skip


def mail_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


def test_the_administrators_and_the_assignee_are_told(
    alice, pim_admin, security_lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assignment = assign("user-administrator", alice, pim_admin)

    [alert] = mail_to("seclead@example.com")
    assert alert.subject == "[PIM] alice is now eligible for User Administrator at /"
    assert "from 2026-11-22 09:00 UTC until 2026-12-22 09:00 UTC" in alert.body
    assert "Assigned by pimadmin. Justification: INC-4711 helpdesk cover" in alert.body
    assert f"/manage/assignments/eligible/{assignment.pk}/" in alert.body
    [notice] = mail_to("alice@example.com")
    assert notice.subject == "[PIM] You are now eligible for User Administrator at /"
    assert "Activate it from My roles when you need it." in notice.body
    assert "/my-roles/" in notice.body
    assert mail_to("pimadmin@example.com") == []  # the administrator who did it is not told


def test_every_member_of_a_group_is_told(alice, bob, pim_admin, django_capture_on_commit_callbacks):
    group = Group.objects.create(name="Helpdesk")
    group.user_set.add(alice, bob)

    with django_capture_on_commit_callbacks(execute=True):
        assign("user-administrator", group, pim_admin)

    for address in ("alice@example.com", "bob@example.com"):
        [notice] = mail_to(address)
        assert "through the group Helpdesk" in notice.body


def test_default_recipients_off_and_additional_recipients(
    alice, pim_admin, security_lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        soc_only = {"default_recipients": False, "additional_recipients": ["soc@example.com"], "critical_only": False}
        assign("user-administrator", alice, pim_admin, **{"role.eligible_assigned.admin": soc_only})

    assert mail_to("seclead@example.com") == []
    [alert] = mail_to("soc@example.com")
    assert alert.subject == "[PIM] alice is now eligible for User Administrator at /"
    assert OutboxMessage.objects.get(address="soc@example.com").rule == "role.eligible_assigned.admin"


@pytest.mark.parametrize(("role_slug", "sent"), [("user-administrator", False), ("global-administrator", True)])
def test_critical_emails_only_sends_just_what_concerns_a_critical_role(
    alice, pim_admin, security_lead, django_capture_on_commit_callbacks, role_slug, sent
):
    critical_only = {"default_recipients": True, "additional_recipients": [], "critical_only": True}
    with django_capture_on_commit_callbacks(execute=True):
        assign(role_slug, alice, pim_admin, **{"role.eligible_assigned.admin": critical_only})

    assert bool(mail_to("seclead@example.com")) is sent
    assert len(mail_to("alice@example.com")) == 1  # the assignee's rule was left alone


def test_an_active_assignment_uses_the_active_rules(alice, pim_admin, django_capture_on_commit_callbacks):
    off = {"default_recipients": False, "additional_recipients": [], "critical_only": False}
    with django_capture_on_commit_callbacks(execute=True):
        assign("user-administrator", alice, pim_admin, kind="active", **{"role.eligible_assigned.assignee": off})

    [notice] = mail_to("alice@example.com")
    assert notice.subject == "[PIM] You are now active for User Administrator at /"
