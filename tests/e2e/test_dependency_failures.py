"""Redis and Postgres failing under a running daphne: clear errors, readiness says so,
nothing accepted is lost, and the service recovers without a restart.

Each test runs its own throwaway redis-server on a free loopback port, so it can be
killed and brought back without touching the Redis other tests share.
"""

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time

import httpx
import pytest

from tests.chat_events import CONVERSATION_EVENTS, rebuild
from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    GraphQLWebSocket,
    collect_events,
    create_bot,
    finished,
    message_by_id,
    send_and_wait,
    send_message,
    start_conversation,
    wait_for_message,
)
from tests.support import free_port


class RedisProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed", pytrace=False)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def own_redis():
    redis = RedisProcess()
    redis.start()
    yield redis
    redis.kill()


# /readyz shows its checks only to METRICS_TOKEN holders.
PROBE_TOKEN = "e2e-probe-token"


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {"METRICS_TOKEN": PROBE_TOKEN}


def _ready(server) -> tuple[int, dict]:
    response = httpx.get(
        f"{server.url}/readyz",
        headers={"Authorization": f"Bearer {PROBE_TOKEN}"},
        timeout=10,
        trust_env=False,
    )
    return response.status_code, response.json()


async def _wait_ready(server, expected: int, within: float = 15) -> dict:
    deadline = time.monotonic() + within
    while True:
        status, body = await asyncio.to_thread(_ready, server)
        if status == expected or time.monotonic() > deadline:
            assert status == expected, body
            return body
        await asyncio.sleep(0.3)


async def test_redis_down_at_start_then_back_without_restart(servers, own_redis, script, database):
    # given Redis is down when the server starts
    own_redis.kill()
    server = servers.start("redis-down", REDIS_URL=own_redis.url)
    body = await _wait_ready(server, 503)
    assert body["checks"]["channel_layer"]["ok"] is False
    bot_id = await create_bot(server.http, database.owner_token, name="No Redis")
    conversation_id, token = await start_conversation(server.http, bot_id)
    # when a visitor sends a message, the message is accepted and the reply is generated
    text = "redis is down"
    script.replies[text] = words(20, "down")
    sent = await send_message(server.http, conversation_id, token, text)
    reply_id = sent["reply"]["id"]
    stored = await wait_for_message(
        server.http, conversation_id, token, reply_id, until=lambda m: m["status"] == "COMPLETE"
    )
    assert stored["content"] == "".join(script.tokens(text))
    # and a subscription gets a clear error, not a crash
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        payload = await subscription.next(within=15)
    assert payload is not None and payload.get("errors"), payload
    assert "unavailable" in payload["errors"][0]["message"].lower()

    # when Redis comes back (same port), the same process recovers
    own_redis.start()
    await _wait_ready(server, 200)
    text = "redis is back"
    script.replies[text] = words(20, "back")
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        sent = await send_message(server.http, conversation_id, token, text)
        events = await collect_events(subscription, until=finished(sent["reply"]["id"]), within=20)
    assert rebuild(events)[sent["reply"]["id"]]["content"] == "".join(script.tokens(text))


async def test_redis_dies_mid_stream_reply_is_kept_and_delivered(
    servers, own_redis, script, database, fake
):
    server = servers.start("redis-mid", REDIS_URL=own_redis.url)
    bot_id = await create_bot(server.http, database.owner_token, name="Mid-stream")
    conversation_id, token = await start_conversation(server.http, bot_id)
    fake.token_interval = 0.03
    text = "redis dies now"
    script.replies[text] = words(80, "mid")
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        reply_id = await send_and_wait(
            server.http, conversation_id, token, text, until=lambda m: len(m["content"]) > 40
        )
        # when Redis dies mid-stream
        own_redis.kill()
        # then the subscriber still gets the whole reply (the watchdog reads the database)
        events = await collect_events(subscription, until=finished(reply_id), within=30)
    upstream = "".join(script.tokens(text))
    assert rebuild(events)[reply_id]["content"] == upstream
    stored = await message_by_id(server.http, conversation_id, token, reply_id)
    assert stored == {**stored, "content": upstream, "status": "COMPLETE"}


async def test_postgres_unavailable_gives_clear_errors_and_readiness(servers):
    # given a server whose database cannot be reached
    port = free_port()
    server = servers.start("no-db", DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/nowhere")
    body = await _wait_ready(server, 503)
    assert body["checks"]["database"]["ok"] is False
    # when clients call the API, they get a clear error and no 500
    async with httpx.AsyncClient(timeout=15, trust_env=False) as client:
        anonymous = await client.post(
            server.graphql_url,
            json={
                "query": 'mutation { startConversation(input: {botId: "Qm90OjE="}) { chatToken } }'
            },
        )
        with_token = await client.post(
            server.graphql_url,
            json={"query": "{ me { username } }"},
            headers={"Authorization": "Bearer bst_whatever"},
        )
    for response in (anonymous, with_token):
        assert response.status_code in (200, 503), response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", error
        assert "database" in error["message"].lower()
