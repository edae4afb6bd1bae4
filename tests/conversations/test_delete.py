"""Deleting a conversation ends its streams, stops its turn, and refuses later use."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from conversations import turns
from conversations.models import Conversation, Message
from core.metrics import REGISTRY
from tests.asgi_client import SEND, gql_data, gql_http, start_conversation, ws_client
from tests.chat_events import CHAT, CONVERSATION_EVENTS
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)

DELETE = """
mutation($input: DeleteConversationInput!) {
  deleteConversation(input: $input) {
    __typename
    ... on Conversation { id }
    ... on OperationInfo { messages { code message } }
  }
}
"""


@pytest.fixture(autouse=True)
def slow_offline(settings):
    """Replies of dozens of words at 50 ms each: seconds to delete them mid-stream."""
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.05


class Stream:
    """One subscription on its own socket, read in the background until it completes."""

    def __init__(self, token: str, query: str, variables: dict) -> None:
        self.ws = ws_client({"chatToken": token})
        self.query, self.variables = query, variables
        self.events: list[dict] = []
        self.completed = False
        self.task: asyncio.Task | None = None

    async def start(self) -> "Stream":
        await self.ws.gql_init()
        await self.ws.send_json_to(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": self.query, "variables": self.variables},
            }
        )
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive_json_from(timeout=30)
            if message["type"] == "next":
                assert not message["payload"].get("errors"), message
                self.events.append(next(iter(message["payload"]["data"].values())))
            elif message["type"] == "complete":
                self.completed = True
                return
            else:
                raise AssertionError(message)

    def has(self, typename: str) -> bool:
        return any(e["__typename"] == typename for e in self.events)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
        await self.ws.disconnect()


async def _until(condition, what: str) -> None:
    """Wait for a state reached through the app (bounded: a broken server fails here)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"waited 20 s for {what}")


def _generations(outcome: str) -> float:
    """Finished generations with this outcome, as /metrics reports them."""
    sample = REGISTRY.get_sample_value("botstream_generation_seconds_count", {"outcome": outcome})
    return sample or 0.0


async def _conversation():
    bot = await sync_to_async(BotFactory)(name="Support")
    return await start_conversation(to_base64("Bot", bot.pk))


async def test_delete_mid_reply_ends_every_subscription_and_stops_the_turn():
    deleted_before, interrupted_before = _generations("deleted"), _generations("interrupted")
    # given a reply streaming to a chat subscription and a conversationEvents subscription
    conversation_id, token = await _conversation()
    chat = await Stream(
        token, CHAT, {"input": {"conversationId": conversation_id, "text": "I have a problem"}}
    ).start()
    # (The in-memory SQLite test database refuses reads during another connection's write
    # transaction: the watcher joins once the message is stored.)
    await _until(lambda: chat.has("MessageCreated"), "the message to be sent")
    watcher = await Stream(token, CONVERSATION_EVENTS, {"id": conversation_id}).start()
    try:
        await _until(lambda: chat.has("MessageDelta") and watcher.has("MessageDelta"), "deltas")
        assert turns.active_count() == 1

        # when the conversation is deleted
        data = await gql_data(DELETE, {"input": {"id": conversation_id}}, {"X-Chat-Token": token})

        # then both subscriptions end with ConversationDeleted, and the turn stops
        async with asyncio.timeout(10):
            await asyncio.gather(chat.task, watcher.task)
    finally:
        await chat.close()
        await watcher.close()
    assert data["deleteConversation"] == {"__typename": "Conversation", "id": conversation_id}
    for stream in (chat, watcher):
        assert stream.completed
        assert stream.events[-1] == {
            "__typename": "ConversationDeleted",
            "conversationId": conversation_id,
        }
        replies = {
            e["message"]["id"]
            for e in stream.events
            if e["__typename"] == "MessageCreated" and e["message"]["role"] == "ASSISTANT"
        }
        assert len(replies) == 1
        ends = {"MessageCompleted", "MessageFailed"}
        assert not [
            e for e in stream.events if e["__typename"] in ends and e["message"]["id"] in replies
        ]
    await _until(lambda: turns.active_count() == 0, "the turn to stop")
    assert not await Message.objects.aexists()
    assert _generations("deleted") == deleted_before + 1
    assert _generations("interrupted") == interrupted_before


async def test_subscribing_to_a_deleted_conversation_is_not_found():
    conversation_id, token = await _conversation()
    await gql_data(DELETE, {"input": {"id": conversation_id}}, {"X-Chat-Token": token})

    async with ws_client({"chatToken": token}) as ws:
        results = [r async for r in ws.subscribe(CONVERSATION_EVENTS, {"id": conversation_id})]

    [result] = results
    [error] = result.errors
    assert error.extensions["code"] == "NOT_FOUND"
    assert error.message == "Conversation not found."


async def test_sending_to_a_deleted_conversation_is_not_found():
    conversation_id, token = await _conversation()
    await gql_data(DELETE, {"input": {"id": conversation_id}}, {"X-Chat-Token": token})

    _, body = await gql_http(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_twice_is_not_found():
    conversation_id, token = await _conversation()
    await gql_data(DELETE, {"input": {"id": conversation_id}}, {"X-Chat-Token": token})

    data = await gql_data(DELETE, {"input": {"id": conversation_id}}, {"X-Chat-Token": token})

    [message] = data["deleteConversation"]["messages"]
    assert message["code"] == "not_found"


async def test_watchdog_ends_the_stream_when_its_conversation_vanished_without_an_event(settings):
    # given a subscriber watching a streaming reply, with a quick watchdog
    settings.STREAM_WATCHDOG_SECONDS = 0.2
    deleted_before = _generations("deleted")
    conversation_id, token = await _conversation()
    await gql_data(
        SEND,
        {"input": {"conversationId": conversation_id, "text": "hello"}},
        {"X-Chat-Token": token},
    )
    watcher = await Stream(token, CONVERSATION_EVENTS, {"id": conversation_id}).start()
    try:
        await _until(lambda: watcher.has("MessageDelta"), "a delta")

        # when the rows go away and no event says so (as if the layer dropped it)
        await Conversation.objects.all().adelete()

        # then the watchdog finds the rows gone and ends the stream
        async with asyncio.timeout(10):
            await watcher.task
    finally:
        await watcher.close()
    assert watcher.completed
    assert watcher.events[-1]["__typename"] == "ConversationDeleted"
    # the turn, in no way told, stops at its next write, which finds no row
    await _until(lambda: turns.active_count() == 0, "the turn to stop")
    assert _generations("deleted") == deleted_before + 1
