"""Handoff beyond the happy path: the unclaimed timeout run by the real task worker, a
scenario's `handoff` step, the operator's live inbox, operators added by the owner, and
the per-bot metrics (GraphQL and Prometheus)."""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from strawberry.relay import to_base64

from bots.models import BotOperator
from conversations import handoff
from conversations.models import Conversation, Handoff, HandoffOutcome
from core.metrics import REGISTRY
from tests.asgi_client import gql_data, ws_client
from tests.conversations.handoff_helpers import (
    CLAIM,
    HAND_BACK,
    REQUEST,
    SEND,
    Stream,
    bearer,
    codes,
    completed,
    handoff_bot,
    handoff_to,
    mutate,
    visitor,
)
from tests.conversations.scenario_helpers import Chat, make_scenario
from tests.factories import UserFactory
from tests.tasks_worker import drain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


def _pk(global_id: str) -> int:
    from strawberry.relay import GlobalID

    return int(GlobalID.from_id(global_id).node_id)


def _due_now(conversation_pk: int) -> None:
    """Make the handoff's timeout (and its queued task) due, as if the time had passed."""
    past = timezone.now() - timezone.timedelta(seconds=1)
    Handoff.objects.filter(conversation_id=conversation_pk).update(timeout_at=past)
    DBTaskResult.objects.filter(task_path=handoff.handoff_timeout.module_path).update(
        run_after=past
    )


def _drain() -> None:
    """The real worker loop, in a thread of its own (like a worker process)."""
    try:
        drain()
    finally:
        connections.close_all()  # this thread's connection, before the test DB is dropped


def _metric(name: str, bot_id: int) -> float:
    return REGISTRY.get_sample_value(name, {"bot": str(bot_id)}) or 0.0


async def test_an_unclaimed_handoff_times_out_on_the_worker_and_the_bot_carries_on():
    bot, owner, _ = await handoff_bot(handoff_timeout=1)
    timeouts_before = _metric("botstream_handoff_timeouts_total", bot.pk)
    conversation_id, token = await visitor(bot)
    ids = {"conversationId": conversation_id}
    chat = {"X-Chat-Token": token}

    async with Stream(conversation_id, {"chatToken": token}) as stream:
        await mutate(REQUEST, ids, chat)
        await stream.until(handoff_to("WAITING"))
        queued = DBTaskResult.objects.filter(task_path=handoff.handoff_timeout.module_path)
        assert await queued.acount() == 1

        await sync_to_async(_due_now)(_pk(conversation_id))
        await sync_to_async(_drain, thread_sensitive=False)()

        # the visitor's stream shows it (the worker may share no channel layer with it)
        back = (await stream.until(handoff_to("BOT")))[-1]
        assert "No operator is available" in back["message"]["content"]
        assert back["conversation"]["mode"] == "BOT"

        # the bot answers again
        assert (await mutate(SEND, {**ids, "text": "ok"}, chat))["reply"] is not None
        await stream.until(completed("ASSISTANT"))

    record = await Handoff.objects.aget(conversation_id=_pk(conversation_id))
    assert record.outcome == HandoffOutcome.TIMED_OUT and record.claimed_at is None
    assert _metric("botstream_handoff_timeouts_total", bot.pk) == timeouts_before + 1

    stats = await _stats(bot, owner)
    assert stats == {
        "handedOff": 1,
        "claimed": 0,
        "timedOut": 1,
        "waiting": 0,
        "averageWait": None,
    }


async def test_a_claimed_handoff_does_not_time_out():
    bot, _, operator = await handoff_bot(handoff_timeout=1)
    conversation_id, token = await visitor(bot)
    ids = {"conversationId": conversation_id}
    await mutate(REQUEST, ids, {"X-Chat-Token": token})
    await mutate(CLAIM, ids, operator)

    await sync_to_async(_due_now)(_pk(conversation_id))
    await sync_to_async(_drain, thread_sensitive=False)()

    conversation = await Conversation.objects.aget(pk=_pk(conversation_id))
    assert conversation.mode == "human"
    assert (await Handoff.objects.aget(conversation_id=conversation.pk)).outcome == ""


STATS = """
query($id: ID!) { bot(id: $id) {
  handoffStats { handedOff claimed timedOut waiting averageWait } } }
"""


async def _stats(bot, headers) -> dict | None:
    data = await gql_data(STATS, {"id": to_base64("Bot", bot.pk)}, headers)
    return data["bot"] and data["bot"]["handoffStats"]


async def test_handoff_stats_and_metrics_per_bot():
    bot, owner, operator = await handoff_bot()
    handed_before = _metric("botstream_handoffs_total", bot.pk)
    for _ in range(2):
        conversation_id, token = await visitor(bot)
        await mutate(REQUEST, {"conversationId": conversation_id}, {"X-Chat-Token": token})
    await mutate(CLAIM, {"conversationId": conversation_id}, operator)

    stats = await _stats(bot, owner)
    assert stats["handedOff"] == 2 and stats["claimed"] == 1 and stats["waiting"] == 1
    assert stats["averageWait"] >= 0
    assert _metric("botstream_handoffs_total", bot.pk) == handed_before + 2
    assert (
        REGISTRY.get_sample_value("botstream_handoff_wait_seconds_count", {"bot": str(bot.pk)}) >= 1
    )
    # an operator is not the owner: the bot (and its stats) are not theirs to read
    assert await _stats(bot, operator) is None


async def test_a_handoff_step_waits_for_a_human_and_the_scenario_goes_on_after_it():
    bot, _ = await make_scenario(
        [
            ("hello", "message", {"text": "Hello!"}),
            ("human", "handoff", {"text": "Connecting you to a person."}),
            ("name", "question", {"text": "What is your name?", "variable": "name"}),
            ("bye", "message", {"text": "Bye {{ name }}"}),
        ]
    )
    operator = await sync_to_async(UserFactory)()
    await BotOperator.objects.acreate(bot=bot, user=operator, display_name="Bo")
    headers = await sync_to_async(bearer)(operator)
    chat = await Chat.start(bot)
    ids = {"conversationId": chat.conversation_id}

    assert await chat.texts("hi") == ["Hello!", "Connecting you to a person."]
    conversation = await Conversation.objects.aget(pk=_pk(chat.conversation_id))
    assert conversation.mode == "waiting"
    record = await Handoff.objects.aget(conversation=conversation)
    assert record.source == "step"
    # the bot is quiet while waiting and while the human answers
    assert await chat.texts("hello?") == []
    await mutate(CLAIM, ids, headers)
    assert await chat.texts("I need help") == []
    await mutate(HAND_BACK, ids, headers)
    # the scenario resumes after the handoff step
    assert await chat.texts("thanks") == ["What is your name?"]
    assert await chat.texts("Ada") == ["Bye Ada"]


INBOX = """
subscription { operatorInbox { entries {
  mode botName assignedToMe waitingSince lastVisitorMessage conversation { id mode }
} } }
"""


async def _next_inbox(ws) -> list[dict]:
    message = await ws.receive_json_from(timeout=30)
    assert message["type"] == "next", message
    return message["payload"]["data"]["operatorInbox"]["entries"]


async def test_the_operator_inbox_is_live():
    bot, _, operator = await handoff_bot()
    _, _, stranger = await handoff_bot()
    conversation_id, token = await visitor(bot)
    ids = {"conversationId": conversation_id}
    chat = {"X-Chat-Token": token}
    async with ws_client(operator) as ws:
        await ws.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": INBOX}})
        assert await _next_inbox(ws) == []

        await mutate(REQUEST, ids, chat)
        [entry] = await _next_inbox(ws)
        assert entry["mode"] == "WAITING" and entry["botName"] == bot.name
        assert entry["conversation"]["id"] == conversation_id
        assert entry["assignedToMe"] is False and entry["waitingSince"]

        await mutate(SEND, {**ids, "text": "please hurry"}, chat)
        [entry] = await _next_inbox(ws)
        assert entry["lastVisitorMessage"] == "please hurry"

        # another bot's operator does not see it
        async with ws_client(stranger) as other:
            await other.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": INBOX}})
            assert await _next_inbox(other) == []

        await mutate(CLAIM, ids, operator)
        [entry] = await _next_inbox(ws)
        assert entry["mode"] == "HUMAN" and entry["assignedToMe"] is True

        await mutate(HAND_BACK, ids, operator)
        assert await _next_inbox(ws) == []


async def test_the_inbox_needs_a_login():
    async with ws_client({}) as ws:
        await ws.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": INBOX}})
        message = await ws.receive_json_from(timeout=30)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


ADD = """
mutation($input: AddBotOperatorInput!) { addBotOperator(input: $input) {
  __typename ... on BotOperator { id displayName username }
  ... on OperationInfo { messages { code field } } } }
"""
REMOVE = """
mutation($input: RemoveBotOperatorInput!) { removeBotOperator(input: $input) {
  __typename ... on OperationInfo { messages { code } } } }
"""
CONVERSATIONS = "{ conversations { edges { node { id mode } } } }"


async def test_the_owner_adds_and_removes_operators():
    bot, owner, _ = await handoff_bot()
    helper = await sync_to_async(UserFactory)(username="helper")
    helper_headers = await sync_to_async(bearer)(helper)
    bot_id = to_base64("Bot", bot.pk)
    handed, handed_token = await visitor(bot)
    await visitor(bot)  # a conversation the bot answers alone

    # only the owner may add, and only existing users
    add = {"botId": bot_id, "username": "helper", "displayName": "Helen"}
    assert await codes(ADD, add, helper_headers) == ["not_found"]
    assert await codes(ADD, {**add, "username": "nobody"}, owner) == ["not_found"]
    assert await codes(ADD, {**add, "displayName": ""}, owner) == ["blank"]
    added = await mutate(ADD, add, owner)
    assert added["displayName"] == "Helen" and added["username"] == "helper"
    data = await gql_data(
        "query($id: ID!) { bot(id: $id) { operators { displayName username } } }",
        {"id": bot_id},
        owner,
    )
    assert {"displayName": "Helen", "username": "helper"} in data["bot"]["operators"]

    # an operator sees the handed-off conversations of the bot, not the others
    await mutate(REQUEST, {"conversationId": handed}, {"X-Chat-Token": handed_token})
    seen = await gql_data(CONVERSATIONS, None, helper_headers)
    assert [e["node"]["id"] for e in seen["conversations"]["edges"]] == [handed]

    # removed: nothing to act on any more
    assert (await mutate(REMOVE, {"id": added["id"]}, owner))["__typename"] == "BotOperator"
    assert await codes(CLAIM, {"conversationId": handed}, helper_headers) == ["not_found"]


async def test_owners_list_conversations_by_mode():
    bot, owner, _ = await handoff_bot()
    waiting, token = await visitor(bot)
    await visitor(bot)
    await mutate(REQUEST, {"conversationId": waiting}, {"X-Chat-Token": token})
    query = """query($mode: ConversationMode!) {
      conversations(filters: {mode: $mode}) { edges { node { id mode } } } }"""
    found = await gql_data(query, {"mode": "WAITING"}, owner)
    assert [e["node"] for e in found["conversations"]["edges"]] == [
        {"id": waiting, "mode": "WAITING"}
    ]
    found = await gql_data(query, {"mode": "BOT"}, owner)
    assert len(found["conversations"]["edges"]) == 1


async def test_a_handoff_of_a_conversation_closed_meanwhile_ends_quietly():
    bot, _, _ = await handoff_bot()
    conversation_id, token = await visitor(bot)
    await mutate(REQUEST, {"conversationId": conversation_id}, {"X-Chat-Token": token})
    pk = _pk(conversation_id)
    await Conversation.objects.filter(pk=pk).aupdate(closed_at=timezone.now())
    await sync_to_async(_due_now)(pk)
    await sync_to_async(_drain, thread_sensitive=False)()
    record = await Handoff.objects.aget(conversation_id=pk)
    assert record.outcome == HandoffOutcome.CLOSED and record.ended_at is not None
    assert (await Conversation.objects.aget(pk=pk)).mode == "waiting"  # nobody to tell
