"""Clients without websockets: send, poll the unread replies, mark them read."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from accounts.services import api_token_create
from conversations.models import Message
from tests.asgi_client import SEND, gql_data, start_conversation
from tests.factories import BotFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

UNREAD = """
query($id: ID!) {
  conversation(id: $id) {
    unreadCount
    messages(filters: {isRead: false}) { totalCount edges { node { id role content status } } }
  }
}
"""
MARK_READ = """
mutation($input: MarkMessagesReadInput!) {
  markMessagesRead(input: $input) { __typename ... on Conversation { id unreadCount } }
}
"""
CREATE_BOT = """
mutation { createBot(input: {name: "Counted"}) { ... on Bot { scenarioCount } } }
"""


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


async def test_poll_unread_replies_then_mark_them_read():
    bot = await sync_to_async(BotFactory)()
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    headers = {"X-Chat-Token": token}
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, headers
    )
    for _ in range(200):
        if await Message.objects.filter(role="assistant", status="complete").aexists():
            break
        await asyncio.sleep(0.01)

    unread = (await gql_data(UNREAD, {"id": conversation_id}, headers))["conversation"]
    reply = await Message.objects.aget(role="assistant")
    assert unread["unreadCount"] == 1
    [edge] = unread["messages"]["edges"]
    assert edge["node"]["id"] == sent["sendMessage"]["reply"]["id"]
    assert edge["node"]["content"] == reply.content

    marked = await gql_data(MARK_READ, {"input": {"conversationId": conversation_id}}, headers)
    assert marked["markMessagesRead"]["unreadCount"] == 0
    unread = (await gql_data(UNREAD, {"id": conversation_id}, headers))["conversation"]
    assert unread["messages"]["totalCount"] == 0


async def test_counts_resolve_on_objects_returned_by_mutations():
    user = await sync_to_async(UserFactory)()
    _, secret = await sync_to_async(api_token_create)(user=user, name="t")
    data = await gql_data(CREATE_BOT, headers={"Authorization": f"Bearer {secret}"})
    assert data["createBot"]["scenarioCount"] == 0
