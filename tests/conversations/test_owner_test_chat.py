"""What the console's test chat relies on, for every client: an owner may run an inactive
bot's inactive scenario (visitors may not), chat with it over a websocket with its chat
token, and see the variables collected so far in the event stream (ConversationUpdated)."""

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from accounts.services import api_token_create
from bots.models import Scenario, Step
from tests.asgi_client import START, gql_http, ws_client
from tests.chat_events import EVENT_FIELDS
from tests.factories import BotFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = f"""
subscription($input: SendMessageInput!) {{
  chat(input: $input) {{
    {EVENT_FIELDS}
    ... on ConversationUpdated {{ conversation {{ variables isCompleted }} }}
  }}
}}
"""


@pytest.fixture
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001


@sync_to_async
def _draft():
    """An inactive bot whose only scenario, inactive, asks one question."""
    owner = UserFactory(username="builder")
    bot = BotFactory(owner=owner, is_active=False)
    scenario = Scenario.objects.create(bot=bot, name="Draft", is_active=False)
    ask = Step.objects.create(
        scenario=scenario,
        name="ask",
        step_type="question",
        content={"text": "Your name?", "variable": "name"},
        order=0,
    )
    Step.objects.create(
        scenario=scenario,
        name="thanks",
        step_type="message",
        content={"text": "Thanks, {{ name }}!", "end": True},
        order=1,
    )
    scenario.initial_step = ask
    scenario.save()
    _, secret = api_token_create(user=owner, name="console")
    return to_base64("Bot", bot.pk), to_base64("Scenario", scenario.pk), secret


async def _chat(token: str, conversation_id: str, text: str) -> list[dict]:
    async with ws_client({"chatToken": token}) as ws:
        variables = {"input": {"conversationId": conversation_id, "text": text}}
        return [r.data["chat"] async for r in ws.subscribe(CHAT, variables)]


async def test_visitors_cannot_start_an_inactive_bot_or_scenario(offline):
    bot_id, scenario_id, _ = await _draft()

    for extra in ({}, {"scenarioId": scenario_id}):
        _, body = await gql_http(START, {"input": {"botId": bot_id, **extra}})
        assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_owner_runs_the_inactive_scenario_and_sees_its_variables(offline):
    # given an owner's draft, started with the owner's credentials
    bot_id, scenario_id, secret = await _draft()
    status, body = await gql_http(
        START,
        {"input": {"botId": bot_id, "scenarioId": scenario_id}},
        {"Authorization": f"Bearer {secret}"},
    )
    assert status == 200 and not body.get("errors"), body
    started = body["data"]["startConversation"]
    conversation_id, token = started["conversation"]["id"], started["chatToken"]

    # when the test chat talks to it with the chat token
    first = await _chat(token, conversation_id, "hi")
    second = await _chat(token, conversation_id, "Ada")

    # then the scenario runs, and the variables arrive in the event stream
    asked = [e["message"]["content"] for e in first if e["__typename"] == "MessageCompleted"]
    assert "Your name?" in asked
    updates = [e["conversation"] for e in second if e["__typename"] == "ConversationUpdated"]
    assert updates[-1] == {"variables": {"name": "Ada"}, "isCompleted": True}
    said = [e["message"]["content"] for e in second if e["__typename"] == "MessageCompleted"]
    assert "Thanks, Ada!" in said
