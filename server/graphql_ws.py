"""GraphQL over websockets (graphql-transport-ws and legacy graphql-ws)."""

from django.contrib.auth.models import AnonymousUser
from strawberry.channels import GraphQLWSConsumer as BaseConsumer
from strawberry.exceptions import ConnectionRejectionError

from accounts.authentication import AuthenticationFailed, user_from_authorization
from schema.context import Context


class GraphQLWSConsumer(BaseConsumer):
    async def get_context(self, request, response) -> Context:
        return Context(
            request=request, response=response, ws=request, user=self.scope.get("user")
        )

    async def on_ws_connect(self, context: Context):
        """Authenticate from the connection_init payload.

        `chatToken` unlocks a visitor's conversation; `authToken` (an API token) or
        `Authorization` ("Bearer …"/"Basic …") authenticates an owner. The session cookie
        sent with the handshake works too (AuthMiddlewareStack).
        """
        params = context.connection_params or {}
        if not isinstance(params, dict):
            raise ConnectionRejectionError({"message": "connection_init payload must be an object"})
        if context.user is None:
            context.user = AnonymousUser()
        header = params.get("Authorization") or (
            f"Bearer {params['authToken']}" if params.get("authToken") else None
        )
        if header:
            try:
                context.user = await user_from_authorization(str(header))
            except AuthenticationFailed as exc:
                raise ConnectionRejectionError({"message": str(exc)}) from exc
        chat_token = params.get("chatToken")
        context.chat_token = str(chat_token) if chat_token else None
        return None
