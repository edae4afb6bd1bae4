"""/metrics after a real streamed chat: generations, first token, tokens by bot, sockets."""

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from strawberry.relay import to_base64

from server.asgi import application
from tests.asgi_client import start_conversation, ws_client
from tests.chat_events import CHAT, rebuild
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape() -> str:
    communicator = HttpCommunicator(application, "GET", "/metrics", headers=[(b"host", b"x")])
    response = await communicator.get_response(timeout=10)
    assert response["status"] == 200
    return response["body"].decode()


def value(text: str, metric: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(metric)}{re.escape(labels)} ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_metrics_reflect_a_streamed_chat(settings):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = ""
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.001
    bot = await sync_to_async(BotFactory)()
    before = await scrape()
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))

    async with ws_client({"chatToken": token}) as ws:
        during = await scrape()
        events = [
            r.data["chat"]
            async for r in ws.subscribe(
                CHAT, {"input": {"conversationId": conversation_id, "text": "I need a refund"}}
            )
        ]
    assert all(m["status"] == "COMPLETE" for m in rebuild(events).values())
    after = await scrape()

    assert value(during, "botstream_websocket_connections") >= 1
    for metric, labels in (
        ("botstream_first_token_seconds_count", ""),
        ("botstream_generation_seconds_count", '{outcome="complete"}'),
    ):
        assert value(after, metric, labels) == value(before, metric, labels) + 1, metric
    bot_label = f'{{bot="{bot.pk}",direction="out"}}'
    assert value(after, "botstream_tokens_total", bot_label) > 0
    assert value(after, "botstream_active_generations") == 0
    assert re.search(r'^botstream_graphql_operations_total\{.*type="subscription"', after, re.M)
