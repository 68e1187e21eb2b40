"""The registry of target kinds. A kind knows its parameters and how to grant, revoke and list
a role's holders on its system; all three are idempotent (granting what is granted, or revoking
what is not, changes nothing and succeeds). Apps add kinds from AppConfig.ready() with
register(); the built-in ones are registered by roles (roles/apps.py)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ValidationError

LOGIN_ATTRIBUTES = ("username", "email", "email_local_part")


class ProvisioningError(Exception):
    """An attempt that did not reach its goal; the message says why, for the page and the audit."""


@dataclass(frozen=True)
class Access:
    """One user's access as a kind is asked to grant or revoke it."""

    target: Any  # roles.provisioning.models.Target
    user: Any  # None for a grant found on the target that no PIM user maps to (drift)
    login: str
    role: str  # the PIM role's slug
    scope: str
    assignment_id: int
    until: datetime | None
    idempotency_key: str


class TargetKind(Protocol):
    key: str
    label: str
    params_help: str

    def check_params(self, params: dict) -> dict:
        """The parameters, cleaned; ValidationError({"params": [...]}) naming what is wrong."""

    def login_of(self, target, user) -> str:
        """How `user` is named on the target."""

    def grant(self, access: Access) -> None: ...

    def revoke(self, access: Access) -> None: ...

    def can_list(self, target) -> bool:
        """Whether list_grants can tell who holds the role there (the drift check needs it)."""

    def list_grants(self, target) -> set[str] | None:
        """The logins holding the role on the target now; None when the target cannot tell."""


_kinds: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> TargetKind:
    _kinds[kind.key] = kind
    return kind


def get(key: str) -> TargetKind:
    try:
        return _kinds[key]
    except KeyError:
        raise ProvisioningError(f"no target kind '{key}' is registered on this site") from None


def choices() -> list[tuple[str, str]]:
    return sorted(((key, kind.label) for key, kind in _kinds.items()), key=lambda choice: choice[1])


UNKNOWN_KIND = "Kind: '%(value)s' is not one of %(choices)s."


def check_kind(key: str) -> TargetKind:
    if key not in _kinds:
        params = {"value": key, "choices": ", ".join(sorted(_kinds))}
        raise ValidationError({"kind": ValidationError(UNKNOWN_KIND, code="unknown_kind", params=params)})
    return _kinds[key]


def params_error(message: str, **params) -> ValidationError:
    return ValidationError({"params": ValidationError(message, code="invalid_params", params=params or None)})


def login_by_attribute(user, attribute: str) -> str:
    """A user's name on another system: username, email, or the part of the email before @."""
    if attribute == "email":
        return user.email
    if attribute == "email_local_part":
        return user.email.partition("@")[0]
    return user.get_username()
