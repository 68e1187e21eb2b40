"""First use: the first account, with permanent Global and Privileged Role Administrator."""

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, Role, RoleSettings, Scope
from roles.selectors import administrator_holders
from roles.services.assignments import (
    create_assignment,
)

BOOTSTRAP_REFUSED = (
    "Bootstrap is only for the first account: %(holders)s already hold Global Administrator or "
    "Privileged Role Administrator. Nothing was changed."
)


USERNAME_TAKEN = "An account named %(username)s already exists."


def bootstrap_first_administrator(*, username: str, email: str, password: str):
    """Entra's first-use rule: the first account gets permanent active Global Administrator
    and Privileged Role Administrator at the root. Refused, changing nothing, once anyone
    holds either role."""
    User = get_user_model()
    with transaction.atomic():
        # Two bootstraps at once: the second waits here until the first commits, then sees
        # its holders. Without the lock both would find none and both would succeed.
        list(RoleSettings.objects.select_for_update().filter(role__slug__in=ADMIN_ROLE_SLUGS).order_by("pk"))
        holders = administrator_holders()
        if holders:
            raise ValidationError(
                BOOTSTRAP_REFUSED, code="already_bootstrapped", params={"holders": ", ".join(sorted(holders))}
            )
        if User.objects.filter(username=username).exists():
            raise ValidationError(
                {"username": ValidationError(USERNAME_TAKEN, code="username_taken", params={"username": username})}
            )
        user = User(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as weak:
            raise ValidationError({"password": weak.error_list}) from None
        user.set_password(password)
        user.full_clean()
        user.save()
        record_event(
            actor=None, action="account.created", target=user, principal=user, data={"via": "bootstrap", "email": email}
        )
        root = Scope.objects.get(path=ROOT_SCOPE_PATH)
        now = timezone.now()
        for slug in ADMIN_ROLE_SLUGS:
            # Permanent active is not allowed by default settings; first use is the exception.
            create_assignment(
                ActiveAssignment,
                actor=None,
                principal=user,
                role=Role.objects.get(slug=slug),
                scope=root,
                start_at=now,
                end_at=None,
                justification="First administrator (bootstrap).",
                enforce_settings=False,
                source=ActiveSource.ADMIN,
            )
    return user
