"""The sizes of the data set and what the measurements need to know about it."""

import hashlib
from dataclasses import dataclass, field

BATCH = 2000
PASSWORD = "bench-password-not-a-secret"  # noqa: S105  throw-away accounts on a throw-away server
SESSION_BACKEND = "pimsite.auth_backends.PasswordBackend"
ACTIVATION_ROLE_PREFIX = "bench-activatable-"  # custom roles without approval or ticket: the API activates them


@dataclass(frozen=True)
class Size:
    users: int
    roles: int
    eligible: int
    active: int
    events: int


FULL = Size(users=2000, roles=200, eligible=20_000, active=5_000, events=1_000_000)
QUICK = Size(users=200, roles=20, eligible=2_000, active=500, events=50_000)


@dataclass
class ActivationUser:
    username: str
    token: str  # the bearer secret
    role: str
    scope: str
    totp_key: str  # hex, as TOTPDevice.key


@dataclass
class Seeded:
    """What the measurements need to know about the data set."""

    size: Size
    check_token: str = ""
    # (username, role slug, scope path): about half held, half only eligible.
    check_queries: list[tuple[str, str, str]] = field(default_factory=list)
    many_user_id: int = 0  # 50 eligible roles, 10 of them active
    one_user_id: int = 0  # 1 eligible role, active
    reader_id: int = 0  # permanent active Global Administrator at '/': reads /audit/
    sweep_role_id: int = 0
    sweep_user_ids: list[int] = field(default_factory=list)
    activation_users: list[ActivationUser] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


SPECIAL_USERS = ("bench-many", "bench-one", "bench-reader", "bench-checker", "bench-approver", "bench-admin")


def totp_key(username: str) -> str:
    """Each device its own key (as enrolment makes them), derived so the client can show codes."""
    return hashlib.sha256(f"bench-totp:{username}".encode()).hexdigest()[:40]
