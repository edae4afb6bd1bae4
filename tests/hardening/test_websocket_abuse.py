"""Websocket abuse against server.asgi.application: every case ends in the documented close
code or error message (server/graphql_ws.py), and every communicator is disconnected."""

import json

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

import schema.system
import server.socket_slots
from tests.asgi_client import closed, communicator, init, start_conversation
from tests.factories import BotFactory

TRANSPORT = GRAPHQL_TRANSPORT_WS_PROTOCOL
LEGACY = GRAPHQL_WS_PROTOCOL
PROTOCOLS = [TRANSPORT, LEGACY]
START = {TRANSPORT: "subscribe", LEGACY: "start"}

EVENTS = """
subscription($id: ID!) { conversationEvents(conversationId: $id) { __typename } }
"""
API_INFO = "{ apiInfo { name } }"
ALIAS_FLOOD = "{ " + " ".join(f"a{i}: apiInfo {{ name }}" for i in range(16)) + " }"
TWO_MIB = 2 * 1024 * 1024

pytestmark = pytest.mark.django_db(transaction=True)


async def conversation() -> tuple[str, str]:
    bot = await sync_to_async(BotFactory)(name="Abuse target")
    return await start_conversation(to_base64("Bot", bot.pk))


def start(protocol: str, operation_id: str, query: str, variables: dict | None = None) -> dict:
    payload = {"query": query, "variables": variables or {}}
    return {"id": operation_id, "type": START[protocol], "payload": payload}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_no_connection_init_in_time_closes_4408(protocol, settings):
    settings.WS_CONNECTION_INIT_TIMEOUT = 0.2
    client = communicator(protocol)
    try:
        connected, _ = await client.connect()
        assert connected
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4408
    assert close["reason"] == "Connection initialisation timeout"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_second_connection_init_closes_4429(protocol):
    client = communicator(protocol)
    try:
        await init(client)
        await client.send_json_to({"type": "connection_init", "payload": {}})
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4429


async def test_duplicate_operation_id_closes_4409():
    conversation_id, token = await conversation()
    client = communicator(TRANSPORT)
    try:
        await init(client, {"chatToken": token})
        await client.send_json_to(start(TRANSPORT, "1", EVENTS, {"id": conversation_id}))
        await client.send_json_to(start(TRANSPORT, "1", EVENTS, {"id": conversation_id}))
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close == {
        "type": "websocket.close",
        "code": 4409,
        "reason": "Subscriber for 1 already exists",
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operations_past_the_limit_get_an_error(protocol, settings):
    settings.WS_MAX_SUBSCRIPTIONS = 2
    conversation_id, token = await conversation()
    client = communicator(protocol)
    try:
        await init(client, {"chatToken": token})
        for operation_id in ("1", "2", "3"):
            await client.send_json_to(
                start(protocol, operation_id, EVENTS, {"id": conversation_id})
            )
        error = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert error["id"] == "3"
    assert error["type"] == "error"
    payload = error["payload"][0] if protocol == TRANSPORT else error["payload"]
    assert payload["message"] == "Subscription limit reached"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_two_mib_frame_closes_4400(protocol):
    client = communicator(protocol)
    padding = {"pad": "x" * TWO_MIB}
    try:
        await init(client)
        await client.send_to(text_data=json.dumps(start(protocol, "1", API_INFO, padding)))
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close == {
        "type": "websocket.close",
        "code": 4400,
        "reason": "Message larger than 65536 bytes",
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_foreign_origin_is_rejected(protocol):
    client = communicator(protocol, origin="https://evil.example")
    try:
        connected, _ = await client.connect()
    finally:
        await client.disconnect()
    assert not connected


async def test_bad_auth_token_closes_4403():
    client = communicator(TRANSPORT)
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init", "payload": {"authToken": "bst_x"}})
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close == {"type": "websocket.close", "code": 4403, "reason": "Forbidden"}


async def test_bad_auth_token_closes_4403_on_legacy_graphql_ws():
    client = communicator(LEGACY)
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init", "payload": {"authToken": "bst_x"}})
        error = await client.receive_json_from(timeout=5)
        close = await closed(client)
    finally:
        await client.disconnect()
    assert error == {
        "type": "connection_error",
        "payload": {"message": "Invalid or revoked API token."},
    }
    assert close["code"] == 4403


@pytest.mark.parametrize(
    "message",
    [
        [],
        {"type": "subscribe", "id": "1"},
        {"type": "subscribe", "id": {"x": 1}, "payload": {"query": API_INFO}},
        {"type": "subscribe", "id": "1", "payload": "{ apiInfo { name } }"},
        {"type": "subscribe", "id": "1", "payload": {"query": API_INFO, "variables": [1]}},
    ],
)
async def test_malformed_messages_close_4400(message):
    client = communicator(TRANSPORT)
    try:
        await init(client)
        await client.send_json_to(message)
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4400


async def test_deeply_nested_json_closes_4400():
    client = communicator(TRANSPORT)
    try:
        await init(client)
        await client.send_to(text_data="[" * 50_000)
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close == {
        "type": "websocket.close",
        "code": 4400,
        "reason": "WebSocket message must be valid JSON",
    }


async def test_malformed_legacy_messages_get_an_error_and_the_socket_stays_usable():
    client = communicator(LEGACY)
    try:
        await init(client)
        await client.send_json_to({"type": "start", "id": "1"})
        error = await client.receive_json_from(timeout=5)
        await client.send_json_to(start(LEGACY, "2", API_INFO))
        data = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert error == {
        "type": "error",
        "id": "1",
        "payload": {"message": "A `start` message needs a `payload` with a `query` string."},
    }
    assert data == {
        "type": "data",
        "id": "2",
        "payload": {"data": {"apiInfo": {"name": "Botstream"}}},
    }


@pytest.mark.parametrize(("protocol", "keep_alive"), [(TRANSPORT, "ping"), (LEGACY, "ka")])
async def test_keep_alive_after_the_ack(protocol, keep_alive, settings):
    settings.WS_KEEPALIVE_INTERVAL = 0.1
    client = communicator(protocol)
    try:
        await init(client)
        message = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert message == {"type": keep_alive}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_query_limits_apply_over_the_socket(protocol):
    client = communicator(protocol)
    try:
        await init(client)
        await client.send_json_to(start(protocol, "1", ALIAS_FLOOD))
        error = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert error["type"] == "error"
    payload = error["payload"][0] if protocol == TRANSPORT else error["payload"]
    assert payload["extensions"]["code"] == "TOO_MANY_ALIASES"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_unexpected_errors_are_masked_over_the_socket(protocol, monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(schema.system, "api_info", broken)
    client = communicator(protocol)
    try:
        await init(client)
        await client.send_json_to(start(protocol, "1", API_INFO))
        result = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    [error] = result["payload"]["errors"]
    assert error["message"].startswith("Unexpected error (id ")
    assert "secret" not in json.dumps(result)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_page_size_sent_as_a_whole_float_counts_over_the_socket(protocol):
    query = "query($n: Int) { bots(first: $n) { totalCount } }"
    client = communicator(protocol)
    try:
        await init(client)
        await client.send_to(text_data=json.dumps(start(protocol, "1", query, {"n": 1e3})))
        error = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    assert error["type"] == "error"
    payload = error["payload"][0] if protocol == TRANSPORT else error["payload"]
    assert payload["extensions"]["code"] == "PAGE_SIZE_TOO_LARGE"


async def refused_at_connect(client) -> dict:
    connected, _ = await client.connect()
    assert connected
    return await closed(client)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sockets_per_address_are_capped_and_freed_on_close(protocol, settings):
    settings.WS_MAX_SOCKETS_PER_IP = 2
    held = [communicator(protocol), communicator(protocol)]
    extra = communicator(protocol)
    later = communicator(protocol)
    try:
        for client in held:
            await init(client)
        close = await refused_at_connect(extra)
        await held.pop().disconnect()
        await init(later)
    finally:
        for client in (*held, extra, later):
            await client.disconnect()
    assert close["code"] == 4013


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sockets_per_chat_token_are_capped_and_freed_on_close(protocol, settings):
    settings.WS_MAX_SOCKETS_PER_CHAT_TOKEN = 2
    _, token = await conversation()
    _, other_token = await conversation()
    held = [communicator(protocol), communicator(protocol)]
    extra, other, later = communicator(protocol), communicator(protocol), communicator(protocol)
    try:
        for client in held:
            await init(client, {"chatToken": token})
        connected, _ = await extra.connect()
        assert connected
        await extra.send_json_to({"type": "connection_init", "payload": {"chatToken": token}})
        close = await closed(extra)
        await init(other, {"chatToken": other_token})
        await held.pop().disconnect()
        await init(later, {"chatToken": token})
    finally:
        for client in (*held, extra, other, later):
            await client.disconnect()
    assert close["code"] == 4013


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("params", [{"chatToken": "\ud800"}, {"authToken": "a\x00b"}])
async def test_unstorable_credentials_in_connection_init_are_refused(protocol, params):
    # Wrong credentials (4403, like HTTP's 401), not an internal error or a hung socket.
    client = communicator(protocol)
    try:
        connected, _ = await client.connect()
        assert connected
        await client.send_json_to({"type": "connection_init", "payload": params})
        if protocol == LEGACY:
            error = await client.receive_json_from(timeout=5)
            assert error["type"] == "connection_error"
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403


async def test_socket_cap_falls_back_to_the_process_count_without_redis(
    settings, caplog, monkeypatch
):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(server.socket_slots, "_last_warning", 0.0)
    settings.WS_MAX_SOCKETS_PER_IP = 1
    held, extra = communicator(), communicator()
    try:
        await init(held)
        close = await refused_at_connect(extra)
    finally:
        await held.disconnect()
        await extra.disconnect()
    assert close["code"] == 4013
    assert "websocket slots: Redis unreachable" in caplog.text
