"""Feedback on the real ASGI app: a reply streamed over the websocket is rated over HTTP,
and a reloaded client reads the rating in the replay (rate limits: tests/test_ratelimit.py)."""

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from tests.asgi_client import gql_data, start_conversation, ws_client
from tests.conversations.scenario_helpers import subscription_events
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = """
subscription($input: SendMessageInput!) {
  chat(input: $input) {
    __typename
    ... on MessageCompleted { message { id role feedback { rating } } }
  }
}
"""
REPLAY = """
subscription($id: ID!) {
  conversationEvents(conversationId: $id) {
    __typename
    ... on MessageCompleted { message { id role feedback { rating comment } } }
  }
}
"""
RATE = """
mutation($input: RateMessageInput!) {
  rateMessage(input: $input) { message { id feedback { rating comment } } }
}
"""


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


async def _chat_with_reply() -> tuple[str, str, str]:
    """A conversation whose reply streamed to the end: (conversation id, token, reply id)."""
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    conversation_id, token = await start_conversation(bot_id)
    variables = {"input": {"conversationId": conversation_id, "text": "hello"}}
    async with ws_client({"chatToken": token}) as ws:
        events = await subscription_events(ws, CHAT, variables)
    [reply] = [
        e["message"]
        for e in events
        if e["__typename"] == "MessageCompleted" and e["message"]["role"] == "ASSISTANT"
    ]
    assert reply["feedback"] is None  # a fresh reply is not rated
    return conversation_id, token, reply["id"]


async def test_a_streamed_reply_is_rated_and_the_replay_after_a_reload_shows_it():
    conversation_id, token, reply_id = await _chat_with_reply()
    headers = {"X-Chat-Token": token}

    rated = await gql_data(
        RATE, {"input": {"messageId": reply_id, "rating": "UP", "comment": "great"}}, headers
    )

    assert rated["rateMessage"]["message"]["feedback"] == {"rating": "UP", "comment": "great"}
    async with ws_client({"chatToken": token}) as ws:
        await ws.send_json_to(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": REPLAY, "variables": {"id": conversation_id}},
            }
        )
        completed: dict[str, dict | None] = {}
        while len(completed) < 2:  # the visitor's message and the reply
            message = await ws.receive_json_from(timeout=30)
            assert message["type"] == "next", message
            event = message["payload"]["data"]["conversationEvents"]
            if event["__typename"] == "MessageCompleted":
                completed[event["message"]["id"]] = event["message"]["feedback"]
    assert completed[reply_id] == {"rating": "UP", "comment": "great"}
