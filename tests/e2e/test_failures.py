"""Upstream failures, stops and departed clients, through daphne and a real fake OpenAI server.

Every accepted message must end in a terminal state, with a clear code and the partial
text kept, and no wait may hang: every step here is bounded.
"""

import asyncio
import time

import pytest

from tests.chat_events import CHAT, CONVERSATION_EVENTS, rebuild
from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    GraphQLWebSocket,
    assistant_ids,
    collect_events,
    create_bot,
    finished,
    message_by_id,
    send_message,
    start_conversation,
    stop_generation,
    terminal_event,
    wait_for_message,
)

OPENAI_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server_env():
    # A stalled upstream must turn into a `timeout` failure quickly.
    return {"OPENAI_TIMEOUT": str(OPENAI_TIMEOUT)}


@pytest.fixture(scope="module")
def bots(server, database):
    """Bots by model name; the model picks the fake server's failure mode per request."""

    async def create_all():
        names = [
            "e2e-model",
            "fake-fail-401",
            "fake-fail-429",
            "fake-fail-500",
            "fake-midstream-3",
            "fake-close-2",
            "fake-reset-2",
            "fake-stall-2",
        ]
        ids = [await create_bot(server.http, database.owner_token, model=n) for n in names]
        return dict(zip(names, ids, strict=True))

    return asyncio.run(create_all())


async def chat(server, bot_id: str, text: str, *, within: float = 15.0):
    """Run one `chat` subscription to its end; returns (events, reply id, conv id, token)."""
    conversation_id, chat_token = await start_conversation(server.http, bot_id)
    async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(
            CHAT, {"input": {"conversationId": conversation_id, "text": text}}
        )
        events = await collect_events(subscription, within=within)
    assert subscription.done, "the chat subscription must complete after a failure"
    (reply_id,) = assistant_ids(events)
    return events, reply_id, conversation_id, chat_token


FAILURES = [
    # model, expected code, tokens sent before the failure, words in the error text
    ("fake-fail-401", "auth_failed", 0, "credentials"),
    ("fake-fail-429", "rate_limited", 0, "rate limiting"),
    ("fake-fail-500", "upstream_error", 0, "HTTP 500"),
    ("fake-midstream-3", "stream_broken", 3, "failed mid-stream"),
    ("fake-close-2", "stream_broken", 2, "ended before the reply was complete"),
    ("fake-reset-2", "stream_broken", 2, "broke off"),
    ("fake-stall-2", "timeout", 2, "did not answer"),
]


@pytest.mark.parametrize(("model", "code", "kept", "wording"), FAILURES)
async def test_upstream_failure_ends_the_reply_failed_with_a_code(
    server, script, bots, model, code, kept, wording
):
    text = f"please fail as {model}"
    script.replies[text] = words(12, model)
    started = time.monotonic()

    events, reply_id, conversation_id, chat_token = await chat(server, bots[model], text)

    elapsed = time.monotonic() - started
    failed = terminal_event(events, reply_id)
    # Failures by status never reach the reply script: nothing was sent.
    partial = "".join(script.tokens(text)[:kept]) if kept else ""
    assert failed["__typename"] == "MessageFailed"
    assert failed["code"] == code
    assert wording in failed["error"]
    assert failed["message"]["status"] == "FAILED"
    assert rebuild(events)[reply_id]["content"] == partial
    stored = await message_by_id(server.http, conversation_id, chat_token, reply_id)
    assert stored["status"] == "FAILED"
    assert stored["errorCode"] == code
    assert stored["error"] == failed["error"]
    assert stored["content"] == partial
    assert "sk-test" not in stored["error"], "the API key must never reach users"
    if code == "timeout":
        assert elapsed >= OPENAI_TIMEOUT, "the stall must be what ended the reply"


async def test_stop_generation_keeps_the_partial_reply(server, script, bots, fake):
    fake.token_interval = 0.05
    text = "tell me a long story"
    script.replies[text] = words(200, "story")
    conversation_id, chat_token = await start_conversation(server.http, bots["e2e-model"])

    async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        sent = await send_message(server.http, conversation_id, chat_token, text)
        reply_id = sent["reply"]["id"]

        def some_text_arrived(events):
            deltas = [e for e in events if e.get("messageId") == reply_id]
            return sum(len(e["text"]) for e in deltas) >= 40

        events = await collect_events(subscription, until=some_text_arrived, within=15)
        stopped = await stop_generation(server.http, reply_id, chat_token)
        events += await collect_events(subscription, until=finished(reply_id), within=10)
        await subscription.stop()

    full = "".join(script.tokens(text))
    assert stopped["__typename"] == "Message" and stopped["status"] == "STOPPED"
    completed = terminal_event(events, reply_id)
    assert completed["__typename"] == "MessageCompleted"
    assert completed["message"]["status"] == "STOPPED"
    rebuilt = rebuild(events)[reply_id]["content"]
    stored = await message_by_id(server.http, conversation_id, chat_token, reply_id)
    assert stored["status"] == "STOPPED"
    assert rebuilt == stored["content"] == completed["message"]["content"]
    assert stored["content"] and len(stored["content"]) < len(full)
    assert full.startswith(stored["content"])
    (stream,) = fake.streams
    assert not stream.completed, "the upstream stream must be abandoned, not run to its end"


async def test_reply_completes_after_the_client_disconnects(server, script, bots, fake):
    fake.token_interval = 0.03
    text = "I will leave early"
    script.replies[text] = words(40, "leave")
    conversation_id, chat_token = await start_conversation(server.http, bots["e2e-model"])

    async with GraphQLWebSocket(server.ws_url, params={"chatToken": chat_token}) as ws:
        subscription = await ws.subscribe(
            CHAT, {"input": {"conversationId": conversation_id, "text": text}}
        )
        events = await collect_events(
            subscription,
            until=lambda evs: any(e["__typename"] == "MessageDelta" for e in evs),
            within=10,
        )
    # The socket is closed now, mid-stream.
    (reply_id,) = assistant_ids(events)
    assert rebuild(events)[reply_id]["status"] in ("PENDING", "STREAMING")

    stored = await wait_for_message(server.http, conversation_id, chat_token, reply_id, within=15)

    assert stored["status"] == "COMPLETE"
    assert stored["content"] == "".join(script.tokens(text))


async def test_stop_right_after_send_ends_stopped(server, script, bots, fake):
    """A stop that lands before the first token (even before the turn reached the
    upstream) must still end the reply STOPPED, at once, not leave it active."""
    fake.token_interval = 0.05
    outcomes = []
    for attempt in range(10):
        text = f"stop me at once {attempt}"
        script.replies[text] = words(60, f"early{attempt}")
        conversation_id, chat_token = await start_conversation(server.http, bots["e2e-model"])
        sent = await send_message(server.http, conversation_id, chat_token, text)
        reply_id = sent["reply"]["id"]
        stopped = await stop_generation(server.http, reply_id, chat_token)
        stored = await message_by_id(server.http, conversation_id, chat_token, reply_id)
        outcomes.append((stopped["status"], stored["status"]))
    assert outcomes == [("STOPPED", "STOPPED")] * 10
