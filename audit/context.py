"""Where a change came from (client address, user agent), kept for the length of one request
so that services can record it without taking the request as an argument."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    client_ip: str | None = None
    user_agent: str = ""


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("pim_audit_request_context", default=_EMPTY)  # noqa: B039  frozen


def current() -> RequestContext:
    return _current.get()


def bind(context: RequestContext):
    """Make `context` current; returns a token for `reset`."""
    return _current.set(context)


def reset(token) -> None:
    _current.reset(token)
