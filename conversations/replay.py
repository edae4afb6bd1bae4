"""The subscriber side of the streaming contract: replay, then live, with no gap and no dup.

Guarantee: a client that applies, per message, `MessageCreated.message.content` and then
each `MessageDelta` text at its `offset` rebuilds every message exactly, whether it
subscribes fresh, late, or again after a disconnect with `resumeFrom`.

How:
1. Join the conversation's group before reading anything (events published meanwhile
   are queued, not lost).
2. Replay from the database what the client lacks.
3. Relay live events through `StreamState`, which knows how much of each message the
   client has: it drops what the client already has, trims overlaps, and on a gap (a
   delta starting past the known length: a dropped channel-layer message, or text not
   yet persisted at replay time) asks the generating process for the missing text
   (`generation.sync`), or takes it from the final message when it completes.
4. A watchdog re-reads unfinished messages from the database when the stream is quiet,
   so a dropped terminal event cannot leave a client waiting forever.
5. A deleted conversation ends the stream: its `deleted` event is the last one, sent live
   by the delete, or found by the replay (deleted before the join) or the watchdog (the
   event was dropped and the messages it watched are gone).
6. A handoff change (conversations/handoff.py) is persisted as a notice message with
   `handoff_mode` set: the replay sends its `MessageCreated`/`MessageCompleted` and then
   its `HandoffChanged`, each once (live ones are deduplicated by the notice's id). A
   handoff timed out by the task worker (another process, maybe without a shared
   channel layer) is found by the stream itself: quiet past the open handoff's
   `timeout_at`, it reads the messages it has not seen yet.
7. An expired conversation (conversations/lifecycle.py) ends the stream too: its
   `expired` event is the last one, sent live by the sweep, added by the replay when the
   conversation has expired, or found by the stream itself when it has been quiet past
   the conversation's `expires_at` (so it holds before the sweep ran, and without a
   channel layer shared with the worker).
"""

import asyncio
import collections
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from conversations import events, lifecycle
from conversations.events import Event
from conversations.models import (
    Conversation,
    ConversationMode,
    Handoff,
    Message,
    MessageStatus,
)

SYNC_RETRY_SECONDS = 1.0
# The stream checks expiry this long after `expires_at` (the sweep usually came first).
EXPIRY_CHECK_MARGIN = 1.0

Finished = events.MessageCompleted | events.MessageFailed


class LiveEventsUnavailable(Exception):
    """The channel layer cannot be joined (e.g. Redis is down)."""

    code = "service_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Live events are unavailable right now (the channel layer is down). Messages "
            "are still accepted: poll conversation.messages, or subscribe again shortly."
        )


@dataclass
class _Known:
    length: int
    terminal: bool
    sync_requested_at: float = 0.0


class StreamState:
    def __init__(self, conversation_id: int, reply_channel: str) -> None:
        self.conversation_id = conversation_id
        self.reply_channel = reply_channel
        self.known: dict[int, _Known] = {}
        self.suggested: set[int] = set()
        self.handoffs: set[int] = set()
        self.expires_at: datetime | None = None
        # While a handoff waits for an operator: when it times out (see `catch_up`).
        self.handoff_due: datetime | None = None

    def unfinished(self) -> list[int]:
        return [pk for pk, known in self.known.items() if not known.terminal]

    async def accept(self, event: Event) -> list[Event]:
        """Events to pass to the client for one incoming event (possibly none)."""
        if event.conversation_id != self.conversation_id:
            return []
        if isinstance(event, events.MessageCreated):
            return self._created(event)
        if isinstance(event, events.MessageDelta):
            return await self._delta(event)
        if isinstance(event, events.MessageCompleted | events.MessageFailed):
            return await self._finished(event)
        if isinstance(event, events.SuggestionsReady):
            return self._suggestions(event)
        if isinstance(event, events.HandoffChanged):
            return await self._handoff(event)
        return [event]

    async def _handoff(self, event: events.HandoffChanged) -> list[Event]:
        # The notice is a message: the client gets it (once) before the change.
        notice = event.message
        if notice.id in self.handoffs:
            return []
        out = self._created(events.created(notice)) if notice.id not in self.known else []
        out += await self._finished(events.finished(notice))
        self.handoffs.add(notice.id)
        out.append(event)
        await self.watch_handoff(event.mode)
        return out

    async def watch_handoff(self, mode: str) -> None:
        """Waiting for an operator: note when the handoff times out (None otherwise)."""
        self.handoff_due = None
        if mode == ConversationMode.WAITING:
            self.handoff_due = await (
                Handoff.objects.filter(conversation_id=self.conversation_id, ended_at__isnull=True)
                .values_list("timeout_at", flat=True)
                .afirst()
            )

    def seconds_to_handoff_due(self) -> float | None:
        if self.handoff_due is None:
            return None
        left = (self.handoff_due - timezone.now()).total_seconds()
        return max(left, 0.0) + EXPIRY_CHECK_MARGIN

    async def catch_up(self) -> list[Event]:
        """Quiet past a waiting handoff's timeout: the messages not seen yet (the
        timeout's notice, written by the task worker), in order."""
        self.handoff_due = None
        newest = max(self.known, default=0)
        out: list[Event] = []
        queryset = Message.objects.filter(
            conversation_id=self.conversation_id, pk__gt=newest, replaced_by__isnull=True
        ).order_by("id")
        async for message in queryset:
            out += await _replayed(self, message)
        if self.handoff_due is None:
            mode = await (
                Conversation.objects.filter(pk=self.conversation_id)
                .values_list("mode", flat=True)
                .afirst()
            )
            await self.watch_handoff(mode or "")
        return out

    def _suggestions(self, event: events.SuggestionsReady) -> list[Event]:
        # Stored before published: a replay may have sent them already.
        if event.message_id in self.suggested:
            return []
        self.suggested.add(event.message_id)
        return [event]

    def _created(self, event: events.MessageCreated) -> list[Event]:
        message = event.message
        if message.id in self.known:
            return []
        self.known[message.id] = _Known(len(message.content), terminal=False)
        return [event]

    async def _delta(self, event: events.MessageDelta) -> list[Event]:
        message_id, offset, text = event.message_id, event.offset, event.text
        out: list[Event] = []
        if message_id not in self.known:
            message = await Message.objects.filter(pk=message_id).afirst()
            if message is None:
                return []
            out += self._created(events.created(message))
        known = self.known[message_id]
        end = offset + len(text)
        if known.terminal or end <= known.length:
            return out
        if offset > known.length:
            await self._request_sync(message_id, known)
            return out
        tail = text[known.length - offset :]
        out.append(events.MessageDelta(self.conversation_id, message_id, known.length, tail))
        known.length = end
        return out

    async def _finished(self, event: Finished) -> list[Event]:
        message = event.message
        out = [] if message.id in self.known else self._created(event_as_created(event))
        known = self.known[message.id]
        if known.terminal:
            return out
        if len(message.content) > known.length:
            tail = message.content[known.length :]
            out.append(events.MessageDelta(self.conversation_id, message.id, known.length, tail))
            known.length = len(message.content)
        known.terminal = True
        out.append(event)
        return out

    async def _request_sync(self, message_id: int, known: _Known) -> None:
        now = time.monotonic()
        if now - known.sync_requested_at < SYNC_RETRY_SECONDS:
            return
        known.sync_requested_at = now
        await events.request_sync(message_id, known.length, self.reply_channel)

    async def check_database(self) -> list[Event]:
        """Watchdog: bring unfinished messages up to date from the database."""
        out: list[Event] = []
        watched = set(self.unfinished())
        async for message in Message.objects.filter(pk__in=watched):
            watched.discard(message.pk)
            if message.is_terminal:
                out += await self._finished(events.finished(message))
                continue
            known = self.known[message.pk]
            if len(message.content) > known.length:
                out += await self._delta(
                    events.MessageDelta(self.conversation_id, message.pk, 0, message.content)
                )
            known.sync_requested_at = 0.0
            await self._request_sync(message.pk, known)
        if watched:
            # Rows gone: never poll them again; gone with their conversation, end the stream.
            for pk in watched:
                self.known[pk].terminal = True
            if not await Conversation.objects.filter(pk=self.conversation_id).aexists():
                out.append(events.ConversationDeleted(self.conversation_id))
        return out

    def seconds_to_expiry(self) -> float | None:
        if self.expires_at is None:
            return None
        left = (self.expires_at - timezone.now()).total_seconds()
        return max(left, 0.0) + EXPIRY_CHECK_MARGIN

    async def check_expiry(self) -> list[Event]:
        """Quiet past `expires_at`: the end of the stream if the conversation has expired
        (or is gone), else the next time to look."""
        conversation = await Conversation.objects.filter(pk=self.conversation_id).afirst()
        if conversation is None:
            return [events.ConversationDeleted(self.conversation_id)]
        if await lifecycle.is_expired(conversation):
            return [events.expired(conversation)]
        self.expires_at = conversation.expires_at
        return []


def event_as_created(event: Finished) -> events.MessageCreated:
    """A Created event for a message first seen finished: its text then comes as a delta."""
    message = dataclasses.replace(event.message, content="", status=MessageStatus.STREAMING)
    return events.MessageCreated(event.conversation_id, message)


async def replay(
    state: StreamState, resume: tuple[int, int] | None, since_id: int | None = None
) -> list[Event]:
    """Persisted state the client lacks: messages after the resume point, in order, each
    followed by its suggestions if it has some. Only the latest version of a regenerated
    reply is replayed.

    A conversation deleted since the caller looked it up replays as its `deleted` event;
    an expired one ends with its `expired` event.
    """
    conversation = await Conversation.objects.filter(pk=state.conversation_id).afirst()
    if conversation is None:
        return [events.ConversationDeleted(state.conversation_id)]
    state.expires_at = conversation.expires_at
    out: list[Event] = []
    queryset = Message.objects.filter(
        conversation_id=state.conversation_id, replaced_by__isnull=True
    ).order_by("id")
    if since_id is not None:
        queryset = queryset.filter(pk__gte=since_id)
    if resume is not None:
        resume_id, resume_offset = resume
        queryset = queryset.filter(pk__gte=resume_id)
    async for message in queryset:
        if resume is not None and message.pk == resume_id:
            # Trust the client's offset: it may be ahead of what has been persisted.
            state.known[message.pk] = _Known(max(resume_offset, 0), False)
            if len(message.content) > state.known[message.pk].length:
                out += await state._delta(
                    events.MessageDelta(state.conversation_id, message.pk, 0, message.content)
                )
            out += await _replayed(state, message, created=True)
        else:
            out += await _replayed(state, message)
    await state.watch_handoff(conversation.mode)
    if await lifecycle.is_expired(conversation):
        out.append(events.expired(conversation))
    return out


async def _replayed(state: StreamState, message: Message, *, created: bool = False) -> list[Event]:
    """One persisted message as events: created (unless `created`), finished or synced,
    then its suggestions and its handoff change, if any."""
    out = [] if created else state._created(events.created(message))
    if message.is_terminal:
        out += await state._finished(events.finished(message))
    else:
        await state._request_sync(message.pk, state.known[message.pk])
    if message.suggestions:
        out += state._suggestions(events.suggested(message))
    if message.handoff_mode and message.pk not in state.handoffs:
        state.handoffs.add(message.pk)
        out.append(events.handoff_changed(message))
    return out


ENDINGS = (events.ConversationDeleted, events.ConversationExpired)


async def conversation_events(
    ws,
    conversation_id: int,
    *,
    resume: tuple[int, int] | None = None,
    after_join: Callable[[], Awaitable[int]] | None = None,
) -> AsyncIterator[Event]:
    """Replay then live events of one conversation, for one subscription on `ws`.

    `after_join` runs once the group is joined (the `chat` subscription sends its message
    there, so no event of the turn can be missed); it returns the first message id to
    replay from.
    """
    async with contextlib.AsyncExitStack() as stack:
        try:
            listener = await stack.enter_async_context(
                ws.listen_to_channel(
                    events.EVENT_TYPE, groups=[events.conversation_group(conversation_id)]
                )
            )
        except Exception as exc:
            raise LiveEventsUnavailable() from exc
        state = StreamState(conversation_id, ws.channel_name)
        since_id = await after_join() if after_join is not None else None
        for event in await replay(state, resume, since_id):
            yield event
            if isinstance(event, ENDINGS):
                return
        inbox = Inbox(listener)
        try:
            while True:
                unfinished = bool(state.unfinished())
                handoff_due = state.seconds_to_handoff_due()
                timeout = (
                    settings.STREAM_WATCHDOG_SECONDS if unfinished else state.seconds_to_expiry()
                )
                handoff_first = handoff_due is not None and (
                    timeout is None or handoff_due < timeout
                )
                if handoff_first:
                    timeout = handoff_due
                message = await inbox.next(timeout)
                if message is not QUIET:
                    found = await state.accept(events.decode(message["event"]))
                elif handoff_first:
                    found = await state.catch_up()
                elif unfinished:
                    found = await state.check_database()
                else:
                    found = await state.check_expiry()
                for event in found:
                    yield event
                    if isinstance(event, ENDINGS):
                        return
        finally:
            await inbox.close()


QUIET = object()


class Inbox:
    """A listener's messages, read by one task for the whole stream, and
    `next(quiet_after)`: the next message, or QUIET after `quiet_after` seconds without one.

    Per message this costs a deque append and a future, not a task and an `asyncio.wait`
    with its timer (as it did: 5 % of the CPU of a process streaming 200 replies). The
    timeout is a deadline that each wait moves later; the one timer, armed for an
    earlier deadline, re-arms itself for the rest when it fires.
    """

    def __init__(self, listener: AsyncIterator[dict]) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: collections.deque[dict] = collections.deque()
        self._ended: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reader = asyncio.ensure_future(self._read(listener))

    async def _read(self, listener: AsyncIterator[dict]) -> None:
        try:
            async for message in listener:
                self._items.append(message)
                self._wake()
            self._ended = StopAsyncIteration()
        except Exception as exc:  # handed to the stream by next()
            self._ended = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fire(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._fire)
        else:
            self._wake()

    async def next(self, quiet_after: float | None) -> dict | object:
        if not self._items and self._ended is None:
            now = self._loop.time()
            self._deadline = None if quiet_after is None else now + quiet_after
            if self._deadline is not None and (
                self._timer is None or self._timer.when() > self._deadline
            ):
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self._loop.call_at(self._deadline, self._fire)
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._items:
            return self._items.popleft()
        if isinstance(self._ended, StopAsyncIteration):
            raise LiveEventsUnavailable()
        if self._ended is not None:
            raise self._ended
        return QUIET

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


class TurnProgress:
    """When the events of one turn are all out: its `TurnDone` has come (the turn
    produced every message it will, and its suggestions if the bot makes some: the turn
    publishes `TurnDone` once their call is over, bounded by SUGGESTIONS_TIMEOUT) and
    each reply it created unfinished has finished. A reply's terminal event may come
    before or after the `TurnDone`."""

    def __init__(self, user_message_id: int | None = None) -> None:
        self.user_message_id = user_message_id
        self.turn_done = False
        self.unfinished: set[int] = set()

    def over_after(self, event: Event) -> bool:
        """Take one event of the stream; True once the turn is over."""
        if isinstance(event, events.TurnDone):
            self.turn_done = self.turn_done or event.user_message_id == self.user_message_id
        elif isinstance(event, events.MessageCreated) and not event.message.is_terminal:
            self.unfinished.add(event.message.id)
        elif isinstance(event, Finished):
            self.unfinished.discard(event.message.id)
        return self.turn_done and not self.unfinished


async def turn_events(
    ws, conversation_id: int, send: Callable[[], Awaitable[int]]
) -> AsyncIterator[Event]:
    """The events of one turn, for the `chat` subscription: join, then `send` (which
    accepts the visitor message and returns its id, so no event of its turn can be
    missed), replay from that message, then live events; ends once the turn is over
    (`TurnProgress`), or with the conversation's deletion."""
    progress = TurnProgress()

    async def after_join() -> int:
        progress.user_message_id = await send()
        return progress.user_message_id

    async for event in conversation_events(ws, conversation_id, after_join=after_join):
        yield event
        if progress.over_after(event):
            return
