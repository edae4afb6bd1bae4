"""Input that the database cannot store or use, refused before execution.

Postgres refuses NUL in text and JSON ("a\\u0000b" was an internal error there, stored
on SQLite); a lone UTF-16 surrogate ("\\ud800", valid in JSON, not in UTF-8) fails
encoding anywhere (hashing a password, writing a row); NaN and Infinity have no JSON
form (stored as null, or failing a database check). One check covers every field:
the operation's variables, walked once, and the string literals of its document
(memoised per parsed document). Each finding is a GraphQL error with
`extensions.code` BAD_USER_INPUT, a `reason` (nul_character, lone_surrogate or
non_finite_number) and, for a variable, the `field` path (`input.userSession`).

Paging cursors (`after`/`before`) carry an offset: one past the database's integers
(`bigint out of range`) or negative ("Negative indexing is not supported") failed
inside the query as an internal error. A cursor whose offset is not in 0..MAX_OFFSET is
refused here with reason `invalid_cursor`; other malformed cursors are reported by
strawberry ("Invalid cursor", MaskUnexpectedErrors).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    StringValueNode,
    VariableNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.relay.types import PREFIX as CURSOR_PREFIX
from strawberry.relay.utils import from_base64

from core.storable import unstorable_reason
from schema.limits import LruCache

# Findings reported per operation: enough to fix the input, few enough to stay small.
MAX_FINDINGS = 10
MESSAGES = {
    "nul_character": "contains a NUL character (\\u0000), which cannot be stored",
    "lone_surrogate": "contains a lone UTF-16 surrogate, which is not valid Unicode",
    "non_finite_number": "is NaN or Infinity, which is not a number JSON can carry",
}
CURSOR_ARGUMENTS = frozenset({"after", "before"})
# No list is paged that far; the database's integers end at 2**63.
MAX_OFFSET = 2**31 - 1


def findings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, reason) for each unstorable part of a JSON value, keys included."""
    if isinstance(value, str):
        if reason := unstorable_reason(value):
            yield path, reason
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "non_finite_number"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and (reason := unstorable_reason(key)):
                yield path, reason
            yield from findings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from findings(item, f"{path}.{index}")


def _error(message: str, reason: str, *, field: str | None = None, node=None) -> GraphQLError:
    extensions = {"code": "BAD_USER_INPUT", "reason": reason}
    if field is not None:
        extensions["field"] = field
    return GraphQLError(message, node, extensions=extensions)


def variable_errors(variables: Mapping[str, Any] | None) -> list[GraphQLError]:
    errors = []
    for name, value in (variables or {}).items():
        for path, reason in findings(value, str(name)):
            message = f"Variable '${name}' at '{path}' {MESSAGES[reason]}."
            errors.append(_error(message, reason, field=path))
            if len(errors) >= MAX_FINDINGS:
                return errors
    return errors


class _Literals(Visitor):
    """What a document says itself: unstorable string literals, and its cursor
    arguments (checked per request: their values may be variables)."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[GraphQLError] = []
        self.cursors: list[ArgumentNode] = []

    def enter_string_value(self, node: StringValueNode, *_args) -> None:
        reason = unstorable_reason(node.value)
        if reason and len(self.errors) < MAX_FINDINGS:
            message = f"A string in the document {MESSAGES[reason]}."
            self.errors.append(_error(message, reason, node=node))

    def enter_argument(self, node: ArgumentNode, *_args) -> None:
        if node.name.value in CURSOR_ARGUMENTS:
            self.cursors.append(node)


def _document(document: DocumentNode) -> tuple[tuple[GraphQLError, ...], tuple[ArgumentNode, ...]]:
    cached = _DOCUMENTS.get(document)
    if cached is None:
        visitor = _Literals()
        visit(document, visitor)
        cached = (tuple(visitor.errors), tuple(visitor.cursors))
        _DOCUMENTS.put(document, cached)
    return cached


def literal_errors(document: DocumentNode) -> list[GraphQLError]:
    # Later extensions edit errors in place: hand out copies.
    return [
        GraphQLError(e.message, e.nodes, extensions=dict(e.extensions))
        for e in _document(document)[0]
    ]


def _offset_in_range(cursor: str) -> bool:
    try:
        kind, offset = from_base64(cursor)
    except ValueError:
        return True  # not a cursor at all: strawberry says "Invalid cursor"
    if kind != CURSOR_PREFIX:
        return True
    offset = offset.strip()
    return len(offset) <= len(str(MAX_OFFSET)) and offset.isdigit() and int(offset) <= MAX_OFFSET


def cursor_errors(
    document: DocumentNode, variables: Mapping[str, Any] | None
) -> list[GraphQLError]:
    errors = []
    for argument in _document(document)[1]:
        value = argument.value
        if isinstance(value, VariableNode):
            cursor = (variables or {}).get(value.name.value)
        else:
            cursor = getattr(value, "value", None)
        if isinstance(cursor, str) and not _offset_in_range(cursor):
            name = argument.name.value
            message = f"Argument '{name}' is not a cursor of this list (offset out of range)."
            errors.append(_error(message, "invalid_cursor", field=name, node=argument))
    return errors


_DOCUMENTS = LruCache(512)


class StorableInput(SchemaExtension):
    """Refuse the operation before it runs when its input holds what cannot be stored."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            variables = context.variables
            errors = [
                *literal_errors(document),
                *variable_errors(variables),
                *cursor_errors(document, variables),
            ]
            if errors:
                context.pre_execution_errors = [*(context.pre_execution_errors or ()), *errors]
        yield
