"""Transport limits on a real daphne process: what a client sees on the wire (close
codes autobahn can send) and what the server logs."""

import asyncio
import json
import os
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.wsclient import (
    PROTOCOLS,
    TRANSPORT_WS,
    ConnectionRejected,
    GraphQLWebSocket,
    create_bot,
    start_conversation,
)

API_INFO = "query { apiInfo { name } }"
SEVENTY_KB = 70 * 1024


async def wait_closed(ws: GraphQLWebSocket, within: float = 10) -> int | None:
    async with asyncio.timeout(within):
        await ws._reader
    return ws.close_code


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_oversized_frame_closes_4400_with_one_warning(server, protocol):
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    frame = {
        "id": "1",
        "type": start,
        "payload": {"query": API_INFO, "variables": {"pad": "x" * SEVENTY_KB}},
    }
    logged_before = len(server.log_path.read_text().splitlines())
    async with GraphQLWebSocket(server.ws_url, protocol=protocol) as ws:
        await ws.socket.send(json.dumps(frame))
        code = await wait_closed(ws)

    # daphne sends close codes without their reason text.
    assert code == 4400
    logged = server.log_path.read_text().splitlines()[logged_before:]
    assert [line for line in logged if "larger than" in line and "WARNING" in line]
    assert not [line for line in logged if "Traceback" in line or "ERROR" in line]


async def test_frame_within_the_limit_is_served(server):
    async with GraphQLWebSocket(server.ws_url) as ws:
        subscription = await ws.subscribe(API_INFO, {"pad": "x" * 1000})
        payload = await subscription.next(within=10)
    assert payload["data"] == {"apiInfo": {"name": "Botstream"}}


@pytest.fixture(scope="module")
def capped(servers):
    return servers.start("capped", WS_MAX_SOCKETS_PER_IP="3", WS_MAX_SOCKETS_PER_CHAT_TOKEN="2")


async def refused(ws: GraphQLWebSocket) -> int | None:
    # Closed right after the handshake: the client fails sending connection_init or
    # waiting for the ack, depending on timing.
    with pytest.raises((ConnectionRejected, ConnectionClosed)):
        await ws.connect()
    return ws.socket.close_code


async def at_the_cap(
    held: list[GraphQLWebSocket], extra: Callable[[], GraphQLWebSocket]
) -> tuple[int | None, dict]:
    """Hold the `held` sockets open and try one more (`extra()`); then close the last held
    socket and try again. The refused socket's close code and what the retry was served."""
    try:
        for ws in held:
            await ws.connect()
        code = await refused(extra())
        await held.pop().close()
        async with extra() as again:
            payload = await (await again.subscribe(API_INFO)).next(within=10)
    finally:
        for ws in held:
            await ws.close()
    return code, payload


async def test_sockets_per_address_are_capped_on_daphne(capped):
    held = [GraphQLWebSocket(capped.ws_url) for _ in range(3)]
    code, payload = await at_the_cap(held, lambda: GraphQLWebSocket(capped.ws_url))
    assert code == 4013
    assert payload["data"] == {"apiInfo": {"name": "Botstream"}}


async def test_sockets_per_chat_token_are_capped_on_daphne(capped, database):
    bot_id = await create_bot(capped.http, database.owner_token, name="Capped bot")
    _, token = await start_conversation(capped.http, bot_id)
    params = {"chatToken": token}
    held = [GraphQLWebSocket(capped.ws_url, params=params) for _ in range(2)]
    code, payload = await at_the_cap(held, lambda: GraphQLWebSocket(capped.ws_url, params=params))
    assert code == 4013
    assert payload["data"] == {"apiInfo": {"name": "Botstream"}}


async def test_any_host_setting_admits_browser_origins_on_daphne(servers):
    any_host = servers.start("any-host", ALLOWED_HOSTS="*")
    async with GraphQLWebSocket(any_host.ws_url, origin="https://chat.example.net") as ws:
        payload = await (await ws.subscribe(API_INFO)).next(within=10)
    assert payload["data"] == {"apiInfo": {"name": "Botstream"}}


@pytest.fixture(scope="module")
def shared_pair(servers):
    """Two processes counting sockets in one Redis (REDIS_TEST_URL)."""
    url = os.environ.get("REDIS_TEST_URL")
    if not url:
        pytest.skip("REDIS_TEST_URL is not set")
    env = {"REDIS_URL": url, "WS_MAX_SOCKETS_PER_IP": "2"}
    return servers.start("shared-A", **env), servers.start("shared-B", **env)


@pytest.mark.redis
async def test_socket_cap_is_shared_by_processes_through_redis(shared_pair):
    a, b = shared_pair
    # One socket on each process; B's, closed, frees the slot for A.
    held = [GraphQLWebSocket(a.ws_url), GraphQLWebSocket(b.ws_url)]
    code, payload = await at_the_cap(held, lambda: GraphQLWebSocket(a.ws_url))
    assert code == 4013
    assert payload["data"] == {"apiInfo": {"name": "Botstream"}}
