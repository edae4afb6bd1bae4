"""Strawberry's websocket protocol handlers, changed where their hooks do not reach.

server/graphql_ws.py subclasses these with the product's policy (limits, auth, close
codes); what is here replaces or copies Strawberry internals:

- `EncodedFrames`: a message whose `payload.data` is already JSON text (a subscription
  event filled into a frame plan, overrides/strawberry_frames.py) goes out as the
  operation id around that text, byte for byte what `json.dumps` of the message gives,
  instead of a `json.dumps` per subscriber. Measured with the frame plans:
  docs/BENCHMARKS.md "Fan-out". It relies on the handlers sending every message through
  `send_message`, and on the Channels adapter's `send_json` being
  `ws_consumer.send(view.encode_json(message))` with Strawberry's `encode_json`
  (`json.dumps(..., separators=(",", ":"))`); with another adapter or encoder the data
  is decoded and sent the stock way.
- `TransportHandler`: graphql-transport-ws with keep-alive pings (Strawberry sends
  none), their task cancelled in `shutdown` (Strawberry's cleanup of a connection).
- `LegacyHandler`: the legacy graphql-ws protocol runs queries and mutations too
  (`AnyOperationSchema`: Strawberry's handler calls `schema.subscribe`, which refuses
  them), its connection_init is a copy of Strawberry's with the refusal left to the
  subclass (`refuse_connection`: Strawberry closes a rejected connection with 1011),
  and its first `ka` comes one interval after the ack (Strawberry sends one with the
  ack, ahead of the first result).

Written against strawberry-graphql 0.341.2; tests/overrides/test_strawberry_ws.py pins
the source of what is copied or relied on.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from strawberry.channels.handlers.ws_handler import ChannelsWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.base import BaseView
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types.unset import UnsetType

from overrides.strawberry_frames import frame_text, plain_message


class AnyOperationSchema:
    """The schema, with `subscribe` running any operation type (as `stream` does)."""

    def __init__(self, schema) -> None:
        self._schema = schema

    def __getattr__(self, name: str):
        return getattr(self._schema, name)

    async def subscribe(self, query, **kwargs):
        return await self._schema.stream(query, **kwargs)


class EncodedFrames:
    """`send_message` for messages carrying EncodedData (see the module docstring)."""

    async def send_message(self, message) -> None:
        websocket = self.websocket
        if (
            type(websocket) is ChannelsWebSocketAdapter
            and type(self.view).encode_json is BaseView.encode_json
        ):
            text = frame_text(message)
            if text is not None:
                await websocket.ws_consumer.send(text)
                return
        await super().send_message(plain_message(message))


async def every(interval: float, send: Callable[[], Awaitable[Any]]) -> None:
    """Call `send` every `interval` seconds (the first after one interval) until it fails
    or the task is cancelled."""
    with suppress(Exception):
        while True:
            await asyncio.sleep(interval)
            await send()


class TransportHandler(EncodedFrames, BaseGraphQLTransportWSHandler):
    keep_alive_task: asyncio.Task | None = None

    def start_keep_alive(self, interval: float) -> None:
        if not self.keep_alive_task:
            self.keep_alive_task = asyncio.create_task(every(interval, self._ping))

    async def _ping(self) -> None:
        await self.send_message({"type": "ping"})

    async def shutdown(self) -> None:
        if self.keep_alive_task:
            self.keep_alive_task.cancel()
            with suppress(asyncio.CancelledError):
                await self.keep_alive_task
        await super().shutdown()


class LegacyHandler(EncodedFrames, BaseGraphQLWSHandler):
    # Exceptions of on_ws_connect that refuse the connection (see refuse_connection).
    refusals: tuple[type[Exception], ...] = (ConnectionRejectionError,)

    def __init__(self, *args, schema, **kwargs) -> None:
        super().__init__(*args, schema=AnyOperationSchema(schema), **kwargs)

    async def refuse_connection(self, exc: Exception) -> None:
        """Answer a connection_init that on_ws_connect refused (with one of `refusals`)."""
        raise NotImplementedError

    async def handle_connection_init(self, message) -> None:
        # BaseGraphQLWSHandler.handle_connection_init, with refusals handed over.
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await super().handle_connection_init(message)
            return
        self.context.connection_params = payload
        try:
            ack_payload = await self.view.on_ws_connect(self.context)
        except self.refusals as exc:
            await self.refuse_connection(exc)
            return
        if isinstance(ack_payload, UnsetType) or ack_payload is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": ack_payload})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_keep_alive(self) -> None:
        assert self.keep_alive_interval
        await every(self.keep_alive_interval, self._keep_alive)

    async def _keep_alive(self) -> None:
        await self.send_message({"type": "ka"})
