"""Typed conversation events: one encoding for the channel layer, mapped to GraphQL
without reading the database."""

from datetime import UTC, datetime

import msgpack
import pytest
from django.contrib.auth.models import AnonymousUser
from strawberry.relay import to_base64

from conversations import events
from conversations.models import Message, MessageStatus
from conversations.services import conversation_start
from schema.conversations.subscriptions import to_graphql
from tests.asgi_client import start_conversation, ws_client
from tests.conversations.scenario_helpers import make_scenario
from tests.factories import BotFactory

SNAPSHOT = events.MessageSnapshot(
    id=7,
    conversation_id=3,
    role="assistant",
    content="Hello",
    status=MessageStatus.FAILED,
    error="Upstream down.",
    error_code="upstream",
    created_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
    updated_at=datetime(2026, 12, 1, 11, 1, tzinfo=UTC),
)
EVERY_EVENT = [
    events.MessageCreated(3, SNAPSHOT),
    events.MessageDelta(3, 7, 5, " world"),
    events.MessageCompleted(3, SNAPSHOT),
    events.MessageFailed(3, SNAPSHOT),
    events.ConversationUpdated(
        3,
        variables={"name": "Ann", "big": 2**70},
        private_variables={},
        is_completed=True,
        updated_at=SNAPSHOT.updated_at,
    ),
    events.ConversationDeleted(3),
    events.TurnDone(3, 6),
]


def _conversation():
    bot = BotFactory(is_active=True)
    return conversation_start(user=AnonymousUser(), bot_id=bot.pk)[0]


def _message(conversation, **fields):
    return Message.objects.create(conversation=conversation, role="assistant", **fields)


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: e.kind)
def test_every_event_survives_the_channel_layer_encoding(event):
    # msgpack is what channels-redis sends: no datetimes, integers within 64 bits.
    wire = msgpack.unpackb(msgpack.packb(events.encode(event)))

    assert events.decode(wire) == event


@pytest.mark.django_db
def test_finished_event_kind_follows_the_status():
    conversation = _conversation()
    kinds = {}
    for status in MessageStatus:
        message = _message(conversation, status=status)
        kinds[status.value] = events.finished(message).kind

    assert kinds["complete"] == kinds["stopped"] == events.EventKind.COMPLETED
    assert kinds["failed"] == kinds["interrupted"] == events.EventKind.FAILED


@pytest.mark.django_db
def test_events_map_to_graphql_types_without_a_query(django_assert_num_queries):
    conversation = _conversation()
    message = _message(conversation, content="Hi")
    created = events.decode(events.encode(events.created(message)))
    updated = events.ConversationUpdated(
        conversation.pk, variables={"name": "Ann"}, private_variables={}, is_completed=True
    )

    with django_assert_num_queries(0):
        shown_message = to_graphql(created, conversation).message
        shown_conversation = to_graphql(updated, conversation).conversation

    assert shown_message.pk == message.pk and shown_message.content == "Hi"
    assert shown_conversation.variables == {"name": "Ann"} and shown_conversation.is_completed
    assert to_graphql(events.TurnDone(conversation.pk, message.pk), conversation) is None


CHAT_UPDATES = """
subscription($input: SendMessageInput!) {
  chat(input: $input) {
    __typename
    ... on ConversationUpdated { conversation { id variables isCompleted } }
    ... on MessageCompleted { message { id content status } }
  }
}
"""


@pytest.mark.django_db(transaction=True)
async def test_chat_shows_the_conversation_state_the_turn_saved():
    # given a scenario that asks a name, then ends
    bot, _ = await make_scenario(
        [
            ("ask", "question", {"text": "Your name?", "variable": "name"}),
            ("bye", "message", {"text": "Bye {{ name }}.", "end": True}),
        ],
        bot_type="completion",
    )
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

    async with ws_client({"chatToken": token}) as ws:
        turns = []
        for text in ("hi", "Ann"):
            variables = {"input": {"conversationId": conversation_id, "text": text}}
            turns.append([r.data["chat"] async for r in ws.subscribe(CHAT_UPDATES, variables)])

    updates = [e for e in turns[1] if e["__typename"] == "ConversationUpdated"]
    assert updates[-1]["conversation"] == {
        "id": conversation_id,
        "variables": {"name": "Ann"},
        "isCompleted": True,
    }
    replies = [e["message"]["content"] for e in turns[1] if e["__typename"] == "MessageCompleted"]
    assert replies == ["Ann", "Bye Ann."]  # the visitor's message, then the bot's
    assert await Message.objects.filter(content="Bye Ann.", status="complete").aexists()
