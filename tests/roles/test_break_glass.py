"""Break-glass accounts: flagged by an active Global Administrator, they keep a permanent active
Global Administrator assignment nothing removes while flagged, and every sign-in alerts."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains

from audit.models import AuditEvent
from roles import services
from roles.models import ActiveAssignment, BreakGlassAccount, Role
from roles.selectors import access_decision
from tests.conftest import make_user, verify_session
from tests.factories import ActiveAssignmentFactory, root_scope


@pytest.fixture
def global_admin(db):
    user = make_user("ga")
    ActiveAssignmentFactory(principal=user, role=Role.objects.get(slug="global-administrator"), scope=root_scope(),
                            end_at=None)  # fmt: skip
    return user


@pytest.fixture
def emergency(db):
    return make_user("emergency")


def test_flagging_gives_a_permanent_global_administrator_assignment(global_admin, emergency, time_machine):
    services.flag_break_glass(actor=global_admin, user=emergency, reason="Sealed envelope in the safe")

    held = ActiveAssignment.objects.get(principal=emergency)
    assert (held.role.slug, held.scope.path, held.end_at) == ("global-administrator", "/", None)
    assert access_decision(username="emergency", role_slug="global-administrator", at=held.start_at).allowed
    event = AuditEvent.objects.get(action="breakglass.flagged")
    assert (event.actor, event.principal, event.justification) == (
        global_admin,
        emergency,
        "Sealed envelope in the safe",
    )


def test_only_an_active_global_administrator_may_flag(pim_admin, emergency):
    with pytest.raises(ValidationError, match="Only an active Global Administrator"):
        services.flag_break_glass(actor=pim_admin, user=emergency, reason="x")

    assert not BreakGlassAccount.objects.exists()


def test_its_assignment_stays_while_flagged_and_can_go_once_unflagged(global_admin, emergency):
    services.flag_break_glass(actor=global_admin, user=emergency, reason="Offline credentials")
    held = ActiveAssignment.objects.get(principal=emergency)

    with pytest.raises(ValidationError, match="emergency is a break-glass account"):
        services.remove_assignment(actor=global_admin, assignment=held)
    with pytest.raises(ValidationError, match="emergency is a break-glass account"):
        services.convert_to_eligible(actor=global_admin, assignment=held, justification="JIT")

    services.unflag_break_glass(actor=global_admin, user=emergency, reason="Replaced by a new account")
    assert services.remove_assignment(actor=global_admin, assignment=held) is True


def test_every_sign_in_alerts_the_administrators(global_admin, emergency, client, monkeypatch,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    monkeypatch.setattr("django_q.conf.Conf.SYNC", True)
    services.flag_break_glass(actor=global_admin, user=emergency, reason="Offline credentials")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(emergency)

    assert AuditEvent.objects.filter(action="alert.break_glass_sign_in", principal=emergency).count() == 1
    [alert] = [message for message in mail.outbox if message.to == ["ga@example.com"]]
    assert alert.subject == "[PIM] Critical: break-glass account emergency signed in"


def test_the_console_page_flags_and_lists(global_admin, emergency, client):
    verify_session(client, global_admin)

    response = client.post(reverse("manage:break-glass"), {"user": "emergency", "reason": "Offline credentials"},
                           follow=True)  # fmt: skip

    assertContains(response, "emergency is now a break-glass account.")
    assertContains(response, "<td>Offline credentials</td>")
    refused = client.post(reverse("manage:break-glass"), {"user": "emergency", "reason": "Again"})
    assertContains(refused, "emergency is already a break-glass account.")
