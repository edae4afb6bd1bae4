"""Input that no database column can store, refused before execution.

Postgres refuses NUL in text and JSON ("a\\u0000b" was an internal error there, stored
on SQLite); a lone UTF-16 surrogate ("\\ud800", valid in JSON, not in UTF-8) fails
encoding anywhere (hashing a password, writing a row); NaN and Infinity have no JSON
form (stored as null, or failing a database check). One check covers every field:
the operation's variables, walked once, and the string literals of its document
(memoised per parsed document). Each finding is a GraphQL error with
`extensions.code` BAD_USER_INPUT, a `reason` (nul_character, lone_surrogate or
non_finite_number) and, for a variable, the `field` path (`input.userSession`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from schema.limits import LruCache

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Findings reported per operation: enough to fix the input, few enough to stay small.
MAX_FINDINGS = 10
MESSAGES = {
    "nul_character": "contains a NUL character (\\u0000), which cannot be stored",
    "lone_surrogate": "contains a lone UTF-16 surrogate, which is not valid Unicode",
    "non_finite_number": "is NaN or Infinity, which is not a number JSON can carry",
}


def _text_reason(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "nul_character" if found.group() == "\x00" else "lone_surrogate"


def _findings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, reason) for each unstorable part of a JSON value, keys included."""
    if isinstance(value, str):
        if reason := _text_reason(value):
            yield path, reason
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield path, "non_finite_number"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and (reason := _text_reason(key)):
                yield path, reason
            yield from _findings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _findings(item, f"{path}.{index}")


def _error(message: str, reason: str, *, field: str | None = None, node=None) -> GraphQLError:
    extensions = {"code": "BAD_USER_INPUT", "reason": reason}
    if field is not None:
        extensions["field"] = field
    return GraphQLError(message, node, extensions=extensions)


def variable_errors(variables: Mapping[str, Any] | None) -> list[GraphQLError]:
    errors = []
    for name, value in (variables or {}).items():
        for path, reason in _findings(value, str(name)):
            message = f"Variable '${name}' at '{path}' {MESSAGES[reason]}."
            errors.append(_error(message, reason, field=path))
            if len(errors) >= MAX_FINDINGS:
                return errors
    return errors


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[GraphQLError] = []

    def enter_string_value(self, node: StringValueNode, *_args) -> None:
        reason = _text_reason(node.value)
        if reason and len(self.errors) < MAX_FINDINGS:
            message = f"A string in the document {MESSAGES[reason]}."
            self.errors.append(_error(message, reason, node=node))


def literal_errors(document: DocumentNode) -> list[GraphQLError]:
    cached = _LITERALS.get(document)
    if cached is None:
        visitor = _Literals()
        visit(document, visitor)
        cached = tuple(visitor.errors)
        _LITERALS.put(document, cached)
    # Later extensions edit errors in place: hand out copies.
    return [GraphQLError(e.message, e.nodes, extensions=dict(e.extensions)) for e in cached]


_LITERALS = LruCache(512)


class StorableInput(SchemaExtension):
    """Refuse the operation before it runs when its input holds what cannot be stored."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            errors = literal_errors(document) + variable_errors(context.variables)
            if errors:
                context.pre_execution_errors = [*(context.pre_execution_errors or ()), *errors]
        yield
