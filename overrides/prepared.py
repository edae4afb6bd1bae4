"""Querysets built and compiled once, then run with new values: the visitor's hot reads.

Django builds a queryset's `Query` and compiles it to SQL on every evaluation. On the
visitor's path (`sendMessage` and its turn) that costs more CPU than running the SQL
(docs/BENCHMARKS.md section 11: `add_q`, `build_filter`, `as_sql`, `get_select`). A
`PreparedQuery` builds its queryset once with marker values standing for its
parameters, compiles it once per database alias, remembers where each marker landed in
the compiled parameters, and on each call runs that SQL with the call's values. Rows
become model instances through Django's own `ModelIterable` (select_related and
annotations included), so a prepared query returns exactly what the queryset would.

Only values Django passes to the database unchanged may be markers: integers (primary
and foreign keys) and strings compared as they are. `prepare()` refuses a build whose
markers do not all reach the compiled parameters.
"""

import copy
import itertools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Expression, Model, QuerySet
from django.db.models.query import ModelIterable

M = TypeVar("M", bound=Model)

_marker_ids = itertools.count(1)


class _Marker(str):
    """A parameter's stand-in while the query is built (a string nobody would send)."""


def _int_marker() -> int:
    # Far below any key, and unique per marker, so its position in the params is certain.
    return -(10**15) - next(_marker_ids)


class _Compiled:
    __slots__ = ("compiler", "converters", "params", "positions", "sql")

    def __init__(self, compiler, sql: str, params: tuple, positions: dict[str, list[int]]):
        self.compiler, self.sql, self.params, self.positions = compiler, sql, params, positions
        # The result columns' converters, worked out once: Django does it again on every
        # execution (`get_converters`, each column's `get_db_converters`).
        self.converters: dict | None = None

    def converters_for(self, compiler) -> dict:
        """The converters, with those bound to a connection's operations unbound: each
        call's converters get that call's connection (`apply_converters` passes it), and
        the cache holds no connection, which would outlive its thread otherwise."""
        if self.converters is None:
            fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
            self.converters = {
                position: ([_unbound(convert) for convert in converts], expression)
                for position, (converts, expression) in compiler.get_converters(fields).items()
            }
        return self.converters


def _unbound(convert):
    owner = getattr(convert, "__self__", None)
    if isinstance(owner, BaseDatabaseOperations):
        method = convert.__func__
        return lambda value, expression, connection: method(
            connection.ops, value, expression, connection
        )
    return convert


class _Query:
    """What ModelIterable asks of `queryset.query`: a compiler."""

    __slots__ = ("compiler",)

    def __init__(self, compiler):
        self.compiler = compiler

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        return self.compiler


class _Bound:
    """What ModelIterable asks of a queryset, for one call."""

    __slots__ = ("_known_related_objects", "db", "model", "query")

    def __init__(self, db: str, compiler, model):
        self.db, self.query, self.model = db, _Query(compiler), model
        self._known_related_objects: dict = {}


class PreparedQuery(Generic[M]):
    """`build(**markers)` returns the queryset; `fetch(**values)` runs it with `values`.

    `ints` and `strs` name the parameters: `PreparedQuery(lambda pk, digest:
    Conversation.objects.filter(pk=pk, token_digest=digest), ints=("pk",),
    strs=("digest",))`. Sync (database thread) only, like any ORM call; the
    default database.
    """

    def __init__(
        self,
        build: Callable[..., QuerySet[M]],
        *,
        ints: tuple[str, ...] = (),
        strs: tuple[str, ...] = (),
    ):
        self._build = build
        self._markers: dict[str, Any] = {name: _int_marker() for name in ints}
        self._markers |= {name: _Marker(f"\x00prepared-{next(_marker_ids)}") for name in strs}
        self._compiled: dict[str, _Compiled] = {}

    def queryset(self, **values) -> QuerySet[M]:
        """The same query as a plain queryset (built and compiled as usual)."""
        return self._build(**values)

    def fetch(self, **values) -> list[M]:
        alias = DEFAULT_DB_ALIAS
        compiled = self._compiled.get(alias) or self._prepare(alias)
        params = list(compiled.params)
        for name, positions in compiled.positions.items():
            for position in positions:
                params[position] = values[name]
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connections[alias]
        sql, bound = compiled.sql, tuple(params)
        compiler.as_sql = lambda *args, **kwargs: (sql, bound)
        converters = compiled.converters_for(compiler)
        compiler.get_converters = lambda expressions: converters
        return list(ModelIterable(_Bound(alias, compiler, compiler.query.model)))

    def first(self, **values) -> M | None:
        rows = self.fetch(**values)
        return rows[0] if rows else None

    def _prepare(self, alias: str) -> _Compiled:
        compiler = self._build(**self._markers).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        positions = {
            name: [i for i, p in enumerate(params) if type(p) is type(m) and p == m]
            for name, m in self._markers.items()
        }
        missing = [name for name, found in positions.items() if not found]
        if missing:
            raise ValueError(f"prepared query: {missing} did not reach the SQL unchanged")
        compiled = _Compiled(compiler, sql, tuple(params), positions)
        compiled.converters_for(compiler)
        # Each call's copy gets its thread's connection; the template keeps none (a
        # connection held here would outlive the thread that opened it).
        compiler.connection = None
        self._compiled[alias] = compiled
        return compiled


class _Param(Expression):
    """A set value's placeholder: compiled as `%s` with its marker, not prepared (the
    call's value is, by `PreparedUpdate.run`)."""

    def __init__(self, marker: str, output_field):
        super().__init__(output_field=output_field)
        self.marker = marker

    def as_sql(self, compiler, connection):
        return "%s", [self.marker]


class PreparedUpdate:
    """`UPDATE ... SET fields WHERE <build's filter>`, compiled once, run with new values.

    `PreparedUpdate(lambda pk: Message.objects.filter(pk=pk, ...), ints=("pk",),
    sets=("status", "content"))`; `run(pk=1, status="complete", content="...")` returns
    the number of rows changed, like `QuerySet.update`. Set values go through their
    field's `get_db_prep_save` on each call (datetimes, JSON…), as `update()` does.
    """

    def __init__(
        self,
        build: Callable[..., QuerySet],
        *,
        ints: tuple[str, ...] = (),
        strs: tuple[str, ...] = (),
        sets: tuple[str, ...],
    ):
        self._build = build
        self._where: dict[str, Any] = {name: _int_marker() for name in ints}
        self._where |= {name: _Marker(f"\x00prepared-{next(_marker_ids)}") for name in strs}
        self._sets = sets
        self._compiled: dict[str, tuple[str, tuple, dict[str, list[int]], dict]] = {}

    def run(self, **values) -> int:
        alias = DEFAULT_DB_ALIAS
        connection = connections[alias]
        compiled = self._compiled.get(alias) or self._prepare(alias)
        sql, base, positions, fields = compiled
        params = list(base)
        for name, found in positions.items():
            value = values[name]
            if name in fields:
                value = fields[name].get_db_prep_save(value, connection=connection)
            for position in found:
                params[position] = value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount

    def _prepare(self, alias: str):
        from django.db.models.sql import UpdateQuery

        queryset = self._build(**self._where)
        model = queryset.model
        fields = {name: model._meta.get_field(name) for name in self._sets}
        markers = {name: _Marker(f"\x00prepared-{next(_marker_ids)}") for name in self._sets}
        query = queryset.query.chain(UpdateQuery)
        query.add_update_fields(
            [(fields[name], None, _Param(markers[name], fields[name])) for name in self._sets]
        )
        sql, params = query.get_compiler(alias).as_sql()
        everything = self._where | markers
        positions = {
            name: [i for i, p in enumerate(params) if type(p) is type(m) and p == m]
            for name, m in everything.items()
        }
        missing = [name for name, found in positions.items() if not found]
        if missing:
            raise ValueError(f"prepared update: {missing} did not reach the SQL unchanged")
        self._compiled[alias] = (sql, tuple(params), positions, fields)
        return self._compiled[alias]
