"""The activation rules of a role's notification settings: the administrators' activation alert,
the requester's notices and the approvers' requests, each as the role's rule says."""

import pytest
from django.core import mail

from activations import services
from activations.choices import Decision
from roles import services as role_services
from roles.models import Role
from tests.activations.helpers import JUSTIFICATION, activate
from tests.conftest import make_user
from tests.factories import EligibleAssignmentFactory

OFF = {"default_recipients": False, "additional_recipients": [], "critical_only": False}


@pytest.fixture
def security_lead(db):
    lead = make_user("seclead")
    EligibleAssignmentFactory(principal=lead, role=Role.objects.get(slug="global-administrator"))
    return lead


@pytest.fixture
def eligibility(alice, exchange_admin, clock):
    return EligibleAssignmentFactory(principal=alice, role=exchange_admin)


def rules_of(role, **rules):
    role_services.update_role_settings(actor=None, role=role, changes={"notification_rules": rules})


def mail_to(address: str) -> list:
    return [message for message in mail.outbox if message.to == [address]]


def test_an_activation_alerts_the_administrators(
    alice, security_lead, eligibility, sync_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility)

    [alert] = mail_to("seclead@example.com")
    assert alert.subject == "[PIM] alice activated Exchange Administrator at /"
    assert "from 2026-11-22 09:00 UTC until 2026-11-22 10:00 UTC" in alert.body
    assert f"Justification: {JUSTIFICATION}" in alert.body
    assert f"/requests/{request.pk}/" in alert.body
    assert mail_to("alice@example.com") == []  # the requester gets no alert about herself


def test_the_activation_alert_can_go_to_a_security_mailbox_instead(
    alice, security_lead, exchange_admin, eligibility, sync_tasks, django_capture_on_commit_callbacks
):
    rules_of(exchange_admin, **{"role.activated.admin": {**OFF, "additional_recipients": ["soc@example.com"]}})

    with django_capture_on_commit_callbacks(execute=True):
        activate(alice, eligibility)

    assert mail_to("seclead@example.com") == []
    assert len(mail_to("soc@example.com")) == 1


def test_requests_to_approve_follow_the_approver_rule_and_are_always_critical(
    alice, bob, carol, exchange_admin, eligibility, with_approval, sync_tasks, django_capture_on_commit_callbacks
):
    rules_of(exchange_admin, **{"role.activated.approver": {"default_recipients": True, "critical_only": True,
                                                            "additional_recipients": ["cab@example.com"]}})  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        activate(alice, eligibility)

    for address in ("bob@example.com", "carol@example.com", "cab@example.com"):
        [ask] = mail_to(address)
        assert ask.subject == "[PIM] alice asks to activate Exchange Administrator"


def test_critical_emails_only_mutes_the_requesters_notices_for_a_standard_role(
    alice, bob, exchange_admin, eligibility, with_approval, sync_tasks, django_capture_on_commit_callbacks
):
    rules_of(exchange_admin, **{"role.activated.assignee": {**OFF, "default_recipients": True, "critical_only": True}})
    with django_capture_on_commit_callbacks(execute=True):
        [request] = activate(alice, eligibility)

    with django_capture_on_commit_callbacks(execute=True):
        services.decide_request(actor=bob, request=request, decision=Decision.APPROVE)

    assert mail_to("alice@example.com") == []
