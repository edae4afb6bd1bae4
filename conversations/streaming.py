"""Write one assistant message as it is generated.

`ReplyWriter` is the producer side of the streaming contract:
- text is appended in order; the first text is published at once, later text is merged
  into one delta per coalescing window (STREAM_COALESCE_MS);
- every delta carries its offset in the message content;
- the content is persisted every STREAM_PERSIST_INTERVAL and at the end; persisting also
  serves as the heartbeat that tells the sweeper this generation is alive, and as the
  cross-process stop check (a row with `stop_requested` set is not updated);
- a message that is no longer active (swept as interrupted while this process was
  frozen, or deleted) is never written again: its terminal state, already published,
  stands;
- while it runs it answers sync requests (gap repair) from any subscriber, in any
  process, with the text from the offset the subscriber asks for.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from conversations import events
from conversations.llm import Chunk, Usage
from conversations.models import ACTIVE_STATUSES, Message, MessageStatus

logger = logging.getLogger(__name__)


async def _retrying(write):
    """Run a final write, retrying while the database is unreachable (bounded).

    The outcome of a generation must not be lost to a short database outage.
    """
    deadline = time.monotonic() + settings.GENERATION_FINISH_RETRY_SECONDS
    delay = 0.2
    while True:
        try:
            return await write()
        except DatabaseError:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable; retrying the final write in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class StopRequested(Exception):
    """The message was stopped, finished (swept) or deleted from elsewhere."""


class ReplyWriter:
    def __init__(self, message: Message, *, bot_id: int | None = None) -> None:
        self.message = message
        self.message_id = message.pk
        self.conversation_id = message.conversation_id
        self.bot_id = bot_id
        self.content = message.content
        self.published = len(self.content)
        self.usage: Usage | None = None
        self.first_token_at: float | None = None
        self._last_flush = 0.0
        self._last_persist = time.monotonic()
        self._persisted = len(self.content)
        self._sync_task: asyncio.Task | None = None
        self._channel: str | None = None

    async def __aenter__(self) -> "ReplyWriter":
        await self._persist(status=MessageStatus.STREAMING, force=True)
        layer = get_channel_layer()
        try:
            self._channel = await layer.new_channel("gen.")
            await layer.group_add(events.generation_group(self.message_id), self._channel)
        except Exception:
            # Channel layer down: no gap repair from here; subscribers fall back to the DB.
            logger.warning("channel layer unavailable: sync answers off for %s", self.message_id)
            self._channel = None
            return self
        self._sync_task = asyncio.create_task(self._answer_syncs())
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._sync_task:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await get_channel_layer().group_discard(
                    events.generation_group(self.message_id), self._channel
                )

    async def _answer_syncs(self) -> None:
        layer = get_channel_layer()
        while True:
            try:
                request = await layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1)  # layer down: retry, it may come back
                continue
            offset = int(request.get("offset", 0))
            if request.get("type") != events.SYNC_TYPE or offset >= len(self.content):
                continue
            event = events.delta(
                self.conversation_id, self.message_id, offset, self.content[offset:]
            )
            with contextlib.suppress(Exception):
                await events.send_to(request["reply"], event)

    async def pump(self, chunks: AsyncIterator[Chunk]) -> None:
        """Consume a provider stream, publishing and persisting as configured."""
        window = settings.STREAM_COALESCE_MS / 1000
        tick = min(settings.STREAM_PERSIST_INTERVAL, settings.GENERATION_HEARTBEAT)
        iterator = aiter(chunks)
        pending: asyncio.Task | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                timeout = tick
                if self.published < len(self.content):
                    timeout = min(timeout, max(0.0, self._last_flush + window - time.monotonic()))
                done, _ = await asyncio.wait({pending}, timeout=timeout)
                if done:
                    try:
                        chunk = pending.result()
                    except StopAsyncIteration:
                        break
                    pending = None
                    self._take(chunk)
                if self.published < len(self.content) and (
                    self._last_flush == 0.0 or time.monotonic() - self._last_flush >= window
                ):
                    await self.flush()
                await self._persist()
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            with contextlib.suppress(Exception):
                await iterator.aclose()
        await self.flush()

    def _take(self, chunk: Chunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.text:
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()
            self.content += chunk.text

    async def write(self, text: str) -> None:
        """Append a whole text at once (scripted steps) and publish it."""
        self.content += text
        await self.flush()

    async def flush(self) -> None:
        if self.published >= len(self.content):
            return
        offset, text = self.published, self.content[self.published :]
        self.published = len(self.content)
        self._last_flush = time.monotonic()
        await events.publish(
            self.conversation_id, events.delta(self.conversation_id, self.message_id, offset, text)
        )

    async def _persist(self, *, status: str | None = None, force: bool = False) -> None:
        now = time.monotonic()
        changed = self._persisted < len(self.content)
        due = (changed and now - self._last_persist >= settings.STREAM_PERSIST_INTERVAL) or (
            now - self._last_persist >= settings.GENERATION_HEARTBEAT
        )
        if not (force or due):
            return
        if not force:
            try:
                await self._write_progress(status, now)
            except DatabaseError:
                # Database away: keep streaming; the next tick (or finish) writes it all.
                self._last_persist = now
                logger.warning("could not persist message %s; will retry", self.message_id)
            return
        await self._write_progress(status, now)

    async def _write_progress(self, status: str | None, now: float) -> None:
        fields = {"content": self.content, "updated_at": timezone.now()}
        if status:
            fields["status"] = status
        updated = await Message.objects.filter(
            pk=self.message_id, stop_requested=False, status__in=ACTIVE_STATUSES
        ).aupdate(**fields)
        self._last_persist = now
        self._persisted = len(self.content)
        if not updated:
            raise StopRequested()

    async def finish(self, status: str, *, error: str = "", error_code: str = "") -> Message:
        """Persist the final state and publish the terminal event."""
        await self.flush()
        usage = self.usage or Usage()
        fields = {
            "content": self.content,
            "status": status,
            "error": error,
            "error_code": error_code,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "updated_at": timezone.now(),
        }
        updated = await _retrying(
            lambda: Message.objects.filter(pk=self.message_id, status__in=ACTIVE_STATUSES).aupdate(
                **fields
            )
        )
        if not updated:
            # Finished elsewhere meanwhile (the sweeper took this process for dead) or
            # deleted: that terminal state was already published and stands.
            return await Message.objects.filter(pk=self.message_id).afirst() or self.message
        for name, value in fields.items():
            setattr(self.message, name, value)
        await events.publish(self.conversation_id, events.finished(self.message))
        return self.message
