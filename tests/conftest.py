"""The cast and the harness shared by every test.

Cast: alice is eligible for roles in most tests, bob approves, carol administers PIM when
she activates, dave holds nothing; pim_admin holds an active Privileged Role Administrator
assignment at '/'. Everyone has an authenticator app on the RFC 6238 test key.
"""

import os
import shutil

import pytest
from django.db import connection
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, totp

from roles import mfa
from roles.models import Role
from tests.factories import TEST_PASSWORD, ActiveAssignmentFactory, TOTPDeviceFactory, UserFactory, root_scope

# Playwright's sync API keeps an event loop running in the main thread for the whole session;
# without this every ORM call after the first browser test raises SynchronousOnlyOperation.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests run in make test's PostgreSQL pass; the SQLite pass deselects them
    with -m. Run by hand on SQLite, they say why they did not run."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if os.environ.get("PIM_REQUIRE_POSTGRES") and not on_postgres:
        raise pytest.UsageError("PIM_REQUIRE_POSTGRES is set but DATABASE_URL does not point at PostgreSQL.")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(
                pytest.mark.skipif(True, reason="needs PostgreSQL: run make test or tests/with-postgres.sh")
            )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM:
        pytest.fail("Debian's chromium is not installed: make test installs it (apt-get install chromium).")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL, let Django's flush (after browser and other transactional tests) empty
    the audit table on this throw-away database; see audit migration 0002."""
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            name = connection.ops.quote_name(connection.settings_dict["NAME"])
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER DATABASE {name} SET pim.audit_allow_truncate = 'on'")
            connection.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _reads_from_the_database(settings):
    """roles.until_changed forgets what it keeps when a change commits; a test's transaction
    never commits, so tests read the database every time. tests/roles/test_until_changed.py
    turns it on, with transactions that commit."""
    settings.PIM_CACHE_UNTIL_CHANGED = False


def current_code(device) -> str:
    """The code the authenticator app shows now (time-machine moves 'now')."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def wrong_code(device) -> str:
    """A 6-digit code the app does not show now, nor one step either side."""
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    shown = set()
    for offset in (-1, 0, 1):
        generator.drift = device.drift + offset
        shown.add(f"{generator.token():06d}")
    candidate = 123456
    while f"{candidate:06d}" in shown:
        candidate = (candidate + 1) % 10**6
    return f"{candidate:06d}"


def make_user(username: str, **extra):
    user = UserFactory(username=username, **extra)
    TOTPDeviceFactory(user=user)
    return user


@pytest.fixture
def alice(db):
    return make_user("alice", first_name="Alice")


@pytest.fixture
def bob(db):
    return make_user("bob", first_name="Bob")


@pytest.fixture
def carol(db):
    return make_user("carol", first_name="Carol")


@pytest.fixture
def dave(db):
    return make_user("dave", first_name="Dave")


@pytest.fixture
def pim_admin(db):
    """Holds a permanent active Privileged Role Administrator assignment at '/'."""
    user = make_user("pimadmin")
    ActiveAssignmentFactory(
        principal=user, role=Role.objects.get(slug="privileged-role-administrator"), scope=root_scope()
    )
    return user


def verify_session(client, user) -> None:
    """Sign `user` in on `client` with an OTP-verified session, as the sign-in pages would."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.totpdevice_set.get(confirmed=True).persistent_id
    mfa.record_verification(session, at=timezone.now())  # the code was entered just now
    session.save()


@pytest.fixture
def mfa_client(client, alice):
    """alice, signed in with password and code."""
    verify_session(client, alice)
    return client


@pytest.fixture
def now():
    return timezone.now()


__all__ = ["TEST_PASSWORD", "current_code", "make_user", "verify_session", "wrong_code"]
