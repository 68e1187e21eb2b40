"""/audit/: the audit log for its readers (active Global Administrator, Privileged Role
Administrator, Security Administrator or Security Reader at '/'), each event's full record, the
filtered set as CSV or JSON Lines, and /audit/mine/, anyone's own history. Here rather than in
audit/ because deciding who reads the log needs roles (audit imports no domain app)."""

import json
from collections.abc import Iterable, Iterator
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from activations.models import ActivationRequest
from audit import selectors as audit_selectors
from audit.models import AuditEvent
from audit.selectors import events_of, filtered_events
from pimsite.api_audit import AUDIT_READER_SLUGS, NEEDS_AUDIT_READER
from pimsite.audit_forms import AuditFilterForm
from roles.builtin import ADMIN_ROLE_SLUGS, ROOT_SCOPE_PATH
from roles.bulk import spreadsheet_lines, utc_text
from roles.forms import ASSIGNMENT_MODELS
from roles.models import ActiveAssignment
from roles.permissions import acts_as_pim_administrator, is_verified
from roles.reusable import ReusableQuery

PAGE_SIZE = 50
EXPORT_CHUNK = 2000  # rows fetched per round trip; the export holds about one chunk at a time
EXPORT_REFUSED = "Nothing was exported: %(problems)s Correct the filter and export again."
CSV_COLUMNS = ("sequence", "occurred_at", "actor", "action", "principal", "role", "scope", "justification",
               "client_ip", "target_type", "target_id", "data", "hash")  # fmt: skip
EXPORT_FIELDS = ("sequence", "occurred_at", "actor_username", "action", "principal_username", "role", "scope",
                 "justification", "client_ip", "user_agent", "target_type", "target_id", "data", "prev_hash",
                 "hash")  # fmt: skip
REQUEST_TYPE = ActivationRequest._meta.label_lower
ASSIGNMENT_KINDS = {model._meta.label_lower: kind for kind, model in ASSIGNMENT_MODELS.items()}


# Who reads the log -----------------------------------------------------------------------------


def acts_as_audit_reader(request: HttpRequest) -> bool:
    """An OTP-verified session whose user holds a reader role (AUDIT_READER_SLUGS) at '/' right
    now. Cached on the user object, which lives for one request, like roles.permissions.
    holds_administrator_role; one query, or none when that already said yes.

    Not roles.selectors.holds_role: the base layout asks both "reader?" (the Audit link) and
    "administrator?" (the Manage link) on every page, and the administrator roles are reader
    roles, so one query for the reader roles held answers both. That keeps every page's pinned
    query count as it was."""
    user = request.user
    if not is_verified(user):
        return False
    if not hasattr(user, "_pim_audit_reader"):
        if getattr(user, "_pim_administrator_role", False):
            user._pim_audit_reader = True
        else:
            held = {slug for (slug,) in _reader_roles_held.rows(user_id=user.pk, at=timezone.now())}
            user._pim_audit_reader = bool(held)
            if not hasattr(user, "_pim_administrator_role"):  # the same rows answer that question
                user._pim_administrator_role = bool(held & set(ADMIN_ROLE_SLUGS))
    return user._pim_audit_reader


@ReusableQuery
def _reader_roles_held(user_id: int, at) -> QuerySet:
    """The reader roles (AUDIT_READER_SLUGS) the user holds at '/' at `at`: every page's
    navigation asks it, so its SQL is written once per process (roles.reusable)."""
    return (
        ActiveAssignment.objects.in_effect(at)
        .at_scope_covering(ROOT_SCOPE_PATH)
        .held_by(user_id)
        .filter(role__slug__in=AUDIT_READER_SLUGS)
        .values_list("role__slug")
    )


def audit_reader_required(view):
    """For /audit/ and its exports: an audit reader (acts_as_audit_reader); anyone else gets 403
    with what to do (activate a reader role), as the /manage/ console does."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if not acts_as_audit_reader(request):
            raise PermissionDenied(NEEDS_AUDIT_READER)
        return view(request, *args, **kwargs)

    return guarded


# Pages -----------------------------------------------------------------------------------------


def _page(events: QuerySet[AuditEvent], *, before: int | None) -> tuple[list[AuditEvent], int | None]:
    """Up to PAGE_SIZE events older than sequence `before` (newest when None), and the cursor of
    the next page (None on the last). Keyset on the primary key: no OFFSET and no COUNT, so a page
    costs the same at sequence 1,000,000 as at 100. One query."""
    if before:
        events = events.filter(sequence__lt=before)
    rows = list(events[: PAGE_SIZE + 1])  # one more than shown says whether there is an older page
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].sequence if len(rows) > PAGE_SIZE else None


def _list(request: HttpRequest, events: QuerySet[AuditEvent], form: AuditFilterForm, **context) -> HttpResponse:
    for problem in form.problems():
        messages.error(request, problem)
    rows, older = _page(events, before=form.cleaned_data.get("before"))
    context |= {"events": rows, "older": older, "filter_form": form, "filtered": form.filtered()}
    return render(request, "audit/events.html", context)


@audit_reader_required
@require_GET
def events(request: HttpRequest) -> HttpResponse:
    """Every event, newest first, with the filters of AuditFilterForm."""
    form = AuditFilterForm(request.GET)
    return _list(request, filtered_events(**form.selection(now=timezone.now())), form, mine=False,
                 verification=audit_selectors.last_verification())  # fmt: skip


@require_GET
def my_events(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own history: what they did and what was done to them. Open to anyone
    verified (the middleware asks for that); the same filters narrow it."""
    form = AuditFilterForm(request.GET)
    mine = filtered_events(**form.selection(now=timezone.now())) & events_of(user=request.user)  # one WHERE
    return _list(request, mine, form, mine=True)


@require_GET
def event(request: HttpRequest, sequence: int) -> HttpResponse:
    """One event's full record, linked to its request or assignment. A reader sees any event,
    anyone else only their own (as actor or principal): 404 otherwise, so sequences cannot be
    probed."""
    found = get_object_or_404(AuditEvent, sequence=sequence)
    own = request.user.pk in (found.actor_id, found.principal_id)
    if not own and not acts_as_audit_reader(request):
        raise Http404
    context = {
        "event": found,
        "data": json.dumps(found.data, indent=2, sort_keys=True, cls=DjangoJSONEncoder),
        "target_link": _target_link(request, found),
    }
    return render(request, "audit/event.html", context)


def _target_link(request: HttpRequest, event: AuditEvent) -> tuple[str, str] | None:
    """(label, url) of the page that tells the story of the event's target, when there is one
    this user can open: a request's page, or for an administrator the assignment's page."""
    if not event.target_id.isdigit():
        return None
    if event.target_type == REQUEST_TYPE:
        return "Request and its timeline", reverse("activations:request", args=[int(event.target_id)])
    kind = ASSIGNMENT_KINDS.get(event.target_type)
    if kind and acts_as_pim_administrator(request):
        return f"The {kind} assignment", reverse("manage:assignment", args=[kind, int(event.target_id)])
    return None


# Exports ---------------------------------------------------------------------------------------


def _export(request: HttpRequest, lines, *, extension: str, content_type: str) -> HttpResponse:
    """The filtered set, oldest first, streamed: a bad filter refuses the whole file (more than
    was asked is worse than nothing), as the console's assignment export does."""
    form = AuditFilterForm(request.GET)
    selection = form.selection(now=timezone.now())
    if form.errors:
        return HttpResponseBadRequest(EXPORT_REFUSED % {"problems": " ".join(form.problems())},
                                      content_type="text/plain; charset=utf-8")  # fmt: skip
    # .values(): plain dicts, cheaper than model instances. .iterator(): rows are fetched
    # EXPORT_CHUNK at a time (a server-side cursor on PostgreSQL) and never cached on the queryset,
    # so memory stays flat however many events match.
    rows = (filtered_events(**selection).order_by("sequence").values(*EXPORT_FIELDS)
            .iterator(chunk_size=EXPORT_CHUNK))  # fmt: skip
    response = StreamingHttpResponse(_in_chunks(lines(rows)), content_type=content_type)
    name = f"audit-events-{timezone.now():%Y%m%dT%H%MZ}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@audit_reader_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, csv_lines, extension="csv", content_type="text/csv; charset=utf-8")


@audit_reader_required
@require_GET
def export_jsonl(request: HttpRequest) -> HttpResponse:
    return _export(request, jsonl_lines, extension="jsonl", content_type="application/jsonl; charset=utf-8")


def _in_chunks(lines: Iterable[str], *, size: int = EXPORT_CHUNK) -> Iterator[str]:
    """`lines` joined `size` at a time: one write per chunk instead of one per line, and still
    only about one chunk in memory."""
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def csv_lines(events: Iterable[dict]) -> Iterator[str]:
    """The header and one line per event (EXPORT_FIELDS' values, CSV_COLUMNS), times in UTC
    (roles.bulk.spreadsheet_lines: a BOM, formulas made harmless)."""
    rows = (
        (str(event["sequence"]), utc_text(event["occurred_at"]), event["actor_username"], event["action"],
         event["principal_username"], event["role"], event["scope"], event["justification"],
         event["client_ip"] or "", event["target_type"], event["target_id"],
         json.dumps(event["data"], sort_keys=True, cls=DjangoJSONEncoder), event["hash"])
        for event in events
    )  # fmt: skip
    return spreadsheet_lines(CSV_COLUMNS, rows)


def jsonl_lines(events: Iterable[dict]) -> Iterator[str]:
    """One JSON object per event and line: the CSV's fields (data as an object), the user agent
    and prev_hash, so the chain can be checked from the file."""
    for event in events:
        yield json.dumps({
            "sequence": event["sequence"], "occurred_at": utc_text(event["occurred_at"]),
            "actor": event["actor_username"], "action": event["action"], "principal": event["principal_username"],
            "role": event["role"], "scope": event["scope"], "justification": event["justification"],
            "client_ip": event["client_ip"], "user_agent": event["user_agent"], "target_type": event["target_type"],
            "target_id": event["target_id"], "data": event["data"], "prev_hash": event["prev_hash"],
            "hash": event["hash"],
        }, cls=DjangoJSONEncoder) + "\n"  # fmt: skip
