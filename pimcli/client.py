"""Calls to /api/v1/ with the bearer token, over urllib. Every answer is JSON; an answer that is
not 2xx becomes ApiError with the body as sent (400 {"errors": {...}}, others {"detail": ...}),
and a server that cannot be reached becomes NetworkError. Redirects are not followed: the
token would go wherever the redirect points, and a POST would turn into a GET."""

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

API_PREFIX = "/api/v1/"
TIMEOUT_SECONDS = 30
USER_AGENT = "pim-cli/0.1"


class ApiError(Exception):
    """The server answered, and said no: `status`, and `payload` (the JSON body, or None)."""

    def __init__(self, status: int, reason: str, payload: Any, headers: dict[str, str]):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.payload = payload
        self.headers = headers


class NetworkError(Exception):
    """No usable answer: refused connection, unknown host, timeout, TLS failure, not JSON."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx, which ApiError reports


class Client:
    def __init__(self, *, url: str, token: str, timeout: float = TIMEOUT_SECONDS):
        self.url = url
        self.timeout = timeout
        self._token = token
        self._opener = urllib.request.build_opener(_NoRedirects)

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = {name: value for name, value in (params or {}).items() if value is not None}
        return self._call("GET", self.url + API_PREFIX + path + (f"?{urlencode(query)}" if query else ""))

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("POST", self.url + API_PREFIX + path, body)

    def get_all(self, path: str, params: dict[str, str] | None = None) -> list:
        """Every item of a paged list, following `next` (on this server only)."""
        page = self.get(path, params)
        items = list(page["results"])
        while page.get("next"):
            # Only the path and query of `next`: the token never leaves for another host.
            parts = urlsplit(page["next"])
            page = self._call("GET", f"{self.url}{parts.path.removeprefix(urlsplit(self.url).path)}?{parts.query}")
            items += page["results"]
        return items

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        # S310: config.load_config lets only http:// and https:// addresses through.
        request = urllib.request.Request(url, method=method, data=data)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            with error:
                raw = error.read()
            raise ApiError(error.code, error.reason, _json_or_none(raw), dict(error.headers.items())) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise NetworkError(f"cannot reach {self.url}: {reason}") from None
        payload = _json_or_none(raw)
        if payload is None:
            raise NetworkError(f"{url} did not answer with JSON: is {self.url} a PIM server?")
        return payload


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
