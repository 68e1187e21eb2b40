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
