"""Session lifecycle through the real interfaces: expiry checked on use, the sweep run by
the real task worker, ConversationExpired on live and replayed streams, resetConversation."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from strawberry.relay import from_base64, to_base64

from accounts.services import api_token_create
from conversations import turns
from conversations.models import Conversation, Message, MessageRole, MessageStatus
from tests.asgi_client import SEND, close_after_init, gql_data, gql_http, start_conversation
from tests.chat_events import CONVERSATION_EVENTS
from tests.conversations.test_delete import Stream, _until
from tests.factories import BotFactory, ScenarioFactory, StepFactory, UserFactory
from tests.tasks_worker import drain

pytestmark = pytest.mark.django_db(transaction=True)

RESET = """
mutation($input: ResetConversationInput!) {
  resetConversation(input: $input) {
    chatToken
    conversation { id status userSession scenarioName expiresAt closedAt bot { id } }
  }
}
"""
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id status expiresAt closedAt } }"
STOP = """
mutation($input: StopGenerationInput!) {
  stopGeneration(input: $input) {
    __typename
    ... on OperationInfo { messages { code message } }
  }
}
"""


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001


async def _start(**bot_fields) -> tuple[str, str, int]:
    bot = await sync_to_async(BotFactory)(**bot_fields)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    return conversation_id, token, int(from_base64(conversation_id)[1])


async def _idle_past_timeout(pk: int) -> None:
    """As if the bot's inactivity timeout had passed since the last activity."""
    past = timezone.now() - timedelta(seconds=5)
    await Conversation.objects.filter(pk=pk).aupdate(expires_at=past)


def _code(body: dict) -> str:
    return body["errors"][0]["extensions"]["code"]


async def _sweep() -> None:
    """The real worker runs the expiry sweep (a thread of its own, like a worker process)."""
    await sync_to_async(_sweep_now, thread_sensitive=False)()


def _sweep_now() -> None:
    from conversations.tasks import expire_idle_conversations  # noqa: F401  (registered)
    from core import periodic

    periodic.run_periodic.enqueue("expire-idle-conversations")
    drain()


async def test_a_conversation_idle_past_its_timeout_refuses_messages_before_any_sweep():
    conversation_id, token, pk = await _start(inactivity_timeout=600)
    assert (await Conversation.objects.aget(pk=pk)).expires_at > timezone.now()
    await _idle_past_timeout(pk)

    # sendMessage: refused with the code, and nothing stored
    _, body = await gql_http(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )
    assert _code(body) == "CONVERSATION_EXPIRED"
    assert "resetConversation" in body["errors"][0]["message"]
    assert not await Message.objects.filter(conversation_id=pk).aexists()

    # the token reads nothing either
    _, body = await gql_http(CONVERSATION, {"id": conversation_id}, {"X-Chat-Token": token})
    assert _code(body) == "CONVERSATION_EXPIRED"

    # and opens no socket: connection_init is closed with 4410
    close = await close_after_init({"chatToken": token})
    assert close["code"] == 4410
    assert close.get("reason", "").startswith("CONVERSATION_EXPIRED")


async def test_stop_generation_is_refused_in_an_expired_conversation():
    _, token, pk = await _start()
    conversation = await Conversation.objects.aget(pk=pk)
    message = await Message.objects.acreate(
        conversation=conversation, role=MessageRole.ASSISTANT, content="Hello", status="complete"
    )
    await _idle_past_timeout(pk)
    _, body = await gql_http(
        STOP, {"input": {"messageId": to_base64("Message", message.pk)}}, {"X-Chat-Token": token}
    )
    assert body["data"]["stopGeneration"]["messages"][0]["code"] == "conversation_expired"


async def test_a_timeout_of_zero_never_expires():
    conversation_id, token, pk = await _start(inactivity_timeout=0)
    assert (await Conversation.objects.aget(pk=pk)).expires_at is None
    await _sweep()
    data = await gql_data(CONVERSATION, {"id": conversation_id}, {"X-Chat-Token": token})
    assert data["conversation"]["status"] == "ACTIVE"
    assert data["conversation"]["expiresAt"] is None


async def test_the_sweep_closes_idle_conversations_and_ends_their_live_streams():
    # given a visitor following a conversation (one exchange) gone idle, and another
    # conversation still within its timeout
    conversation_id, token, pk = await _start(inactivity_timeout=3600)
    _, _, other_pk = await _start(inactivity_timeout=3600)
    stream = await Stream(token, CONVERSATION_EVENTS, {"id": conversation_id}).start()
    try:
        await gql_data(
            SEND,
            {"input": {"conversationId": conversation_id, "text": "hi"}},
            {"X-Chat-Token": token},
        )
        await _until(lambda: stream.has("MessageCompleted"), "the reply")
        await _until_turn_over()
        await _idle_past_timeout(pk)
        # when the worker runs the sweep
        await _sweep()
        # then the subscription receives ConversationExpired and completes
        async with asyncio.timeout(10):
            await stream.task
    finally:
        await stream.close()
    assert stream.completed
    last = stream.events[-1]
    assert last["__typename"] == "ConversationExpired"
    assert last["conversation"]["id"] == conversation_id
    assert last["conversation"]["status"] == "EXPIRED"
    assert last["conversation"]["closedAt"] is not None
    assert (await Conversation.objects.aget(pk=pk)).closed_at is not None
    assert (await Conversation.objects.aget(pk=other_pk)).closed_at is None


async def test_a_quiet_stream_ends_by_itself_at_expiry_without_the_sweep():
    conversation_id, token, pk = await _start(inactivity_timeout=1)
    stream = await Stream(token, CONVERSATION_EVENTS, {"id": conversation_id}).start()
    try:
        async with asyncio.timeout(15):
            await stream.task
    finally:
        await stream.close()
    assert [e["__typename"] for e in stream.events] == ["ConversationExpired"]
    assert stream.events[0]["conversation"]["status"] == "EXPIRED"
    assert (await Conversation.objects.aget(pk=pk)).closed_at is None  # no sweep ran


async def test_replay_of_a_closed_conversation_ends_with_conversation_expired(owner):
    # given a conversation with one exchange, closed by the sweep
    bot = await sync_to_async(BotFactory)(owner=owner)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    pk = int(from_base64(conversation_id)[1])
    sent = await gql_data(
        SEND, {"input": {"conversationId": conversation_id, "text": "hi"}}, {"X-Chat-Token": token}
    )
    reply_pk = int(from_base64(sent["sendMessage"]["reply"]["id"])[1])
    await _until_terminal(reply_pk)
    await _until_turn_over()
    await _idle_past_timeout(pk)
    await _sweep()

    # when its owner subscribes (a visitor's token no longer opens a socket)
    _, secret = await sync_to_async(api_token_create)(user=owner, name="tests")
    stream = Stream("", CONVERSATION_EVENTS, {"id": conversation_id})
    stream.ws.connection_params = {"authToken": secret}
    await stream.start()
    try:
        async with asyncio.timeout(10):
            await stream.task
    finally:
        await stream.close()
    # then the history is replayed, then ConversationExpired, then the stream completes
    kinds = [e["__typename"] for e in stream.events]
    assert kinds[-1] == "ConversationExpired"
    assert "MessageCompleted" in kinds
    assert stream.completed


async def _until_turn_over() -> None:
    """The turn ends after its reply (it then restarts the timeout: wait for that write)."""
    await _until(lambda: turns.active_count() == 0, "the turn to end")


async def _until_terminal(message_pk: int) -> None:
    for _ in range(1000):
        message = await Message.objects.aget(pk=message_pk)
        if message.is_terminal:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the reply never finished")


async def test_a_streaming_reply_keeps_its_conversation_open(settings):
    # given a reply streaming slowly, past the conversation's expiry time
    settings.OFFLINE_TOKEN_DELAY = 0.05
    conversation_id, token, pk = await _start(inactivity_timeout=3600)
    sent = await gql_data(
        SEND,
        {"input": {"conversationId": conversation_id, "text": "tell me a long story"}},
        {"X-Chat-Token": token},
    )
    reply_pk = int(from_base64(sent["sendMessage"]["reply"]["id"])[1])
    await _idle_past_timeout(pk)
    assert await Message.objects.filter(pk=reply_pk, status__in=["pending", "streaming"]).aexists()

    # when the sweep runs mid-reply
    await _sweep()

    # then the conversation stays open, the reply completes, and the timeout restarts
    assert (await Conversation.objects.aget(pk=pk)).closed_at is None
    await _until_terminal(reply_pk)
    assert (await Message.objects.aget(pk=reply_pk)).status == MessageStatus.COMPLETE
    await _until_expiry_moved(pk)
    data = await gql_data(CONVERSATION, {"id": conversation_id}, {"X-Chat-Token": token})
    assert data["conversation"]["status"] == "ACTIVE"


async def _until_expiry_moved(pk: int) -> None:
    for _ in range(500):
        conversation = await Conversation.objects.aget(pk=pk)
        if conversation.expires_at > timezone.now():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the end of the turn did not restart the inactivity timeout")


async def test_reset_with_an_expired_token_gives_a_fresh_conversation():
    # given an expired conversation on a scenario, with a user session label
    owner = await sync_to_async(UserFactory)()
    bot = await sync_to_async(BotFactory)(owner=owner)
    scenario = await sync_to_async(ScenarioFactory)(bot=bot, name="Onboarding", is_active=True)
    await sync_to_async(StepFactory)(scenario=scenario)
    old_id, old_token = await start_conversation(
        to_base64("Bot", bot.pk), scenarioId=to_base64("Scenario", scenario.pk), userSession="v-1"
    )
    old_pk = int(from_base64(old_id)[1])
    await _idle_past_timeout(old_pk)

    # when the visitor resets it with the expired token
    data = await gql_data(RESET, {"input": {"conversationId": old_id}}, {"X-Chat-Token": old_token})

    # then a new conversation on the same bot, scenario and session, with a new token
    payload = data["resetConversation"]
    fresh = payload["conversation"]
    assert fresh["id"] != old_id and payload["chatToken"] != old_token
    assert fresh["bot"]["id"] == to_base64("Bot", bot.pk)
    assert (fresh["scenarioName"], fresh["userSession"]) == ("Onboarding", "v-1")
    assert (fresh["status"], fresh["closedAt"]) == ("ACTIVE", None)
    # the new token works, the old one still does not, and the old conversation is closed
    sent = await gql_data(
        SEND,
        {"input": {"conversationId": fresh["id"], "text": "hello again"}},
        {"X-Chat-Token": payload["chatToken"]},
    )
    assert sent["sendMessage"]["userMessage"]["content"] == "hello again"
    _, body = await gql_http(
        SEND, {"input": {"conversationId": old_id, "text": "x"}}, {"X-Chat-Token": old_token}
    )
    assert _code(body) == "CONVERSATION_EXPIRED"
    assert (await Conversation.objects.aget(pk=old_pk)).closed_at is not None
    await _until_terminal(int(from_base64(sent["sendMessage"]["reply"]["id"])[1]))


async def test_reset_of_an_open_conversation_closes_it_and_ends_its_streams():
    conversation_id, token, pk = await _start()
    stream = await Stream(token, CONVERSATION_EVENTS, {"id": conversation_id}).start()
    try:
        data = await gql_data(
            RESET, {"input": {"conversationId": conversation_id}}, {"X-Chat-Token": token}
        )
        async with asyncio.timeout(10):
            await stream.task
    finally:
        await stream.close()
    assert data["resetConversation"]["conversation"]["id"] != conversation_id
    assert stream.events[-1]["__typename"] == "ConversationExpired"
    assert (await Conversation.objects.aget(pk=pk)).closed_at is not None


async def test_reset_needs_the_conversation_token():
    conversation_id, _, _ = await _start()
    _, other_token, _ = await _start()
    _, body = await gql_http(
        RESET, {"input": {"conversationId": conversation_id}}, {"X-Chat-Token": other_token}
    )
    assert _code(body) == "NOT_FOUND"
    _, body = await gql_http(RESET, {"input": {"conversationId": "not-an-id"}})
    assert _code(body) in ("UNAUTHENTICATED", "INVALID_ID")


# --- owners: the timeout setting, and the state of conversations ---------------------

CREATE_BOT = """
mutation($input: BotInput!) {
  createBot(input: $input) {
    ... on Bot { id inactivityTimeout }
    ... on OperationInfo { messages { field code } }
  }
}
"""
CONVERSATIONS = """
query($status: ConversationStatus!) {
  conversations(filters: {status: $status}, ordering: [{expiresAt: ASC}]) {
    totalCount edges { node { id status expiresAt closedAt } }
  }
}
"""


@pytest.mark.parametrize(("value", "code"), [(-1, "min_value"), (30 * 24 * 3600 + 1, "max_value")])
def test_the_inactivity_timeout_is_validated(owner_gql, value, code):
    response = owner_gql.post(CREATE_BOT, {"input": {"name": "B", "inactivityTimeout": value}})
    body = response.json()
    messages = (body.get("data") or {}).get("createBot", {}).get("messages") or []
    codes = [m["code"] for m in messages] + [
        e.get("extensions", {}).get("code") for e in body.get("errors", [])
    ]
    assert set(codes) & set(code.split("|")), body


def test_the_inactivity_timeout_defaults_to_an_hour(owner_gql):
    created = owner_gql.execute(CREATE_BOT, {"input": {"name": "B"}})["createBot"]
    assert created["inactivityTimeout"] == 3600


def test_owners_filter_conversations_by_status(owner, owner_gql):
    bot = BotFactory(owner=owner)
    now = timezone.now()
    idle = Conversation.objects.create(bot=bot, token_digest="a", expires_at=now - timedelta(1))
    closed = Conversation.objects.create(
        bot=bot, token_digest="b", expires_at=now - timedelta(2), closed_at=now
    )
    active = Conversation.objects.create(bot=bot, token_digest="c", expires_at=now + timedelta(1))
    never = Conversation.objects.create(bot=bot, token_digest="d", expires_at=None)

    def ids(status: str) -> list[str]:
        data = owner_gql.execute(CONVERSATIONS, {"status": status})["conversations"]
        assert {e["node"]["status"] for e in data["edges"]} <= {status}
        return [e["node"]["id"] for e in data["edges"]]

    assert ids("EXPIRED") == [to_base64("Conversation", c.pk) for c in (closed, idle)]
    assert set(ids("ACTIVE")) == {to_base64("Conversation", c.pk) for c in (active, never)}
