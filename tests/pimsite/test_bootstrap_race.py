"""Two bootstraps at the same moment make one first administrator, not two."""

import contextlib
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from roles import selectors, services
from roles.models import ActiveAssignment
from roles.services import bootstrap as bootstrap_service


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_bootstraps_at_once_create_one_administrator(monkeypatch):
    # Each bootstrap pauses after reading the holders until the other has read them too (or
    # 2 s pass). Without a lock both read "nobody" and both succeed; with it the second
    # waits for the first to commit and then sees its holders.
    both_read = threading.Barrier(2, timeout=2)
    real_holders = selectors.administrator_holders

    def holders_then_wait():
        holders = real_holders()
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return holders

    monkeypatch.setattr(bootstrap_service, "administrator_holders", holders_then_wait)
    outcomes: dict[str, str] = {}

    def bootstrap(username: str) -> None:
        try:
            services.bootstrap_first_administrator(
                username=username, email=f"{username}@example.com", password="violet-anchor-meadow-42"
            )
            outcomes[username] = "created"
        except ValidationError as refusal:
            outcomes[username] = refusal.messages[0]
        finally:
            connection.close()

    threads = [threading.Thread(target=bootstrap, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["first", "second"]
    assert list(outcomes.values()).count("created") == 1, outcomes
    refusal = next(v for v in outcomes.values() if v != "created")
    assert "already hold Global Administrator or Privileged Role Administrator" in refusal
    assert "Nothing was changed." in refusal
    assert ActiveAssignment.objects.count() == 2
