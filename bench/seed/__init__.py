"""A realistic data set, loaded in bulk: users with authenticator apps, the built-in roles plus
custom ones (each with settings, some with approval stages), scopes, eligible and active
assignments with their activation requests and expiry schedules, and a long audit log whose
hash chain is computed here exactly as audit.services.record_event computes it (the same
audit.chain functions), so `manage.py verify_audit` passes over it.

Rows go in with bulk_create in batches and, for the audit log, PostgreSQL's COPY; never through
the services one by one (those write an audit event each and would take hours). The few rows
whose making is itself a product path (the access-decision token) go through their service."""

import random
import time
from datetime import timedelta

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import Schedule

from activations.models import ActivationRequest
from audit.models import AuditEvent
from bench.seed.assignments import make_assignments
from bench.seed.audit_log import load_audit_log
from bench.seed.people import make_roles, make_scopes, make_users
from bench.seed.shapes import FULL, QUICK, SESSION_BACKEND, ActivationUser, Seeded, Size
from pimsite.models import TokenPermission
from pimsite.services import create_api_token
from roles import mfa
from roles.models import ActiveAssignment, EligibleAssignment, Role, RoleSettings, Scope


def seed(size: Size, *, rng_seed: int = 2026) -> Seeded:
    """Load the data set into the (migrated, empty) database; the same one for the same seed."""
    rng = random.Random(rng_seed)  # noqa: S311  a repeatable data set, not a secret
    out = Seeded(size=size)
    now = timezone.now().replace(microsecond=0)

    started = time.perf_counter()
    # The log comes first: it is history, older than everything the steps below write through
    # the services (the token's api_token.created continues the chain from its head).
    users = make_users(size, rng)
    scopes = make_scopes(size)
    roles = make_roles(size, rng, users)
    out.timings["users, roles, scopes"] = time.perf_counter() - started

    started = time.perf_counter()
    load_audit_log(size, rng, users=users, roles=roles, scopes=scopes, end=now - timedelta(minutes=5))
    out.timings["audit log (COPY, hash chain)"] = time.perf_counter() - started

    started = time.perf_counter()
    make_assignments(size, rng, out, users=users, roles=roles, scopes=scopes, now=now)
    out.timings["assignments, requests, schedules"] = time.perf_counter() - started

    started = time.perf_counter()
    checker = users["bench-checker"]
    _, out.check_token = create_api_token(actor=checker, name="access checks", permissions=[TokenPermission.CHECK])
    out.timings["tokens"] = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    out.timings["VACUUM ANALYZE"] = time.perf_counter() - started
    out.counts = {
        "users": get_user_model().objects.count(),
        "roles": Role.objects.count(),
        "role settings": RoleSettings.objects.count(),
        "scopes": Scope.objects.count(),
        "eligible assignments": EligibleAssignment.objects.count(),
        "active assignments": ActiveAssignment.objects.count(),
        "activation requests": ActivationRequest.objects.count(),
        "schedules": Schedule.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }
    return out


def verified_session(user_id: int) -> str:
    """A signed-in, OTP-verified session row, as the sign-in pages leave it (the keys
    tests/conftest.py verify_session sets); returns the session key for the cookie."""
    user = get_user_model().objects.get(pk=user_id)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = SESSION_BACKEND
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    mfa.record_verification(session, at=timezone.now())
    session.create()
    return session.session_key


__all__ = ["FULL", "QUICK", "ActivationUser", "Seeded", "Size", "seed", "verified_session"]
