"""GraphQL parse and validation, cached, in place of Strawberry's steps.

Why: a repeated operation is not parsed again, and every subscription of the same
operation holds one document instead of its own (with its token chain): idle socket
118.7 → 88.4 KB. A document that passed validation is not validated again (graphql-core's
validation is the largest cost of a small query): with the parse cache, in-process
`/graphql` 27.6 → 22.9 ms of CPU per request (docs/BENCHMARKS.md "Profile of the slowest
path", rows 5 and 6; commit 7b38da6).

Not Strawberry's ParserCache: a syntax error raised in its `on_parse` aborts the
operation's extension hooks, so ErrorCodes, HideSuggestions and MaskUnexpectedErrors
never see the result (the error reaches the client without `extensions.code`). Here a
document that fails to parse is left to Strawberry, which parses it again and reports
the syntax error through the normal path.

Not Strawberry's ValidationCache: it caches failures too, returning the same list of
GraphQLError objects to every request that repeats an invalid document, and this
schema's extensions edit errors in place afterwards (QueryLimits adds its codes and
limit errors, HideSuggestions strips hints per GRAPHQL_FIELD_SUGGESTIONS, ErrorCodes
adds codes), so one request's edits would reach the next. Failures are the rare path:
here they are validated again, each time with fresh errors.

Written against strawberry-graphql 0.341.2 and graphql-core 3.3.2. Relies on Strawberry
skipping its parse when an extension has set `graphql_document`
(`strawberry.schema.schema._parse_operation_document`) and its validation when one has
set `pre_execution_errors` (`_run_validation`), and on its `validate_document` (which
adds Strawberry's own rules); tests/overrides/test_strawberry_caches.py pins them and
the ParserCache / ValidationCache behaviour that rules those out.
"""

import contextlib
import functools
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

CACHE_SIZE = 512


class SharedParse(SchemaExtension):
    """Parse through a shared LRU cache (the AST is immutable), with the options other
    extensions set in `on_operation` (token and length limits)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and isinstance(context.query, str):
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parse(context.query, **context.parse_options)
        yield


@functools.lru_cache(maxsize=CACHE_SIZE)
def _parse(query: str, **options) -> DocumentNode:
    return parse(query, **options)


class _Invalid(Exception):
    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__()
        self.errors = errors


@functools.lru_cache(maxsize=CACHE_SIZE)
def _passes(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> bool:
    errors = validate_document(schema, document, rules)
    if errors:
        raise _Invalid(errors)  # lru_cache keeps nothing for a call that raises
    return True


def validation_errors(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """The document's validation errors under `rules`; a pass is remembered (by schema,
    document and rules), a failure is not."""
    try:
        _passes(schema, document, rules)
    except _Invalid as invalid:
        return invalid.errors
    return []
