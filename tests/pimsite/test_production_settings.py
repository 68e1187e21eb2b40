"""PIM_ENV=production passes Django's deploy checks with no warning, and refuses to start
with the demo secret key or with DEBUG, naming the variable to fix."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CHECK = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    """The variables an operator sets, on a clean copy of this environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIM_", "DJANGO_")) and key not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")
    }
    env.update(
        PIM_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ALLOWED_HOSTS="pim.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'pim.sqlite3'}",
    )
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(DEPLOY_CHECK, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_the_deploy_check_without_warnings(production_env):
    result = deploy_check(production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_without_database_url_passes_too(production_env):
    del production_env["DATABASE_URL"]

    result = deploy_check(production_env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_the_demo_secret_key(production_env):
    del production_env["SECRET_KEY"]

    result = deploy_check(production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "set SECRET_KEY to a random value of at least 50 characters" in result.stderr


def test_production_refuses_a_short_secret_key(production_env):
    production_env["SECRET_KEY"] = "too-short"

    result = deploy_check(production_env)

    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug(production_env):
    production_env["DEBUG"] = "1"

    result = deploy_check(production_env)

    assert result.returncode != 0
    assert "PIM_ENV=production refuses DEBUG: unset DEBUG or set DEBUG=0." in result.stderr


def test_production_needs_allowed_hosts(production_env):
    del production_env["ALLOWED_HOSTS"]

    result = deploy_check(production_env)

    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def settings_value(env: dict[str, str], expression: str) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    env = {**env, "DJANGO_SETTINGS_MODULE": "pimsite.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_scale_out_settings_read_from_the_environment(production_env):
    production_env.update(Q_WORKERS="6", PIM_REDIS_URL="redis://queue.internal:6379/0", PIM_HSTS_SECONDS="600")
    assert settings_value(production_env, "settings.Q_CLUSTER['workers'], settings.Q_CLUSTER.get('redis'), "
                          "'orm' in settings.Q_CLUSTER, settings.SECURE_HSTS_SECONDS") == (
        "6 redis://queue.internal:6379/0 False 600")  # fmt: skip


def test_a_redis_url_that_is_not_one_is_refused_with_its_name(production_env):
    production_env["PIM_REDIS_URL"] = "http://queue.internal"
    result = deploy_check(production_env)
    assert result.returncode != 0
    assert "PIM_REDIS_URL='http://queue.internal' must look like redis://host" in result.stderr
