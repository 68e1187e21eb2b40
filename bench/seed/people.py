"""Users with authenticator apps, scopes, and the roles with their settings and approval stages."""

import random

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django_otp.plugins.otp_totp.models import TOTPDevice

from bench.seed.shapes import ACTIVATION_ROLE_PREFIX, BATCH, PASSWORD, SPECIAL_USERS, Size, totp_key
from roles.builtin import ROOT_SCOPE_PATH
from roles.choices import Tier
from roles.models import ApprovalStage, Role, RoleSettings, Scope

FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ines", "Jon", "Kemal", "Lea")
LAST_NAMES = ("Meyer", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Silva", "Tanaka", "Ueda", "Varga")


def make_users(size: Size, rng: random.Random) -> dict:
    """The cast (SPECIAL_USERS) and everyone else, each with a confirmed authenticator app; by username."""
    User = get_user_model()
    password = make_password(PASSWORD)  # one hash for all: the hasher's cost is not what is measured
    names = [*SPECIAL_USERS, *(f"user{n:05d}" for n in range(size.users - len(SPECIAL_USERS)))]
    rows = []
    for name in names:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        rows.append(
            User(
                username=name,
                first_name=first,
                last_name=last,
                email=f"{name}@example.com",
                password=password,
                is_active=True,
            )
        )
    created = User.objects.bulk_create(rows, batch_size=BATCH)
    TOTPDevice.objects.bulk_create(
        [
            TOTPDevice(user=user, name="Authenticator app", key=totp_key(user.username), confirmed=True)
            for user in created
        ],
        batch_size=BATCH,
    )
    return {user.username: user for user in created}


def make_scopes(size: Size) -> list[Scope]:
    """The root, subscriptions with three resource groups each, and last the expiry sweep's own scope."""
    root = Scope.objects.get(path=ROOT_SCOPE_PATH)
    subscriptions = Scope.objects.bulk_create(
        [
            Scope(path=f"/subscriptions/sub-{n:02d}", name=f"Subscription {n}", parent=root)
            for n in range(max(3, size.roles // 20))
        ]
    )
    groups = Scope.objects.bulk_create(
        [
            Scope(path=f"{sub.path}/rg-{n}", name=f"Resource group {n}", parent=sub)
            for sub in subscriptions
            for n in range(3)
        ]
    )
    sweep = Scope.objects.create(path="/bench-sweep", name="Expiry sweep benchmark", parent=root)
    return [root, *subscriptions, *groups, sweep]


def make_roles(size: Size, rng: random.Random, users: dict) -> list[Role]:
    """The built-ins (their settings come from the migration) plus custom roles with settings of
    every kind: a quarter need approval (one stage, bench-approver), some a ticket. A block of
    them needs neither: the activation benchmark activates those."""
    builtin = list(Role.objects.order_by("pk"))
    n_custom = size.roles - len(builtin)
    n_activatable = max(2, n_custom // 4)
    custom = Role.objects.bulk_create(
        [
            Role(
                slug=f"{ACTIVATION_ROLE_PREFIX}{n:03d}" if n < n_activatable else f"custom-role-{n:03d}",
                name=f"{'Operations' if n < n_activatable else 'Custom'} Role {n:03d}",
                description="A custom role made for the benchmark.",
                tier=(Tier.STANDARD, Tier.HIGH, Tier.CRITICAL)[n % 3],
            )
            for n in range(n_custom)
        ],
        batch_size=BATCH,
    )
    settings = []
    for n, role in enumerate(custom):
        activatable = n < n_activatable
        settings.append(
            RoleSettings(
                role=role,
                activation_max_minutes=rng.choice((60, 120, 240, 480)),
                require_approval=not activatable and n % 4 == 1,
                require_ticket_on_activation=not activatable and n % 7 == 3,
                ticket_number_pattern=r"^INC-\d{4,}$" if n % 14 == 3 else "",
                notification_rules={},
            )
        )
    RoleSettings.objects.bulk_create(settings, batch_size=BATCH)
    approval = [s for s in settings if s.require_approval]
    stages = ApprovalStage.objects.bulk_create([ApprovalStage(role_settings=s, position=1) for s in approval])
    ApprovalStage.approvers.through.objects.bulk_create(
        [ApprovalStage.approvers.through(approvalstage=stage, user=users["bench-approver"]) for stage in stages]
    )
    return builtin + custom
