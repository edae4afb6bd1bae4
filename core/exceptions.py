"""Domain errors with stable codes; strawberry-django turns them into OperationInfo messages."""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied


class NotFound(ObjectDoesNotExist):
    """Missing, or not visible to the caller (the two are not told apart on purpose)."""

    code = "not_found"


class AuthenticationRequired(PermissionDenied):
    code = "unauthenticated"

    def __init__(self, message: str = "Authentication required: log in or send an API token."):
        super().__init__(message)


class Forbidden(PermissionDenied):
    code = "forbidden"


class ConversationExpired(PermissionDenied):
    """The conversation expired after its bot's inactivity timeout (or was replaced)."""

    code = "conversation_expired"
