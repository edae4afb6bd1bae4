"""botStats over HTTP: the owner's or staff's figures, checked input with coded errors,
and a real chat's reply (offline provider, over a websocket) counted with its latency."""

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from strawberry.relay import to_base64

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.asgi_client import gql_http, start_conversation, ws_client
from tests.chat_events import CHAT
from tests.factories import BotFactory, UserFactory

STATS = """
query($input: BotStatsInput!) {
  botStats(input: $input) {
    bot { name }
    from to granularity timeZone
    buckets { start conversations messages visitors tokensIn tokensOut feedbackUp feedbackDown
              firstTokenP50Ms firstTokenP95Ms failures { code count } }
    totals { conversations messages visitors firstTokenP50Ms firstTokenP95Ms
             failures { code count } }
  }
}
"""
DAY1 = datetime(2026, 3, 2, tzinfo=UTC)


def stats_input(bot, **overrides) -> dict:
    return {
        "botId": to_base64("Bot", bot.pk),
        "from": DAY1.isoformat(),
        "to": (DAY1 + timedelta(days=2)).isoformat(),
        "granularity": "DAY",
        **overrides,
    }


@pytest.fixture
def figures(bot):
    conversation = Conversation.objects.create(bot=bot, user_session="v1", token_digest="d1")
    reply = Message.objects.create(
        conversation=conversation,
        role="assistant",
        prompt_tokens=12,
        completion_tokens=4,
        first_token_ms=250,
        status="failed",
        error_code="timeout",
    )
    Conversation.objects.filter(pk=conversation.pk).update(created_at=DAY1 + timedelta(hours=3))
    Message.objects.filter(pk=reply.pk).update(created_at=DAY1 + timedelta(hours=3))
    return bot


@pytest.mark.django_db
def test_the_owner_reads_each_day_and_the_totals(owner_gql, figures):
    data = owner_gql.execute(STATS, {"input": stats_input(figures)})["botStats"]

    assert data["bot"] == {"name": "Support bot"}
    assert (data["granularity"], data["timeZone"]) == ("DAY", "UTC")
    first, second = data["buckets"]
    assert first == {
        "start": "2026-03-02T00:00:00+00:00",
        "conversations": 1,
        "messages": 1,
        "visitors": 1,
        "tokensIn": 12,
        "tokensOut": 4,
        "feedbackUp": 0,
        "feedbackDown": 0,
        "firstTokenP50Ms": 250,
        "firstTokenP95Ms": 250,
        "failures": [{"code": "timeout", "count": 1}],
    }
    assert (second["messages"], second["firstTokenP50Ms"], second["failures"]) == (0, None, [])
    assert data["totals"]["conversations"] == 1
    assert data["totals"]["failures"] == [{"code": "timeout", "count": 1}]


@pytest.mark.django_db
def test_staff_read_any_bot_and_another_owner_is_told_it_does_not_exist(
    staff_gql, other_gql, figures
):
    assert staff_gql.execute(STATS, {"input": stats_input(figures)})["botStats"]["totals"]
    [error] = other_gql.errors(STATS, {"input": stats_input(figures)})
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.django_db
def test_an_anonymous_caller_must_authenticate(anon_gql, figures):
    [error] = anon_gql.errors(STATS, {"input": stats_input(figures)})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"to": DAY1.isoformat()}, "INVALID_RANGE", "to"),
        ({"to": (DAY1 - timedelta(days=3)).isoformat()}, "INVALID_RANGE", "to"),
        (
            {"granularity": "HOUR", "to": (DAY1 + timedelta(days=60)).isoformat()},
            "RANGE_TOO_LONG",
            "to",
        ),
        ({"timeZone": "Nowhere/Land"}, "INVALID_TIME_ZONE", "timeZone"),
        ({"from": "0001-01-01T00:00:00Z", "timeZone": "America/Lima"}, "OUT_OF_RANGE", "from"),
        ({"to": "9999-12-31T23:59:59Z", "timeZone": "Asia/Tokyo"}, "OUT_OF_RANGE", "to"),
        ({"botId": to_base64("Scenario", 1)}, "INVALID_ID", "botId"),
        ({"botId": "not an id"}, "INVALID_ID", None),  # refused by the ID scalar itself
    ],
)
def test_bad_input_is_an_error_with_a_code_and_field(owner_gql, figures, overrides, code, field):
    [error] = owner_gql.errors(STATS, {"input": stats_input(figures, **overrides)})
    assert error["extensions"]["code"] == code
    if field is not None:
        assert error["extensions"]["errors"][0]["field"] == field


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides", [{"granularity": "WEEK"}, {"from": "yesterday"}, {"to": "2026-13-01T00:00:00"}]
)
def test_values_the_schema_cannot_take_are_refused_before_anything_runs(
    owner_gql, figures, overrides
):
    response = owner_gql.post(STATS, {"input": stats_input(figures, **overrides)})
    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"].startswith("Variable '$input' has invalid value")


@pytest.mark.django_db(transaction=True)
async def test_a_streamed_reply_is_counted_with_how_long_its_first_text_took(settings):
    # given: a visitor's chat with the offline engine, through the websocket
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001
    owner = await sync_to_async(UserFactory)()
    bot = await sync_to_async(BotFactory)(owner=owner, is_active=True)
    _, secret = await sync_to_async(api_token_create)(user=owner, name="stats")
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    async with ws_client({"chatToken": token}) as ws:
        variables = {"input": {"conversationId": conversation_id, "text": "Hello"}}
        frames = [r.data["chat"] async for r in ws.subscribe(CHAT, variables)]
    assert frames[-1]["__typename"] == "MessageCompleted"

    # when
    now = timezone.now()
    window = {"from": (now - timedelta(hours=1)).isoformat(), "to": now.isoformat()}
    status, body = await gql_http(
        STATS,
        {"input": stats_input(bot, granularity="HOUR", **window)},
        {"Authorization": f"Bearer {secret}"},
    )

    # then
    assert status == 200, body
    totals = body["data"]["botStats"]["totals"]
    assert (totals["conversations"], totals["messages"]) == (1, 2)
    reply = await Message.objects.aget(conversation__bot=bot, role="assistant")
    assert reply.first_token_ms is not None
    assert totals["firstTokenP50Ms"] == totals["firstTokenP95Ms"] == reply.first_token_ms
