"""Eligible and active assignments, activation requests, expiry schedules, and the tokens."""

import random
import string
from datetime import timedelta

from django_q.models import Schedule

from activations.choices import RequestKind, RequestStatus
from activations.models import ActivationRequest
from activations.scheduling import ensure_repeating_schedules
from bench.seed.shapes import ACTIVATION_ROLE_PREFIX, BATCH, SPECIAL_USERS, ActivationUser, Seeded, Size, totp_key
from pimsite.models import TOKEN_PREFIX, ApiToken, TokenPermission, token_digest
from roles.builtin import ADMIN_ROLE_SLUGS, GLOBAL_ADMINISTRATOR, ROOT_SCOPE_PATH
from roles.choices import ActiveSource
from roles.models import ActiveAssignment, EligibleAssignment


def make_assignments(
    size: Size, rng: random.Random, out: Seeded, *, users: dict, roles: list, scopes: list, now
) -> None:
    """Everyone's eligibilities (about 10 each) and a quarter as many active assignments, most
    of them activations (with their requests), some standing by an administrator; the cast that
    bench.measure needs (Seeded); expiry schedules; a token per user for the activations."""
    root, below_root = scopes[0], scopes[1:-1]  # scopes[-1] is the expiry sweep's own
    by_slug = {role.slug: role for role in roles}
    activatable = [role for role in roles if role.slug.startswith(ACTIVATION_ROLE_PREFIX)]
    # Nobody is eligible for administering PIM but its few administrators.
    others = [role for role in roles if role.slug not in ADMIN_ROLE_SLUGS]
    since = now - timedelta(days=90)

    eligible: list[EligibleAssignment] = []
    active: list[tuple[ActiveAssignment, EligibleAssignment | None]] = []

    def eligible_for(user, role, scope, *, permanent: bool) -> EligibleAssignment:
        end = None if permanent else now + timedelta(days=rng.randrange(30, 365))
        row = EligibleAssignment(
            principal=user,
            role=role,
            scope=scope,
            start_at=since,
            end_at=end,
            justification="Team membership",
            created_by=users["bench-admin"],
        )
        eligible.append(row)
        return row

    def activated(user, eligibility: EligibleAssignment) -> None:
        start = now - timedelta(minutes=rng.randrange(1, 60))
        row = ActiveAssignment(
            principal=user,
            role=eligibility.role,
            scope=eligibility.scope,
            start_at=start,
            end_at=start + timedelta(hours=rng.choice((2, 4, 8))),
            source=ActiveSource.ACTIVATION,
            justification="INC-48213 unlock helpdesk admin",
            created_by=user,
        )
        active.append((row, eligibility))

    # The special cast.
    many, one = users["bench-many"], users["bench-one"]
    many_pairs = rng.sample([(role, scope) for role in others for scope in scopes[:-1]], 50)
    for n, (role, scope) in enumerate(many_pairs):
        eligibility = eligible_for(many, role, scope, permanent=True)
        if n < 10:
            activated(many, eligibility)
    activated(one, eligible_for(one, activatable[0], root, permanent=True))
    for name in ("bench-reader", "bench-admin"):
        row = ActiveAssignment(
            principal=users[name],
            role=by_slug[GLOBAL_ADMINISTRATOR],
            scope=root,
            start_at=since,
            end_at=None,
            source=ActiveSource.ADMIN,
            justification="Break-glass and audit",
        )
        active.append((row, None))
    out.many_user_id, out.one_user_id, out.reader_id = many.pk, one.pk, users["bench-reader"].pk

    # Everyone else: the first eligibility is an activatable role at '/', kept free for the
    # activation benchmark; a share of the rest is active now (activated, or standing by an admin).
    general = [user for name, user in users.items() if name not in SPECIAL_USERS]
    eligible_budget = size.eligible - len(eligible)
    active_budget = size.active - len(active)
    admin_pairs = [(role, root) for role in roles if role.slug not in ADMIN_ROLE_SLUGS]
    for index, user in enumerate(general):
        first = activatable[index % len(activatable)]
        eligible_for(user, first, root, permanent=True)
        quota = eligible_budget * (index + 1) // len(general) - eligible_budget * index // len(general)
        # Mostly at the directory root, some at a subscription or resource group.
        picked = [role for role in rng.sample(others, min(quota, len(others))) if role != first][: quota - 1]
        chosen = [(role, root if rng.random() < 0.6 else rng.choice(below_root)) for role in picked]
        rows = [eligible_for(user, role, scope, permanent=rng.random() < 0.7) for role, scope in chosen]
        share = active_budget * (index + 1) // len(general) - active_budget * index // len(general)
        standing = 1 if share and rng.random() < 0.2 else 0
        for eligibility in rows[: share - standing]:
            activated(user, eligibility)
        if standing:
            taken = {(e.role.pk, e.scope.pk) for e in rows} | {(first.pk, root.pk)}
            role, scope = next(p for p in rng.sample(admin_pairs, len(admin_pairs)) if (p[0].pk, p[1].pk) not in taken)
            row = ActiveAssignment(
                principal=user,
                role=role,
                scope=scope,
                start_at=since,
                end_at=now + timedelta(days=rng.randrange(30, 180)),
                source=ActiveSource.ADMIN,
                justification="Standing access, to review",
                created_by=users["bench-admin"],
            )
            active.append((row, None))
        out.activation_users.append(
            ActivationUser(user.username, "", first.slug, ROOT_SCOPE_PATH, totp_key(user.username))
        )

    EligibleAssignment.objects.bulk_create(eligible, batch_size=BATCH)
    ActiveAssignment.objects.bulk_create([row for row, _ in active], batch_size=BATCH)
    ActivationRequest.objects.bulk_create(
        [
            ActivationRequest(
                kind=RequestKind.ACTIVATE,
                requester=row.principal,
                eligibility=eligibility,
                role=row.role,
                scope=row.scope,
                start_at=row.start_at,
                duration_minutes=int((row.end_at - row.start_at).total_seconds() // 60),
                justification=row.justification,
                mfa_verified_at=row.start_at,
                client_ip="10.1.2.3",
                status=RequestStatus.PROVISIONED,
                decided_at=row.start_at,
                assignment=row,
            )
            for row, eligibility in active
            if eligibility is not None
        ],
        batch_size=BATCH,
    )
    # The one-off expiry schedule every time-bound assignment gets (activations.scheduling).
    timed = [(row.kind, row) for row, _ in active if row.end_at] + [(e.kind, e) for e in eligible if e.end_at]
    Schedule.objects.bulk_create(
        [
            Schedule(
                name=f"pim.expire.{kind}.{row.pk}",
                func="activations.tasks.expire_assignment",
                args=repr((kind, row.pk)),
                schedule_type=Schedule.ONCE,
                repeats=-1,
                next_run=row.end_at,
            )
            for kind, row in timed
        ],
        batch_size=BATCH,
    )
    ensure_repeating_schedules()

    # Access decisions: half for roles held now, half for roles only eligible (refused).
    held = [(row.principal.username, row.role.slug, row.scope.path) for row, _ in active if row.principal]
    held_set = set(held)
    not_held = [q for e in eligible if (q := (e.principal.username, e.role.slug, e.scope.path)) not in held_set]
    not_held = rng.sample(not_held, min(len(held), len(not_held)))
    out.check_queries = [q for pair in zip(held, not_held, strict=False) for q in pair]
    rng.shuffle(out.check_queries)

    # Tokens for the activation benchmark: one per user (the "otp" throttle allows 10 POSTs a
    # minute per user), made as create_api_token makes them, in bulk.
    expires = now + timedelta(days=30)
    tokens = []
    for entry in out.activation_users:
        entry.token = TOKEN_PREFIX + "".join(rng.choices(string.ascii_letters + string.digits, k=43))
        tokens.append(
            ApiToken(
                user=users[entry.username],
                name="bench activations",
                digest=token_digest(entry.token),
                hint=entry.token[:8],
                permissions=[TokenPermission.API],
                expires_at=expires,
            )
        )
    ApiToken.objects.bulk_create(tokens, batch_size=BATCH)

    out.sweep_role_id = activatable[-1].pk
    out.sweep_user_ids = [user.pk for user in general]
