"""Start inputs in a conversation: templates read them like collected answers (that the
LLM gets them as delimited data is in test_engine_attacks.py)."""

import pytest
from asgiref.sync import sync_to_async
from strawberry.relay import to_base64

from bots.models import Bot
from tests.asgi_client import start_conversation
from tests.conversations.scenario_helpers import Chat, make_scenario

pytestmark = pytest.mark.django_db(transaction=True)

INPUTS = [
    {"name": "name", "type": "string", "required": True},
    {"name": "plan", "type": "select", "options": ["free", "pro"], "default": "free"},
]


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


@sync_to_async
def declare(bot, inputs) -> None:
    Bot.objects.filter(pk=bot.pk).update(start_inputs=inputs)


async def test_start_inputs_render_in_templates_like_collected_variables():
    bot, _ = await make_scenario(
        [
            ("greet", "message", {"text": "Hello {{ name }}, you are on {{ plan }}."}),
            ("ask", "question", {"text": "Anything else, {{ name }}?", "variable": "more"}),
        ]
    )
    await declare(bot, INPUTS)
    chat = Chat(*await start_conversation(to_base64("Bot", bot.pk), variables={"name": "Ada"}))

    texts = await chat.texts("hi")

    assert texts == ["Hello Ada, you are on free.", "Anything else, Ada?"]
