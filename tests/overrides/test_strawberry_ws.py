"""overrides/strawberry_ws.py copies or replaces parts of Strawberry's websocket handlers
and relies on how they send: pin that source (strawberry-graphql 0.341.2)."""

from strawberry.channels.handlers.ws_handler import ChannelsWebSocketAdapter
from strawberry.http.base import BaseView
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from overrides.strawberry_frames import EncodedData, frame_text
from server.graphql_ws import GraphQLWSConsumer
from tests.overrides.upstream import changed

PINNED = {
    # Copied in LegacyHandler.handle_connection_init (refusals handed to the subclass).
    "BaseGraphQLWSHandler.handle_connection_init": (
        BaseGraphQLWSHandler.handle_connection_init,
        "acf753f522e8f4a9",
    ),
    # Replaced: its first `ka` goes out with the ack.
    "BaseGraphQLWSHandler.handle_keep_alive": (
        BaseGraphQLWSHandler.handle_keep_alive,
        "10e2f9ef9aeffcd1",
    ),
    # Calls schema.subscribe (AnyOperationSchema makes it run any operation).
    "BaseGraphQLWSHandler.handle_async_results": (
        BaseGraphQLWSHandler.handle_async_results,
        "4b77d43358f9a042",
    ),
    # Results go out as {"type": "data", "id", "payload": {"data", ...}} via send_message.
    "BaseGraphQLWSHandler.send_data_message": (
        BaseGraphQLWSHandler.send_data_message,
        "01087f14c639c1c8",
    ),
    "BaseGraphQLWSHandler.send_message": (
        BaseGraphQLWSHandler.send_message,
        "73b261a09f8c0cd5",
    ),
    # TransportHandler cancels its keep-alive, then runs this cleanup.
    "BaseGraphQLTransportWSHandler.shutdown": (
        BaseGraphQLTransportWSHandler.shutdown,
        "eafbba44a4596aa0",
    ),
    "BaseGraphQLTransportWSHandler.send_message": (
        BaseGraphQLTransportWSHandler.send_message,
        "a18260d76e568965",
    ),
    # Results go out as {"id", "type": "next", "payload": {"data", ...}} via send_message.
    "Operation.send_next": (Operation.send_next, "e7c949ea1d1a459e"),
    "Operation.send_operation_message": (
        Operation.send_operation_message,
        "dcb871d26abf720b",
    ),
    # send_json = ws_consumer.send(view.encode_json(message)); encode_json = json.dumps.
    "ChannelsWebSocketAdapter.send_json": (
        ChannelsWebSocketAdapter.send_json,
        "cd256d0d4dc6ec0e",
    ),
    "BaseView.encode_json": (BaseView.encode_json, "cada564cfd9f0b4f"),
}


def test_upstream_handlers_are_the_ones_the_overrides_were_written_against():
    assert changed(PINNED) == []


def test_the_product_consumer_encodes_json_the_stock_way():
    # EncodedFrames splices pre-encoded data only for Strawberry's encode_json.
    assert GraphQLWSConsumer.encode_json is BaseView.encode_json


def test_a_frame_is_what_json_dumps_gives():
    data = EncodedData('{"e":{"text":"\\u00e9"}}')
    for message in (
        {"id": "7", "type": "next", "payload": {"data": data}},
        {"type": "data", "id": 7, "payload": {"data": data, "errors": [{"message": "é"}]}},
    ):
        plain = {**message, "payload": {**message["payload"], "data": data.decoded()}}
        assert frame_text(message) == BaseView.encode_json(None, plain)
    assert frame_text({"type": "ka"}) is None
