"""What every install has after migrate: nine built-in roles at Entra's defaults, and '/'."""

from roles.models import Role, RoleSettings, Scope

BUILTIN_TIERS = {
    "global-administrator": "critical",
    "privileged-role-administrator": "critical",
    "security-administrator": "high",
    "security-reader": "standard",
    "user-administrator": "high",
    "exchange-administrator": "high",
    "billing-administrator": "standard",
    "helpdesk-administrator": "standard",
    "application-administrator": "high",
}

ENTRA_DEFAULTS = {
    "activation_max_minutes": 480,
    "require_mfa_on_activation": True,
    "require_justification_on_activation": True,
    "require_ticket_on_activation": False,
    "require_approval": False,
    "allow_permanent_eligible": True,
    "max_eligible_days": 365,
    "allow_permanent_active": False,
    "max_active_days": 180,
    "require_mfa_on_active_assignment": True,
    "require_justification_on_active_assignment": True,
}


def test_the_nine_builtin_roles_exist_with_their_tiers(db):
    builtin = dict(Role.objects.filter(is_builtin=True).values_list("slug", "tier"))

    assert builtin == BUILTIN_TIERS


def test_every_builtin_role_starts_at_entras_default_settings(db):
    for role_settings in RoleSettings.objects.filter(role__is_builtin=True).select_related("role"):
        actual = {field: getattr(role_settings, field) for field in ENTRA_DEFAULTS}
        assert actual == ENTRA_DEFAULTS, role_settings.role.slug
        assert not role_settings.stages.exists()  # nobody approves until an administrator says who
    assert RoleSettings.objects.filter(role__is_builtin=True).count() == 9


def test_the_directory_root_scope_exists_without_a_parent(db):
    root = Scope.objects.get(path="/")

    assert root.parent is None
