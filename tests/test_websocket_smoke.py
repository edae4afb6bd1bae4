"""GraphQL over websockets, end to end through server.asgi.application."""

import pytest
from asgiref.sync import sync_to_async
from strawberry.channels.testing import GraphQLWebsocketCommunicator
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from accounts.services import api_token_create
from tests.asgi_client import communicator, init
from tests.factories import UserFactory

API_INFO = "query { apiInfo { name } }"
ME = "query { me { username } }"

PROTOCOLS = [GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL]

pytestmark = pytest.mark.django_db(transaction=True)


async def run_query(client: GraphQLWebsocketCommunicator, query: str) -> dict:
    """Run one operation and return its single result payload (both protocols)."""
    if client.protocol == GRAPHQL_TRANSPORT_WS_PROTOCOL:
        start = {"id": "1", "type": "subscribe", "payload": {"query": query}}
        result_type = "next"
    else:
        start = {"id": "1", "type": "start", "payload": {"query": query}}
        result_type = "data"
    await client.send_json_to(start)
    result = await client.receive_json_from(timeout=5)
    assert result["type"] == result_type, result
    assert result["id"] == "1"
    complete = await client.receive_json_from(timeout=5)
    assert complete == {"id": "1", "type": "complete"}
    return result["payload"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_query_runs_over_the_socket(protocol):
    client = communicator(protocol)
    try:
        await init(client)
        payload = await run_query(client, API_INFO)
    finally:
        await client.disconnect()
    assert payload == {"data": {"apiInfo": {"name": "Botstream"}}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connection_without_origin_is_accepted(protocol):
    client = communicator(protocol)
    try:
        connected, subprotocol = await client.connect()
    finally:
        await client.disconnect()
    assert connected
    assert subprotocol == protocol


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_foreign_origin_is_rejected(protocol):
    client = communicator(protocol, origin="http://evil.example")
    try:
        connected, _ = await client.connect()
    finally:
        await client.disconnect()
    assert not connected


@pytest.mark.parametrize("origin", ["http://localhost:8000", "http://127.0.0.1:8000"])
async def test_origin_of_an_allowed_host_is_accepted(origin):
    client = communicator(origin=origin)
    try:
        connected, _ = await client.connect()
    finally:
        await client.disconnect()
    assert connected


async def test_cors_allowed_origin_is_accepted(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    client = communicator(origin="https://app.example")
    try:
        connected, _ = await client.connect()
    finally:
        await client.disconnect()
    assert connected


@pytest.mark.parametrize(
    ("allowed_hosts", "origin"),
    [
        (["*"], "https://any.example"),
        ([".example.org"], "https://chat.example.org"),
        ([".example.org"], "https://example.org:8443"),
    ],
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_origin_matching_allowed_hosts_patterns_is_served(
    settings, protocol, allowed_hosts, origin
):
    # ALLOWED_HOSTS=* is Django's "any host": browsers' sockets were all refused.
    settings.ALLOWED_HOSTS = allowed_hosts
    client = communicator(protocol, origin=origin)
    try:
        connected, _ = await client.connect()
        assert connected
        await client.send_json_to({"type": "connection_init"})
        ack = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert ack == {"type": "connection_ack"}


@pytest.mark.parametrize("origin", ["https://example.org.evil.example", "null"])
async def test_origin_outside_the_allowed_domain_is_rejected(settings, origin):
    settings.ALLOWED_HOSTS = [".example.org"]
    client = communicator(origin=origin)
    try:
        connected, _ = await client.connect()
    finally:
        await client.disconnect()
    assert not connected


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_api_token_in_connection_init_authenticates(protocol):
    user = await sync_to_async(UserFactory)(username="socket-owner")
    _, secret = await sync_to_async(api_token_create)(user=user, name="ws")
    client = communicator(protocol, connection_params={"authToken": secret})
    try:
        await init(client)
        payload = await run_query(client, ME)
    finally:
        await client.disconnect()
    assert payload == {"data": {"me": {"username": "socket-owner"}}}


async def test_wrong_api_token_is_refused_over_graphql_transport_ws():
    client = communicator(GRAPHQL_TRANSPORT_WS_PROTOCOL)
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init", "payload": {"authToken": "bst_x"}})
        closed = await client.receive_output(timeout=5)
    finally:
        await client.disconnect()
    assert closed == {"type": "websocket.close", "code": 4403, "reason": "Forbidden"}


async def test_wrong_api_token_is_refused_over_graphql_ws():
    client = communicator(GRAPHQL_WS_PROTOCOL)
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init", "payload": {"authToken": "bst_x"}})
        error = await client.receive_json_from(timeout=5)
        closed = await client.receive_output(timeout=5)
    finally:
        await client.disconnect()
    assert error == {
        "type": "connection_error",
        "payload": {"message": "Invalid or revoked API token."},
    }
    assert closed["type"] == "websocket.close"
