"""The chat's facts reach webhooks: startConversation, a completed reply, a rating, a
reset and the expiry sweep each queue a delivery (through the real ASGI app), and the
task queue's worker posts them, signed, to the endpoint."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from standardwebhooks import Webhook as Verifier
from strawberry.relay import from_base64, to_base64

from conversations import lifecycle, turns
from conversations.models import Conversation, Message
from core import events
from integrations import services
from integrations.models import WebhookDelivery
from integrations.services import webhook_create
from tests.asgi_client import SEND, gql_data, start_conversation
from tests.factories import BotFactory
from tests.tasks_worker import drain

pytestmark = pytest.mark.django_db(transaction=True)

RATE = """
mutation($input: RateMessageInput!) { rateMessage(input: $input) { message { id } } }
"""
RESET = """
mutation($input: ResetConversationInput!) {
  resetConversation(input: $input) { conversation { id } }
}
"""


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


async def _turns_done() -> None:
    while turns._turns:
        await asyncio.gather(*list(turns._turns))


async def test_each_fact_of_a_chat_is_posted_to_the_subscribed_webhook(receiver):
    # given a bot whose owner subscribed an endpoint to every event
    bot = await sync_to_async(BotFactory)()
    _, secret = await sync_to_async(webhook_create)(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=list(events.NAMES)
    )
    bot_id = to_base64("Bot", bot.pk)

    # when a visitor starts, chats, rates the reply and starts over, and the new
    # conversation is closed by the expiry sweep
    conversation_id, token = await start_conversation(bot_id, userSession="visitor-7")
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )
    await _turns_done()
    reply_id = sent["sendMessage"]["reply"]["id"]
    reply = await Message.objects.aget(pk=from_base64(reply_id)[1])
    await gql_data(
        RATE, {"input": {"messageId": reply_id, "rating": "UP"}}, {"X-Chat-Token": token}
    )
    reset = await gql_data(
        RESET, {"input": {"conversationId": conversation_id}}, {"X-Chat-Token": token}
    )
    new_id = reset["resetConversation"]["conversation"]["id"]
    past = timezone.now() - timedelta(seconds=1)
    await Conversation.objects.filter(pk=from_base64(new_id)[1]).aupdate(expires_at=past)
    assert await sync_to_async(lifecycle.expire_idle)(limit=10) == [int(from_base64(new_id)[1])]
    # (the deliveries were queued; the worker sends them)
    assert await WebhookDelivery.objects.acount() == 6
    await sync_to_async(drain)()

    # then the endpoint received each fact once, signed, in the order they happened
    bodies = [Verifier(secret).verify(r.body, r.headers) for r in receiver.requests]
    bodies.sort(key=lambda body: body["timestamp"])
    assert [body["type"] for body in bodies] == [
        "conversation.started",
        "message.completed",
        "feedback.given",
        "conversation.expired",
        "conversation.started",
        "conversation.expired",
    ]
    started, completed, rated, replaced, restarted, expired = (b["data"] for b in bodies)
    assert started["bot_id"] == bot_id
    assert started["conversation_id"] == conversation_id
    assert started["user_session"] == "visitor-7"
    assert completed["conversation_id"] == conversation_id
    assert completed["message_id"] == reply_id
    assert completed["content"] == reply.content and reply.content
    assert completed["prompt_tokens"] == reply.prompt_tokens > 0
    assert rated["message_id"] == reply_id and rated["rating"] == "up"
    assert replaced == replaced | {"conversation_id": conversation_id, "reason": "reset"}
    assert restarted["conversation_id"] == new_id
    assert expired == expired | {"conversation_id": new_id, "reason": "idle"}
    assert not await WebhookDelivery.objects.exclude(status="succeeded").aexists()


async def test_a_turn_never_waits_for_the_endpoint(receiver, settings):
    # given an endpoint that hangs
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.hold.clear()
    bot = await sync_to_async(BotFactory)()
    await sync_to_async(webhook_create)(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=["message.completed"]
    )
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

    # when a reply completes, the turn ends with its delivery only queued
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )
    await _turns_done()

    reply = await Message.objects.aget(pk=from_base64(sent["sendMessage"]["reply"]["id"])[1])
    assert reply.status == "complete"
    queued = await WebhookDelivery.objects.aget()
    assert (queued.status, queued.attempts) == ("pending", 0)
    assert receiver.requests == []
    receiver.hold.set()


async def test_events_of_other_bots_queue_nothing(receiver):
    bot, other = await sync_to_async(BotFactory)(), await sync_to_async(BotFactory)()
    await sync_to_async(webhook_create)(
        user=bot.owner, bot_id=bot.pk, url=receiver.url, events=list(events.NAMES)
    )

    await start_conversation(to_base64("Bot", other.pk))

    assert await WebhookDelivery.objects.acount() == 0


def test_a_listener_failure_never_fails_the_fact(bot, monkeypatch, caplog):
    def broken(*, event):
        raise RuntimeError("the queue is down")

    monkeypatch.setattr(services, "deliveries_create", broken)

    # (this would raise if the listener let the error through)
    events.emit(events.CONVERSATION_STARTED, bot_id=bot.pk, payload={"conversation_id": "1"})

    assert "could not queue the webhooks of conversation.started" in caplog.text
