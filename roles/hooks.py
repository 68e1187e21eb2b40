"""What other apps do when an assignment's window is set (created, or its end changed) or it
ends, registered from their AppConfig.ready() (activations schedules the expiry side effects), so
that roles never imports them."""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from django.db import transaction

_after_create: list[Callable] = []


def on_window_set(func: Callable) -> Callable:
    """Register `func(assignment)` to run after the transaction that set an assignment's window commits."""
    if func not in _after_create:
        _after_create.append(func)
    return func


def window_set(assignment) -> None:
    for func in _after_create:
        transaction.on_commit(partial(func, assignment))


_after_end: list[Callable] = []


class Ended(NamedTuple):
    """What the hooks are told of an assignment a sweep ended, without loading it whole."""

    kind: str  # "active" or "eligible", as Assignment.kind
    pk: int
    role_id: int


def on_ended(func: Callable) -> Callable:
    """Register `func(assignments)` to run after the transaction that ended assignments (expired,
    deactivated, removed) commits, with the list of them (a sweep ends thousands at once): model
    instances or `Ended` tuples, both with kind, pk and role_id. Provisioning revokes on it."""
    if func not in _after_end:
        _after_end.append(func)
    return func


def ended(*assignments) -> None:
    for func in _after_end:
        transaction.on_commit(partial(func, list(assignments)))


# Columns other apps add to the console's role list: name -> (heading, f(now) -> expression
# annotated on Role). activations adds "pending requests" this way.
_role_list_columns: dict[str, tuple[str, Callable]] = {}


def add_role_list_column(name: str, heading: str, expression: Callable) -> None:
    _role_list_columns[name] = (heading, expression)


def role_list_columns() -> dict[str, tuple[str, Callable]]:
    return dict(_role_list_columns)
