"""Many conversations streaming at once through one daphne process, each on its own socket."""

import asyncio
import time

import pytest

from tests.chat_events import CHAT, rebuild
from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    GraphQLWebSocket,
    assistant_ids,
    collect_events,
    conversation_messages,
    create_bot,
    start_conversation,
)

CONVERSATIONS = 20
TOKENS = 30
TOKEN_INTERVAL = 0.01


@pytest.fixture(scope="module")
def bot_id(server, database):
    return asyncio.run(create_bot(server.http, database.owner_token, name="Busy bot"))


async def _one_chat(server, bot_id: str, index: int, ready: list, start: asyncio.Event):
    conversation_id, chat_token = await start_conversation(server.http, bot_id)
    text = f"conversation number {index}"
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}) as ws:
        ready.append(index)
        await start.wait()
        subscription = await ws.subscribe(
            CHAT, {"input": {"conversationId": conversation_id, "text": text}}
        )
        events = await collect_events(subscription, within=45)
    assert subscription.done
    return text, conversation_id, chat_token, events


async def test_twenty_conversations_stream_at_once_with_exact_content(
    server, script, bot_id, fake, record_property
):
    fake.token_interval = TOKEN_INTERVAL
    for index in range(CONVERSATIONS):
        script.replies[f"conversation number {index}"] = words(TOKENS, f"c{index}")
    ready: list[int] = []
    start = asyncio.Event()
    tasks = [
        asyncio.create_task(_one_chat(server, bot_id, index, ready, start))
        for index in range(CONVERSATIONS)
    ]
    # Every conversation is open and every socket initialised before any message is sent.
    async with asyncio.timeout(30):
        while len(ready) < CONVERSATIONS:
            assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
            await asyncio.sleep(0.01)
    started = time.perf_counter()
    start.set()
    async with asyncio.timeout(60):
        results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started

    for text, conversation_id, chat_token, events in results:
        (reply_id,) = assistant_ids(events)
        rebuilt = rebuild(events)[reply_id]
        upstream = "".join(script.tokens(text))
        stored = {
            m["id"]: m
            for m in await conversation_messages(server.http, conversation_id, chat_token)
        }
        assert rebuilt["status"] == stored[reply_id]["status"] == "COMPLETE", text
        assert rebuilt["content"] == stored[reply_id]["content"] == upstream, text
    streams = fake.streams
    assert len(streams) == CONVERSATIONS
    assert all(s.completed and s.tokens_sent == TOKENS for s in streams)
    overlapping = max(s.received_at for s in streams) < min(
        s.received_at + TOKENS * TOKEN_INTERVAL for s in streams
    )
    record_property("conversations", CONVERSATIONS)
    record_property("wall_seconds", round(wall, 3))
    record_property("streams_overlapped", overlapping)
    print(
        f"\n{CONVERSATIONS} concurrent chats x {TOKENS} tokens @ {TOKEN_INTERVAL * 1000:.0f} ms: "
        f"wall {wall:.2f} s (one reply alone streams in ~{TOKENS * TOKEN_INTERVAL:.2f} s)"
    )
