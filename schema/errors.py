"""Error codes in one place, and domain errors as GraphQL errors.

`ERRORS` maps each exception class a client can be told about to what it is told: the
`extensions.code`, the message (when the exception's own text must not be shown), the
HTTP status (when the error is the whole response: credentials refused before GraphQL
runs, a request error with graphql-response+json, a failed transport) and the websocket
close code (when it ends a socket's connection_init). `mapped(error)` reads it for an
exception, most specific class first; GraphQL over HTTP (server/graphql_http.py), the
schema's extensions (schema/extensions.py) and the resolvers (below) all answer from it.

Domain errors (core/exceptions.py and their Django bases) carry their own `code`, which
strawberry-django also shows in OperationInfo; the table gives their class's default.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cross_web import HTTPException
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case

from accounts.authentication import AuthenticationFailed, AuthenticationThrottled
from conversations.replay import LiveEventsUnavailable
from core.exceptions import AuthenticationRequired, ConversationExpired
from core.ratelimit import RateLimited


class CsrfFailed(Exception):
    """A session-cookie POST without a valid X-CSRFToken (server/graphql_http.py)."""


@dataclass(frozen=True)
class Mapped:
    code: str
    status: int
    close_code: int | None = None  # None: it never closes a socket
    message: str | None = None  # None: the exception's own text; may name {error_id}


INTERNAL = Mapped("INTERNAL_SERVER_ERROR", 500, 1011, "Unexpected error (id {error_id}).")
# The database cannot be reached (or is locked): clients may retry. IntegrityError and
# the other DatabaseErrors are bugs, masked like any unexpected error (INTERNAL).
DATABASE_UNAVAILABLE = Mapped(
    "SERVICE_UNAVAILABLE", 503, 1011, "The database is unavailable right now; retry shortly."
)

ERRORS: dict[type[BaseException], Mapped] = {
    # Domain errors: messages written for clients.
    DjangoValidationError: Mapped("INVALID", 400),
    ObjectDoesNotExist: Mapped("NOT_FOUND", 404),
    PermissionDenied: Mapped("FORBIDDEN", 403),
    AuthenticationRequired: Mapped("UNAUTHENTICATED", 401),
    # An expired conversation, or its chat token (also closes a socket's connection_init).
    ConversationExpired: Mapped("CONVERSATION_EXPIRED", 410, 4410),
    RateLimited: Mapped("RATE_LIMITED", 429),
    # Credentials refused before GraphQL runs (accounts/authentication.py).
    AuthenticationFailed: Mapped("UNAUTHENTICATED", 401, 4403),
    AuthenticationThrottled: Mapped("RATE_LIMITED", 429, 4429),
    CsrfFailed: Mapped("CSRF_FAILED", 403),
    # The channel layer is down: live events cannot be joined.
    LiveEventsUnavailable: Mapped("SERVICE_UNAVAILABLE", 503),
    OperationalError: DATABASE_UNAVAILABLE,
    InterfaceError: DATABASE_UNAVAILABLE,
    # Anything else is a bug.
    Exception: INTERNAL,
}
DOMAIN_ERRORS = (DjangoValidationError, PermissionDenied, ObjectDoesNotExist)
OUTAGE_ERRORS = tuple(cls for cls, entry in ERRORS.items() if entry is DATABASE_UNAVAILABLE)

# Errors of the HTTP transport itself (cross_web's HTTPException), by status.
HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def mapped(error: BaseException) -> Mapped:
    """The table's entry for `error`, with a domain error's own code."""
    if isinstance(error, HTTPException):
        return Mapped(HTTP_CODES.get(error.status_code, "BAD_REQUEST"), error.status_code)
    entry = next((ERRORS[cls] for cls in type(error).__mro__ if cls in ERRORS), INTERNAL)
    own = getattr(error, "code", None) if isinstance(error, DOMAIN_ERRORS) else None
    if own:
        return Mapped(own.upper(), entry.status, entry.close_code, entry.message)
    return entry


def status_of(code: str) -> int | None:
    """The HTTP status the table gives a code (the first entry that has it)."""
    return next((entry.status for entry in ERRORS.values() if entry.code == code), None)


def _field_name(field: str) -> str:
    """The GraphQL name of an error's field; a path keeps what follows its first part
    as given (`variables.plan_name`: a name the client chose, not a schema field)."""
    head, dot, rest = field.partition(".")
    return to_camel_case(head) + dot + rest


def _field_errors(error: DjangoValidationError) -> list[dict]:
    if not hasattr(error, "error_dict"):
        return [{"field": None, "message": m, "code": error.code} for m in error.messages]
    found = []
    for field, errors in error.error_dict.items():
        for item in errors:
            found.append(
                {
                    "field": None if field == NON_FIELD_ERRORS else _field_name(field),
                    "message": item.messages[0],
                    "code": item.code,
                }
            )
    return found


def to_graphql_error(error: Exception) -> GraphQLError:
    if isinstance(error, DjangoValidationError):
        errors = _field_errors(error)
        code = (errors[0]["code"] if errors else None) or ""
        message = "; ".join(e["message"] for e in errors)
        extensions = {"code": code.upper() or mapped(error).code, "kind": "VALIDATION"}
        return GraphQLError(message, extensions={**extensions, "errors": errors})
    extensions = {"code": mapped(error).code}
    if hasattr(error, "retry_after"):
        extensions["retryAfter"] = error.retry_after
    return GraphQLError(str(error), extensions=extensions)


@contextmanager
def graphql_errors() -> Iterator[None]:
    """Re-raise domain errors as GraphQL errors carrying code/field (never masked)."""
    try:
        yield
    except DOMAIN_ERRORS as error:
        raise to_graphql_error(error) from error
