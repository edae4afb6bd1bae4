"""GraphQL over websockets (graphql-transport-ws and legacy graphql-ws).

Abuse limits, read from settings when each connection opens (server/settings.py,
`# --- GraphQL limits ---`), with the close codes of graphql-transport-ws's PROTOCOL.md,
applied to the legacy protocol too:

- no connection_init within WS_CONNECTION_INIT_TIMEOUT → 4408;
- a second connection_init → 4429; a duplicate operation id → 4409 (graphql-transport-ws;
  legacy graphql-ws restarts the operation, as subscriptions-transport-ws did);
- more than WS_MAX_SUBSCRIPTIONS operations at once → an `error` message for that id;
- a frame above WS_MAX_MESSAGE_BYTES → 4400 with the reason "Message larger than N bytes"
  and one WARNING log line. Not 1009 (Message Too Big): autobahn (daphne) lets an
  application send only 1000 and 3000-4999, and failed with 1011 and a traceback per
  frame. 4400 is one the graphql-ws client treats as fatal, so it does not reconnect and
  resend the same frame;
- a malformed message (not an object, no string id, no query) → 4400 (legacy: an `error`);
- rejected credentials in connection_init → 4403 (legacy: connection_error, then 4403);
  too many failed passwords → 4429, like the HTTP 429 (accounts/backends.py); the
  database unreachable while authenticating → 1011;
- the credential a socket authenticated with (API token, session cookie, Basic) is
  checked again every WS_AUTH_RECHECK_INTERVAL seconds: once it would no longer
  authenticate (token revoked, logout, password changed, user deactivated) → 4403;
- more than WS_MAX_SOCKETS_PER_IP sockets from one client address (core/ratelimit.py
  `client_ip`), or more than WS_MAX_SOCKETS_PER_CHAT_TOKEN with one `chatToken` in
  connection_init → 4013 ("try again later", like 1013, which daphne cannot send: the
  graphql-ws client retries it with backoff, and a slot frees when a socket closes);
  counted in Redis across processes when REDIS_URL is set (server/socket_slots.py);
- keep-alive every WS_KEEPALIVE_INTERVAL seconds after the ack: `ping` (clients answer
  `pong`) on graphql-transport-ws, `ka` on legacy graphql-ws.
"""

import asyncio
import json
import logging
from contextlib import suppress
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from strawberry import UNSET
from strawberry.channels import GraphQLWSConsumer as BaseConsumer
from strawberry.exceptions import ConnectionRejectionError

from accounts.authentication import (
    AuthenticationFailed,
    AuthenticationThrottled,
    credential_valid,
    session_credential,
    user_from_authorization,
)
from conversations import lifecycle
from core.exceptions import ConversationExpired
from core.ratelimit import client_ip
from core.storable import is_storable
from overrides.channels_consumer import ResilientLayerMixin
from overrides.strawberry_ws import LegacyHandler, TransportHandler
from schema.context import Context
from schema.errors import OUTAGE_ERRORS, mapped
from server import metrics
from server.origins import origin_allowed
from server.socket_slots import SocketSlots

logger = logging.getLogger(__name__)


CLOSE_MESSAGE_TOO_BIG = 4400
CLOSE_FORBIDDEN = 4403
CLOSE_INIT_TIMEOUT = 4408
CLOSE_TOO_MANY_INITS = 4429
CLOSE_TOO_MANY_SOCKETS = 4013


class CloseConnection(Exception):
    """Raised by on_ws_connect to close with a code of its own (Strawberry only knows
    ConnectionRejectionError → 4403)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _malformed(message: object, start: str, stop: str, id_types: tuple[type, ...]) -> str | None:
    """Why a client message cannot be handled, or None; `start`/`stop` name the
    protocol's operation messages (subscribe/complete, or start/stop)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message must be a JSON object with a string `type`."
    if message["type"] not in (start, stop):
        return None
    operation_id = message.get("id")
    if (
        not isinstance(operation_id, id_types)
        or isinstance(operation_id, bool)
        or operation_id == ""
    ):
        return f"A `{message['type']}` message needs an `id` string."
    if message["type"] == stop:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return f"A `{start}` message needs a `payload` with a `query` string."
    if not isinstance(payload.get("variables"), dict | None):
        return "`payload.variables` must be an object."
    if not isinstance(payload.get("operationName"), str | None):
        return "`payload.operationName` must be a string."
    return None


class TransportWSHandler(TransportHandler):
    """graphql-transport-ws with malformed messages closing 4400 (instead of crashing the
    connection's task) and keep-alive pings (overrides/strawberry_ws.py). Strawberry
    already closes 4408, 4409, 4429, 4401 and 4403, and refuses operations past the
    per-connection limit."""

    async def handle_message(self, message) -> None:
        if reason := _malformed(message, "subscribe", "complete", (str,)):
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message) -> None:
        if not self.connection_init_received and not await self.view.claim_chat_token_slot(
            message.get("payload")
        ):
            return
        try:
            await super().handle_connection_init(message)
        except CloseConnection as exc:
            await self.websocket.close(code=exc.code, reason=exc.reason)
            return
        if self.connection_acknowledged and self.view.keep_alive:
            self.start_keep_alive(self.view.keep_alive_interval)


class LegacyGraphQLWSHandler(LegacyHandler):
    """The legacy `graphql-ws` protocol (subscriptions-transport-ws) runs queries and
    mutations too, and its clients rely on it (overrides/strawberry_ws.py).

    Strawberry's legacy handler has no connection_init timeout, accepts any number of
    connection_init messages (each re-authenticates the shared context), closes a
    rejected one with 1011 and crashes on a `start` without a payload: here those are
    4408, 4429, 4403 and an `error` message."""

    refusals = (ConnectionRejectionError, CloseConnection)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection_init_received = False
        self.init_timeout_task: asyncio.Task | None = None

    async def handle(self) -> None:
        delay = self.view.connection_init_wait_timeout.total_seconds()
        self.init_timeout_task = asyncio.create_task(self._close_without_init(delay))
        try:
            await super().handle()
        finally:
            self.init_timeout_task.cancel()
            with suppress(asyncio.CancelledError):
                await self.init_timeout_task

    async def _close_without_init(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.connection_init_received:
            await self.websocket.close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout")

    async def handle_message(self, message) -> None:
        if reason := _malformed(message, "start", "stop", (str, int)):
            error = {"type": "error", "payload": {"message": reason}}
            if isinstance(message, dict) and isinstance(message.get("id"), str | int):
                error["id"] = message["id"]
            await self.send_message(error)
            return
        if message["type"] == "connection_init":
            if self.connection_init_received:
                await self.websocket.close(CLOSE_TOO_MANY_INITS, "Too many initialisation requests")
                return
            self.connection_init_received = True
        await super().handle_message(message)

    async def handle_connection_init(self, message) -> None:
        if not await self.view.claim_chat_token_slot(message.get("payload")):
            return
        await super().handle_connection_init(message)

    async def refuse_connection(self, exc: Exception) -> None:
        if isinstance(exc, CloseConnection):
            await self.send_message(
                {"type": "connection_error", "payload": {"message": exc.reason}}
            )
            await self.websocket.close(code=exc.code, reason=exc.reason)
            return
        await self.send_message({"type": "connection_error", "payload": exc.payload})
        await self.websocket.close(code=CLOSE_FORBIDDEN, reason="Forbidden")


class GraphQLWSConsumer(ResilientLayerMixin, BaseConsumer):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyGraphQLWSHandler

    def __init__(self, schema, max_message_bytes: int | None = None, **kwargs):
        # One instance per connection: the settings are read when a socket opens, so
        # keyword arguments from as_asgi() win, and settings overrides apply at once.
        interval = settings.WS_KEEPALIVE_INTERVAL
        kwargs.setdefault(
            "connection_init_wait_timeout",
            timedelta(seconds=settings.WS_CONNECTION_INIT_TIMEOUT),
        )
        kwargs.setdefault("max_subscriptions_per_connection", settings.WS_MAX_SUBSCRIPTIONS)
        kwargs.setdefault("keep_alive", interval > 0)
        kwargs.setdefault("keep_alive_interval", interval if interval > 0 else 1)
        super().__init__(schema, **kwargs)
        self.max_message_bytes = max_message_bytes or settings.WS_MAX_MESSAGE_BYTES
        self.closed_for_size = False
        self.credential_task: asyncio.Task | None = None
        self.slots = SocketSlots()

    async def connect(self) -> None:
        metrics.ws_connected()
        self._counted = True
        address = client_ip(self)
        if not await self.slots.claim("address", address, settings.WS_MAX_SOCKETS_PER_IP):
            await self._refuse(f"more than {settings.WS_MAX_SOCKETS_PER_IP} from {address}")
            return
        await super().connect()

    async def claim_chat_token_slot(self, payload: object) -> bool:
        """Count this socket against the `chatToken` of its connection_init (valid or
        not: the token is checked per operation); False once the socket is closed."""
        token = payload.get("chatToken") if isinstance(payload, dict) else None
        limit = settings.WS_MAX_SOCKETS_PER_CHAT_TOKEN
        if not token or await self.slots.claim("chat token", str(token), limit):
            return True
        await self._refuse(f"more than {limit} with one chat token")
        return False

    async def _refuse(self, why: str) -> None:
        # Accepted first (with the client's subprotocol) so the client reads a close
        # code; a refused handshake would only be an HTTP 403.
        logger.warning("websocket refused: %s", why)
        if self.run_task is None:
            await self.accept(subprotocol=await self.pick_websocket_subprotocol(self))
        await self.close(code=CLOSE_TOO_MANY_SOCKETS)

    async def disconnect(self, code: int) -> None:
        if self.credential_task:
            self.credential_task.cancel()
        await self.slots.release()
        if getattr(self, "_counted", False):
            self._counted = False
            metrics.ws_disconnected()
        if self.run_task is not None:
            await super().disconnect(code)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closed_for_size:
            return
        size = (
            len(text_data.encode("utf-8", "surrogatepass"))
            if text_data is not None
            else len(bytes_data or b"")
        )
        if size > self.max_message_bytes:
            self.closed_for_size = True
            reason = f"Message larger than {self.max_message_bytes} bytes"
            logger.warning("websocket closed: a %d-byte message; %s", size, reason.lower())
            await self.close(code=CLOSE_MESSAGE_TOO_BIG, reason=reason)
            return
        await super().receive(text_data=text_data, bytes_data=bytes_data)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError as exc:
            # "[[[[…" thousands deep: a malformed message (4400), not a crashed handler.
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from exc

    def is_websocket_origin_allowed(self, request, origin: str) -> bool:
        # Strawberry checks cross-origin handshakes again after server.origins did;
        # without this it would refuse the CORS allow-list that the validator accepts.
        return origin_allowed(origin)

    async def get_context(self, request, response) -> Context:
        return Context(request=request, response=response, ws=request, user=self.scope.get("user"))

    async def on_ws_connect(self, context: Context):
        """Authenticate (`_authenticate`); the database failing closes the socket with
        1011 (clients retry), instead of leaving it with neither an ack nor a close."""
        try:
            return await self._authenticate(context)
        except OUTAGE_ERRORS as exc:
            logger.error("database unavailable during connection_init", exc_info=exc)
            raise CloseConnection(mapped(exc).close_code, "Database unavailable") from exc

    async def _authenticate(self, context: Context):
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
        context.credential = session_credential(context.user, self.scope.get("session"))
        header = params.get("Authorization") or (
            f"Bearer {params['authToken']}" if params.get("authToken") else None
        )
        if header:
            try:
                context.user, context.credential = await user_from_authorization(str(header), self)
            except AuthenticationThrottled as exc:
                raise CloseConnection(mapped(exc).close_code, str(exc)) from exc
            except AuthenticationFailed as exc:
                raise ConnectionRejectionError({"message": str(exc)}) from exc
        chat_token = str(params["chatToken"]) if params.get("chatToken") else None
        if chat_token is not None and not is_storable(chat_token):
            # A lone surrogate cannot even be hashed: a wrong token, not an internal error.
            raise ConnectionRejectionError({"message": "Invalid chat token."})
        context.chat_token = chat_token
        if chat_token is not None and not context.user.is_authenticated:
            await self._refuse_expired(chat_token)
        interval = settings.WS_AUTH_RECHECK_INTERVAL
        if context.credential is not None and interval > 0 and not self.credential_task:
            self.credential_task = asyncio.create_task(self._recheck(context.credential, interval))
        # UNSET, not None: graphql-transport-ws then acks without a `payload: null`.
        return UNSET

    async def _refuse_expired(self, chat_token: str) -> None:
        """An expired conversation's token opens no socket: close with 4410 and the code
        in the reason (the visitor calls resetConversation over HTTP)."""
        if await lifecycle.expired_token_conversation(chat_token) is not None:
            exc = ConversationExpired("Conversation expired: call resetConversation.")
            raise CloseConnection(mapped(exc).close_code, f"{mapped(exc).code}: {exc}")

    async def _recheck(self, credential, interval: float) -> None:
        """Close 4403 once the socket's credential would no longer authenticate."""
        while True:
            await asyncio.sleep(interval)
            try:
                valid = await credential_valid(credential)
            except OUTAGE_ERRORS:
                continue  # the database being down revokes nothing: check again later
            if not valid:
                await self.close(code=CLOSE_FORBIDDEN, reason="Credentials no longer valid")
                return
