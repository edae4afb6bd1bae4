"""Two daphne processes behind one database and one Redis channel layer (channels-redis).

A reply generated on process B streams live to a subscriber on process A, and a stop sent
to A stops a reply generated on B (the cross-process `stop_requested` flag).
Needs Redis: skipped when it is unreachable, except under CI=true where that fails.
"""

import asyncio
import os
import socket
from urllib.parse import urlsplit

import pytest
import redis

from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    CONVERSATION_EVENTS,
    GraphQLWebSocket,
    collect_events,
    create_bot,
    finished,
    message_by_id,
    rebuild,
    send_message,
    start_conversation,
    stop_generation,
    terminal_event,
    wait_for_message,
)

# A database of its own (flushed at the start), so other Redis users are left alone.
REDIS_URL = os.environ.get("E2E_REDIS_URL", "redis://127.0.0.1:6379/14")


def require_redis(url: str = REDIS_URL) -> None:
    """Skip without Redis on a developer machine; under CI=true a missing Redis fails."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=2):
            return
    except OSError as exc:
        reason = f"Redis at {parts.hostname}:{parts.port} is unreachable ({exc})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the scale-out tests must run under CI.", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module", autouse=True)
def redis_db() -> str:
    """Redis present (checked before any server or database is set up), db flushed."""
    require_redis()
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="module", params=["pubsub", "core"])
def server_env(request, redis_db):
    """Both Redis layers: pub/sub (the default) and channels-redis' list-based one."""
    return {"REDIS_URL": redis_db, "REDIS_CHANNEL_LAYER": request.param}


@pytest.fixture(scope="module")
def pair(servers):
    """Processes A and B sharing the database and the Redis layer."""
    return servers.start("A"), servers.start("B")


@pytest.fixture(scope="module")
def bot_id(pair, database):
    return asyncio.run(create_bot(pair[0].http, database.owner_token, name="Scale-out bot"))


async def test_subscriber_on_a_receives_the_reply_generated_on_b(pair, script, bot_id, fake):
    a, b = pair
    fake.token_interval = 0.02
    text = "generated on B, watched on A"
    script.replies[text] = words(60, "scale")
    conversation_id, chat_token = await start_conversation(a.http, bot_id)

    async with GraphQLWebSocket(a.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        # Whether A joins before or after B's first delta, replay + live rebuild it all.
        sent = await send_message(b.http, conversation_id, chat_token, text)
        reply_id = sent["reply"]["id"]
        events = await collect_events(subscription, until=finished(reply_id), within=20)
        await subscription.stop()

    upstream = "".join(script.tokens(text))
    stored = await message_by_id(a.http, conversation_id, chat_token, reply_id)
    assert rebuild(events)[reply_id] == {
        "content": upstream,
        "status": "COMPLETE",
        "role": "ASSISTANT",
    }
    assert stored["content"] == upstream and stored["status"] == "COMPLETE"
    deltas = [e for e in events if e.get("messageId") == reply_id]
    assert len(deltas) >= 3, "A must relay B's deltas live, not only the final message"


async def test_stop_sent_to_a_stops_the_reply_generated_on_b(pair, script, bot_id, fake):
    a, b = pair
    fake.token_interval = 0.05
    text = "generated on B, stopped on A"
    script.replies[text] = words(200, "stop")
    conversation_id, chat_token = await start_conversation(b.http, bot_id)

    async with GraphQLWebSocket(a.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        sent = await send_message(b.http, conversation_id, chat_token, text)
        reply_id = sent["reply"]["id"]
        await wait_for_message(
            a.http,
            conversation_id,
            chat_token,
            reply_id,
            until=lambda m: m["status"] == "STREAMING" and len(m["content"]) >= 30,
        )
        stopped = await stop_generation(a.http, reply_id, chat_token)
        events = await collect_events(subscription, until=finished(reply_id), within=10)
        await subscription.stop()

    full = "".join(script.tokens(text))
    stored = await message_by_id(b.http, conversation_id, chat_token, reply_id)
    assert stopped["__typename"] == "Message" and stopped["status"] == "STOPPED"
    assert stored["status"] == "STOPPED"
    assert stored["content"] and len(stored["content"]) < len(full)
    assert full.startswith(stored["content"])
    completed = terminal_event(events, reply_id)
    assert completed["__typename"] == "MessageCompleted"
    assert completed["message"]["status"] == "STOPPED"
    assert rebuild(events)[reply_id]["content"] == stored["content"]
    (stream,) = fake.streams
    assert not stream.completed, "B must abandon the upstream stream"
