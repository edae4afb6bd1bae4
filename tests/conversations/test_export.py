"""conversations/export.py: JSONL and CSV pages of a bot's messages, every message once in
creation order across pages, spreadsheet formulas neutralised."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async

from conversations import export
from conversations.models import Conversation, Feedback, Message
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAY1 = datetime(2026, 3, 2, tzinfo=UTC)
WEIRD = [
    '=HYPERLINK("http://evil.example","x")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\tx",
    'a "quoted", line\nbreak',
    "é ✓ 日本",
]


@sync_to_async
def seeded(n: int = 7):
    bot, other = BotFactory(), BotFactory()
    conv = Conversation.objects.create(bot=bot, user_session="=cmd|' /C calc'!A0", token_digest="a")
    noise = Conversation.objects.create(bot=other, user_session="", token_digest="b")
    made = []
    for i in range(n):
        made.append(
            Message.objects.create(
                conversation=conv,
                role="user" if i % 2 else "assistant",
                content=WEIRD[i % len(WEIRD)],
                prompt_tokens=i,
                first_token_ms=100 + i if i % 2 == 0 else None,
            )
        )
        Message.objects.create(conversation=noise, role="user", content="not this bot")
    Feedback.objects.create(message=made[0], bot=bot, rating="up")
    late = Message.objects.create(conversation=conv, role="user", content="after the range")
    Message.objects.filter(conversation=conv).update(created_at=DAY1 + timedelta(hours=1))
    Message.objects.filter(pk=late.pk).update(created_at=DAY1 + timedelta(days=2))
    return bot, conv, made


async def collected(bot, fmt, batch) -> bytes:
    messages = export.bot_messages(bot_id=bot.pk, start=DAY1, end=DAY1 + timedelta(days=1))
    return b"".join([chunk async for chunk in export.transcript_chunks(messages, fmt, batch=batch)])


@pytest.mark.parametrize("batch", [1, 3, 1000])
async def test_jsonl_has_one_line_per_message_of_the_bot_in_the_range_in_order(batch):
    bot, conv, made = await seeded()

    body = await collected(bot, export.ExportFormat.JSONL, batch)

    records = [json.loads(line) for line in body.decode().splitlines()]
    assert [r["message_id"] for r in records] == [m.pk for m in made]
    assert [r["content"] for r in records] == [m.content for m in made]  # exact, unescaped
    first = records[0]
    assert first["conversation_id"] == conv.pk
    assert first["user_session"] == conv.user_session
    assert (first["role"], first["feedback"], first["first_token_ms"]) == ("assistant", "up", 100)
    assert first["created_at"] == (DAY1 + timedelta(hours=1)).isoformat()
    assert records[1]["feedback"] is None
    assert set(first) == set(export.COLUMNS)


@pytest.mark.parametrize("batch", [2, 1000])
async def test_csv_has_a_header_and_formulas_are_shown_as_text(batch):
    bot, _conv, made = await seeded()

    body = await collected(bot, export.ExportFormat.CSV, batch)

    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0] == list(export.COLUMNS)
    assert len(rows) == 1 + len(made)
    contents = [row[export.COLUMNS.index("content")] for row in rows[1:]]
    assert contents[:5] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
    ]
    assert contents[5:] == ['a "quoted", line\nbreak', "é ✓ 日本"]  # quoted by the csv module
    assert rows[1][export.COLUMNS.index("user_session")] == "'=cmd|' /C calc'!A0"
    assert rows[2][export.COLUMNS.index("first_token_ms")] == ""  # None: an empty cell


async def test_an_empty_range_gives_an_empty_jsonl_and_a_csv_header_only():
    bot = await sync_to_async(BotFactory)()
    assert await collected(bot, export.ExportFormat.JSONL, 10) == b""
    header = await collected(bot, export.ExportFormat.CSV, 10)
    assert header.decode().strip() == ",".join(export.COLUMNS)


async def test_selected_conversations_export_only_their_messages():
    _bot, conv, made = await seeded(3)
    selected = Conversation.objects.filter(pk=conv.pk)
    messages = export.conversations_messages(conversations=selected)

    body = b"".join(
        [c async for c in export.transcript_chunks(messages, export.ExportFormat.JSONL)]
    )

    ids = [json.loads(line)["message_id"] for line in body.decode().splitlines()]
    assert len(ids) == 4  # the 3, and the one after the range: no date filter here
    assert ids[:3] == [m.pk for m in made]
