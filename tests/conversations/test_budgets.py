"""Token budgets through the real interfaces: replies count their tokens (the provider's
usage, or an estimate), owners see usage against the budget, and a reply over the
monthly budget or the conversation's cap fails with code budget_exceeded and the
owner's text, streamed over a real websocket; refusals are counted in /metrics."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from strawberry.relay import from_base64, to_base64

from accounts.services import api_token_create
from conversations import budgets, turns
from conversations.models import BotTokenUsage, Message
from core import metrics
from tests.asgi_client import SEND, gql_data, start_conversation
from tests.chat_events import CHAT, rebuild
from tests.conftest import use_fake_openai
from tests.conversations.test_delete import Stream, _until
from tests.factories import BotFactory
from tests.fake_openai import fake_openai_server

pytestmark = pytest.mark.django_db(transaction=True)

USAGE = """
query($id: ID!) {
  bot(id: $id) {
    monthlyTokenBudget conversationTokenCap budgetExceededMessage
    tokenUsage { month used budget remaining }
  }
}
"""
UPDATE_BOT = """
mutation($input: BotPartialInput!) {
  updateBot(input: $input) {
    __typename
    ... on Bot { monthlyTokenBudget conversationTokenCap budgetExceededMessage }
    ... on OperationInfo { messages { field code } }
  }
}
"""
OVER = "We're out of answers for this month: email help@example.com."


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


async def _turns_done() -> None:
    while turns._turns:
        await asyncio.gather(*list(turns._turns))


async def _chat(token: str, conversation_id: str, text: str) -> list[dict]:
    """The `chat` subscription's events for one message, over a websocket."""
    stream = await Stream(
        token, CHAT, {"input": {"conversationId": conversation_id, "text": text}}
    ).start()
    try:
        await _until(lambda: stream.completed, "the end of the turn")
    finally:
        await stream.close()
    return stream.events


def _refusals(bot_id: int, scope: str) -> float:
    """Refusals of the bot in `scope`, as /metrics reports them."""
    labels = {"bot": str(bot_id), "scope": scope}
    return metrics.REGISTRY.get_sample_value("botstream_budget_refusals_total", labels) or 0.0


async def _owner_data(bot, query: str, variables: dict) -> dict:
    _, secret = await sync_to_async(api_token_create)(user=bot.owner, name="t")
    return await gql_data(query, variables, {"Authorization": f"Bearer {secret}"})


async def test_a_reply_over_the_monthly_budget_fails_with_the_owners_text():
    # given a bot whose month is used up
    bot = await sync_to_async(BotFactory)(monthly_token_budget=100, budget_exceeded_message=OVER)
    await sync_to_async(budgets.record)(bot_id=bot.pk, tokens=100)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    before = _refusals(bot.pk, "month")

    # when a visitor chats
    events = await _chat(token, conversation_id, "hello")

    # then the reply streams the owner's text and fails with budget_exceeded
    [failed] = [e for e in events if e["__typename"] == "MessageFailed"]
    assert failed["code"] == "budget_exceeded"
    assert failed["message"]["content"] == OVER
    assert failed["message"]["errorCode"] == "budget_exceeded"
    assert failed["error"] == "This bot's monthly token budget is used up."
    messages = rebuild(events)
    assert [m["content"] for m in messages.values() if m["role"] == "ASSISTANT"] == [OVER]
    assert _refusals(bot.pk, "month") == before + 1
    # and nothing more was counted (no provider was called)
    assert await sync_to_async(budgets.used_this_month)(bot.pk) == 100


async def test_replies_count_their_tokens_and_owners_see_usage_against_the_budget():
    bot = await sync_to_async(BotFactory)(monthly_token_budget=100_000)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

    await _chat(token, conversation_id, "hello")
    await _chat(token, conversation_id, "and again")

    replies = [m async for m in Message.objects.filter(role="assistant")]
    spent = sum(m.prompt_tokens + m.completion_tokens for m in replies)
    assert all(m.status == "complete" and m.completion_tokens for m in replies)
    usage = await _owner_data(bot, USAGE, {"id": to_base64("Bot", bot.pk)})
    assert usage["bot"]["tokenUsage"] == {
        "month": timezone.now().date().replace(day=1).isoformat(),
        "used": spent,
        "budget": 100_000,
        "remaining": 100_000 - spent,
    }


async def test_the_conversation_cap_refuses_the_next_reply_of_that_conversation_only():
    bot = await sync_to_async(BotFactory)(conversation_token_cap=1)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    before = _refusals(bot.pk, "conversation")

    first = await _chat(token, conversation_id, "hello")
    second = await _chat(token, conversation_id, "more")
    other_id, other_token = await start_conversation(to_base64("Bot", bot.pk))
    other = await _chat(other_token, other_id, "hello")

    assert [e["__typename"] for e in first if "Message" in e["__typename"]][-1] == (
        "MessageCompleted"
    )
    [refused] = [e for e in second if e["__typename"] == "MessageFailed"]
    assert refused["code"] == "budget_exceeded"
    assert refused["message"]["content"] == budgets.DEFAULT_MESSAGE
    assert refused["error"] == "This conversation has used all the tokens it may use."
    assert any(e["__typename"] == "MessageCompleted" for e in other)
    assert _refusals(bot.pk, "conversation") == before + 1


async def test_a_bot_without_limits_is_never_refused():
    bot = await sync_to_async(BotFactory)()
    await sync_to_async(budgets.record)(bot_id=bot.pk, tokens=10**9)
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

    events = await _chat(token, conversation_id, "hello")

    assert any(e["__typename"] == "MessageCompleted" for e in events)


async def test_a_provider_without_usage_is_counted_by_estimate(settings):
    with fake_openai_server() as fake:
        use_fake_openai(settings, fake)
        # a stream that reports no usage (some OpenAI-compatible servers send none)
        frames = [
            {"choices": [{"index": 0, "delta": {"content": "Twelve chars"}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        fake.queue_raw(
            *(f"data: {json.dumps(f)}\n\n".encode() for f in frames), b"data: [DONE]\n\n"
        )
        bot = await sync_to_async(BotFactory)(system_prompt="x" * 400)
        conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

        sent = await gql_data(
            SEND,
            {"input": {"conversationId": conversation_id, "text": "hi"}},
            {"X-Chat-Token": token},
        )
        await _turns_done()

    reply = await Message.objects.aget(pk=from_base64(sent["sendMessage"]["reply"]["id"])[1])
    assert (reply.status, reply.content) == ("complete", "Twelve chars")
    # about four characters a token: the 400-character system prompt and the rest
    assert reply.prompt_tokens > 100
    assert reply.completion_tokens == len("Twelve chars") // 4 + 1
    counted = await BotTokenUsage.objects.aget(bot_id=bot.pk)
    assert counted.tokens == reply.prompt_tokens + reply.completion_tokens


def test_owners_set_budgets_with_checked_values(owner_gql, bot):
    bot_id = to_base64("Bot", bot.pk)

    changed = owner_gql.execute(
        UPDATE_BOT,
        {
            "input": {
                "id": bot_id,
                "monthlyTokenBudget": 500_000,
                "conversationTokenCap": 20_000,
                "budgetExceededMessage": OVER,
            }
        },
    )["updateBot"]
    negative = owner_gql.execute(UPDATE_BOT, {"input": {"id": bot_id, "monthlyTokenBudget": -1}})
    too_long = owner_gql.execute(
        UPDATE_BOT, {"input": {"id": bot_id, "budgetExceededMessage": "x" * 1001}}
    )["updateBot"]

    assert changed == {
        "__typename": "Bot",
        "monthlyTokenBudget": 500_000,
        "conversationTokenCap": 20_000,
        "budgetExceededMessage": OVER,
    }
    assert negative["updateBot"]["messages"] == [
        {"field": "monthlyTokenBudget", "code": "min_value"}
    ]
    assert too_long["__typename"] == "OperationInfo"
    assert too_long["messages"] == [{"field": "budgetExceededMessage", "code": "max_length"}]
