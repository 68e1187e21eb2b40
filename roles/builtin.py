"""The roles PIM ships with. Slugs are stable identifiers used by code and policy files."""

BUILTIN_ROLES = [
    # slug, name, tier, description
    (
        "global-administrator",
        "Global Administrator",
        "critical",
        "Can manage every aspect of the directory and every service, including PIM itself.",
    ),
    (
        "privileged-role-administrator",
        "Privileged Role Administrator",
        "critical",
        "Manages role assignments and role settings in PIM, and the PIM admin.",
    ),
    (
        "security-administrator",
        "Security Administrator",
        "high",
        "Reads security information and reports, manages security settings, dismisses alerts.",
    ),
    ("security-reader", "Security Reader", "standard", "Reads security information, the audit log and reports."),
    (
        "user-administrator",
        "User Administrator",
        "high",
        "Creates and manages users and groups, and resets passwords of non-administrators.",
    ),
    (
        "exchange-administrator",
        "Exchange Administrator",
        "high",
        "Manages mail services: mailboxes, transport rules and connectors.",
    ),
    (
        "billing-administrator",
        "Billing Administrator",
        "standard",
        "Makes purchases, manages subscriptions and support tickets, and monitors service health.",
    ),
    (
        "helpdesk-administrator",
        "Helpdesk Administrator",
        "standard",
        "Resets passwords of non-administrators and manages service requests.",
    ),
    (
        "application-administrator",
        "Application Administrator",
        "high",
        "Creates and manages application registrations and enterprise applications.",
    ),
]

GLOBAL_ADMINISTRATOR = "global-administrator"
# Holding one of these, active at the directory root, opens the PIM admin.
ADMIN_ROLE_SLUGS = ("privileged-role-administrator", GLOBAL_ADMINISTRATOR)
ROOT_SCOPE_PATH = "/"


def ensure_builtin_roles(role_model, settings_model, scope_model) -> None:
    """Create any missing built-in role, its settings and the root scope. Idempotent.

    Shared by the data migration (historical models) and post_migrate (after a flush)."""
    scope_model.objects.get_or_create(path=ROOT_SCOPE_PATH, defaults={"name": "Directory", "parent": None})
    for slug, name, tier, description in BUILTIN_ROLES:
        role, _ = role_model.objects.get_or_create(
            slug=slug, defaults={"name": name, "tier": tier, "description": description, "is_builtin": True}
        )
        settings_model.objects.get_or_create(role=role)
