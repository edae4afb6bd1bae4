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
import random
import time
import weakref
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError

from conversations import budgets, events, transitions
from conversations.llm import Chunk, Usage
from conversations.llm.base import estimate_tokens
from conversations.models import Message, MessageStatus
from core import events as domain_events

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
        # Set by whoever streams an LLM reply into this writer: the request's estimated
        # size, counted (with the reply's) when the provider reports no usage.
        self.prompt_estimate: int | None = None
        # The passages the reply was given to cite (stored with its terminal state).
        self.citations: list[dict] = []
        self.first_token_at: float | None = None
        # Wall-clock twin of first_token_at, for Message.first_token_ms (analytics).
        self.first_token_time: float | None = None
        self._last_flush = 0.0
        self._last_persist = time.monotonic()
        self._persisted = len(self.content)
        self._listening = False

    async def __aenter__(self) -> "ReplyWriter":
        await self._persist(force=True)
        # The next persists come every STREAM_PERSIST_INTERVAL from a random point within
        # the first one: replies that started together (a burst of visitors) do not all
        # write at the same moment, which stalled the loop behind one large group commit.
        self._last_persist -= random.uniform(0, settings.STREAM_PERSIST_INTERVAL)
        try:
            await _SyncListener.current().register(self)
            self._listening = True
        except Exception:
            # Channel layer down: no gap repair from here; subscribers fall back to the DB.
            logger.warning("channel layer unavailable: sync answers off for %s", self.message_id)
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._listening:
            self._listening = False
            await _SyncListener.current().unregister(self)

    async def answer_sync(self, request: dict) -> None:
        """Send one subscriber the text it misses, from the offset it asks for."""
        offset = int(request.get("offset", 0))
        if offset >= len(self.content):
            return
        text = self.content[offset:]
        event = events.MessageDelta(self.conversation_id, self.message_id, offset, text)
        with contextlib.suppress(Exception):
            await events.send_to(request["reply"], event)

    async def pump(self, chunks: AsyncIterator[Chunk]) -> None:
        """Consume a provider stream, publishing and persisting as configured.

        A reader task takes the chunks; this loop publishes and persists. Per chunk the
        reader only appends the text and checks the clock: it hands over to this loop,
        and waits for it, only when a delta or a persist is due (so a persist still
        happens before the next chunk is asked for). This loop wakes for those, for the
        end of a coalescing window while the upstream is silent, and for the heartbeat.
        """
        window = settings.STREAM_COALESCE_MS / 1000
        tick = min(settings.STREAM_PERSIST_INTERVAL, settings.GENERATION_HEARTBEAT)
        iterator = aiter(chunks)
        wake, resume = asyncio.Event(), asyncio.Event()
        reader = asyncio.create_task(self._read(iterator, window, wake, resume))
        reader.add_done_callback(lambda _: wake.set())
        try:
            while True:
                if not wake.is_set():
                    timeout = tick
                    if self.published < len(self.content):
                        timeout = min(timeout, self._last_flush + window - time.monotonic())
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0.0, timeout)):
                            await wake.wait()
                wake.clear()
                if reader.done():
                    break
                if self._delta_due(window):
                    await self.flush()
                await self._persist()
                resume.set()
            reader.result()  # the provider's failure, if it failed
        finally:
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            with contextlib.suppress(Exception):
                await iterator.aclose()
        await self.flush()

    async def _read(
        self,
        iterator: AsyncIterator[Chunk],
        window: float,
        wake: asyncio.Event,
        resume: asyncio.Event,
    ) -> None:
        async for chunk in iterator:
            self._take(chunk)
            if self._delta_due(window) or self._persist_due(time.monotonic()):
                resume.clear()
                wake.set()
                await resume.wait()

    def _delta_due(self, window: float) -> bool:
        return self.published < len(self.content) and (
            self._last_flush == 0.0 or time.monotonic() - self._last_flush >= window
        )

    def _take(self, chunk: Chunk) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.text:
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()
                self.first_token_time = time.time()
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
        delta = events.MessageDelta(self.conversation_id, self.message_id, offset, text)
        await events.publish(self.conversation_id, delta)

    def _persist_due(self, now: float) -> bool:
        changed = self._persisted < len(self.content)
        return (changed and now - self._last_persist >= settings.STREAM_PERSIST_INTERVAL) or (
            now - self._last_persist >= settings.GENERATION_HEARTBEAT
        )

    async def _persist(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not (force or self._persist_due(now)):
            return
        if not force:
            try:
                await self._write_progress(now)
            except DatabaseError:
                # Database away: keep streaming; the next tick (or finish) writes it all.
                self._last_persist = now
                logger.warning("could not persist message %s; will retry", self.message_id)
            return
        await self._write_progress(now)

    async def _write_progress(self, now: float) -> None:
        content = self.content  # the reader may append while the write is under way
        updated = await transitions.progress(self.message_id, content)
        self._last_persist = now
        self._persisted = len(content)
        if not updated:
            raise StopRequested()

    def first_token_ms(self) -> int | None:
        """What the visitor waited for this reply's first text: from the reply's creation
        (its pending slot, made when the visitor's message was accepted) to the first text
        the provider streamed. None for text written at once (scripted steps)."""
        created = self.message.created_at
        if self.first_token_time is None or created is None:
            return None
        return max(0, round((self.first_token_time - created.timestamp()) * 1000))

    async def finish(self, status: str, *, error: str = "", error_code: str = "") -> Message:
        """Persist the final state and publish the terminal event."""
        await self.flush()
        if self.usage is None and self.prompt_estimate is not None:
            self.usage = Usage(self.prompt_estimate, estimate_tokens(self.content))
        usage = self.usage or Usage()
        # Rides on this final UPDATE: no write of its own, nothing per token.
        latency = {"first_token_ms": ms} if (ms := self.first_token_ms()) is not None else {}
        extra = {"citations": self.citations} if self.citations else {}
        finished = await _retrying(
            lambda: transitions.finish(
                self.message,
                status,
                error=error,
                error_code=error_code,
                content=self.content,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                **latency,
                **extra,
            )
        )
        if not finished:
            # Finished elsewhere meanwhile (the sweeper took this process for dead): that
            # terminal state was already published and stands. Deleted: the turn ends here.
            current = await Message.objects.filter(pk=self.message_id).afirst()
            if current is None:
                raise StopRequested()
            return current
        if self.bot_id is not None:
            try:
                await sync_to_async(_finished)(self.bot_id, self.message)
            except Exception:  # the reply's outcome stands whatever its bookkeeping does
                logger.exception("could not count or announce message %s", self.message_id)
        return self.message


def _finished(bot_id: int, message: Message) -> None:
    """After a reply's terminal state is stored: count its tokens against the bot's
    budget, and announce a completed one (core.events, e.g. to webhooks)."""
    budgets.record(bot_id=bot_id, tokens=message.prompt_tokens + message.completion_tokens)
    if message.status == MessageStatus.COMPLETE:
        domain_events.emit(
            domain_events.MESSAGE_COMPLETED,
            bot_id=bot_id,
            payload={
                "conversation_id": str(message.conversation_id),
                "message_id": str(message.pk),
                "content": message.content,
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
                "version": message.version,
                "completed_at": message.updated_at.isoformat(),
            },
        )


STOP_TYPE = "generation.listener.stop"
STOP_TIMEOUT = 10.0


class _SyncListener:
    """Answers gap-repair requests (`generation.sync`) for every reply this process is
    generating: one channel and one receive loop per process (per event loop), with
    requests routed to the live writer by message id.

    One receiver, not one per reply: channels-redis serves a process's channels with
    a single BZPOPMIN per channel prefix and one receive lock, so a receiver on another
    prefix than the consumers' ("specific.") holds the lock for up to 5 s while the
    consumers' events wait (measured: first-token p50 of 0.7-2.6 s at 50 replies, one
    process on Redis). Here the channel has the consumers' prefix, so whichever receive
    holds the lock pops for all of them; and the loop runs while any reply is being
    generated instead of being started and cancelled for each one.
    """

    _by_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SyncListener]" = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self) -> None:
        self.writers: dict[int, ReplyWriter] = {}
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    @classmethod
    def current(cls) -> "_SyncListener":
        loop = asyncio.get_running_loop()
        listener = cls._by_loop.get(loop)
        if listener is None:
            listener = cls._by_loop[loop] = cls()
        return listener

    async def register(self, writer: ReplyWriter) -> None:
        layer = get_channel_layer()
        if self.channel is None:
            self.channel = await layer.new_channel()
        await layer.group_add(events.generation_group(writer.message_id), self.channel)
        self.writers[writer.message_id] = writer
        async with self.lock:
            if self.task is None:
                self.task = asyncio.create_task(self._run(self.channel))

    async def unregister(self, writer: ReplyWriter) -> None:
        if self.writers.get(writer.message_id) is writer:
            del self.writers[writer.message_id]
        layer = get_channel_layer()
        with contextlib.suppress(Exception):
            await layer.group_discard(events.generation_group(writer.message_id), self.channel)
        async with self.lock:
            # Idle: stop receiving, so no receive is left pending when the loop ends.
            if not self.writers and self.task is not None:
                task, self.task = self.task, None
                await self._stop(layer, task)

    async def _stop(self, layer, task: asyncio.Task) -> None:
        """End the loop with a message, not a cancellation: a receive cancelled while it
        holds channels-redis' blocking pop can lose a message popped for another channel
        of this process (a subscriber's event)."""
        try:
            await layer.send(self.channel, {"type": STOP_TYPE})
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.shield(task)
            return
        except TimeoutError:
            logger.warning("sync listener did not stop within %ss; cancelling", STOP_TIMEOUT)
        except Exception:
            logger.warning("channel layer unavailable: cancelling the sync listener")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _run(self, channel: str) -> None:
        layer = get_channel_layer()
        while True:
            try:
                request = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(1)  # layer down: retry, it may come back
                continue
            kind = request.get("type")
            if kind == STOP_TYPE:
                return
            if kind != events.SYNC_TYPE:
                continue
            writer = self.writers.get(request.get("message_id"))
            if writer is not None:
                await writer.answer_sync(request)
