"""Transcript export: a bot's messages as JSON Lines or CSV, streamed in constant memory.

`transcript_chunks` is an async iterator of encoded pages: each page is one keyset query
(`id > last id`, EXPORT_BATCH_SIZE rows, by primary key: no OFFSET, no cursor held open
between pages) and its encoding, both in one hop to the database thread, so the event
loop only sends bytes and holds one page at a time whatever the range. Used by the HTTP
endpoint (server/export.py) and the admin action (conversations/admin.py).

One row per message, in creation order (message id); the conversation's columns repeat
on each of its rows, so a reader groups by `conversation_id`.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import StrEnum

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import QuerySet

from conversations.models import Message

COLUMNS = (
    "conversation_id",
    "user_session",
    "message_id",
    "created_at",
    "role",
    "status",
    "content",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "first_token_ms",
    "feedback",
)
# The model fields behind COLUMNS, in the same order.
_FIELDS = (
    "conversation_id",
    "conversation__user_session",
    "id",
    "created_at",
    "role",
    "status",
    "content",
    "error_code",
    "prompt_tokens",
    "completion_tokens",
    "first_token_ms",
    "feedback__rating",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


CONTENT_TYPES = {
    ExportFormat.JSONL: "application/x-ndjson; charset=utf-8",
    ExportFormat.CSV: "text/csv; charset=utf-8",
}


def bot_messages(*, bot_id: int, start: datetime, end: datetime) -> QuerySet[Message]:
    """The messages of one bot created in [start, end)."""
    return Message.objects.filter(
        conversation__bot_id=bot_id, created_at__gte=start, created_at__lt=end
    )


def conversations_messages(*, conversations: QuerySet) -> QuerySet[Message]:
    """The messages of the given conversations (a queryset, read as a subquery)."""
    return Message.objects.filter(conversation_id__in=conversations.order_by().values("pk"))


async def transcript_chunks(
    messages: QuerySet[Message], fmt: ExportFormat, *, batch: int | None = None
) -> AsyncIterator[bytes]:
    """The encoded export of `messages`, one page of bytes at a time."""
    size = batch or settings.EXPORT_BATCH_SIZE
    encode = _jsonl if fmt == ExportFormat.JSONL else _csv
    if fmt == ExportFormat.CSV:
        yield _csv([COLUMNS])
    after = 0
    while True:
        chunk, after = await sync_to_async(_page)(messages, after, size, encode)
        if chunk is None:
            return
        yield chunk


def _page(
    messages: QuerySet[Message], after: int, size: int, encode: Callable[[list], bytes]
) -> tuple[bytes | None, int]:
    rows = list(messages.filter(pk__gt=after).order_by("pk").values_list(*_FIELDS)[:size])
    if not rows:
        return None, after
    return encode(rows), rows[-1][2]


def _jsonl(rows: list) -> bytes:
    lines = []
    for row in rows:
        record = dict(zip(COLUMNS, row, strict=True))
        record["created_at"] = record["created_at"].isoformat()
        lines.append(json.dumps(record, ensure_ascii=False))
    lines.append("")
    return "\n".join(lines).encode()


def _csv(rows: list) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()


def _cell(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value  # shown as text by spreadsheets, still readable
    return value
