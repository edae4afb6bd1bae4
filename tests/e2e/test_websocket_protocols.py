"""Streamed replies over a real websocket, with both GraphQL subprotocols, against daphne."""

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from tests.chat_events import CHAT, CONVERSATION_EVENTS, rebuild
from tests.e2e.conftest import words
from tests.e2e.wsclient import (
    LEGACY_WS,
    PROTOCOLS,
    GraphQLWebSocket,
    assistant_ids,
    collect_events,
    conversation_messages,
    create_bot,
    finished,
    send_message,
    start_conversation,
)

API_INFO = "query { apiInfo { name } }"


@pytest.fixture(scope="module")
def bot_id(server, database):
    return asyncio.run(create_bot(server.http, database.owner_token, name="Protocols bot"))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_chat_subscription_streams_the_exact_reply(server, script, bot_id, protocol):
    text = f"hello over {protocol}"
    script.replies[text] = words(40, protocol)
    conversation_id, chat_token = await start_conversation(server.http, bot_id)

    async with GraphQLWebSocket(
        server.ws_url, protocol=protocol, params={"chatToken": chat_token}
    ) as ws:
        subscription = await ws.subscribe(
            CHAT, {"input": {"conversationId": conversation_id, "text": text}}
        )
        events = await collect_events(subscription, within=20)

    assert subscription.done, "chat must complete by itself once the turn ends"
    rebuilt = rebuild(events)
    (reply_id,) = assistant_ids(events)
    stored = {
        m["id"]: m for m in await conversation_messages(server.http, conversation_id, chat_token)
    }
    sent = "".join(script.tokens(text))
    assert rebuilt[reply_id] == {"content": sent, "status": "COMPLETE", "role": "ASSISTANT"}
    assert stored[reply_id]["content"] == sent and stored[reply_id]["status"] == "COMPLETE"
    assert [m["content"] for m in rebuilt.values() if m["role"] == "USER"] == [text]
    assert sum(e["__typename"] == "MessageDelta" for e in events) >= 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_conversation_events_follow_a_message_sent_over_http(
    server, script, bot_id, protocol
):
    text = f"events over {protocol}"
    script.replies[text] = words(40, f"ev-{protocol}")
    conversation_id, chat_token = await start_conversation(server.http, bot_id)

    async with GraphQLWebSocket(
        server.ws_url, protocol=protocol, params={"chatToken": chat_token}
    ) as ws:
        subscription = await ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})
        sent = await send_message(server.http, conversation_id, chat_token, text)
        reply_id = sent["reply"]["id"]
        events = await collect_events(subscription, until=finished(reply_id), within=20)
        await subscription.stop()

    rebuilt = rebuild(events)
    stored = {
        m["id"]: m for m in await conversation_messages(server.http, conversation_id, chat_token)
    }
    upstream = "".join(script.tokens(text))
    assert rebuilt[reply_id]["content"] == stored[reply_id]["content"] == upstream
    assert rebuilt[reply_id]["status"] == stored[reply_id]["status"] == "COMPLETE"
    assert rebuilt[sent["userMessage"]["id"]]["content"] == text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_foreign_origin_is_rejected_at_the_handshake(server, protocol):
    with pytest.raises(InvalidStatus) as rejected:
        await GraphQLWebSocket(
            server.ws_url, protocol=protocol, origin="http://evil.example"
        ).connect()
    assert rejected.value.response.status_code == 403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_missing_origin_is_accepted(server, protocol):
    async with GraphQLWebSocket(server.ws_url, protocol=protocol, params={}) as ws:
        subscription = await ws.subscribe(API_INFO)
        payload = await subscription.next(within=10)
    assert payload == {"data": {"apiInfo": {"name": "Botstream"}}}


async def test_same_host_origin_is_accepted(server):
    origin = f"http://127.0.0.1:{server.port}"
    async with GraphQLWebSocket(server.ws_url, protocol=LEGACY_WS, origin=origin) as ws:
        subscription = await ws.subscribe(API_INFO)
        payload = await subscription.next(within=10)
    assert payload["data"]["apiInfo"]["name"] == "Botstream"
