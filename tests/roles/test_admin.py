"""The admin changes roles, settings and assignments only through roles.services: the same
rules, the same audit events."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from audit.models import AuditEvent
from roles.choices import EndReason
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings
from tests.conftest import current_code, verify_session
from tests.factories import EligibleAssignmentFactory, RoleFactory, root_scope


@pytest.fixture
def admin_client(client, pim_admin):
    """pim_admin, signed in with password and code: the admin is open to them."""
    verify_session(client, pim_admin)
    return client


@pytest.fixture
def user_admin_role(db):
    return Role.objects.get(slug="user-administrator")


def split(dt) -> dict:
    return {"date": dt.strftime("%Y-%m-%d"), "time": dt.strftime("%H:%M:%S")}


def assignment_form(*, principal, role, start_at, end_at=None, justification="") -> dict:
    start, end = split(start_at), split(end_at) if end_at else {"date": "", "time": ""}
    return {
        "principal": principal.pk,
        "role": role.pk,
        "scope": root_scope().pk,
        "start_at_0": start["date"],
        "start_at_1": start["time"],
        "end_at_0": end["date"],
        "end_at_1": end["time"],
        "justification": justification,
    }


def test_adding_an_eligible_assignment_in_the_admin_creates_and_audits_it(
    admin_client, pim_admin, alice, user_admin_role
):
    response = admin_client.post(
        reverse("admin:roles_eligibleassignment_add"),
        assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now(), justification="Helpdesk rota"),
        follow=True,
    )

    assertContains(response, "was added successfully")
    assignment = EligibleAssignment.objects.get(principal=alice)
    assert assignment.role == user_admin_role
    assert assignment.created_by == pim_admin
    assert assignment.justification == "Helpdesk rota"
    event = AuditEvent.objects.get(action="assignment.created")
    assert (event.actor, event.principal, event.role) == (pim_admin, alice, "user-administrator")


def test_a_permanent_active_assignment_in_the_admin_shows_the_rule_and_creates_nothing(
    admin_client, alice, user_admin_role
):
    response = admin_client.post(
        reverse("admin:roles_activeassignment_add"),
        assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now(), justification="Rota"),
    )

    assert response.status_code == 200
    assertContains(response, "User Administrator does not allow permanent active assignments")
    assertContains(response, "at most 180 days")
    assert not ActiveAssignment.objects.filter(principal=alice).exists()
    assert not AuditEvent.objects.filter(action="assignment.created").exists()


def test_a_duplicate_assignment_in_the_admin_is_refused_and_creates_nothing(admin_client, alice, user_admin_role):
    EligibleAssignmentFactory(principal=alice, role=user_admin_role)

    response = admin_client.post(
        reverse("admin:roles_eligibleassignment_add"),
        assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now()),
    )

    assert response.status_code == 200
    assertContains(response, "alice already has an open eligible assignment of User Administrator at /")
    assert EligibleAssignment.objects.filter(principal=alice).count() == 1
    assert not AuditEvent.objects.filter(action="assignment.created").exists()


def test_a_refusal_only_the_service_sees_is_reported_and_not_announced_as_added(
    admin_client, alice, user_admin_role, monkeypatch
):
    """A race: the form found no open assignment, but one exists by the time the service
    takes its lock."""
    EligibleAssignmentFactory(principal=alice, role=user_admin_role)
    monkeypatch.setattr("roles.services.check_not_assigned", lambda *args, **kwargs: None)

    response = admin_client.post(
        reverse("admin:roles_eligibleassignment_add"),
        assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now()),
        follow=True,
    )

    # The admin's message list capitalises the first letter.
    assertContains(response, "Alice already has an open eligible assignment of User Administrator at /")
    assertNotContains(response, "was added successfully")
    assert EligibleAssignment.objects.filter(principal=alice).count() == 1
    assert not AuditEvent.objects.filter(action="assignment.created").exists()
    assert not LogEntry.objects.exists()


def test_a_lapsed_but_unswept_assignment_does_not_block_an_admin_add(admin_client, alice, user_admin_role):
    EligibleAssignmentFactory(
        principal=alice, role=user_admin_role, start_at=timezone.now() - timedelta(days=2),
        end_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip

    response = admin_client.post(
        reverse("admin:roles_eligibleassignment_add"),
        assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now()),
        follow=True,
    )

    assertContains(response, "was added successfully")
    assert EligibleAssignment.objects.open().filter(principal=alice).count() == 1
    assert AuditEvent.objects.filter(action="assignment.expired").count() == 1
    assert AuditEvent.objects.filter(action="assignment.created").count() == 1


def test_the_remove_action_ends_the_selected_assignments(admin_client, pim_admin, alice, bob, user_admin_role):
    chosen = [EligibleAssignmentFactory(principal=alice, role=user_admin_role),
              EligibleAssignmentFactory(principal=bob, role=user_admin_role)]  # fmt: skip
    untouched = EligibleAssignmentFactory(principal=alice, role=Role.objects.get(slug="security-reader"))

    response = admin_client.post(
        reverse("admin:roles_eligibleassignment_changelist"),
        {"action": "remove_selected", "_selected_action": [a.pk for a in chosen]},
        follow=True,
    )

    assertContains(response, "Removed 2 assignment(s).")
    for assignment in chosen:
        assignment.refresh_from_db()
        assert assignment.end_reason == EndReason.REMOVED
        assert assignment.ended_by == pim_admin
    untouched.refresh_from_db()
    assert untouched.ended_at is None
    assert AuditEvent.objects.filter(action="assignment.removed").count() == 2


def test_an_existing_assignment_cannot_be_edited_or_deleted_in_the_admin(admin_client, alice, user_admin_role):
    assignment = EligibleAssignmentFactory(principal=alice, role=user_admin_role, justification="Original")
    change_url = reverse("admin:roles_eligibleassignment_change", args=[assignment.pk])

    page = admin_client.get(change_url)
    assertContains(page, "Original")
    assertNotContains(page, 'name="_save"')
    assert admin_client.post(change_url, {"justification": "Rewritten history"}).status_code == 403

    assignment.refresh_from_db()
    assert assignment.justification == "Original"
    assert admin_client.get(reverse("admin:roles_eligibleassignment_delete", args=[assignment.pk])).status_code == 403


def settings_form(role_settings: RoleSettings, stages=(), **changes) -> dict:
    """The admin's change form as a browser posts it; `stages` are new stages (field -> value),
    sent in the approval stages inline (prefix "stages") after the role's existing ones."""
    data = {
        field.name: getattr(role_settings, field.name)
        for field in RoleSettings._meta.concrete_fields
        if field.editable and field.name not in ("role", "updated_at")
    }
    data = {key: value for key, value in data.items() if value is not False}  # unchecked boxes are not sent
    data.update(changes)
    data = {key: value for key, value in data.items() if value is not False}
    existing = list(role_settings.stages.all())
    data |= {"stages-TOTAL_FORMS": len(existing) + len(stages), "stages-INITIAL_FORMS": len(existing),
             "stages-MIN_NUM_FORMS": 0, "stages-MAX_NUM_FORMS": 1000}  # fmt: skip
    for index, stage in enumerate(existing):
        data |= {f"stages-{index}-id": stage.pk, f"stages-{index}-role_settings": role_settings.pk,
                 f"stages-{index}-position": stage.position,
                 f"stages-{index}-approvals_required": stage.approvals_required,
                 f"stages-{index}-timeout_minutes": stage.timeout_minutes,
                 f"stages-{index}-approvers": [user.pk for user in stage.approvers.all()],
                 f"stages-{index}-approver_groups": [group.pk for group in stage.approver_groups.all()]}  # fmt: skip
    for index, stage in enumerate(stages, start=len(existing)):
        fields = {"position": index + 1, "approvals_required": 1, "timeout_minutes": 1440, **stage}
        data |= {f"stages-{index}-{name}": value for name, value in fields.items()}
        data[f"stages-{index}-role_settings"] = role_settings.pk
    return data


def test_editing_role_settings_in_the_admin_saves_and_audits_old_and_new_values(admin_client, pim_admin, bob):
    role_settings = RoleSettings.objects.get(role__slug="exchange-administrator")

    response = admin_client.post(
        reverse("admin:roles_rolesettings_change", args=[role_settings.pk]),
        settings_form(
            role_settings,
            activation_max_minutes=120,
            require_approval=True,
            stages=[{"approvers": [bob.pk], "approvals_required": 1, "timeout_minutes": 240}],
        ),  # fmt: skip
        follow=True,
    )

    assertContains(response, "was changed successfully")
    role_settings.refresh_from_db()
    assert role_settings.activation_max_minutes == 120
    assert role_settings.require_approval is True
    [stage] = role_settings.stages.all()
    assert (list(stage.approvers.all()), stage.timeout_minutes) == ([bob], 240)
    event = AuditEvent.objects.get(action="settings.updated")
    assert event.actor == pim_admin
    assert event.data["changes"] == {
        "activation_max_minutes": [480, 120],
        "require_approval": [False, True],
        "stages": [[], [{"approvers": ["bob"], "approver_groups": [], "approvals_required": 1, "timeout_minutes": 240,
                         "escalate_after_minutes": None, "escalation_approvers": [], "escalation_groups": []}]],
    }  # fmt: skip


def test_out_of_range_settings_in_the_admin_show_the_range_and_change_nothing(admin_client):
    role_settings = RoleSettings.objects.get(role__slug="exchange-administrator")

    response = admin_client.post(
        reverse("admin:roles_rolesettings_change", args=[role_settings.pk]),
        settings_form(role_settings, activation_max_minutes=10),
    )

    assert response.status_code == 200
    assertContains(response, "Activation maximum duration must be between 30 min and 24 h; it is 10 min.")
    role_settings.refresh_from_db()
    assert role_settings.activation_max_minutes == 480
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_approval_without_approvers_in_the_admin_is_refused(admin_client):
    role_settings = RoleSettings.objects.get(role__slug="exchange-administrator")

    response = admin_client.post(
        reverse("admin:roles_rolesettings_change", args=[role_settings.pk]),
        settings_form(role_settings, require_approval=True),
    )

    assertContains(response, "Require approval needs at least one approval stage with an approver")
    role_settings.refresh_from_db()
    assert role_settings.require_approval is False
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_a_stage_asking_more_approvals_than_it_has_approvers_is_refused_in_the_admin(admin_client, bob):
    role_settings = RoleSettings.objects.get(role__slug="exchange-administrator")

    response = admin_client.post(
        reverse("admin:roles_rolesettings_change", args=[role_settings.pk]),
        settings_form(role_settings, require_approval=True, stages=[{"approvers": [bob.pk], "approvals_required": 2}]),
    )

    assertContains(response, "Stage 1: approvals required is 2, but only 1 approver(s) are named")
    assert not role_settings.stages.exists()
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_a_builtin_role_cannot_be_deleted(admin_client):
    role = Role.objects.get(slug="global-administrator")

    response = admin_client.post(reverse("admin:roles_role_delete", args=[role.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Role.objects.filter(slug="global-administrator").exists()
    assert not AuditEvent.objects.filter(action="role.deleted").exists()


def test_a_builtin_role_cannot_be_deleted_with_the_bulk_action(admin_client):
    role = Role.objects.get(slug="global-administrator")

    admin_client.post(
        reverse("admin:roles_role_changelist"),
        {"action": "delete_selected", "_selected_action": [role.pk], "post": "yes"},
    )

    assert Role.objects.filter(slug="global-administrator").exists()
    assert not AuditEvent.objects.filter(action="role.deleted").exists()


def test_an_unused_custom_role_can_be_deleted_and_the_deletion_is_audited(admin_client):
    role = RoleFactory(name="Printer Administrator")

    response = admin_client.post(reverse("admin:roles_role_delete", args=[role.pk]), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEvent.objects.filter(action="role.deleted").count() == 1


def test_renaming_a_role_in_the_admin_is_audited(admin_client, pim_admin):
    role = RoleFactory(name="Printer Administrator")

    response = admin_client.post(
        reverse("admin:roles_role_change", args=[role.pk]),
        {"name": "Print Administrator", "tier": "high", "description": "Printers.",
         "settings-TOTAL_FORMS": 1, "settings-INITIAL_FORMS": 1, "settings-0-role": role.pk},
        follow=True,
    )  # fmt: skip

    assertContains(response, "was changed successfully")
    role.refresh_from_db()
    assert (role.name, role.tier) == ("Print Administrator", "high")
    event = AuditEvent.objects.get(action="role.updated")
    assert event.data["changes"]["name"] == ["Printer Administrator", "Print Administrator"]


def test_adding_a_custom_role_in_the_admin_creates_its_default_settings(admin_client, pim_admin):
    response = admin_client.post(
        reverse("admin:roles_role_add"),
        {"name": "Printer Administrator", "slug": "printer-administrator", "tier": "standard", "description": "",
         "settings-TOTAL_FORMS": 0, "settings-INITIAL_FORMS": 0},
        follow=True,
    )  # fmt: skip

    assertContains(response, "was added successfully")
    role = Role.objects.get(slug="printer-administrator")
    assert role.is_builtin is False
    assert role.settings.activation_max_minutes == 480
    assert AuditEvent.objects.filter(action="role.created", actor=pim_admin).count() == 1


def test_audit_events_are_view_only_in_the_admin(admin_client, pim_admin, alice, user_admin_role):
    from roles import services

    services.assign_eligible(
        actor=pim_admin, principal=alice, role=user_admin_role, scope=root_scope(),
        start_at=timezone.now(), end_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    event = AuditEvent.objects.get(action="assignment.created")

    changelist = admin_client.get(reverse("admin:audit_auditevent_changelist"))
    assertContains(changelist, "assignment.created")
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    change_page = admin_client.get(reverse("admin:audit_auditevent_change", args=[event.pk]))
    assert change_page.status_code == 200
    assert 'name="_save"' not in change_page.content.decode()
    assert (
        admin_client.post(reverse("admin:audit_auditevent_change", args=[event.pk]), {"action": "x"}).status_code == 403
    )
    assert (
        admin_client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert AuditEvent.objects.get(pk=event.pk).action == "assignment.created"


def test_an_active_assignment_in_the_admin_needs_a_fresh_code_when_the_role_requires_mfa(
    admin_client, pim_admin, alice, user_admin_role, time_machine
):
    time_machine.move_to(timezone.now() + timedelta(minutes=11), tick=False)  # the sign-in code is too old now
    form = assignment_form(principal=alice, role=user_admin_role, start_at=timezone.now(),
                           end_at=timezone.now() + timedelta(days=1), justification="Migration")  # fmt: skip

    refused = admin_client.post(reverse("admin:roles_activeassignment_add"), form)

    assertContains(refused, "User Administrator requires multifactor authentication on active assignment")
    assert not ActiveAssignment.objects.filter(principal=alice).exists()

    device = pim_admin.totpdevice_set.get()
    added = admin_client.post(reverse("admin:roles_activeassignment_add"), {**form, "otp_token": current_code(device)},
                              follow=True)  # fmt: skip

    assertContains(added, "was added successfully")
    assert ActiveAssignment.objects.filter(principal=alice, created_by=pim_admin).exists()
    assert AuditEvent.objects.filter(action="auth.mfa_verified", actor=pim_admin).exists()


def test_a_builtin_roles_name_tier_and_description_are_read_only_in_the_admin(admin_client):
    role = Role.objects.get(slug="global-administrator")

    page = admin_client.get(reverse("admin:roles_role_change", args=[role.pk]))

    assertNotContains(page, 'name="name"')
    assertNotContains(page, 'name="tier"')
    assertContains(page, "Global Administrator")
