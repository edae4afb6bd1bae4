"""The typed GraphQL context, the same shape over HTTP and websockets."""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AnonymousUser
from strawberry.types import Info as _Info

from core.exceptions import AuthenticationRequired


@dataclass
class Context:
    request: Any
    response: Any = None
    user: Any = field(default_factory=AnonymousUser)
    # How the user authenticated (accounts.authentication.Credential); None if anonymous.
    credential: Any = None
    # A visitor's chat token (X-Chat-Token header or connection_init `chatToken`).
    chat_token: str | None = None
    # Over HTTP: the conversation of `chat_token` when it has expired (its token then
    # opens nothing but resetConversation).
    expired_conversation_id: int | None = None
    # Over HTTP: the conversation `chat_token` opens, read once with the request
    # (selectors.token_conversation) and reused by the resolvers that need it.
    token_conversation: Any = None
    ws: Any = None
    connection_params: Any = None
    # Per-request caches (e.g. conversations a chat token unlocks).
    cache: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        # Strawberry's docs and helpers use info.context["ws"] / ["request"].
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def get_user(self, *, required: bool = True):
        """The authenticated user; raises AuthenticationRequired when required and anonymous."""
        if required and not self.user.is_authenticated:
            raise AuthenticationRequired()
        return self.user


Info = _Info[Context, None]
