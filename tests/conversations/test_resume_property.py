"""The resume guarantee as a property, over many random disconnect points.

Each trial sends a message, follows `conversationEvents`, leaves after a random number of
events (sometimes before reading any), and comes back with `resumeFrom` = (last message id,
characters held) — at once, after a short pause, or after the reply finished — until the
reply ends. The text rebuilt from MessageCreated + MessageDelta(offset, text) must equal
the stored content exactly: no gap, no overlap, no duplicate MessageCreated.

A second property drops delta events on the channel layer at random (as a full
channels-redis channel does): gap repair (`generation.sync`, or the final message) must
still give the exact text.

Runs in-process through server.asgi.application, with the real openai SDK streaming from
the fake OpenAI server. Seed: RESUME_SEED (printed on failure).
"""

import asyncio
import os
import random
import zlib

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from strawberry.relay import from_base64, to_base64

from conversations import events, turns
from conversations.models import Message
from tests.asgi_client import SEND, gql_data, start_conversation, ws_client
from tests.chat_events import CONVERSATION_EVENTS, apply_event
from tests.conftest import use_fake_openai
from tests.factories import BotFactory
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)

SEED = int(os.environ.get("RESUME_SEED", "20240613"))
TRIALS = 50
DROP_TRIALS = 12
TOKENS = 60
MAX_DISCONNECTS = 3


def _reply(body: dict) -> list[str]:
    """A distinct 60-token reply per user text, with multi-byte characters in it."""
    text = body["messages"][-1]["content"]
    tag = f"{zlib.crc32(text.encode()):08x}"
    return [f"{tag}-{index}{'é' if index % 7 == 0 else ''} " for index in range(TOKENS)]


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(reply=_reply, token_interval=0.002) as server:
        yield server


@pytest.fixture
async def runtime(settings, fake):
    use_fake_openai(settings, fake)
    settings.RATE_LIMITS_ENABLED = False  # 70 conversations from one address in a minute
    # Small windows: more deltas per reply, so more distinct disconnect points, and
    # persisted content that lags the stream (resume offsets ahead of the database).
    settings.STREAM_COALESCE_MS = 5
    settings.STREAM_PERSIST_INTERVAL = 0.03
    settings.STREAM_WATCHDOG_SECONDS = 0.5
    await get_channel_layer().flush()
    bot = await sync_to_async(BotFactory)(name="Resume bot", model="resume-model")
    yield to_base64("Bot", bot.pk)
    # No turn may outlive the test (and its database).
    for _ in range(1000):
        if not turns.active_count():
            break
        await asyncio.sleep(0.01)
    assert not turns.active_count(), "a turn outlived its test"


def _pk(global_id: str) -> int:
    return int(from_base64(global_id)[1])


class Client:
    """A chat client's state across subscriptions: the messages it has rebuilt."""

    def __init__(self) -> None:
        self.messages: dict[str, dict] = {}
        self.deltas = 0

    def apply(self, event: dict) -> None:
        apply_event(self.messages, event)
        self.deltas += event["__typename"] == "MessageDelta"

    def resume_from(self) -> dict | None:
        if not self.messages:
            return None
        last = max(self.messages, key=_pk)
        return {"messageId": last, "offset": len(self.messages[last]["content"])}


async def _follow(
    client: Client, conversation_id, token, reply_id, budget, leaving: list[asyncio.Task]
) -> bool:
    """One subscription: read up to `budget` events (None: until the reply ends), then
    disconnect. Returns whether the reply's terminal event was seen.

    The disconnect is sent at once; waiting for the server side to wind down runs in the
    background (`leaving`): for the server, the client is gone either way.
    """
    variables = {"id": conversation_id, "resume": client.resume_from()}
    ws = ws_client({"chatToken": token})
    await ws.gql_init()
    try:
        if budget == 0:  # subscribe and leave at once, before any event arrives
            await ws.send_json_to(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": CONVERSATION_EVENTS, "variables": variables},
                }
            )
            return False
        results = ws.subscribe(CONVERSATION_EVENTS, variables)
        read = 0
        try:
            async for result in results:
                assert not result.errors, result.errors
                event = result.data["conversationEvents"]
                client.apply(event)
                read += 1
                if event["__typename"] in ("MessageCompleted", "MessageFailed") and (
                    event["message"]["id"] == reply_id
                ):
                    return True
                if budget is not None and read >= budget:
                    return False
        finally:
            await results.aclose()
        raise AssertionError("the subscription ended before the reply did")
    finally:
        leaving.append(asyncio.create_task(ws.disconnect()))


async def _wait_terminal(reply_pk: int) -> None:
    for _ in range(1000):
        if (await Message.objects.aget(pk=reply_pk)).is_terminal:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"message {reply_pk} never finished")


async def _trial(rng: random.Random, bot_id: str, index: int) -> Client:
    conversation_id, token = await start_conversation(bot_id)
    sent = await gql_data(
        SEND,
        {"input": {"conversationId": conversation_id, "text": f"trial {index} {rng.random()}"}},
        {"X-Chat-Token": token},
    )
    reply_id = sent["sendMessage"]["reply"]["id"]
    client = Client()
    leaving: list[asyncio.Task] = []
    try:
        for disconnects in range(MAX_DISCONNECTS + 1):
            budget = rng.randint(0, 10) if disconnects < MAX_DISCONNECTS else None
            async with asyncio.timeout(20):
                if await _follow(client, conversation_id, token, reply_id, budget, leaving):
                    break
            pause = rng.choice(["at once", "short pause", "after the reply finished"])
            if pause == "short pause":
                await asyncio.sleep(rng.uniform(0.0, 0.05))
            elif pause == "after the reply finished":
                await _wait_terminal(_pk(reply_id))
    finally:
        async with asyncio.timeout(10):
            await asyncio.gather(*leaving)
    stored = await Message.objects.aget(pk=_pk(reply_id))
    assert stored.status == "complete", stored.status
    assert client.messages[reply_id] == {
        "content": stored.content,
        "status": "COMPLETE",
        "role": "ASSISTANT",
    }
    assert len(stored.content) > TOKENS * 4
    return client


async def _run_trials(bot_id: str, count: int, seed: int) -> list[Client]:
    clients = []
    for index in range(count):
        rng = random.Random(seed * 1000 + index)
        try:
            clients.append(await _trial(rng, bot_id, index))
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(f"trial {index} failed (RESUME_SEED={seed}): {exc!r}") from exc
    return clients


async def test_resume_after_random_disconnects_rebuilds_every_reply_exactly(runtime):
    clients = await _run_trials(runtime, TRIALS, SEED)
    assert len(clients) == TRIALS
    # The trials did exercise live deltas, not only replays of finished replies.
    assert sum(client.deltas for client in clients) > TRIALS * 2


async def test_dropped_deltas_are_repaired_exactly(runtime, monkeypatch):
    rng = random.Random(SEED)
    publish, send_to = events.publish, events.send_to
    counts = {"dropped": 0, "delivered": 0, "sync_answers": 0}

    async def lossy_publish(conversation_id, event):
        # Created/completed/failed always go through; deltas are lost at random.
        if event.kind == "delta" and rng.random() < 0.35:
            counts["dropped"] += 1
            return
        counts["delivered"] += event.kind == "delta"
        await publish(conversation_id, event)

    async def counting_send_to(channel, event):
        counts["sync_answers"] += 1
        await send_to(channel, event)

    monkeypatch.setattr(events, "publish", lossy_publish)
    monkeypatch.setattr(events, "send_to", counting_send_to)

    clients = await _run_trials(runtime, DROP_TRIALS, SEED + 1)

    assert len(clients) == DROP_TRIALS
    assert counts["dropped"] > DROP_TRIALS, counts
    assert counts["sync_answers"] > 0, f"no gap was repaired by generation.sync: {counts}"
