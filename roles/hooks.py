"""What other apps do after an assignment is created, registered from their AppConfig.ready()
(activations schedules the expiry side effects), so that roles never imports them."""

from collections.abc import Callable
from functools import partial

from django.db import transaction

_after_create: list[Callable] = []


def on_assignment_created(func: Callable) -> Callable:
    """Register `func(assignment)` to run after the transaction that created an assignment commits."""
    if func not in _after_create:
        _after_create.append(func)
    return func


def assignment_created(assignment) -> None:
    for func in _after_create:
        transaction.on_commit(partial(func, assignment))


# Columns other apps add to the console's role list: name -> (heading, f(now) -> expression
# annotated on Role). activations adds "pending requests" this way.
_role_list_columns: dict[str, tuple[str, Callable]] = {}


def add_role_list_column(name: str, heading: str, expression: Callable) -> None:
    _role_list_columns[name] = (heading, expression)


def role_list_columns() -> dict[str, tuple[str, Callable]]:
    return dict(_role_list_columns)
