"""Where the API is and which token to send: PIM_URL and PIM_TOKEN, else the config file
(PIM_CONFIG, or $XDG_CONFIG_HOME/pim/config.toml, by default ~/.config/pim/config.toml) with
the keys `url` and `token`. The environment wins, key by key, so a script can point one call
at another server without touching the file."""

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

FILE_KEYS = ("url", "token")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class ConfigError(Exception):
    """Nothing to call or no token to call with: a usage error (exit 2), naming what to set."""


@dataclass(frozen=True)
class Config:
    url: str  # the server's address, without /api/v1 and without a trailing slash
    token: str
    warnings: tuple[str, ...] = field(default=())


def config_path(environ: Mapping[str, str]) -> Path:
    """PIM_CONFIG if set, else pim/config.toml in the XDG config directory."""
    if environ.get("PIM_CONFIG"):
        return Path(environ["PIM_CONFIG"]).expanduser()
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else home / ".config"
    return base / "pim" / "config.toml"


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """The address and token to use, environment first. ConfigError if either is missing, the
    file named by PIM_CONFIG does not exist, or the file is not what it should be."""
    path = config_path(environ)
    values: dict[str, str] = {}
    warnings: list[str] = []
    if path.is_file():
        values = _read_file(path)
        if values.get("token") and path.stat().st_mode & 0o077:
            warnings.append(f"{path} holds your token and others may read it; run: chmod 600 {path}")
    elif environ.get("PIM_CONFIG"):
        raise ConfigError(f"PIM_CONFIG names {path}, which is not a file.")

    url = environ.get("PIM_URL") or values.get("url") or ""
    token = environ.get("PIM_TOKEN") or values.get("token") or ""
    if not url:
        raise ConfigError(f"No server to call: set PIM_URL (e.g. https://pim.example.com) or url in {path}.")
    if not token:
        raise ConfigError(f"No API token: create one on {url.rstrip('/')}/account/tokens/ and set PIM_TOKEN "
                          f"or token in {path}.")  # fmt: skip
    url = _normalised_url(url)
    if urlsplit(url).scheme == "http" and urlsplit(url).hostname not in LOOPBACK_HOSTS:
        warnings.append(f"{url} is plain HTTP: the token crosses the network unencrypted; use https://.")
    return Config(url=url, token=token, warnings=tuple(warnings))


def _read_file(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"Cannot read {path}: {error}") from None
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; the file takes url and token.")
    for key in FILE_KEYS:
        if key in data and not isinstance(data[key], str):
            raise ConfigError(f'{path}: {key} must be a quoted string, e.g. {key} = "..."')
    return data


def _normalised_url(url: str) -> str:
    """'https://pim.example.com/' and 'https://pim.example.com/api/v1/' both mean the server."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"The server address must start with http:// or https://, e.g. https://pim.example.com; "
                          f"got {url!r}.")  # fmt: skip
    return url.strip().rstrip("/").removesuffix("/api/v1")
