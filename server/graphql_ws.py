"""GraphQL over websockets (graphql-transport-ws and legacy graphql-ws)."""

from django.contrib.auth.models import AnonymousUser
from strawberry import UNSET
from strawberry.channels import GraphQLWSConsumer as BaseConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from accounts.authentication import AuthenticationFailed, user_from_authorization
from schema.context import Context
from server.origins import origin_allowed
from server.resilient_consumer import ResilientLayerMixin


class _AnyOperationSchema:
    """The schema, with `subscribe` running any operation type (as `stream` does)."""

    def __init__(self, schema):
        self._schema = schema

    def __getattr__(self, name: str):
        return getattr(self._schema, name)

    async def subscribe(self, query, **kwargs):
        return await self._schema.stream(query, **kwargs)


class LegacyGraphQLWSHandler(BaseGraphQLWSHandler):
    """The legacy `graphql-ws` protocol (subscriptions-transport-ws) runs queries and
    mutations too, and its clients rely on it; Strawberry's handler only runs
    subscriptions (it calls `schema.subscribe`), so it gets a schema that runs any."""

    def __init__(self, *args, schema, **kwargs):
        super().__init__(*args, schema=_AnyOperationSchema(schema), **kwargs)


class GraphQLWSConsumer(ResilientLayerMixin, BaseConsumer):
    graphql_ws_handler_class = LegacyGraphQLWSHandler

    def is_websocket_origin_allowed(self, request, origin: str) -> bool:
        # Strawberry checks cross-origin handshakes again after server.origins did;
        # without this it would refuse the CORS allow-list that the validator accepts.
        return origin_allowed(origin)

    async def get_context(self, request, response) -> Context:
        return Context(request=request, response=response, ws=request, user=self.scope.get("user"))

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
        # UNSET, not None: graphql-transport-ws then acks without a `payload: null`.
        return UNSET
