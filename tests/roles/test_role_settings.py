"""Role settings stay inside Entra's ranges on every path: model validation, the rule, the
service (which audits old and new values) and the database itself."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from audit.models import AuditEvent
from roles import rules, services
from roles.models import Role, RoleSettings


@pytest.fixture
def exchange(db):
    return Role.objects.get(slug="exchange-administrator")


def settings_row(role) -> dict:
    return RoleSettings.objects.filter(role=role).values().get()


@pytest.mark.parametrize(
    ("field", "value", "label", "low", "high"),
    [
        ("activation_max_minutes", 10, "Activation maximum duration", "30 min", "24 h"),
        ("activation_max_minutes", 24 * 60 + 1, "Activation maximum duration", "30 min", "24 h"),
        ("max_eligible_days", 3651, "Maximum eligible assignment duration", "1 day", "3650 days"),
        ("max_active_days", 0, "Maximum active assignment duration", "1 day", "3650 days"),
    ],
)
def test_full_clean_names_the_setting_and_its_range(exchange, field, value, label, low, high):
    role_settings = exchange.settings
    setattr(role_settings, field, value)

    with pytest.raises(ValidationError) as refusal:
        role_settings.full_clean()

    message = " ".join(refusal.value.message_dict[field])
    assert label in message
    assert low in message
    assert high in message


def test_the_rule_reports_every_field_out_of_range_at_once():
    with pytest.raises(ValidationError) as refusal:
        rules.check_role_settings({"activation_max_minutes": 10, "max_active_days": 4000})

    assert set(refusal.value.message_dict) == {"activation_max_minutes", "max_active_days"}
    assert refusal.value.message_dict["activation_max_minutes"] == [
        "Activation maximum duration must be between 30 min and 24 h; it is 10 min."
    ]


def test_the_rule_accepts_the_edges_of_each_range():
    rules.check_role_settings({bound.field: bound.low for bound in rules.ROLE_SETTINGS_BOUNDS})
    rules.check_role_settings({bound.field: bound.high for bound in rules.ROLE_SETTINGS_BOUNDS})


def test_an_out_of_range_update_is_refused_and_changes_nothing(exchange, pim_admin):
    before = settings_row(exchange)

    with pytest.raises(ValidationError) as refusal:
        services.update_role_settings(actor=pim_admin, role=exchange, changes={"activation_max_minutes": 10})

    message = " ".join(refusal.value.message_dict["activation_max_minutes"])
    assert "Activation maximum duration" in message
    assert "30 min" in message
    assert "24 h" in message
    assert settings_row(exchange) == before
    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_a_valid_change_is_saved_and_audited_with_old_and_new_values(exchange, pim_admin):
    services.update_role_settings(
        actor=pim_admin, role=exchange, changes={"require_ticket_on_activation": True, "activation_max_minutes": 120}
    )

    role_settings = RoleSettings.objects.get(role=exchange)
    assert role_settings.require_ticket_on_activation is True
    assert role_settings.activation_max_minutes == 120
    event = AuditEvent.objects.get(action="settings.updated")
    assert event.actor == pim_admin
    assert event.role == "exchange-administrator"
    assert event.data["changes"] == {
        "require_ticket_on_activation": [False, True],
        "activation_max_minutes": [480, 120],
    }


def test_a_change_to_the_current_values_writes_nothing(exchange, pim_admin):
    services.update_role_settings(
        actor=pim_admin, role=exchange, changes={"activation_max_minutes": 480, "require_approval": False}
    )

    assert not AuditEvent.objects.filter(action="settings.updated").exists()


def test_an_unknown_setting_is_a_programming_error(exchange, pim_admin):
    with pytest.raises(ValueError, match="is_builtin"):
        services.update_role_settings(actor=pim_admin, role=exchange, changes={"is_builtin": False})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("activation_max_minutes", 10),
        ("activation_max_minutes", 24 * 60 + 1),
        ("max_eligible_days", 0),
        ("max_active_days", 3651),
    ],
)
def test_the_database_refuses_out_of_range_values_written_around_the_service(exchange, field, value):
    with pytest.raises(IntegrityError), transaction.atomic():
        RoleSettings.objects.filter(role=exchange).update(**{field: value})


def test_a_builtin_roles_name_tier_and_description_are_fixed_on_every_path(pim_admin):
    exchange = Role.objects.get(slug="exchange-administrator")

    with pytest.raises(ValidationError) as refusal:
        services.update_role(actor=pim_admin, role=exchange, name="Mail God", tier=exchange.tier,
                             description=exchange.description)  # fmt: skip

    assert refusal.value.messages == [services.BUILTIN_READ_ONLY % {"role": "Exchange Administrator"}]
    assert Role.objects.get(slug="exchange-administrator").name == "Exchange Administrator"
    assert not AuditEvent.objects.filter(action="role.updated").exists()
