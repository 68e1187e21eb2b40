"""The Django-group target against the real thing: this site's auth groups, through the whole
life of an assignment (activation, expiry, removal, group membership)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from activations import tasks as activation_tasks
from audit.models import AuditEvent
from roles import services as role_services
from roles.choices import ActiveSource
from roles.models import Grant
from roles.provisioning import engine, services, tasks
from roles.provisioning.choices import GrantState
from tests.factories import UserFactory, root_scope
from tests.provisioning.conftest import give_active, members

pytestmark = pytest.mark.django_db


def activate(user, role, *, hours=1, capture):
    """What an approved activation gives (roles.services.grant_activation), with its commit hooks run."""
    return give_active(user, role, capture=capture, hours=hours)


def test_an_active_assignment_is_granted_and_audited(
    mail_admins_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    assignment = activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    grant = Grant.objects.get(target=mail_admins_target, assignment=assignment, user=alice)
    assert grant.state == GrantState.PENDING  # queued: access in PIM does not wait for it

    assert "'granted': 1" in tasks.run_provisioning()

    grant.refresh_from_db()
    assert (grant.state, grant.attempts, grant.last_error) == (GrantState.GRANTED, 1, "")
    assert members() == ["alice"]
    event = AuditEvent.objects.get(action="provisioning.granted")
    assert (event.principal_username, event.role, event.data["target"], event.data["login"]) == (
        "alice",
        "exchange-administrator",
        "Mail admins group",
        "alice",
    )
    assert event.data["seconds_to_grant"] >= 0


def test_expiry_revokes_within_the_sweep(
    mail_admins_target, exchange_admin, alice, time_machine, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    time_machine.move_to(timezone.now() + timedelta(hours=1, seconds=1), tick=False)

    with django_capture_on_commit_callbacks(execute=True):
        activation_tasks.sweep()  # records the expiry; its commit hook moves the grant to revoking
    assert Grant.objects.get().state == GrantState.REVOKING
    assert "'revoked': 1" in tasks.run_provisioning()

    assert members() == []
    assert Grant.objects.get().state == GrantState.REVOKED
    assert AuditEvent.objects.filter(action="provisioning.revoked").count() == 1


def test_assignments_that_expire_together_are_revoked_by_a_few_tasks_at_once(
    mail_admins_target, exchange_admin, time_machine, django_capture_on_commit_callbacks, monkeypatch
):
    holders = [UserFactory(username=f"holder{i}") for i in range(3)]
    for holder in holders:
        activate(holder, exchange_admin, capture=django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert members() == ["holder0", "holder1", "holder2"]
    time_machine.move_to(timezone.now() + timedelta(hours=1, seconds=1), tick=False)
    queued = []
    monkeypatch.setattr(engine, "async_task", lambda func, *args: queued.append((func, args)))

    with django_capture_on_commit_callbacks(execute=True):
        assert activation_tasks.sweep().startswith("expired 3,")

    assert [(func, len(args)) for func, args in queued] == [(engine.ATTEMPT_TASK, 3)]
    assert tasks.attempt_grant(*queued[0][1]) == "revoked"
    assert members() == []
    assert AuditEvent.objects.filter(action="provisioning.revoked").count() == 3


def test_removal_revokes_and_a_new_assignment_grants_again(
    mail_admins_target, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    assignment = activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    with django_capture_on_commit_callbacks(execute=True):
        role_services.remove_assignment(actor=pim_admin, assignment=assignment)
    tasks.run_provisioning()
    assert members() == []
    activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    assert members() == ["alice"]
    assert list(Grant.objects.order_by("pk").values_list("state", flat=True)) == ["revoked", "granted"]


def test_a_groups_assignment_is_granted_to_each_member_and_follows_membership(
    mail_admins_target, exchange_admin, alice, bob, carol, django_capture_on_commit_callbacks
):
    team = Group.objects.create(name="mail-team")
    team.user_set.add(alice, bob)
    with django_capture_on_commit_callbacks(execute=True):
        role_services.assign_active(
            actor=None,
            principal=team,
            role=exchange_admin,
            scope=root_scope(),
            start_at=timezone.now(),
            end_at=timezone.now() + timedelta(days=1),
            justification="on call",
        )
    tasks.run_provisioning()
    assert members() == ["alice", "bob"]

    team.user_set.remove(bob)
    team.user_set.add(carol)
    tasks.run_provisioning()  # the reconcile of the one-minute run sees the new membership
    assert members() == ["alice", "carol"]


def test_a_start_in_the_future_is_granted_when_it_comes(
    mail_admins_target, exchange_admin, alice, time_machine, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        role_services.assign_active(
            actor=None,
            principal=alice,
            role=exchange_admin,
            scope=root_scope(),
            start_at=timezone.now() + timedelta(hours=2),
            end_at=timezone.now() + timedelta(days=3),
            justification="x",
        )
    tasks.run_provisioning()
    assert members() == [] and not Grant.objects.exists()
    time_machine.move_to(timezone.now() + timedelta(hours=2), tick=False)
    tasks.run_provisioning()
    assert members() == ["alice"]


def test_binding_a_role_grants_its_current_holders_and_turning_the_target_off_revokes(
    pim_admin, exchange_admin, alice, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    target = services.create_target(
        actor=pim_admin, role=exchange_admin, name="Mail", kind="django_group", params={"group": "mail-admins"}
    )
    tasks.run_provisioning()
    assert members() == ["alice"]
    services.update_target(
        actor=pim_admin,
        target=target,
        name="Mail",
        params={"group": "mail-admins"},
        enabled=False,
        revoke_outside_grants=False,
    )
    tasks.run_provisioning()
    assert members() == []
    services.delete_target(actor=pim_admin, target=target)
    assert {event.action for event in AuditEvent.objects.filter(action__startswith="provisioning.target")} == {
        "provisioning.target_created",
        "provisioning.target_updated",
        "provisioning.target_deleted",
    }


def test_a_target_with_grants_in_place_cannot_be_deleted(
    mail_admins_target, exchange_admin, alice, pim_admin, django_capture_on_commit_callbacks
):
    activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    tasks.run_provisioning()
    with pytest.raises(ValidationError, match="still has 1 grant"):
        services.delete_target(actor=pim_admin, target=mail_admins_target)


@pytest.mark.parametrize(
    ("kind", "params", "field", "text"),
    [
        ("django_group", {}, "params", "'group' is the name of the Django group"),
        ("postgres_role", {"dsn_variable": "lower-case", "role": "r"}, "params", "'dsn_variable' names"),
        ("webhook", {"url": "ftp://example.com", "secret_variable": "PIM_SECRET"}, "params", "'url' is the http(s)"),
        ("ldap", {}, "kind", "Kind: 'ldap' is not one of django_group, postgres_role, webhook."),
    ],
)
def test_bad_parameters_name_the_field_and_create_nothing(pim_admin, exchange_admin, kind, params, field, text):
    with pytest.raises(ValidationError) as refusal:
        services.create_target(actor=pim_admin, role=exchange_admin, name="T", kind=kind, params=params)
    assert text in refusal.value.message_dict[field][0]
    assert not AuditEvent.objects.filter(action__startswith="provisioning.").exists()


def test_a_group_that_holds_pim_assignments_is_refused_as_a_target(pim_admin, exchange_admin):
    holders = Group.objects.create(name="holders")
    role_services.assign_eligible(
        actor=pim_admin,
        principal=holders,
        role=exchange_admin,
        scope=root_scope(),
        start_at=timezone.now(),
        end_at=None,
        justification="x",
    )
    with pytest.raises(ValidationError, match="group 'holders' holds PIM assignments itself"):
        services.create_target(
            actor=pim_admin, role=exchange_admin, name="T", kind="django_group", params={"group": "holders"}
        )


def test_an_admin_made_active_assignment_is_provisioned_too(
    mail_admins_target, exchange_admin, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assignment = role_services.assign_active(
            actor=None,
            principal=alice,
            role=exchange_admin,
            scope=root_scope(),
            start_at=timezone.now(),
            end_at=timezone.now() + timedelta(days=30),
            justification="standing",
        )
    assert assignment.source == ActiveSource.ADMIN
    tasks.run_provisioning()
    assert members() == ["alice"]


def test_a_revoke_waits_for_a_grant_still_in_flight(
    mail_admins_target, exchange_admin, alice, pim_admin, time_machine, monkeypatch, django_capture_on_commit_callbacks
):
    """The assignment is removed while a worker is granting: the revoke runs after that worker's
    lease, so the user does not keep the group's membership."""
    from roles.provisioning import engine, kinds

    time_machine.move_to(timezone.now(), tick=False)
    assignment = activate(alice, exchange_admin, capture=django_capture_on_commit_callbacks)
    kind = kinds.get("django_group")
    real_grant = kind.grant

    def grant_while_removed(access):
        with django_capture_on_commit_callbacks(execute=True):
            role_services.remove_assignment(actor=pim_admin, assignment=assignment)  # meanwhile, elsewhere
        assert engine.attempt(grant_id=Grant.objects.get().pk, now=timezone.now()) == "nothing to do"
        real_grant(access)  # the in-flight grant lands after the removal

    monkeypatch.setattr(kind, "grant", grant_while_removed)
    assert "'nothing to do': 1" in tasks.run_provisioning()  # its result is not recorded: the row is revoking
    monkeypatch.setattr(kind, "grant", real_grant)
    assert members() == ["alice"]
    time_machine.move_to(timezone.now() + engine.LEASE, tick=False)
    tasks.run_provisioning()
    assert members() == []
    assert Grant.objects.get().state == GrantState.REVOKED
