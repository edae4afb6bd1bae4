"""Transport limits on a real daphne process: what a client sees on the wire (close
codes autobahn can send) and what the server logs."""

import asyncio
import json

import pytest

from tests.e2e.wsclient import PROTOCOLS, TRANSPORT_WS, GraphQLWebSocket

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
