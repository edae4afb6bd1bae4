"""Rate limits through the real ASGI app: one event loop, as under daphne."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import GlobalID, to_base64

from conversations.models import ACTIVE_STATUSES, Message
from tests.asgi_client import SEND, START, gql_data, gql_http, start_conversation
from tests.factories import BotFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = """
mutation($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on OperationInfo { messages { code message kind } }
  }
}
"""


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


@pytest.fixture(autouse=True)
def limits_on(settings):
    """Limits on, counting from zero (the Redis store outlives a test)."""
    settings.RATE_LIMITS_ENABLED = True
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter("LIMITS*"):
            client.delete(key)
        client.close()


async def _reply_finished() -> None:
    for _ in range(1000):
        if not await Message.objects.filter(status__in=ACTIVE_STATUSES).aexists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the reply never finished")


async def test_conversation_starts_per_ip_are_limited_with_retry_after(settings):
    settings.RATE_LIMIT_CONVERSATION_START = "2/minute"
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    await start_conversation(bot_id)
    await start_conversation(bot_id)
    _, body = await gql_http(START, {"input": {"botId": bot_id}})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    assert "retry in" in error["message"]


async def test_messages_per_conversation_are_limited(settings):
    settings.RATE_LIMIT_MESSAGES_PER_CONVERSATION = "1/minute"
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    conversation_id, token = await start_conversation(bot_id)
    headers = {"X-Chat-Token": token}
    variables = {"input": {"conversationId": conversation_id, "text": "hi"}}
    await gql_data(SEND, variables, headers)
    await _reply_finished()  # else the next message is refused as busy, before the limit
    _, body = await gql_http(SEND, variables, headers)
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


STOP = """
mutation($input: StopGenerationInput!) {
  stopGeneration(input: $input) { __typename ... on Message { status } }
}
"""


async def test_messages_refused_as_busy_do_not_count_against_the_conversation_limit(settings):
    # given a limit of 2 messages and a reply that takes seconds to generate
    settings.RATE_LIMIT_MESSAGES_PER_CONVERSATION = "2/minute"
    settings.OFFLINE_TOKEN_DELAY = 0.2
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    conversation_id, token = await start_conversation(bot_id)
    headers = {"X-Chat-Token": token}
    variables = {"input": {"conversationId": conversation_id, "text": "hi"}}
    first = await gql_data(SEND, variables, headers)

    # when three more messages arrive while the reply is still generating
    codes = []
    for _ in range(3):
        _, body = await gql_http(SEND, variables, headers)
        codes.append(body["errors"][0]["extensions"]["code"])
    reply_id = first["sendMessage"]["reply"]["id"]
    stopped = await gql_data(STOP, {"input": {"messageId": reply_id}}, headers)

    # then they are refused as busy, and the next message is still within the limit
    assert codes == ["BUSY", "BUSY", "BUSY"]
    assert stopped["stopGeneration"] == {"__typename": "Message", "status": "STOPPED"}
    second = await gql_data(SEND, variables, headers)
    await gql_data(STOP, {"input": {"messageId": second["sendMessage"]["reply"]["id"]}}, headers)
    _, body = await gql_http(SEND, variables, headers)
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_messages_per_ip_are_limited_across_conversations(settings):
    settings.RATE_LIMIT_MESSAGES_PER_IP = "1/minute"
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    first = await start_conversation(bot_id)
    second = await start_conversation(bot_id)
    await gql_data(
        SEND, {"input": {"conversationId": first[0], "text": "a"}}, {"X-Chat-Token": first[1]}
    )
    _, body = await gql_http(
        SEND, {"input": {"conversationId": second[0], "text": "b"}}, {"X-Chat-Token": second[1]}
    )
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


RATE = """
mutation($input: RateMessageInput!) { rateMessage(input: $input) { message { id } } }
"""


async def test_ratings_per_conversation_are_limited(settings):
    settings.RATE_LIMIT_FEEDBACK_PER_CONVERSATION = "2/minute"
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    conversation_id, token = await start_conversation(bot_id)
    reply = await Message.objects.acreate(
        conversation_id=GlobalID.from_id(conversation_id).node_id, role="assistant", content="A"
    )
    rate = {"input": {"messageId": to_base64("Message", reply.pk), "rating": "UP"}}
    headers = {"X-Chat-Token": token}

    await gql_data(RATE, rate, headers)
    await gql_data(RATE, {"input": {**rate["input"], "rating": None}}, headers)  # revoking counts
    _, body = await gql_http(RATE, rate, headers)

    [error] = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= error["extensions"]["retryAfter"] <= 60


async def test_login_attempts_are_limited(settings):
    settings.RATE_LIMIT_LOGIN = "2/minute"
    await sync_to_async(UserFactory)(username="ada")
    wrong = {"input": {"username": "ada", "password": "nope"}}
    for _ in range(2):
        data = await gql_data(LOGIN, wrong)
        assert data["login"]["messages"][0]["code"] == "invalid_credentials"
    data = await gql_data(LOGIN, wrong)
    [message] = data["login"]["messages"]
    assert message["code"] == "rate_limited" and "retry in" in message["message"]


async def test_limits_can_be_disabled(settings):
    # given the limits are switched off (and a limit that would otherwise trip)
    settings.RATE_LIMITS_ENABLED = False
    settings.RATE_LIMIT_CONVERSATION_START = "1/minute"
    bot_id = to_base64("Bot", (await sync_to_async(BotFactory)()).pk)
    for _ in range(3):
        await start_conversation(bot_id)
