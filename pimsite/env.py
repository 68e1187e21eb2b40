"""Loud readers for environment variables: a value they do not understand is an error, not a default."""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off.")


def env_int(name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}; it is {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_url(name: str, *, schemes: tuple[str, ...], default_port: int | None = None) -> str:
    """A URL whose scheme is one of `schemes`, with a host and (unless `default_port`) a port;
    "" when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    example = f"{schemes[0]}://host" + ("" if default_port else ":514")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a URL such as {example}.") from None
    if parts.scheme not in schemes or not parts.hostname:
        raise ImproperlyConfigured(f"{name}={raw!r} must look like {example} (scheme one of: {', '.join(schemes)}).")
    if port is None and default_port is None:
        raise ImproperlyConfigured(f"{name}={raw!r} needs a port, such as {example}.")
    return raw
