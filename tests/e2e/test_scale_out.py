"""Two daphne processes behind one database and one Redis channel layer (channels-redis).

A reply generated on process B streams live to a subscriber on process A, a stop sent
to A stops a reply generated on B (the cross-process `stop_requested` flag), and a
delete sent to B ends the subscriptions on both and the reply generated on A.
Needs Redis: skipped when it is unreachable, except under CI=true where that fails.
"""

import asyncio
import re
import time

import httpx
import pytest

from tests.chat_events import CONVERSATION_EVENTS, rebuild
from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    DELETE_CONVERSATION,
    LEGACY_WS,
    SEND_MESSAGE,
    STOP_GENERATION,
    GraphQLWebSocket,
    collect_events,
    create_bot,
    delete_conversation,
    finished,
    message_by_id,
    send_and_wait,
    send_message,
    start_conversation,
    stop_generation,
    streamed_at_least,
    terminal_event,
)

# Redis present (checked before any server or database is set up), its db flushed.
pytestmark = pytest.mark.usefixtures("redis_db")


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
        reply_id = await send_and_wait(
            b.http, conversation_id, chat_token, text, until=streamed_at_least(30), read_by=a.http
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


async def _until_no_generation(server, within: float = 15.0) -> None:
    """Wait until the server's /metrics shows no reply being generated (bounded)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        while True:
            text = (await client.get(f"{server.url}/metrics")).text
            if re.search(r"^botstream_active_generations 0(\.0)?$", text, re.MULTILINE):
                return
            assert time.monotonic() < deadline, "the generation never ended"
            await asyncio.sleep(0.05)


async def test_delete_on_b_ends_subscriptions_everywhere_and_the_reply_on_a(
    pair, script, bot_id, fake
):
    a, b = pair
    fake.token_interval = 0.05
    text = "generated on A, deleted on B"
    script.replies[text] = words(200, "gone")
    conversation_id, chat_token = await start_conversation(a.http, bot_id)
    params = {"chatToken": chat_token}

    async with (
        GraphQLWebSocket(a.ws_url, params=params) as on_a,
        GraphQLWebSocket(b.ws_url, params=params, protocol=LEGACY_WS) as on_b,
    ):
        watchers = [
            await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id}) for ws in (on_a, on_b)
        ]
        reply_id = await send_and_wait(
            a.http, conversation_id, chat_token, text, until=streamed_at_least(30)
        )
        deleted = await delete_conversation(b.http, conversation_id, chat_token)
        # No `until`: each operation must complete by itself after the last event.
        streams = [await collect_events(watcher, within=10) for watcher in watchers]
        late = await on_a.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        refused = await late.next(within=10)

    assert deleted == {"__typename": "Conversation", "id": conversation_id}
    for events in streams:
        assert events[-1] == {
            "__typename": "ConversationDeleted",
            "conversationId": conversation_id,
        }
        assert not any(
            e["__typename"] in ("MessageCompleted", "MessageFailed")
            and e["message"]["id"] == reply_id
            for e in events
        )
    assert refused["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    await _until_no_generation(a)
    (stream,) = fake.streams
    assert not stream.completed, "A must abandon the upstream stream"


async def test_delete_racing_send_message_is_clean_on_both_sides(pair, script, bot_id):
    """Either the message is sent first (then deleted with the rest) or it finds no
    conversation: NOT_FOUND. Never an IntegrityError, a 500 or a failed delete."""
    a, b = pair
    accepted = refused = 0
    for index in range(10):
        conversation_id, chat_token = await start_conversation(a.http, bot_id)
        send_input = {"input": {"conversationId": conversation_id, "text": f"race {index}"}}
        (_, sent), (_, deleted) = await asyncio.gather(
            a.http.post(SEND_MESSAGE, send_input, chat_token=chat_token),
            b.http.post(
                DELETE_CONVERSATION, {"input": {"id": conversation_id}}, chat_token=chat_token
            ),
        )
        assert deleted == {
            "data": {"deleteConversation": {"__typename": "Conversation", "id": conversation_id}}
        }
        if sent.get("errors"):
            assert [e["extensions"]["code"] for e in sent["errors"]] == ["NOT_FOUND"], sent
            refused += 1
        else:
            assert sent["data"]["sendMessage"]["userMessage"]["content"] == f"race {index}"
            accepted += 1
    assert accepted + refused == 10
    for server in pair:
        assert "IntegrityError" not in server.log_tail(2000)
        assert "Traceback" not in server.log_tail(2000)


async def test_stop_on_a_racing_delete_on_b_is_stopped_or_not_found(pair, script, bot_id, fake):
    a, b = pair
    fake.token_interval = 0.02
    for index in range(6):
        # given a reply streaming on A
        text = f"stop or delete {index}"
        script.replies[text] = words(200, "race")
        conversation_id, chat_token = await start_conversation(a.http, bot_id)
        reply_id = await send_and_wait(
            a.http, conversation_id, chat_token, text, until=streamed_at_least(1)
        )

        # when A is asked to stop it while B deletes its conversation
        (_, stopped), deleted = await asyncio.gather(
            a.http.post(STOP_GENERATION, {"input": {"messageId": reply_id}}, chat_token=chat_token),
            delete_conversation(b.http, conversation_id, chat_token),
        )

        # then the delete succeeds, and the stop either came first or finds nothing
        assert deleted == {"__typename": "Conversation", "id": conversation_id}
        result = stopped["data"]["stopGeneration"]
        if result["__typename"] == "Message":
            assert result["status"] == "STOPPED"
        else:
            assert result["messages"] == [{"code": "not_found", "message": "Message not found."}]
