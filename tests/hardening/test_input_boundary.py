"""What no database column can store (NUL, lone surrogates, NaN/Infinity) is refused
before execution with BAD_USER_INPUT, a `reason` and the `field` path, over HTTP and
websockets, the same on SQLite and Postgres (schema/input_checks.py)."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from strawberry.channels.testing import GraphQLWebsocketCommunicator
from strawberry.relay import to_base64

from bots.models import Bot
from conversations.models import Conversation
from conversations.services import conversation_start
from server.asgi import application
from tests.factories import BotFactory

START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken }
}
"""
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { userMessage { id } } }
"""
LOGIN = "mutation($input: LoginInput!) { login(input: $input) { __typename } }"
CREATE_BOT = "mutation($input: BotInput!) { createBot(input: $input) { __typename } }"
CREATE_TOKEN = (
    "mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename } }"
)
SEARCH = "query($s: String!) { bots(filters: {search: $s}) { totalCount } }"
CREATE_STEP = "mutation($input: StepInput!) { createStep(input: $input) { __typename } }"


def refusal(body: dict) -> dict:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return error


@pytest.fixture
def world(bot):
    return {"bot": to_base64("Bot", bot.pk)}


@pytest.mark.parametrize(
    ("value", "reason"), [("a\x00b", "nul_character"), ("a\ud800b", "lone_surrogate")]
)
def test_visitor_strings_are_refused(anon_gql, world, value, reason):
    body = anon_gql.post(START, {"input": {"botId": world["bot"], "userSession": value}}).json()
    error = refusal(body)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": reason,
        "field": "input.userSession",
    }
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("value", ["a\x00b", "\udfff"])
def test_message_text_is_refused(anon_gql, bot, value):
    conversation, token = conversation_start(user=AnonymousUser(), bot_id=bot.pk, user_session="")
    variables = {
        "input": {"conversationId": to_base64("Conversation", conversation.pk), "text": value}
    }
    error = refusal(anon_gql.post(SEND, variables, headers={"X-Chat-Token": token}).json())
    assert error["extensions"]["field"] == "input.text"
    assert not conversation.messages.exists()


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (LOGIN, {"input": {"username": "owner", "password": "pw\ud800"}}, "input.password"),
        (LOGIN, {"input": {"username": "own\x00er", "password": "pw"}}, "input.username"),
        (CREATE_BOT, {"input": {"name": "Bot\x00"}}, "input.name"),
        (CREATE_TOKEN, {"input": {"name": "\ud83d"}}, "input.name"),
        (SEARCH, {"s": "sup\x00port"}, "s"),
    ],
)
def test_owner_strings_are_refused(owner_gql, query, variables, field):
    error = refusal(owner_gql.post(query, variables).json())
    assert error["extensions"]["field"] == field
    assert not Bot.objects.filter(name__startswith="Bot").exists()


@pytest.mark.parametrize(
    ("content", "field", "reason"),
    [
        ({"text": "hi\x00"}, "input.content.text", "nul_character"),
        ({"te\x00xt": "hi"}, "input.content", "nul_character"),
        ({"branches": [{"value": "\ud800"}]}, "input.content.branches.0.value", "lone_surrogate"),
    ],
)
def test_step_content_is_refused(owner_gql, bot, content, field, reason):
    scenario = bot.scenarios.create(name="Main")
    step = {
        "scenarioId": to_base64("Scenario", scenario.pk),
        "name": "s",
        "stepType": "MESSAGE",
        "content": content,
    }
    error = refusal(owner_gql.post(CREATE_STEP, {"input": step}).json())
    assert error["extensions"]["field"] == field
    assert error["extensions"]["reason"] == reason
    assert not scenario.steps.exists()


def test_nul_in_a_document_literal_is_refused(anon_gql, world):
    literal = f'{{botId: "{world["bot"]}", userSession: "a\\u0000b"}}'
    query = f"mutation {{ startConversation(input: {literal}) {{ chatToken }} }}"
    error = refusal(anon_gql.post(query).json())
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "nul_character"}
    assert not Conversation.objects.exists()


def test_clean_input_still_runs(anon_gql, world):
    body = anon_gql.post(START, {"input": {"botId": world["bot"], "userSession": "tab 😀"}})
    assert body.json()["data"]["startConversation"]["chatToken"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "nul_character"),
        ("\ud800", "lone_surrogate"),
        (float("nan"), "non_finite_number"),
        (float("inf"), "non_finite_number"),
    ],
)
async def test_websocket_payloads_are_refused(value, reason):
    bot = await sync_to_async(BotFactory)(name="Socket bot")
    # json.dumps writes NaN, Infinity, \u0000 and lone \ud800 escapes as given.
    variables = {"input": {"botId": to_base64("Bot", bot.pk), "userSession": value}}
    frame = {"id": "1", "type": "subscribe", "payload": {"query": START, "variables": variables}}
    client = GraphQLWebsocketCommunicator(application, "/graphql")
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init"})
        await client.receive_json_from(timeout=5)
        await client.send_json_to(frame)
        message = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    [error] = message["payload"]
    assert message["type"] == "error"
    assert error["extensions"]["reason"] == reason
    assert error["extensions"]["field"] == "input.userSession"
    assert not await Conversation.objects.aexists()
