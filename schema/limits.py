"""Limits on what one GraphQL operation may ask for.

`limit_errors()` walks each operation of a document once, expanding fragment spreads
(each fragment is measured once and memoised, so `...F` used ten times costs ten times
F without walking F ten times; a fragment cycle counts as empty here and is reported by
the spec's NoFragmentCyclesRule), and reports:

- depth: the longest chain of nested fields, leaves included (`{ me { username } }` is
  2). The subtrees of `__schema` and `__type` do not count, so GraphiQL's introspection
  query passes; graphql-core's MaxIntrospectionDepthRule bounds those instead.
- aliases and directives: every occurrence, with fragments expanded.
- page sizes: `first`/`last` above the page-size cap are refused here with a clear
  message instead of failing inside the resolver.
- cost: every field selection costs 1 times the page sizes of the lists around it
  (`bots(first: 10) { edges { node { name } } }` = 1 + 10 * (1 + 1 + 1) = 31); a
  connection without `first`/`last` counts as `default_page_size` items.

It runs per request with that request's variable values, so `first: $n` counts as the
value sent (as graphql-core coerces it for an Int: `100.0` and `1e2` are 100), else as
the variable's default. Not a graphql-core validation rule: the
standard rules' verdict on a document is cached (schema/extensions.py `QueryLimits`), and
this one depends on the variables. Its own result is cached per (document, limits,
variables that coerce to an Int): a client repeating an operation costs a dictionary
lookup.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    VariableNode,
    get_named_type,
)

INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})
PAGE_ARGUMENTS = ("first", "last")
# Counts saturate here: fragments spreading fragments grow them exponentially, and a
# number of thousands of digits would be slow to print (or refused by Python).
CEILING = 10**15


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_directives: int
    max_cost: int
    max_page_size: int
    default_page_size: int


@dataclass
class Measure:
    """What a selection set asks for; `cost` is for one instance of its parent."""

    depth: int = 0
    aliases: int = 0
    directives: int = 0
    cost: int = 0

    def add(self, other: Measure) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases = min(self.aliases + other.aliases, CEILING)
        self.directives = min(self.directives + other.directives, CEILING)
        self.cost = min(self.cost + other.cost, CEILING)


def _shown(count: int) -> str:
    return f"over {CEILING}" if count >= CEILING else str(count)


def _error(message: str, node: Any, code: str, **extra: Any) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code, **extra})


class _Analyzer:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        limits: Limits,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.entered: set[str] = set()
        self.reported_pages: set[int] = set()

    # -- walking ---------------------------------------------------------------------

    def operation(self, node: OperationDefinitionNode) -> Measure:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }.get(node.operation)
        measure = self.selection_set(node.selection_set, root)
        measure.directives += len(node.directives or ())
        return measure

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> Measure:
        total = Measure()
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total.add(self.field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                inline = self.selection_set(selection.selection_set, scope)
                inline.directives += len(selection.directives or ())
                total.add(inline)
            elif isinstance(selection, FragmentSpreadNode):
                spread = self.fragment(selection.name.value)
                total.add(
                    Measure(
                        depth=spread.depth,
                        aliases=spread.aliases,
                        directives=spread.directives + len(selection.directives or ()),
                        cost=spread.cost,
                    )
                )
        return total

    def fragment(self, name: str) -> Measure:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.entered:
            # Unknown fragments and cycles are the spec rules' to report.
            return Measure()
        self.entered.add(name)
        scope = self.schema.get_type(definition.type_condition.name.value)
        measure = self.selection_set(definition.selection_set, scope)
        measure.directives += len(definition.directives or ())
        self.entered.discard(name)
        self.measured[name] = measure
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Measure:
        name = node.name.value
        definition = self.field_definition(parent, name)
        child_type = get_named_type(definition.type) if definition else None
        child = self.selection_set(node.selection_set, child_type)
        page = self.page_size(node, definition)
        return Measure(
            depth=1 if name in INTROSPECTION_ROOTS else 1 + child.depth,
            aliases=child.aliases + (1 if node.alias else 0),
            directives=child.directives + len(node.directives or ()),
            cost=min(1 + page * child.cost, CEILING),
        )

    def field_definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is self.schema.query_type and name == "__schema":
            return SchemaMetaFieldDef
        if parent is self.schema.query_type and name == "__type":
            return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return parent.fields.get(name)
        return None

    # -- page sizes ------------------------------------------------------------------

    def page_size(self, node: FieldNode, definition: GraphQLField | None) -> int:
        """How many items a list field may return: its first/last, else the default."""
        if definition is None or not any(arg in definition.args for arg in PAGE_ARGUMENTS):
            return 1
        requested = [
            (argument.name.value, self.int_value(argument.value))
            for argument in node.arguments or ()
            if argument.name.value in PAGE_ARGUMENTS
        ]
        sizes = []
        for argument, value in requested:
            if value is None:
                continue
            if value < 0 or value > self.limits.max_page_size:
                self.report_page(node, argument, value)
                value = min(max(value, 0), self.limits.max_page_size)
            sizes.append(value)
        return max(sizes) if sizes else self.limits.default_page_size

    def int_value(self, value: Any) -> int | None:
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            return self.variables.get(value.name.value)
        return None

    def report_page(self, node: FieldNode, argument: str, value: int) -> None:
        if id(node) in self.reported_pages:
            return
        self.reported_pages.add(id(node))
        limit = self.limits.max_page_size
        # The same words as strawberry's own check, which runs too late to be clear.
        if value < 0:
            message, code = (
                f"Argument '{argument}' must be a non-negative integer.",
                "BAD_PAGE_SIZE",
            )
        else:
            message = f"Argument '{argument}' cannot be higher than {limit}."
            code = "PAGE_SIZE_TOO_LARGE"
        self.errors.append(_error(message, node, code, limit=limit))

    # -- checking --------------------------------------------------------------------

    def check(self, node: OperationDefinitionNode) -> None:
        try:
            measure = self.operation(node)
        except RecursionError:
            self.errors.append(_error("The document is nested too deeply.", node, "QUERY_TOO_DEEP"))
            return
        limits = self.limits
        name = f"Operation '{node.name.value}'" if node.name else "The operation"
        if measure.depth > limits.max_depth:
            message = f"{name} is {measure.depth} levels deep; the limit is {limits.max_depth}."
            self.errors.append(_error(message, node, "QUERY_TOO_DEEP", limit=limits.max_depth))
        if measure.aliases > limits.max_aliases:
            message = (
                f"{name} uses {_shown(measure.aliases)} aliases (fragments expanded); "
                f"the limit is {limits.max_aliases}."
            )
            self.errors.append(_error(message, node, "TOO_MANY_ALIASES", limit=limits.max_aliases))
        if measure.directives > limits.max_directives:
            message = (
                f"{name} uses {_shown(measure.directives)} directives (fragments expanded); "
                f"the limit is {limits.max_directives}."
            )
            self.errors.append(
                _error(message, node, "TOO_MANY_DIRECTIVES", limit=limits.max_directives)
            )
        if measure.cost > limits.max_cost:
            message = (
                f"{name} is too expensive: it may resolve {_shown(measure.cost)} fields "
                f"(fields times the page sizes around them); the limit is {limits.max_cost}. "
                "Ask for smaller pages (first/last) or fewer nested lists."
            )
            self.errors.append(_error(message, node, "QUERY_TOO_COMPLEX", limit=limits.max_cost))


def _integer_variables(variables: Any) -> tuple[tuple[str, int], ...]:
    """The variables that can count as page sizes, coerced as graphql-core will coerce
    them for an Int (a whole float such as `100.0` or `1e2` is the int 100; anything
    else fails coercion and runs nowhere): the part of the cache key they decide."""
    if not isinstance(variables, Mapping):
        return ()
    coerced = []
    for name, value in variables.items():
        if not isinstance(name, str) or not isinstance(value, int | float):
            continue
        try:
            coerced.append((name, GraphQLInt.parse_value(value)))
        except GraphQLError:
            continue
    return tuple(sorted(coerced))


def limit_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    limits: Limits,
    variables: Mapping[str, Any] | None = None,
) -> list[GraphQLError]:
    """What `document` asks for beyond `limits` with these variable values (no errors:
    within limits). Results are cached; the errors returned are fresh copies."""
    key = (schema, document, limits, _integer_variables(variables))
    cached = _CACHE.get(key)
    if cached is None:
        cached = _analyse(schema, document, limits, dict(key[3]))
        _CACHE.put(key, cached)
    return [_copy(error) for error in cached]


def _analyse(
    schema: GraphQLSchema, document: DocumentNode, limits: Limits, values: dict[str, int]
) -> tuple[GraphQLError, ...]:
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            # Per operation: `$n` falls back to this operation's default.
            defaults = {
                variable.variable.name.value: int(variable.default_value.value)
                for variable in definition.variable_definitions or ()
                if isinstance(variable.default_value, IntValueNode)
            }
            analyzer = _Analyzer(schema, document, limits, {**defaults, **values})
            analyzer.check(definition)
            errors += analyzer.errors
    return tuple(errors)


def _copy(error: GraphQLError) -> GraphQLError:
    # Later extensions edit errors in place (masking, suggestions): never share one.
    return GraphQLError(error.message, error.nodes, extensions=dict(error.extensions or {}))


class LruCache:
    """A small least-recently-used map (functools.lru_cache cannot skip caching)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


_CACHE = LruCache(512)
