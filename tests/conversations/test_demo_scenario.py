"""The demo support scenario, driven over the websocket from first message to free chat."""

import pytest
from asgiref.sync import sync_to_async

from bots.demo import demo_load
from bots.models import Bot, Step
from conversations.models import Conversation
from tests.conversations.scenario_helpers import Chat, JsonServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def status_page(settings):
    """The demo's api_call points at a public URL; tests reach a local one instead."""
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0
    server = JsonServer({"status": "all systems operational"})
    settings.API_CALL_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.close()


async def test_support_demo_runs_end_to_end_then_continues_as_free_chat(status_page):
    await sync_to_async(demo_load)()
    bot = await Bot.objects.aget(name="Support assistant")
    await Step.objects.filter(scenario__bot=bot, name="status").aupdate(
        content={
            "method": "GET",
            "url": status_page.url + "/status",
            "select": "status",
            "variable": "status_note",
            "error_target": "status_unknown",
        }
    )
    chat = await Chat.start(bot)

    greeting = await chat.texts("hello")
    assert greeting[0] == "Hi! I'm the Botstream support assistant."
    assert greeting[1].startswith("What do you need help with")

    assert (await chat.texts("2")) == ["Which email should a human use if I can't solve this?"]
    assert (await chat.texts("not an email"))[0].startswith("That doesn't look like an email")

    replies = await chat.say("ada@example.com")
    assert replies[0]["content"] == "Our systems are up. all systems operational"
    assert replies[1]["status"] == "COMPLETE" and replies[1]["content"]  # the llm step
    conversation = await Conversation.objects.aget()
    assert conversation.is_completed
    assert conversation.variables["topic"] == "technical"
    assert conversation.variables["email"] == "ada@example.com"
    assert status_page.paths == ["/status"]

    [free] = await chat.say("Thanks, and how do I reset my password?")
    assert free["status"] == "COMPLETE" and free["content"]
