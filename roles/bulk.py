"""Eligible assignments as CSV: reading and checking a file to import, and writing an export
that imports again unchanged. One row per assignment, with the columns of COLUMNS.

Reading never writes. `check_rows` holds every row to the rules a single assignment meets
(rules.check_assignment_window with the role's settings, as services.assign_eligible does) and
to what only a file can get wrong (unknown names, the same row twice); the console's preview
calls it, and services.import_eligible_assignments calls it again under lock before saving."""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Q

from roles import rules
from roles.models import EligibleAssignment, Role, Scope
from roles.services import END_IN_PAST, already_assigned, holder_fields

COLUMNS = ("principal", "role", "scope", "start", "end", "justification")
HEADER = ",".join(COLUMNS)
MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000

# The file as a whole. Each names the limit or the expected form.
FILE_TOO_LARGE = "The file is larger than 1 MB; a CSV import can be at most 1 MB (1,048,576 bytes). Split it up."
NOT_UTF8 = "The file is not UTF-8 text (line %(line)s); save it as “CSV UTF-8” and upload it again."
NOT_CSV = "The file is not valid CSV at line %(line)s (%(error)s)."
HEADER_WRONG = (
    "The first row must be the header " + HEADER + " (each column once, in any order); "
    "this file's first row is %(header)s."
)
NO_ROWS = "The file has a header but no rows; give one row per eligible assignment under the header " + HEADER + "."
TOO_MANY_ROWS = "The file has %(rows)s rows; a CSV import can have at most 5,000 rows. Split it up."

# One row. Shown after the column they concern ("end: ...").
WRONG_CELL_COUNT = "This row has %(count)s cells; every row has 6, one for each column of " + HEADER + "."
PRINCIPAL_REQUIRED = "A username is required."
UNKNOWN_PRINCIPAL = (
    "No account has the username '%(value)s'; give the username of an existing, active account, or group:NAME."
)
UNKNOWN_GROUP = "No group is named '%(value)s'; give group:NAME with the name of an existing group."
GROUP_PREFIX = "group:"  # a principal cell naming a Django group instead of a user
PRINCIPAL_DISABLED = "The account '%(value)s' is disabled; only active accounts can be made eligible."
ROLE_REQUIRED = "A role slug is required; give one of: %(slugs)s."
UNKNOWN_ROLE = "No role has the slug '%(value)s'; give one of: %(slugs)s."
SCOPE_REQUIRED = "A scope path is required, e.g. /."
UNKNOWN_SCOPE = "No scope has the path '%(value)s'; give an existing scope (add it under Scopes first)."
NOT_A_DATETIME = (
    "'%(value)s' is not an ISO 8601 date and time; write e.g. 2026-12-22T09:00:00Z "
    "(a time without an offset is UTC; a date alone is not accepted)."
)
DUPLICATE_ROW = (
    "Line %(first)s already makes %(principal)s eligible for %(role)s at %(scope)s; "
    "a file can do that once per user, role and scope."
)
TRIPLE = "principal, role, scope"  # the columns a duplicate or an existing assignment concerns
ROW_REFUSED = "Line %(line)s: %(problems)s"

# Where rules.check_assignment_window's refusals (keyed by the service's argument names) show.
COLUMN_OF_FIELD = {"start_at": "start", "end_at": "end", "justification": "justification"}
ROLE_SLUGS_SHOWN = 12

# Spreadsheets run a cell that starts with one of these as a formula; an export prefixes such a
# cell, and one that already starts with the prefix, with a single quote, and an import takes
# exactly that quote away again, so export -> import gives back every value unchanged.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

ISO_DATE_AND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class CsvRow:
    """One row as written: its line in the file and its cells by column."""

    line: int
    cells: dict[str, str]
    width: int  # how many cells the row had


@dataclass(frozen=True)
class RowError:
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.column}: {self.message}"


@dataclass
class RowResult:
    """One row checked: the values it names (None where they could not be read) and its errors."""

    line: int
    cells: dict[str, str]
    principal: object = None
    role: Role | None = None
    scope: Scope | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def refuse(self, column: str, error: ValidationError | str, **params) -> None:
        if isinstance(error, str):
            error = ValidationError(error, params=params)
        if hasattr(error, "error_dict"):
            for name, errors in error.message_dict.items():
                self.errors += [RowError(COLUMN_OF_FIELD.get(name, name), message) for message in errors]
        else:
            self.errors += [RowError(column, message) for message in error.messages]

    def service_arguments(self) -> dict:
        """The keyword arguments of services.assign_eligible (all but actor)."""
        return {
            "principal": self.principal,
            "role": self.role,
            "scope": self.scope,
            "start_at": self.start_at,
            "end_at": self.end_at,
            "justification": self.cells["justification"],
        }


class ImportRefused(ValidationError):
    """One bad row refuses the whole file. One message per bad row, each with its line; `results`
    holds every row, good and bad, for a page to show."""

    def __init__(self, results: list[RowResult]):
        self.results = results
        super().__init__(
            [
                ValidationError(
                    ROW_REFUSED,
                    code="import_row_invalid",
                    params={"line": result.line, "problems": "; ".join(str(error) for error in result.errors)},
                )
                for result in results
                if not result.ok
            ]
        )


# Reading -----------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """The text of an uploaded file: at most MAX_BYTES of UTF-8, with or without a BOM."""
    if len(data) > MAX_BYTES:
        raise ValidationError(FILE_TOO_LARGE, code="file_too_large")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValidationError(NOT_UTF8, code="not_utf8", params={"line": line}) from None


def parse_csv(text: str) -> list[CsvRow]:
    """The rows under the header, blank lines skipped. Refuses a file it cannot read as a whole
    (no header, no rows, more than MAX_ROWS); a row's own problems are left to check_rows."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        if sorted(header) != sorted(COLUMNS):
            shown = ",".join(header)[:200] or "empty"
            raise ValidationError(HEADER_WRONG, code="header_wrong", params={"header": shown})
        rows = []
        line = reader.line_num
        for cells in reader:
            first_line, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                raise ValidationError(TOO_MANY_ROWS, code="too_many_rows", params={"rows": _count_rows(reader) + 1})
            values = dict(zip(header, cells, strict=False))
            rows.append(
                CsvRow(
                    line=first_line,
                    cells={column: _restore(values.get(column, "").strip()) for column in COLUMNS},
                    width=len(cells),
                )
            )
    except csv.Error as error:
        raise ValidationError(NOT_CSV, code="not_csv", params={"line": reader.line_num, "error": error}) from None
    if not rows:
        raise ValidationError(NO_ROWS, code="no_rows")
    return rows


def _count_rows(reader) -> int:
    return MAX_ROWS + sum(1 for cells in reader if any(cell.strip() for cell in cells))


def _restore(cell: str) -> str:
    """Undo export's protection against formulas (see FORMULA_STARTS)."""
    if cell.startswith(QUOTE) and cell[1:2] and cell[1] in (*FORMULA_STARTS, QUOTE):
        return cell[1:]
    return cell


def _parse_time(value: str) -> datetime:
    """ISO 8601 date and time; UTC when it gives no offset. A date alone is no expiry (DESIGN.md)."""
    if not ISO_DATE_AND_TIME.match(value):
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


# Checking ----------------------------------------------------------------------------------


def check_rows(rows: Sequence[CsvRow], *, now: datetime) -> list[RowResult]:
    """Every row against the rules of services.assign_eligible at `now` (an empty start is
    `now`), and against the others in the file and the eligible assignments open now. Writes
    nothing; a few queries whatever the number of rows."""
    results = [RowResult(line=row.line, cells=row.cells) for row in rows]
    for row, result in zip(rows, results, strict=True):
        if row.width != len(COLUMNS):
            result.refuse("row", WRONG_CELL_COUNT, count=row.width)
    readable = [result for result in results if result.ok]
    _resolve_names(readable)
    first_line_of: dict[tuple, int] = {}
    for result in readable:
        _check_window(result, now=now)
        if result.principal is None or result.role is None or result.scope is None:
            continue
        triple = (_holder_key(result.principal), result.role.pk, result.scope.pk)
        if triple in first_line_of:
            result.refuse(TRIPLE, DUPLICATE_ROW, first=first_line_of[triple], **_names(result))
        else:
            first_line_of[triple] = result.line
    _check_not_assigned([result for result in readable if result.principal and result.role and result.scope], now=now)
    return results


def _names(result: RowResult) -> dict:
    return {"principal": result.cells["principal"], "role": result.role.name, "scope": result.scope.path}


def _holder_key(principal) -> tuple:
    return (type(principal).__name__, principal.pk)


def _resolve_names(results: list[RowResult]) -> None:
    """Users, groups, roles (with settings) and scopes named in the rows: one query each."""
    User = get_user_model()
    wanted = {column: {result.cells[column] for result in results} for column in ("principal", "role", "scope")}
    users = {u.get_username(): u for u in User.objects.filter(**{f"{User.USERNAME_FIELD}__in": wanted["principal"]})}
    group_names = {name.removeprefix(GROUP_PREFIX) for name in wanted["principal"] if name.startswith(GROUP_PREFIX)}
    users |= {GROUP_PREFIX + group.name: group for group in Group.objects.filter(name__in=group_names)}
    roles = {role.slug: role for role in Role.objects.select_related("settings").filter(slug__in=wanted["role"])}
    scopes = {scope.path: scope for scope in Scope.objects.filter(path__in=wanted["scope"])}
    slugs = None
    for result in results:
        name, slug, path = (result.cells[column] for column in ("principal", "role", "scope"))
        result.principal, result.role, result.scope = users.get(name), roles.get(slug), scopes.get(path)
        if not name:
            result.refuse("principal", PRINCIPAL_REQUIRED)
        elif result.principal is None and name.startswith(GROUP_PREFIX):
            result.refuse("principal", UNKNOWN_GROUP, value=_shown(name.removeprefix(GROUP_PREFIX)))
        elif result.principal is None:
            result.refuse("principal", UNKNOWN_PRINCIPAL, value=_shown(name))
        elif isinstance(result.principal, User) and not result.principal.is_active:
            result.refuse("principal", PRINCIPAL_DISABLED, value=_shown(name))
            result.principal = None
        if result.role is None:
            slugs = slugs or _role_slugs()
            result.refuse("role", UNKNOWN_ROLE if slug else ROLE_REQUIRED, value=_shown(slug), slugs=slugs)
        if result.scope is None:
            result.refuse("scope", UNKNOWN_SCOPE if path else SCOPE_REQUIRED, value=_shown(path))


def _shown(value: str) -> str:
    """A cell as a message quotes it: a whole megabyte in one cell would not help anyone."""
    return value if len(value) <= 60 else value[:60] + "…"


def _role_slugs() -> str:
    slugs = list(Role.objects.order_by("slug").values_list("slug", flat=True)[: ROLE_SLUGS_SHOWN + 1])
    return ", ".join(slugs[:ROLE_SLUGS_SHOWN]) + (", …" if len(slugs) > ROLE_SLUGS_SHOWN else "")


def _check_window(result: RowResult, *, now: datetime) -> None:
    """Start and end as the single-assignment form reads them, then the role's assignment rules."""
    times = {}
    for column, empty in (("start", now), ("end", None)):
        value = result.cells[column]
        try:
            times[column] = _parse_time(value) if value else empty
        except (ValueError, OverflowError):
            result.refuse(column, NOT_A_DATETIME, value=_shown(value))
    if len(times) < 2:
        return
    result.start_at, result.end_at = times["start"], times["end"]
    if result.role is None:
        return
    try:
        rules.check_assignment_window(
            role_settings=result.role.settings,
            kind=EligibleAssignment.kind,
            start_at=result.start_at,
            end_at=result.end_at,
            justification=result.cells["justification"],
        )
    except ValidationError as refusal:
        result.refuse("row", refusal)
    else:
        # The form and assign_eligible would take an end already past; an import never should.
        if result.end_at is not None and result.end_at <= now:
            result.refuse("end", END_IN_PAST, end=result.end_at.isoformat())


def _check_not_assigned(results: list[RowResult], *, now: datetime) -> None:
    """ALREADY_ASSIGNED for each row whose user already has an open eligible assignment of the
    role at the scope. One that lapsed but is not yet swept does not count: assign_eligible
    records its expiry first. One query."""
    if not results:
        return
    holders = [result.principal for result in results]
    existing = (
        EligibleAssignment.objects.not_ended(now)
        .filter(
            Q(principal__in=[h.pk for h in holders if not isinstance(h, Group)])
            | Q(group__in=[h.pk for h in holders if isinstance(h, Group)]),
            role__in={result.role.pk for result in results},
            scope__in={result.scope.pk for result in results},
        )
        .values_list("principal", "group", "role", "scope")
    )
    taken = {
        (("Group", group) if group else (get_user_model().__name__, user), role, scope)
        for user, group, role, scope in existing
    }
    for result in results:
        if (_holder_key(result.principal), result.role.pk, result.scope.pk) in taken:
            new = EligibleAssignment(**holder_fields(result.principal), role=result.role, scope=result.scope)
            result.refuse(TRIPLE, already_assigned(new))


# Writing -----------------------------------------------------------------------------------


class _Line:
    """csv.writer writes into this and gets the line back, so rows can be streamed one by one."""

    def write(self, text: str) -> str:
        return text


def spreadsheet_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """`header` and `rows` as CSV lines a spreadsheet opens safely: a BOM first (so it reads
    UTF-8), every cell it would run as a formula made harmless (neutralise). Streams. Used by
    every CSV download (assignments, the audit log, access review results)."""
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(header)
    for cells in rows:
        yield writer.writerow([neutralise(cell) for cell in cells])


def export_lines(assignments: Iterable[EligibleAssignment]) -> Iterator[str]:
    """The header and one CSV line per assignment, in the import's format: times in UTC ISO
    8601, an empty end for a permanent one (decode_csv takes the BOM off again). Preload
    principal, role and scope, or each row queries."""
    rows = (
        (
            GROUP_PREFIX + assignment.group.name if assignment.group_id else assignment.principal.get_username(),
            assignment.role.slug,
            assignment.scope.path,
            utc_text(assignment.start_at),
            utc_text(assignment.end_at),
            assignment.justification,
        )
        for assignment in assignments
    )
    return spreadsheet_lines(COLUMNS, rows)


def utc_text(value: datetime | None) -> str:
    """A moment as CSV files write it: UTC ISO 8601 with a Z; empty for none."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else ""


def neutralise(cell: str) -> str:
    """`cell` made harmless to a spreadsheet (see FORMULA_STARTS). Also used by the audit log's
    CSV export (pimsite.audit_views)."""
    return QUOTE + cell if cell.startswith((*FORMULA_STARTS, QUOTE)) else cell
