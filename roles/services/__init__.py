"""Every change to roles, scopes, role settings and assignments. One function per change:
keyword-only arguments, acting user first, one transaction, rows locked, audit event inside.

definitions: scopes, roles, settings and approval stages; assignments: eligible and active
assignments of users and groups; activated: what activations produce (grant, deactivate, extend,
leaving a group); bootstrap: the first account; imports: CSV import."""

from roles.services.activated import (
    NOT_ACTIVATED,
    NOT_YOURS,
    deactivate_assignment,
    end_access_through_group,
    extend_activation,
    grant_activation,
)
from roles.services.assignments import (
    ACTIVATION_END_FIXED,
    ALREADY_ASSIGNED,
    ALREADY_ENDED,
    END_IN_PAST,
    MFA_REQUIRED_ON_ACTIVE,
    already_assigned,
    assign_active,
    assign_eligible,
    change_assignment_end,
    check_mfa_on_active,
    check_not_assigned,
    convert_to_eligible,
    holder_fields,
    record_expiries,
    record_expiry,
    remove_assignment,
)
from roles.services.bootstrap import BOOTSTRAP_REFUSED, USERNAME_TAKEN, bootstrap_first_administrator
from roles.services.breakglass import (
    flag_break_glass,
    is_break_glass,
    record_break_glass_sign_in,
    unflag_break_glass,
)
from roles.services.definitions import (
    BUILTIN_NOT_DELETABLE,
    BUILTIN_READ_ONLY,
    ROLE_IN_USE,
    SETTINGS_FIELDS,
    create_role,
    create_scope,
    delete_role,
    update_role,
    update_role_settings,
)
from roles.services.imports import import_eligible_assignments

__all__ = [
    "ACTIVATION_END_FIXED",
    "ALREADY_ASSIGNED",
    "ALREADY_ENDED",
    "BOOTSTRAP_REFUSED",
    "BUILTIN_NOT_DELETABLE",
    "BUILTIN_READ_ONLY",
    "END_IN_PAST",
    "MFA_REQUIRED_ON_ACTIVE",
    "NOT_ACTIVATED",
    "NOT_YOURS",
    "ROLE_IN_USE",
    "SETTINGS_FIELDS",
    "USERNAME_TAKEN",
    "already_assigned",
    "assign_active",
    "assign_eligible",
    "bootstrap_first_administrator",
    "change_assignment_end",
    "check_mfa_on_active",
    "check_not_assigned",
    "convert_to_eligible",
    "create_role",
    "create_scope",
    "deactivate_assignment",
    "delete_role",
    "end_access_through_group",
    "extend_activation",
    "flag_break_glass",
    "is_break_glass",
    "record_break_glass_sign_in",
    "unflag_break_glass",
    "grant_activation",
    "holder_fields",
    "import_eligible_assignments",
    "record_expiry",
    "record_expiries",
    "remove_assignment",
    "update_role",
    "update_role_settings",
]
