"""What other apps do when an assignment's window is set (created, or its end changed) or it
ends, registered from their AppConfig.ready() (activations schedules the expiry side effects), so
that roles never imports them."""

from collections.abc import Callable
from functools import partial

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


def on_ended(func: Callable) -> Callable:
    """Register `func(assignment)` to run after the transaction that ended an assignment (expired,
    deactivated, removed) commits. Provisioning revokes on it."""
    if func not in _after_end:
        _after_end.append(func)
    return func


def ended(assignment) -> None:
    for func in _after_end:
        transaction.on_commit(partial(func, assignment))


# Columns other apps add to the console's role list: name -> (heading, f(now) -> expression
# annotated on Role). activations adds "pending requests" this way.
_role_list_columns: dict[str, tuple[str, Callable]] = {}


def add_role_list_column(name: str, heading: str, expression: Callable) -> None:
    _role_list_columns[name] = (heading, expression)


def role_list_columns() -> dict[str, tuple[str, Callable]]:
    return dict(_role_list_columns)
