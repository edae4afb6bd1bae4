"""Schema extensions: query limits, introspection and suggestion switches, error masking.

Every switch and limit is read from settings when an operation starts (extensions are
instantiated per operation), so `settings` overrides in tests and a changed
environment apply without rebuilding the schema. The settings live in the
`# --- GraphQL limits ---` block of server/settings.py.
"""

import logging
import re
import secrets
from collections.abc import Iterator

from django.conf import settings
from graphql import GraphQLError
from graphql.validation import MaxIntrospectionDepthRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, MaxTokensLimiter, SchemaExtension
from strawberry.relay.types import GlobalIDValueError
from strawberry.types import StreamExecutionResult
from strawberry.types.graphql import OperationType

from overrides.strawberry_caches import validation_errors
from overrides.strawberry_frames import errors_only
from schema.errors import DATABASE_UNAVAILABLE, DOMAIN_ERRORS, INTERNAL, OUTAGE_ERRORS, mapped
from schema.limits import Limits, limit_errors

logger = logging.getLogger(__name__)

RELAY_MODULES = ("strawberry.relay.", "strawberry_django.relay.")
_SUGGESTION = re.compile(r"\s*Did you mean\b.*\Z", re.DOTALL)


def limits_from_settings() -> Limits:
    return Limits(
        max_depth=settings.GRAPHQL_MAX_DEPTH,
        max_aliases=settings.GRAPHQL_MAX_ALIASES,
        max_directives=settings.GRAPHQL_MAX_DIRECTIVES,
        max_cost=settings.GRAPHQL_MAX_COST,
        max_page_size=settings.GRAPHQL_MAX_PAGE_SIZE,
        default_page_size=settings.GRAPHQL_COST_DEFAULT_PAGE_SIZE,
    )


def _errors_of(result: object) -> list[GraphQLError]:
    return list(getattr(result, "errors", None) or ())


def _raised_by_relay_arguments(error: BaseException) -> bool:
    """A ValueError raised by strawberry's / strawberry-django's Relay code: those only
    reject the request's paging arguments (an `after` cursor that does not decode)."""
    if not isinstance(error, ValueError):
        return False
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    module = traceback.tb_frame.f_globals.get("__name__", "") if traceback else ""
    return module.startswith(RELAY_MODULES)


def is_expected(error: GraphQLError) -> bool:
    """True for errors whose text is written for clients; the rest come from a bug or an
    outage and are masked.

    Expected: graphql-core's own errors (syntax, validation, variable coercion: no
    original error, or a GraphQLError), GraphQLErrors raised on purpose
    (schema/errors.py), and Django ValidationError / PermissionDenied /
    ObjectDoesNotExist (core/exceptions.py).
    """
    original = error.original_error
    return original is None or isinstance(original, (GraphQLError, *DOMAIN_ERRORS))


class MaskUnexpectedErrors(MaskErrors):
    """Replace unexpected errors by "Unexpected error (id <12 hex>)." and log them.

    The log record (logger `schema.extensions`, with the traceback) carries the same id,
    so a client's report leads to the cause; `extensions.code` is INTERNAL_SERVER_ERROR.
    A database outage (OperationalError, InterfaceError) reads "The database is
    unavailable right now; retry shortly." with SERVICE_UNAVAILABLE, also with an id
    (both from schema/errors.py's table).
    Relay's argument errors are the client's, not ours: they keep strawberry's wording
    ("Argument 'first' …", "Invalid cursor"), or read "Invalid cursor." when the cursor's
    base64 did not decode.
    """

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not is_expected(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if _raised_by_relay_arguments(error.original_error):
            known = error.message.startswith(("Argument '", "Invalid cursor"))
            return GraphQLError(
                error.message if known else "Invalid cursor.",
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "BAD_USER_INPUT"},
            )
        error_id = secrets.token_hex(6)
        path = ".".join(str(key) for key in error.path or ()) or "-"
        outage = isinstance(error.original_error, OUTAGE_ERRORS)
        if outage:
            # An outage, not a bug: say so (without the driver's text), still with an id.
            logger.error(
                "Database unavailable (id %s) at %s: %s",
                error_id,
                path,
                error.message,
                exc_info=error.original_error,
                extra={"error_id": error_id},
            )
        else:
            logger.exception(
                "Unexpected error (id %s) at %s: %s",
                error_id,
                path,
                error.message,
                exc_info=error.original_error,
                extra={"error_id": error_id},
            )
        entry = DATABASE_UNAVAILABLE if outage else INTERNAL
        return GraphQLError(
            entry.message.format(error_id=error_id),
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": entry.code, "errorId": error_id},
        )


class HideSuggestions(SchemaExtension):
    """Drop "Did you mean …?" hints unless GRAPHQL_FIELD_SUGGESTIONS (default: DEBUG).

    The hints name fields, arguments, types and enum values, which is the schema that
    disabled introspection hides. Strawberry's `disable_field_suggestions` only covers
    unknown fields; this covers every hint graphql-core appends, read per operation.
    """

    @staticmethod
    def _strip(result: object) -> None:
        if settings.GRAPHQL_FIELD_SUGGESTIONS:
            return
        for error in _errors_of(result):
            if error.original_error is None or isinstance(error.original_error, GraphQLError):
                error.message = _SUGGESTION.sub("", error.message)

    def on_operation(self) -> Iterator[None]:
        yield
        self._strip(self.execution_context.result)

    @errors_only
    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._strip(result)
        yield


class DocumentLimits(MaxTokensLimiter):
    """Strawberry's MaxTokensLimiter with GRAPHQL_MAX_TOKENS read per operation, plus a
    cap on the document's length (GRAPHQL_MAX_QUERY_BYTES, counted in characters here,
    which never exceed the bytes) so an oversized document is refused before it is lexed.
    Both surface as syntax errors ("Document contains more than … tokens"). SharedParse
    (overrides/strawberry_caches.py) parses with these options."""

    def __init__(self) -> None:
        super().__init__(max_token_count=settings.GRAPHQL_MAX_TOKENS)

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_source_length"] = settings.GRAPHQL_MAX_QUERY_BYTES
        yield from super().on_operation()


class QueryLimits(SchemaExtension):
    """Validation, cached (overrides/strawberry_caches.py), plus limits per
    operation: graphql-core's rules (with MaxIntrospectionDepthRule, and no
    introspection unless GRAPHQL_INTROSPECTION), then depth, aliases, directives, page
    sizes and cost (schema/limits.py, with this request's variables).

    Not strawberry's QueryDepthLimiter / MaxAliasesLimiter: they walk a fragment again
    for every spread, so fragments that spread the previous one twice take 2**n steps
    (22 levels, ~200 tokens: 10 s of CPU for the alias count), and they are configured
    once at import."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            schema = context.schema._schema
            rules = (*context.validation_rules, MaxIntrospectionDepthRule)
            if not settings.GRAPHQL_INTROSPECTION:
                rules = (*rules, NoSchemaIntrospectionCustomRule)
            errors = limit_errors(schema, document, limits_from_settings(), context.variables)
            invalid = validation_errors(schema, document, rules)
            for error in invalid:
                error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED"}
            context.pre_execution_errors = errors + invalid
        yield


class TokenScope(SchemaExtension):
    """A read-scope API token runs queries and subscriptions only: its mutations are
    refused before they run, over HTTP and websockets alike (INSUFFICIENT_SCOPE)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        credential = getattr(context.context, "credential", None)
        if (
            credential is not None
            and credential.scope == "read"
            and context.operation_type == OperationType.MUTATION
        ):
            # Added to QueryLimits' errors (listed before this extension, so it ran first).
            refused = GraphQLError(
                "This API token has the read scope: mutations need a token with write scope.",
                extensions={"code": "INSUFFICIENT_SCOPE"},
            )
            context.pre_execution_errors = [*(context.pre_execution_errors or ()), refused]
        yield


class ErrorCodes(SchemaExtension):
    """Every error reaches the client with an `extensions.code`.

    - Domain errors raised outside mutations (e.g. a read by an anonymous caller): the
      code the mutations' errors carry (UNAUTHENTICATED, NOT_FOUND…).
    - A malformed global ID (`step(id: "")`): INVALID_ID, like other bad IDs.
    - graphql-core's own errors: GRAPHQL_PARSE_FAILED (syntax),
      GRAPHQL_VALIDATION_FAILED (tagged by QueryLimits, which runs the rules), and
      BAD_USER_INPUT for the rest (variable and argument values that do not coerce).
    Masked errors and the limits' errors carry their own codes already.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        _add_codes(self.execution_context.result)

    @errors_only
    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        _add_codes(result)
        yield


def _add_codes(result: object) -> None:
    for error in _errors_of(result):
        # Unexpected errors get theirs from MaskUnexpectedErrors, which runs next.
        if is_expected(error) and not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": _code_of(error)}


def _code_of(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, GlobalIDValueError):
        return "INVALID_ID"
    if isinstance(original, DOMAIN_ERRORS):
        return mapped(original).code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    return "BAD_USER_INPUT"
