from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from audit import siem
from audit.models import AuditEvent

FORMATS = {"jsonl": siem.jsonl, "cef": siem.cef}


class Command(BaseCommand):
    help = (
        "Write audit events to stdout in sequence order, one per line, as JSON lines or CEF. "
        "--since takes a sequence number (events after it) or an ISO 8601 date-time (events at or "
        "after it; UTC when it has no offset)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", default="", help="SEQ (exclusive) or ISO 8601 date-time (inclusive)")
        parser.add_argument("--format", default="jsonl", help="jsonl (default) or cef")

    def handle(self, *args, since: str, format: str, **options):
        formatter = FORMATS.get(format.strip().lower())
        if formatter is None:
            raise CommandError(f"--format {format!r} is not one of: {', '.join(FORMATS)}.", returncode=2)
        events = AuditEvent.objects.filter(**_since_filter(since)).order_by("sequence")
        count = 0
        for event in events.iterator(chunk_size=2000):  # constant memory however long the log
            self.stdout.write(formatter(event))
            count += 1
        if options["verbosity"] > 1:
            self.stderr.write(f"{count} events exported")


def _since_filter(since: str) -> dict:
    since = since.strip()
    if not since:
        return {}
    if since.isdigit():
        return {"sequence__gt": int(since)}
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise CommandError(
            f"--since {since!r} is neither a sequence number (such as 1200) nor an ISO 8601 date-time "
            "(such as 2026-11-01T00:00:00Z).",
            returncode=2,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return {"occurred_at__gte": moment}
