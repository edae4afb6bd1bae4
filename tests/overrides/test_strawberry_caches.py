"""overrides/strawberry_caches.py parses and validates in extensions, through caches: pin
what it relies on in Strawberry (0.341.2), and the ParserCache / ValidationCache
behaviour that rules Strawberry's own caches out."""

import strawberry
from graphql import parse, specified_rules
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema import schema as strawberry_schema

from overrides.strawberry_caches import SharedParse, validation_errors
from tests.overrides.upstream import changed

PINNED = {
    # Skips Strawberry's parse once an extension set graphql_document.
    "strawberry.schema.schema._parse_operation_document": (
        strawberry_schema._parse_operation_document,
        "6816c6ff52b3cca8",
    ),
    # Skips Strawberry's validation once an extension set pre_execution_errors.
    "strawberry.schema.schema._run_validation": (
        strawberry_schema._run_validation,
        "8f2b2eef9b75c8ef",
    ),
    "strawberry.schema.schema.validate_document": (
        strawberry_schema.validate_document,
        "c02c861b06ae126f",
    ),
}


@strawberry.type
class Query:
    @strawberry.field
    def answer(self) -> int:
        return 42


SCHEMA = strawberry.Schema(query=Query)


def test_upstream_validation_step_is_the_one_the_override_was_written_against():
    assert changed(PINNED) == []


def test_strawberrys_validation_cache_shares_error_objects_between_requests():
    # Why validation_errors exists: our extensions edit errors in place.
    # If Strawberry stops handing every request the same errors, use ValidationCache.
    cache = ValidationCache()
    document = parse("{ missing }")
    rules = tuple(specified_rules)
    first = cache.cached_validate_document(SCHEMA._schema, document, rules)
    second = cache.cached_validate_document(SCHEMA._schema, document, rules)
    assert first and first is second


def test_failures_get_fresh_errors_and_passes_none():
    document = parse("{ missing }")
    rules = tuple(specified_rules)
    first = validation_errors(SCHEMA._schema, document, rules)
    second = validation_errors(SCHEMA._schema, document, rules)
    assert first and second and first[0] is not second[0]
    assert validation_errors(SCHEMA._schema, parse("{ answer }"), rules) == []


class SeesResult(SchemaExtension):
    """Records what the operation's other extensions see once it is done."""

    results: list = []
    documents: list = []

    def on_operation(self):
        yield
        SeesResult.results.append(self.execution_context.result)
        SeesResult.documents.append(self.execution_context.graphql_document)


async def test_strawberrys_parser_cache_hides_a_syntax_error_from_other_extensions():
    # Why SharedParse exists: ErrorCodes must see every result to add its code. If this
    # fails, ParserCache's syntax errors reach the other extensions: use ParserCache.
    SeesResult.results = []
    schema = strawberry.Schema(query=Query, extensions=[SeesResult, ParserCache])
    result = await schema.execute("{ answer ")
    assert result.errors and SeesResult.results == []


async def test_shared_parse_lets_other_extensions_see_a_syntax_error():
    SeesResult.results = []
    schema = strawberry.Schema(query=Query, extensions=[SeesResult, SharedParse])
    result = await schema.execute("{ answer ")
    assert result.errors and SeesResult.results == [result]


def test_shared_parse_gives_the_same_document_for_the_same_text():
    SeesResult.documents = []
    schema = strawberry.Schema(query=Query, extensions=[SeesResult, SharedParse])
    first = schema.execute_sync("{ answer }")
    second = schema.execute_sync("{ answer }")
    assert first.data == second.data == {"answer": 42}
    assert SeesResult.documents[0] is SeesResult.documents[1]
