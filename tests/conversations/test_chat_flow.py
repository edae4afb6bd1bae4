import asyncio

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from conversations.models import Message
from tests.asgi_client import SEND, gql_data, start_conversation, ws_client
from tests.chat_events import CHAT, CONVERSATION_EVENTS, rebuild
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001


async def _bot():
    return await sync_to_async(BotFactory)(name="Support", system_prompt="You help customers.")


async def test_chat_subscription_streams_reply_and_ends(offline):
    bot = await _bot()
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    async with ws_client({"chatToken": token}) as ws:
        results = [
            r.data["chat"]
            async for r in ws.subscribe(
                CHAT, {"input": {"conversationId": conversation_id, "text": "I have a problem"}}
            )
        ]
    messages = rebuild(results)
    assert [m["status"] for m in messages.values()] == ["COMPLETE", "COMPLETE"]
    reply = await Message.objects.aget(role="assistant")
    assert reply.status == "complete" and reply.content
    assert list(messages.values())[1]["content"] == reply.content
    assert sum(1 for r in results if r["__typename"] == "MessageDelta") >= 1


async def test_send_message_then_events_replay(offline):
    bot = await _bot()
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    headers = {"X-Chat-Token": token}
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hello"}}, headers
    )
    assert sent["sendMessage"]["reply"]["status"] == "PENDING"
    for _ in range(200):
        if await Message.objects.filter(role="assistant", status="complete").aexists():
            break
        await asyncio.sleep(0.01)
    async with ws_client({"chatToken": token}) as ws:
        results = []
        async for r in ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id}):
            results.append(r.data["conversationEvents"])
            if (
                r.data["conversationEvents"]["__typename"] == "MessageCompleted"
                and len([x for x in results if x["__typename"] == "MessageCompleted"]) == 2
            ):
                break
    messages = rebuild(results)
    reply = await Message.objects.aget(role="assistant")
    assert messages[to_base64("Message", reply.pk)]["content"] == reply.content
