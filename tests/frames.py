"""Subscription frames through the websocket handlers, with and without frame plans.

Two schemas over the product's event types, extensions and config, each with a
`conversationEvents` subscription that yields the events put in the context: `FAST`
uses the product's executor (overrides/strawberry_frames.py), `STOCK` Strawberry's. The
frames are what the handlers hand to the Channels consumer: the product's handlers
(server/graphql_ws.py) for `FAST`, Strawberry's own for `STOCK`. Used by the frame
plan property test (tests/schema/test_frame_plans.py) and `python -m bench fanout`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta

import strawberry
from django.contrib.auth.models import AnonymousUser, User
from strawberry import relay
from strawberry.channels import GraphQLWSConsumer
from strawberry.channels.handlers.ws_handler import ChannelsWebSocketAdapter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from conversations import events, models
from overrides.strawberry_frames import FrameSchema
from schema import root
from schema.context import Context, Info
from schema.conversations.subscriptions import to_graphql
from schema.conversations.types import ConversationEvent
from server.graphql_ws import LegacyGraphQLWSHandler, TransportWSHandler

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def conversation_events(
        self, info: Info, conversation_id: relay.GlobalID
    ) -> AsyncGenerator[ConversationEvent, None]:
        for event in info.context.cache["events"]:
            yield event


@strawberry.type
class Query:
    ok: bool = True


FAST = FrameSchema(
    query=Query,
    subscription=Subscription,
    extensions=root.schema.extensions,
    config=root.schema.config,
)
# The same schema as Strawberry's own (its types cannot be converted twice).
STOCK = copy.copy(FAST)
STOCK.__class__ = strawberry.Schema
STOCK.execution_context_class = StrawberryGraphQLCoreExecutionContext
HANDLERS = {
    (FAST, TRANSPORT): TransportWSHandler,
    (FAST, LEGACY): LegacyGraphQLWSHandler,
    (STOCK, TRANSPORT): BaseGraphQLTransportWSHandler,
    (STOCK, LEGACY): BaseGraphQLWSHandler,
}


def staff_user() -> User:
    """An owner-side subscriber (staff: sees privateVariables), never saved."""
    return User(pk=99, username="staff", is_staff=True)


def graphql_events(domain_events: list[events.Event]) -> list:
    """The GraphQL objects the real subscriptions yield for these events."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    conversation = models.Conversation(
        pk=1, variables={}, private_variables={}, user_session="s", created_at=at, updated_at=at
    )
    converted = (to_graphql(event, conversation) for event in domain_events)
    return [event for event in converted if event is not None]


class Sink:
    """Stands in for the Channels consumer: keeps every text frame sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.sent.append(f"<close {code} {reason}>")


async def frames(
    schema: strawberry.Schema,
    protocol: str,
    query: str,
    variables: dict | None,
    items: list,
    ids: tuple[str, ...] = ("1",),
    sink: Sink | None = None,
    user=None,
) -> list[str]:
    """The frames of one subscription per id, all run at once on one connection of
    `user` (default: an anonymous visitor), each yielding `items`."""
    sink = sink or Sink()
    view = GraphQLWSConsumer(schema=schema)
    websocket = ChannelsWebSocketAdapter(view, sink, sink)
    context = Context(request=None, user=user or AnonymousUser(), cache={"events": items})
    handler_class = HANDLERS[schema, protocol]
    payload = {"query": query, "variables": variables}
    common = {"view": view, "websocket": websocket, "context": context, "root_value": None}
    if protocol == TRANSPORT:
        handler = handler_class(
            **common, schema=schema, connection_init_wait_timeout=timedelta(seconds=60)
        )
        handler.connection_acknowledged = True
        for operation_id in ids:
            await handler.handle_subscribe(
                {"id": operation_id, "type": "subscribe", "payload": payload}
            )
        tasks = [operation.task for operation in handler.operations.values()]
    else:
        handler = handler_class(**common, schema=schema, keep_alive=False, keep_alive_interval=None)
        handler.connection_acknowledged = True
        for operation_id in ids:
            await handler.handle_start({"id": operation_id, "type": "start", "payload": payload})
        tasks = list(handler.tasks.values())
    await asyncio.gather(*tasks)
    return sink.sent
