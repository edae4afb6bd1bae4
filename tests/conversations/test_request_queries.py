"""The visitor's HTTP path costs a fixed number of SQL statements per call.

Counted over the real ASGI application on the process's database thread (where the
requests' and the turns' database work runs, overrides/django_asgi.py), from the request
to the end of its turn: a statement more per call is CPU on every message a visitor sends
(docs/BENCHMARKS.md, section 11). Transaction control (BEGIN, SAVEPOINT, COMMIT) is not
counted.
"""

import asyncio
import contextlib

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test.utils import CaptureQueriesContext
from strawberry.relay import to_base64

from conversations import turns
from conversations.models import Message
from tests.asgi_client import SEND, gql_data, start_conversation
from tests.factories import BotFactory, ScenarioFactory

pytestmark = pytest.mark.django_db(transaction=True)

CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "COMMIT", "ROLLBACK")


@pytest.fixture
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


@contextlib.asynccontextmanager
async def statements():
    """The SQL run on the database thread meanwhile (a list, filled on exit)."""
    capture = await sync_to_async(lambda: CaptureQueriesContext(connections["default"]))()
    await sync_to_async(capture.__enter__)()
    found: list[str] = []
    try:
        yield found
        while turns._turns:
            await asyncio.gather(*list(turns._turns))
    finally:
        await sync_to_async(capture.__exit__)(None, None, None)
    found += [
        q["sql"] for q in capture.captured_queries if not q["sql"].upper().startswith(CONTROL)
    ]


async def _send(conversation_id: str, token: str, text: str) -> dict:
    variables = {"input": {"conversationId": conversation_id, "text": text}}
    return (await gql_data(SEND, variables, {"X-Chat-Token": token}))["sendMessage"]


async def test_send_message_and_its_turn_cost_a_fixed_number_of_statements(offline):
    bot = await sync_to_async(BotFactory)(system_prompt="You help.")
    conversation_id, token = await start_conversation(to_base64("Bot", bot.pk))
    await _send(conversation_id, token, "first")  # warm: connection, caches
    while turns._turns:
        await asyncio.gather(*list(turns._turns))

    async with statements() as sql:
        sent = await _send(conversation_id, token, "second")

    assert sent["userMessage"]["content"] == "second"
    assert sent["reply"]["status"] == "PENDING"
    reply = await Message.objects.filter(role="assistant").alast()
    assert reply.status == "complete" and reply.content
    # 9 for the message and its turn (the conversation, with its bot and "busy" flag, read
    # once when the request's context is built, which also checks the chat token's
    # expiry: server/graphql_http.py), plus the turn's end moving the inactivity
    # deadline (lifecycle.touch); plus two when the reply completes: its tokens added to
    # the bot's monthly counter (conversations/budgets.py, one UPDATE) and the
    # message.completed event's lookup of the bot's subscribed webhooks
    # (integrations/services.py, one SELECT; nothing more without webhooks). A bot
    # without a budget or cap adds no statement before the reply starts.
    assert len(sql) == 12, "\n".join(sql)


async def test_start_conversation_costs_a_fixed_number_of_statements():
    bot = await sync_to_async(BotFactory)()
    await sync_to_async(ScenarioFactory)(bot=bot, is_active=True)
    await start_conversation(to_base64("Bot", bot.pk))  # warm

    async with statements() as sql:
        await start_conversation(to_base64("Bot", bot.pk))

    # 3, plus the conversation.started event's lookup of the bot's subscribed webhooks.
    assert len(sql) == 4, "\n".join(sql)
