"""Domain errors as GraphQL errors, for fields whose payload has no room for OperationInfo."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case


def _field_errors(error: DjangoValidationError) -> list[dict]:
    if not hasattr(error, "error_dict"):
        return [{"field": None, "message": m, "code": error.code} for m in error.messages]
    found = []
    for field, errors in error.error_dict.items():
        for item in errors:
            found.append(
                {
                    "field": None if field == NON_FIELD_ERRORS else to_camel_case(field),
                    "message": item.messages[0],
                    "code": item.code,
                }
            )
    return found


def to_graphql_error(error: Exception) -> GraphQLError:
    if isinstance(error, DjangoValidationError):
        errors = _field_errors(error)
        message = "; ".join(e["message"] for e in errors)
        code = (errors[0]["code"] if errors else None) or "invalid"
        return GraphQLError(
            message, extensions={"code": code.upper(), "kind": "VALIDATION", "errors": errors}
        )
    code = getattr(error, "code", None)
    if isinstance(error, PermissionDenied):
        extensions = {"code": (code or "forbidden").upper()}
        if hasattr(error, "retry_after"):
            extensions["retryAfter"] = error.retry_after
        return GraphQLError(str(error), extensions=extensions)
    return GraphQLError(str(error), extensions={"code": (code or "not_found").upper()})


def unavailable(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": "SERVICE_UNAVAILABLE"})


@contextmanager
def graphql_errors() -> Iterator[None]:
    """Re-raise domain errors as GraphQL errors carrying code/field (never masked)."""
    try:
        yield
    except (DjangoValidationError, PermissionDenied, ObjectDoesNotExist) as error:
        raise to_graphql_error(error) from error
