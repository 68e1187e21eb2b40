from argparse import ArgumentTypeError
from datetime import UTC, datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from roles.selectors import access_decision


def _parse_at(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"must be an ISO-8601 date-time such as 2026-11-22T18:30:00Z; got {value!r}") from None
    if parsed.tzinfo is None:
        raise ArgumentTypeError(f"needs a time zone (Z or +HH:MM) so the instant is unambiguous; got {value!r}")
    return parsed


class Command(BaseCommand):
    help = (
        "Answer whether USERNAME holds ROLE_SLUG at a scope (default /) now or at --at: prints "
        "'allowed until <end>' and exits 0, or 'denied: <reason>' and exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("role_slug")
        parser.add_argument("--scope", default="/", help="scope path, e.g. /subscriptions/prod")
        parser.add_argument("--at", type=_parse_at, default=None, help="ISO-8601 instant with a zone")

    def handle(self, *args, username: str, role_slug: str, scope: str, at: datetime | None, **options):
        decision = access_decision(username=username, role_slug=role_slug, scope_path=scope, at=at or timezone.now())
        if not decision.allowed:
            self.stdout.write(f"denied: {decision.reason}")
            raise SystemExit(1)  # a plain outcome, not a usage error: no "CommandError:" prefix
        until = "permanent" if decision.until is None else decision.until.astimezone(UTC).isoformat()
        self.stdout.write(f"allowed until {until}")
