"""A server that dies (or freezes) mid-reply: the reply becomes INTERRUPTED, partial text kept.

`kill -9` gives daphne no chance to finish anything; whichever process shares the database
next (a restarted server, or a surviving replica) must sweep the reply within
GENERATION_STALE_AFTER + GENERATION_SWEEP_INTERVAL (+ a margin for slow machines).
"""

import asyncio
import signal
import sqlite3
import time
from urllib.parse import urlsplit

import pytest

from tests.chat_events import CONVERSATION_EVENTS, rebuild
from tests.e2e.conftest import SERVER_ENV, words
from tests.e2e.wsclient import (
    GraphQLWebSocket,
    collect_events,
    create_bot,
    finished,
    message_by_id,
    send_message,
    start_conversation,
    streamed_at_least,
    terminal_event,
    wait_for_message,
)

STALE_AFTER = float(SERVER_ENV["GENERATION_STALE_AFTER"])
SWEEP_INTERVAL = float(SERVER_ENV["GENERATION_SWEEP_INTERVAL"])
MARGIN = 3.0
SWEEP_BOUND = STALE_AFTER + SWEEP_INTERVAL + MARGIN
STALL_AFTER = 3
STALL_MODEL = f"fake-stall-{STALL_AFTER}"


@pytest.fixture(scope="module")
def server_env():
    # The upstream stall must outlive the server: no read timeout may end the reply first.
    return {"OPENAI_TIMEOUT": "60"}


@pytest.fixture(scope="module")
def first(servers) -> object:
    """The server the restart test kills (it also creates the module's bots)."""
    return servers.start("first")


@pytest.fixture(scope="module")
def bots(first, database):
    async def create_all():
        return {
            model: await create_bot(first.http, database.owner_token, model=model)
            for model in ("e2e-model", STALL_MODEL)
        }

    return asyncio.run(create_all())


async def _start_reply(server, bot_id: str, text: str):
    conversation_id, chat_token = await start_conversation(server.http, bot_id)
    sent = await send_message(server.http, conversation_id, chat_token, text)
    return conversation_id, chat_token, sent["reply"]["id"]


async def test_reply_of_a_killed_server_is_interrupted_after_restart(servers, first, script, bots):
    text = "stall then die"
    script.replies[text] = words(20, "restart")
    conversation_id, chat_token, reply_id = await _start_reply(first, bots[STALL_MODEL], text)
    # The upstream stalls after STALL_AFTER tokens; wait until they are persisted.
    await wait_for_message(
        first.http, conversation_id, chat_token, reply_id, until=streamed_at_least(1)
    )
    partial = "".join(script.tokens(text)[:STALL_AFTER])
    await wait_for_message(
        first.http,
        conversation_id,
        chat_token,
        reply_id,
        until=lambda m: m["status"] == "STREAMING" and m["content"] == partial,
    )

    first.kill()
    restarted = await asyncio.to_thread(servers.start, "restarted")
    healthy_at = time.monotonic()
    async with GraphQLWebSocket(restarted.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        events = await collect_events(subscription, until=finished(reply_id), within=SWEEP_BOUND)
        await subscription.stop()
    stored = await wait_for_message(
        restarted.http, conversation_id, chat_token, reply_id, within=SWEEP_BOUND
    )

    assert time.monotonic() - healthy_at <= SWEEP_BOUND
    assert stored["status"] == "INTERRUPTED"
    assert stored["errorCode"] == "interrupted" and stored["error"]
    assert stored["content"] == partial
    # Subscribed before or after the sweep, the subscriber learns the same outcome.
    failed = terminal_event(events, reply_id)
    assert failed["__typename"] == "MessageFailed" and failed["code"] == "interrupted"
    assert rebuild(events)[reply_id]["content"] == partial
    restarted.stop()


async def test_replica_subscriber_sees_the_interruption_live(servers, script, bots, fake):
    """A subscriber on a surviving process, subscribed while the reply still streams on the
    process that then dies, gets MessageFailed(interrupted) as a live event."""
    fake.token_interval = 0.05
    text = "slow tokens then die"
    script.replies[text] = words(400, "replica")
    doomed, survivor = await asyncio.to_thread(servers.start_many, "doomed", "survivor")
    conversation_id, chat_token, reply_id = await _start_reply(doomed, bots["e2e-model"], text)

    async with GraphQLWebSocket(survivor.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        # Replay on the survivor shows the reply still active (its generator is alive).
        events = await collect_events(
            subscription,
            until=lambda evs: any(e.get("message", {}).get("id") == reply_id for e in evs),
            within=10,
        )
        assert events[-1]["__typename"] == "MessageCreated"
        assert events[-1]["message"]["status"] in ("PENDING", "STREAMING")
        await wait_for_message(
            survivor.http, conversation_id, chat_token, reply_id, until=streamed_at_least(30)
        )
        doomed.kill()
        killed_at = time.monotonic()
        events += await collect_events(subscription, until=finished(reply_id), within=SWEEP_BOUND)
        swept_in = time.monotonic() - killed_at
        await subscription.stop()

    stored = await wait_for_message(survivor.http, conversation_id, chat_token, reply_id)
    full = "".join(script.tokens(text))
    assert swept_in <= SWEEP_BOUND
    assert stored["status"] == "INTERRUPTED" and stored["errorCode"] == "interrupted"
    assert stored["content"] and len(stored["content"]) < len(full)
    assert full.startswith(stored["content"])
    failed = terminal_event(events, reply_id)
    assert failed["__typename"] == "MessageFailed" and failed["code"] == "interrupted"
    assert failed["message"]["content"] == stored["content"]
    assert rebuild(events)[reply_id]["content"] == stored["content"]
    survivor.stop()


async def _freeze_outside_a_write(process, database_url: str) -> None:
    """SIGSTOP the process, retrying until it is frozen while not holding SQLite's write
    lock: a process frozen inside its write blocks every other writer, the sweeper too,
    which is SQLite's nature and not what this test is about. (Seen in CI when a
    CPU-starved server started its next persist between the poll and the signal.)"""
    if not database_url.startswith("sqlite:///"):
        process.send_signal(signal.SIGSTOP)
        return
    path = urlsplit(database_url).path
    for _ in range(50):
        process.send_signal(signal.SIGSTOP)
        probe = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.02)
        finally:
            probe.close()
    raise AssertionError("the server held the database's write lock at every try")


async def test_frozen_generator_cannot_overwrite_the_interrupted_reply(servers, script, bots, fake):
    """A process frozen mid-reply (SIGSTOP: a paused container, a stalled VM) looks dead,
    so a replica sweeps its reply INTERRUPTED and tells the subscribers. When the process
    thaws, that terminal state must stand: the reply is neither extended nor completed."""
    fake.token_interval = 0.02
    text = "freeze while answering"
    script.replies[text] = words(400, "frozen")
    frozen, survivor = await asyncio.to_thread(servers.start_many, "frozen", "survivor-2")
    conversation_id, chat_token, reply_id = await _start_reply(frozen, bots["e2e-model"], text)

    async with GraphQLWebSocket(survivor.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        streamed = await wait_for_message(
            survivor.http, conversation_id, chat_token, reply_id, until=streamed_at_least(30)
        )
        # Freeze just after a persist was seen: with SQLite, a process frozen inside its
        # write would hold the database lock and block every other writer (the sweeper).
        await wait_for_message(
            survivor.http,
            conversation_id,
            chat_token,
            reply_id,
            until=lambda m: m["content"] != streamed["content"],
            interval=0.01,
        )
        await _freeze_outside_a_write(frozen.process, servers.database.url)
        try:
            events = await collect_events(
                subscription, until=finished(reply_id), within=SWEEP_BOUND + MARGIN
            )
        except TimeoutError:
            stored = await message_by_id(survivor.http, conversation_id, chat_token, reply_id)
            raise AssertionError(f"not swept while frozen; stored: {stored}") from None
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        await subscription.stop()
    failed = terminal_event(events, reply_id)
    assert failed["__typename"] == "MessageFailed" and failed["code"] == "interrupted"

    # Thawed, the process reads the upstream text buffered meanwhile: unless it notices the
    # sweep, it extends and completes the reply within a few persist intervals.
    told = ("INTERRUPTED", failed["message"]["content"])
    seen = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        stored = await message_by_id(survivor.http, conversation_id, chat_token, reply_id)
        state = (stored["status"], stored["content"])
        if not seen or seen[-1] != state:
            seen.append(state)
        await asyncio.sleep(0.1)
    assert [(status, len(content)) for status, content in seen] == [(told[0], len(told[1]))], (
        "the stored reply changed after the sweep"
    )
    assert seen == [told]
    assert rebuild(events)[reply_id]["content"] == told[1]
    assert (await frozen.http.data("query { apiInfo { name } }"))["apiInfo"]["name"]
    frozen.stop()
    survivor.stop()
