"""The settings page of a role: every knob, refusals beside their fields, audited changes."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.urls import reverse
from pytest_django.asserts import assertContains

from activations import services as activation_services
from audit.models import AuditEvent
from roles import notifications, rules
from roles.models import RoleSettings
from roles.rules import StagePlan
from roles.services import update_role_settings
from tests.conftest import verify_session
from tests.factories import EligibleAssignmentFactory, RoleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, pim_admin):
    verify_session(client, pim_admin)
    return client


@pytest.fixture
def role():
    return RoleFactory(name="Helpdesk Operator", slug="helpdesk-operator")


def _url(role) -> str:
    return reverse("manage:role-settings", args=[role.slug])


def _form(stages=(), **overrides) -> dict:
    """The settings form as it is posted with the defaults, plus `overrides`; `stages` fill in
    the stage forms (field -> value), the blank "Add a stage" form stays blank after them."""
    data = {
        "activation_hours": "8",
        "activation_minutes": "0",
        "require_mfa_on_activation": "on",
        "require_justification_on_activation": "on",
        "ticket_number_pattern": "",
        "allow_permanent_eligible": "on",
        "max_eligible_days": "365",
        "max_active_days": "180",
        "require_mfa_on_active_assignment": "on",
        "require_justification_on_active_assignment": "on",
    }
    # Every notification rule at Entra's default: default recipients on, nobody extra, all mail.
    data |= {f"notify__{rule.event}__{rule.audience}__default": "on" for rule in notifications.RULES}
    data |= {"stages-TOTAL_FORMS": str(len(stages) + 1), "stages-INITIAL_FORMS": "0"}
    for index, stage in enumerate([*stages, {}]):
        data |= {f"stages-{index}-approvals_required": "1", f"stages-{index}-timeout_hours": "24"}
        data |= {f"stages-{index}-{name}": value for name, value in stage.items()}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_settings_page_shows_the_current_settings_grouped_like_entra(admin_client, role):
    response = admin_client.get(_url(role))

    assertContains(response, "Settings of Helpdesk Operator")
    for heading in ("Activation", "Approval", "Assignment"):
        assertContains(response, f"<h2>{heading}</h2>", html=True)
    assertContains(response, '<input type="number" name="activation_hours" value="8" id="id_activation_hours" '
                             'aria-describedby="id_activation_hours_helptext" required>', html=True)  # fmt: skip
    assertContains(response, "Activation maximum duration: 30 min to 24 h.")
    assertContains(response, "<legend>Add a stage</legend>", html=True)
    assertContains(response, 'name="stages-0-timeout_hours" value="24"')
    assertContains(response, 'name="max_eligible_days" value="365"')
    assertContains(response, 'name="max_active_days" value="180"')
    assertContains(response, 'name="require_mfa_on_activation" id="id_require_mfa_on_activation" checked')
    assertContains(response, "pimadmin")  # an active user offered as approver


def test_posting_the_settings_unchanged_says_nothing_changed(admin_client, role):
    response = admin_client.post(_url(role), _form(), follow=True)

    assertContains(response, "Nothing changed.")
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


@pytest.mark.parametrize(("hours", "minutes", "asked"), [("0", "10", "10 min"), ("25", "0", "25 h")])
def test_activation_maximum_outside_30_min_to_24_h_is_refused(admin_client, role, hours, minutes, asked):
    response = admin_client.post(_url(role), _form(activation_hours=hours, activation_minutes=minutes,
                                                   max_active_days="90"))  # fmt: skip

    message = f"Activation maximum duration must be between 30 min and 24 h; it is {asked}."
    assertContains(response, f'<p class="error" id="id_activation_hours_error" role="alert">{message}</p>', html=True)
    assertContains(response, 'name="max_active_days" value="90"')  # what was typed stays
    settings = RoleSettings.objects.get(role=role)
    assert (settings.activation_max_minutes, settings.max_active_days) == (480, 180)
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_require_approval_without_approvers_is_refused(admin_client, role):
    response = admin_client.post(_url(role), _form(require_approval="on"))

    assertContains(response, f'<p class="error" role="alert">{rules.APPROVERS_REQUIRED}</p>', html=True)
    assert RoleSettings.objects.get(role=role).require_approval is False


def test_invalid_ticket_number_pattern_is_refused_with_the_reason(admin_client, role):
    response = admin_client.post(_url(role), _form(ticket_number_pattern="^INC-(\\d+$"))

    assertContains(response, "Ticket number pattern is not a valid regular expression (missing ),")
    assertContains(response, 'value="^INC-(\\d+$"')
    assert RoleSettings.objects.get(role=role).ticket_number_pattern == ""


def test_saving_changes_audits_old_and_new_values(admin_client, pim_admin, role, bob):
    approvers = Group.objects.create(name="Helpdesk leads")

    response = admin_client.post(
        _url(role),
        _form(activation_hours="2", activation_minutes="30", require_approval="on",
              stages=[{"approvers": [str(bob.pk)], "approver_groups": [str(approvers.pk)], "timeout_hours": "4"}],
              require_ticket_on_activation="on", ticket_number_pattern=r"^INC-\d+$",
              require_mfa_on_active_assignment=None),
        follow=True,
    )  # fmt: skip

    assertContains(response, "Settings of Helpdesk Operator saved.")
    settings = RoleSettings.objects.get(role=role)
    assert settings.activation_max_minutes == 150
    [stage] = settings.stages.all()
    assert (stage.timeout_minutes, list(stage.approvers.all())) == (240, [bob])
    event = AuditEvent.objects.get(action="settings.updated")
    assert event.actor == pim_admin
    assert event.data["changes"] == {
        "activation_max_minutes": [480, 150],
        "require_approval": [False, True],
        "require_ticket_on_activation": [False, True],
        "ticket_number_pattern": ["", r"^INC-\d+$"],
        "require_mfa_on_active_assignment": [True, False],
        "stages": [
            [],
            [
                {
                    "approvers": ["bob"],
                    "approver_groups": ["Helpdesk leads"],
                    "approvals_required": 1,
                    "timeout_minutes": 240,
                    "escalate_after_minutes": None,
                    "escalation_approvers": [],
                    "escalation_groups": [],
                }
            ],
        ],
    }
    assertContains(response, 'name="activation_hours" value="2"')


def test_ticket_pattern_set_here_refuses_a_non_matching_ticket_number(admin_client, role, alice):
    eligibility = EligibleAssignmentFactory(principal=alice, role=role)
    admin_client.post(_url(role), _form(require_ticket_on_activation="on", ticket_number_pattern=r"^INC-\d+$",
                                        require_mfa_on_activation=None))  # fmt: skip

    with pytest.raises(ValidationError) as refusal:
        activation_services.request_activation(
            actor=alice, eligibilities=[eligibility], duration=timedelta(hours=1),
            justification="Reset the helpdesk queue", ticket_system="ServiceNow", ticket_number="42",
        )  # fmt: skip

    assert any(r"^INC-\d+$" in message and "42" in message for message in refusal.value.messages)


def test_two_stages_with_escalation_are_saved_and_shown_in_order(admin_client, role, bob, carol, dave):
    response = admin_client.post(
        _url(role),
        _form(require_approval="on", stages=[
            {"approvers": [str(bob.pk), str(carol.pk)], "approvals_required": "2"},
            {"approvers": [str(dave.pk)], "timeout_hours": "8", "escalate_after_hours": "2",
             "escalation_approvers": [str(bob.pk)]},
        ]),
        follow=True,
    )  # fmt: skip

    assertContains(response, "Settings of Helpdesk Operator saved.")
    first, second = RoleSettings.objects.get(role=role).stages.order_by("position")
    assert (first.approvals_required, sorted(u.username for u in first.approvers.all())) == (2, ["bob", "carol"])
    assert (second.timeout_minutes, second.escalate_after_minutes) == (480, 120)
    assert list(second.escalation_approvers.all()) == [bob]
    assertContains(response, "<legend>Stage 2</legend>", html=True)
    assertContains(response, 'name="stages-1-escalate_after_hours" value="2"')


def test_a_stage_refusal_sits_beside_its_field_in_that_stage(admin_client, role, bob, dave):
    response = admin_client.post(
        _url(role),
        _form(require_approval="on", stages=[
            {"approvers": [str(bob.pk)]},
            {"approvers": [str(dave.pk)], "approvals_required": "3"},
        ]),
    )  # fmt: skip

    message = ("Stage 2: approvals required is 3, but only 1 approver(s) are named; name at least as many "
               "approvers as approvals required, or an approver group.")  # fmt: skip
    assertContains(response, f'<p class="error" id="id_stages-1-approvals_required_error" role="alert">{message}</p>',
                   html=True)  # fmt: skip
    assert not RoleSettings.objects.get(role=role).stages.exists()
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_removing_a_stage_keeps_the_others_in_order(admin_client, pim_admin, role, bob, carol):
    update_role_settings(actor=pim_admin, role=role, changes={"require_approval": True},
                         stages=[StagePlan(approvers=(bob,)), StagePlan(approvers=(carol,))])  # fmt: skip
    data = _form(require_approval="on", stages=[{"approvers": [str(bob.pk)], "DELETE": "on"},
                                                {"approvers": [str(carol.pk)]}])  # fmt: skip
    data["stages-INITIAL_FORMS"] = "2"

    response = admin_client.post(_url(role), data, follow=True)

    assertContains(response, "Settings of Helpdesk Operator saved.")
    [stage] = RoleSettings.objects.get(role=role).stages.all()
    assert (stage.position, list(stage.approvers.all())) == (1, [carol])


def test_notification_rules_are_saved_when_they_differ_from_entras_defaults(admin_client, role):
    response = admin_client.post(
        _url(role),
        _form(notify__activated__admin__default=None, notify__activated__admin__critical="on",
              notify__activated__approver__additional="secops@example.com, oncall@example.com"),
        follow=True,
    )  # fmt: skip

    assertContains(response, "Settings of Helpdesk Operator saved.")
    assert RoleSettings.objects.get(role=role).notification_rules == {
        "role.activated.admin": {"default_recipients": False, "additional_recipients": [], "critical_only": True},
        "role.activated.approver": {"default_recipients": True, "critical_only": False,
                                    "additional_recipients": ["secops@example.com", "oncall@example.com"]},
    }  # fmt: skip
    assertContains(response, 'value="secops@example.com, oncall@example.com"')


def test_a_bad_additional_recipient_is_refused_beside_its_rule(admin_client, role):
    response = admin_client.post(_url(role), _form(notify__eligible_assigned__assignee__additional="bob@, a@b.example"))

    message = ("Notification to the assigned user (assignee) (members are assigned as eligible to this role): "
               "&#x27;bob@&#x27; is not an email address; list addresses separated by commas.")  # fmt: skip
    assertContains(response, f'<p class="error" id="id_notify__eligible_assigned__assignee__additional_error" '
                             f'role="alert">{message}</p>', html=True)  # fmt: skip
    assert RoleSettings.objects.get(role=role).notification_rules == {}
