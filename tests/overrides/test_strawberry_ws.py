"""overrides/strawberry_ws.py copies or replaces parts of Strawberry's websocket handlers
and relies on how they send: pin that source (strawberry-graphql 0.341.2)."""

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

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
    # TransportHandler cancels its keep-alive, then runs this cleanup.
    "BaseGraphQLTransportWSHandler.shutdown": (
        BaseGraphQLTransportWSHandler.shutdown,
        "eafbba44a4596aa0",
    ),
}


def test_upstream_handlers_are_the_ones_the_overrides_were_written_against():
    assert changed(PINNED) == []
