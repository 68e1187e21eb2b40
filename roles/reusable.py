"""ReusableQuery: the hottest reads (the access decision, the API token) with their SQL written
once per process. Writing a query's SQL takes the ORM longer than PostgreSQL takes to answer it."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import QuerySet


class ReusableQuery:
    """A read whose SQL the ORM writes once per process (and per length of its list values),
    then sends again with each call's values. For the hottest reads only (the access decision
    and the API token): writing the SQL of a query takes the ORM longer than PostgreSQL takes
    to answer it. The queryset is still the one definition, so in_effect() and held_by() stay
    the only rules, and a change to them changes the SQL at the next start.

    `build(**values)` returns the queryset; it is called once with a marker in place of each
    value (a str, an int, an aware datetime, or a list of those), and each call's values take
    the markers' places in the parameters. A value the ORM transforms on its way to SQL (a
    LIKE pattern, a None that becomes IS NULL) leaves no marker behind: that raises
    ImproperlyConfigured at the first call, so a test catches it."""

    def __init__(self, build: Callable[..., QuerySet]):
        self.build = build
        self._compiled: dict[tuple, _CompiledRead] = {}

    def rows(self, **values) -> list[list]:
        """The rows of the queryset built with `values`, as values_list() gives them. One query."""
        shape = _shape(values)
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self._compiled[shape] = self._compile(values)
        connection = connections[compiled.alias]
        params = list(compiled.params)
        for position, (name, index, adapt) in compiled.slots:
            value = values[name] if index is None else values[name][index]
            params[position] = adapt(connection, value)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not compiled.converters:
            return rows
        converted = []
        for row in map(list, rows):
            for position, (converters, expression) in compiled.converters:
                for converter in converters:
                    row[position] = converter(row[position], expression, connection)
            converted.append(row)
        return converted

    def dicts(self, **values) -> list[dict]:
        """The rows of a queryset built with .values(), as dicts: what iterating it gives. One query."""
        rows = self.rows(**values)
        names = self._compiled[_shape(values)].names
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _compile(self, values: dict) -> "_CompiledRead":
        markers, marked = {}, {}
        for name, value in values.items():
            items = value if isinstance(value, list) else [value]
            made = [_marker(name, len(markers) + offset, item) for offset, item in enumerate(items)]
            marked[name] = made if isinstance(value, list) else made[0]
            for index, marker in enumerate(made):
                markers[marker] = (name, index if isinstance(value, list) else None)
        queryset = self.build(**marked)
        connection = connections[queryset.db]
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        as_sent = {_adapter(marker)(connection, marker): slot for marker, slot in markers.items()}
        slots = []
        for position, param in enumerate(params):
            slot = as_sent.get(param) if isinstance(param, str | int | datetime) else None
            if slot is not None:
                name, index = slot
                item = values[name] if index is None else values[name][index]
                slots.append((position, (name, index, _adapter(item))))
        missing = set(markers.values()) - {(name, index) for _, (name, index, _) in slots}
        if missing:
            raise ImproperlyConfigured(f"ReusableQuery: the SQL does not carry {sorted(missing)} as parameters: {sql}")
        fields = [selected[0] for selected in compiler.select[: compiler.col_count]]
        converters = list(compiler.get_converters(fields).items())
        query = queryset.query  # the column names, as .values() names them (ValuesIterable's order)
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
        return _CompiledRead(queryset.db, sql, tuple(params), tuple(slots), converters, names)


@dataclass(frozen=True)
class _CompiledRead:
    alias: str
    sql: str
    params: tuple
    slots: tuple  # (position in params, (value's name, index in a list value or None, adapter))
    converters: list  # (column, (converters, expression)), as SQLCompiler.get_converters gives them
    names: tuple  # the columns' names, for a queryset built with .values()


def _shape(values: dict) -> tuple:
    """What the SQL depends on besides the query: the length of each list value."""
    return tuple(len(value) if isinstance(value, list) else -1 for value in values.values())


def _marker(name: str, number: int, value):
    """A value of `value`'s type that no real call sends: found again in the parameters by equality."""
    if isinstance(value, bool):  # a bool is an int, but one that becomes part of the SQL's meaning
        raise ImproperlyConfigured(f"ReusableQuery: {name} is a bool; build it into the query instead.")
    if isinstance(value, str):
        return f"\x00{name}:{number}\x00"
    if isinstance(value, int):
        return 2_000_000_000 + number  # within any integer column's range, or the ORM drops the comparison
    if isinstance(value, datetime) and value.tzinfo is not None:
        return datetime(1901, 2, 3, 4, 5, 6, number, tzinfo=UTC)
    raise ImproperlyConfigured(f"ReusableQuery: {name}={value!r} is not a str, an int or an aware datetime.")


def _adapter(value) -> Callable:
    """How the ORM turns a value of this type into a parameter (DateTimeField's way for datetimes)."""
    if isinstance(value, datetime):
        return lambda connection, moment: connection.ops.adapt_datetimefield_value(moment)
    return lambda connection, plain: plain
