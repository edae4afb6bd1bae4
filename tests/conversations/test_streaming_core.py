"""The streaming core on the in-memory channel layer, without GraphQL: the writer
(coalescing, persistence, gap repair), the replay+live merge, stop and sweep, and when
a turn's events end."""

import asyncio
import contextlib
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from conversations import events, services, turns
from conversations.llm import Chunk, Usage
from conversations.models import Message, MessageStatus
from conversations.replay import StreamState, TurnProgress, replay, turn_events
from conversations.services import conversation_start
from conversations.streaming import ReplyWriter, StopRequested
from tests.factories import BotFactory

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = "Hello, wide world!"
GUARD = 10  # seconds: a hung test fails instead of hanging; no timing is asserted


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    """These tests read the in-memory layer's queues, with or without REDIS_URL."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()


@sync_to_async
def _reply(content: str = "", status: str = MessageStatus.PENDING) -> Message:
    bot = BotFactory(is_active=True)
    conversation, _ = conversation_start(user=AnonymousUser(), bot_id=bot.pk)
    return Message.objects.create(
        conversation=conversation, role="assistant", status=status, content=content
    )


async def _subscribe(conversation_id: int) -> str:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(events.conversation_group(conversation_id), channel)
    return channel


async def _received(channel: str) -> list[events.Event]:
    """Every event queued for `channel` so far."""
    layer = get_channel_layer()
    found = []
    while layer.channels.get(channel):
        message = await asyncio.wait_for(layer.receive(channel), GUARD)
        found.append(events.decode(message["event"]))
    return found


async def _chunks(*texts: str, usage: Usage | None = None):
    for text in texts:
        yield Chunk(text=text)
    if usage is not None:
        yield Chunk(usage=usage)


async def test_writer_publishes_the_first_text_at_once_and_coalesces_the_rest(settings):
    settings.STREAM_COALESCE_MS = 60_000  # every later chunk falls in the first window
    reply = await _reply()
    channel = await _subscribe(reply.conversation_id)

    async with ReplyWriter(reply) as writer:
        await writer.pump(_chunks("Hel", "lo, ", "wide ", "world!"))
        await writer.finish(MessageStatus.COMPLETE)

    deltas = [e for e in await _received(channel) if isinstance(e, events.MessageDelta)]
    assert [(d.offset, d.text) for d in deltas] == [(0, "Hel"), (3, "lo, wide world!")]


async def test_writer_persists_progress_every_interval_and_everything_at_the_end(settings):
    settings.STREAM_PERSIST_INTERVAL = 0  # persist after every chunk
    reply = await _reply()
    seen_in_database = []

    async def observed():
        for text in ("Hello, ", "wide ", "world!"):
            # The writer takes a chunk and persists it before it asks for the next one.
            seen_in_database.append(await _content(reply.pk))
            yield Chunk(text=text)
        yield Chunk(usage=Usage(prompt_tokens=4, completion_tokens=3))

    async with ReplyWriter(reply) as writer:
        await writer.pump(observed())
        await writer.finish(MessageStatus.COMPLETE)

    assert seen_in_database == ["", "Hello, ", "Hello, wide "]
    stored = await Message.objects.aget(pk=reply.pk)
    assert (stored.content, stored.status) == (TEXT, "complete")
    assert (stored.prompt_tokens, stored.completion_tokens) == (4, 3)


async def test_writer_persists_nothing_mid_stream_when_the_interval_is_long(settings):
    settings.STREAM_PERSIST_INTERVAL = settings.GENERATION_HEARTBEAT = 3600
    reply = await _reply()
    seen_in_database = []

    async def observed():
        yield Chunk(text="Hello")
        seen_in_database.append(await _content(reply.pk))
        yield Chunk(text=" there")

    async with ReplyWriter(reply) as writer:
        await writer.pump(observed())
        finished = await writer.finish(MessageStatus.COMPLETE)

    assert seen_in_database == [""]
    assert finished.content == await _content(reply.pk) == "Hello there"


async def test_writers_started_together_spread_their_persists_over_the_interval(settings):
    # A burst of visitors starts replies together: their progress writes must not all
    # fall due at the same moment (one large group commit stalling the loop).
    settings.STREAM_PERSIST_INTERVAL = 10
    replies = [await _reply() for _ in range(20)]
    due = []
    for reply in replies:
        async with ReplyWriter(reply) as writer:
            due.append(writer._last_persist + settings.STREAM_PERSIST_INTERVAL)
            assert writer._last_persist <= time.monotonic()  # never later than the interval
    assert max(due) - min(due) > 2


async def _content(message_id: int) -> str:
    return (await Message.objects.aget(pk=message_id)).content


async def test_a_finished_message_is_never_written_again():
    reply = await _reply()
    async with ReplyWriter(reply) as writer:
        await writer.write("partial")
        await Message.objects.filter(pk=reply.pk).aupdate(
            updated_at=timezone.now() - timedelta(hours=1)
        )
        swept = await turns.sweep_orphans()  # this process looked dead
        finished = await writer.finish(MessageStatus.COMPLETE)

    assert swept == 1
    assert (finished.status, finished.error_code) == ("interrupted", "interrupted")
    assert (await Message.objects.aget(pk=reply.pk)).status == "interrupted"


async def test_writer_answers_a_gap_repair_request_from_the_offset_asked():
    reply = await _reply()
    layer = get_channel_layer()
    subscriber = await layer.new_channel()

    async with ReplyWriter(reply) as writer:
        await writer.write(TEXT)
        await events.request_sync(reply.pk, 7, subscriber)
        answer = await asyncio.wait_for(layer.receive(subscriber), GUARD)
        await writer.finish(MessageStatus.COMPLETE)

    repaired = events.decode(answer["event"])
    assert (repaired.message_id, repaired.offset, repaired.text) == (reply.pk, 7, TEXT[7:])


def _apply(text: str, out: list[events.Event]) -> tuple[str, bool]:
    """A client's rebuild of one message: deltas must start where its text ends."""
    done = False
    for event in out:
        if isinstance(event, events.MessageCreated):
            text = event.message.content
        elif isinstance(event, events.MessageDelta):
            assert event.offset == len(text), (event, text)
            text += event.text
        elif isinstance(event, events.MessageCompleted):
            done = True
    return text, done


async def test_replay_then_live_rebuilds_the_message_from_every_offset():
    # given a reply persisted up to `persisted`, live deltas of 3 characters, and a
    # client resuming at every offset of the text
    reply = await _reply()
    live = [
        events.MessageDelta(reply.conversation_id, reply.pk, start, TEXT[start : start + 3])
        for start in range(0, len(TEXT), 3)
    ]
    finished = events.MessageSnapshot.of(reply)
    finished.content, finished.status = TEXT, MessageStatus.COMPLETE
    for persisted in (0, 5, len(TEXT)):
        await Message.objects.filter(pk=reply.pk).aupdate(content=TEXT[:persisted])
        for resume in range(len(TEXT) + 1):
            for joined_at in range(len(live) + 1):
                # when it replays, then receives the live events not yet sent when it joined
                state = StreamState(reply.conversation_id, "client")
                out = await replay(state, (reply.pk, resume))
                for event in [*live[joined_at:], events.finished(finished)]:
                    out += await state.accept(event)

                # then it holds the whole text exactly once, finished
                assert _apply(TEXT[:resume], out) == (TEXT, True), (persisted, resume, joined_at)


async def test_a_gap_in_live_deltas_is_filled_by_the_final_message():
    reply = await _reply()
    state = StreamState(reply.conversation_id, "client")
    out = await replay(state, None)
    first = events.MessageDelta(reply.conversation_id, reply.pk, 0, TEXT[:5])
    after_gap = events.MessageDelta(reply.conversation_id, reply.pk, 10, TEXT[10:])
    finished = events.MessageSnapshot.of(reply)
    finished.content, finished.status = TEXT, MessageStatus.COMPLETE

    for event in (first, after_gap, events.finished(finished)):
        out += await state.accept(event)

    assert _apply("", out) == (TEXT, True)


async def test_stop_generation_finishes_a_running_reply_stopped_with_its_partial_text(
    monkeypatch,
):
    reply = await _reply()
    started = asyncio.Event()

    class Hanging:
        async def stream(self, request):
            yield Chunk(text="partial")
            started.set()
            await asyncio.Event().wait()

    monkeypatch.setattr("conversations.generation.get_provider", Hanging)
    channel = await _subscribe(reply.conversation_id)
    user_message = await Message.objects.acreate(
        conversation_id=reply.conversation_id, role="user", content="hi"
    )
    task = turns.start_turn(reply.conversation_id, user_message.pk, reply.pk)
    await asyncio.wait_for(started.wait(), GUARD)

    stopped = await turns.stop_generation(await Message.objects.aget(pk=reply.pk))
    await asyncio.wait_for(task, GUARD)

    assert (stopped.status, stopped.content) == ("stopped", "partial")
    received = await _received(channel)
    assert [type(e) for e in received if not isinstance(e, events.MessageDelta)][-2:] == [
        events.MessageCompleted,
        events.TurnDone,
    ]


async def test_sweep_interrupts_only_stale_active_messages(settings):
    settings.GENERATION_STALE_AFTER = 10
    stale, fresh = await _reply("half a rep"), await _reply()
    done = await _reply("done", status=MessageStatus.COMPLETE)
    long_ago = timezone.now() - timedelta(seconds=60)
    await Message.objects.filter(pk__in=[stale.pk, done.pk]).aupdate(updated_at=long_ago)
    channel = await _subscribe(stale.conversation_id)

    assert await turns.sweep_orphans() == 1

    statuses = {m.pk: m.status async for m in Message.objects.all()}
    assert statuses == {stale.pk: "interrupted", fresh.pk: "pending", done.pk: "complete"}
    (event,) = await _received(channel)
    assert isinstance(event, events.MessageFailed)
    assert (event.message.content, event.message.error_code) == ("half a rep", "interrupted")


async def test_a_writer_stops_at_its_next_persist_once_its_message_is_swept(settings):
    settings.STREAM_PERSIST_INTERVAL = 0
    reply = await _reply()
    await Message.objects.filter(pk=reply.pk).aupdate(status=MessageStatus.STREAMING)

    async def swept_mid_stream():
        yield Chunk(text="Hello")
        await Message.objects.filter(pk=reply.pk).aupdate(
            updated_at=timezone.now() - timedelta(hours=1)
        )
        await turns.sweep_orphans()
        yield Chunk(text=" again")

    with pytest.raises(StopRequested):
        async with ReplyWriter(reply) as writer:
            await writer.pump(swept_mid_stream())

    assert (await Message.objects.aget(pk=reply.pk)).status == "interrupted"


# --- progress writes: group commit ---


async def test_concurrent_progress_writes_share_transactions_and_keep_each_guard(monkeypatch):
    # given 12 active replies, one of them asked to stop and one already complete
    from conversations import transitions

    replies = [await _reply() for _ in range(12)]
    stopping, complete = replies[3], replies[7]
    await Message.objects.filter(pk=stopping.pk).aupdate(stop_requested=True)
    await Message.objects.filter(pk=complete.pk).aupdate(
        status=MessageStatus.COMPLETE, content="final"
    )
    batches = []
    write = transitions._write_progress

    def counted(items):
        batches.append(len(items))
        return write(items)

    monkeypatch.setattr(transitions, "_write_progress", counted)

    # when they all persist their text at the same moment
    written = await asyncio.wait_for(
        asyncio.gather(*(transitions.progress(r.pk, f"text {r.pk}") for r in replies)), GUARD
    )

    # then fewer transactions than writes ran, and each message got its own outcome
    assert sum(batches) == 12 and len(batches) < 12
    expected = [r.pk not in (stopping.pk, complete.pk) for r in replies]
    assert written == expected
    rows = {m.pk: m async for m in Message.objects.filter(pk__in=[r.pk for r in replies])}
    for reply in replies:
        row = rows[reply.pk]
        if reply.pk == complete.pk:
            assert (row.status, row.content) == (MessageStatus.COMPLETE, "final")
        elif reply.pk == stopping.pk:
            assert (row.status, row.content) == (MessageStatus.PENDING, "")
        else:
            assert (row.status, row.content) == (MessageStatus.STREAMING, f"text {reply.pk}")


async def test_a_failed_progress_batch_fails_each_writer_and_the_next_batch_runs(monkeypatch):
    # given a database that fails the first batch only
    from django.db import OperationalError

    from conversations import transitions

    replies = [await _reply() for _ in range(3)]
    write = transitions._write_progress
    calls = []

    def flaky(items):
        calls.append(items)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return write(items)

    monkeypatch.setattr(transitions, "_write_progress", flaky)

    # when three writers persist at once, then again
    first = await asyncio.gather(
        *(transitions.progress(r.pk, "a") for r in replies), return_exceptions=True
    )
    second = await asyncio.gather(*(transitions.progress(r.pk, "ab") for r in replies))

    # then the first batch's writers each see the error, and the next writes land
    assert all(isinstance(outcome, OperationalError) for outcome in first)
    assert second == [True, True, True]
    assert [m.content async for m in Message.objects.filter(pk__in=[r.pk for r in replies])] == [
        "ab"
    ] * 3


def _snapshot(message_id: int, status: str) -> events.MessageSnapshot:
    return events.MessageSnapshot(
        id=message_id, conversation_id=1, role="assistant", content="", status=status
    )


def _created(message_id: int, status: str = MessageStatus.PENDING) -> events.MessageCreated:
    return events.MessageCreated(1, _snapshot(message_id, status))


def _completed(message_id: int) -> events.MessageCompleted:
    return events.MessageCompleted(1, _snapshot(message_id, MessageStatus.COMPLETE))


def _over_after_each(progress: TurnProgress, stream: list[events.Event]) -> list[bool]:
    return [progress.over_after(event) for event in stream]


def test_a_turn_is_over_once_its_turn_done_came_and_its_replies_finished():
    # the reply finishes before the turn's end, or after it (replay, a slow subscriber)
    before = [_created(1, "complete"), _created(2), _completed(2), events.TurnDone(1, 1)]
    after = [_created(1, "complete"), _created(2), events.TurnDone(1, 1), _completed(2)]

    assert _over_after_each(TurnProgress(1), before) == [False, False, False, True]
    assert _over_after_each(TurnProgress(1), after) == [False, False, False, True]


def test_a_turn_waits_for_every_reply_it_created():
    stream = [_created(2), _created(3), events.TurnDone(1, 1), _completed(3)]
    failed = events.MessageFailed(1, _snapshot(2, MessageStatus.FAILED))

    progress = TurnProgress(1)
    assert _over_after_each(progress, stream) == [False, False, False, False]
    assert progress.over_after(failed)


def test_another_turns_end_does_not_end_this_one():
    stream = [_created(2), _completed(2), events.TurnDone(1, 99), events.TurnDone(1, 1)]

    assert _over_after_each(TurnProgress(1), stream) == [False, False, False, True]


class _Socket:
    """What conversation_events uses of the websocket's consumer (Strawberry's
    `listen_to_channel`), straight on the channel layer."""

    def __init__(self, channel_name: str) -> None:
        self.channel_name = channel_name

    @contextlib.asynccontextmanager
    async def listen_to_channel(self, type: str, *, groups=()):
        layer = get_channel_layer()
        for group in groups:
            await layer.group_add(group, self.channel_name)

        async def received():
            while True:
                yield await layer.receive(self.channel_name)

        yield received()


async def test_turn_events_end_after_the_turn_done_with_its_reply_finished(monkeypatch):
    class Replying:
        async def stream(self, request):
            yield Chunk(text="Hel")
            yield Chunk(text="lo")

    monkeypatch.setattr("conversations.generation.get_provider", Replying)
    reply = await _reply(status=MessageStatus.COMPLETE)
    conversation = await sync_to_async(lambda: reply.conversation)()
    socket = _Socket(await get_channel_layer().new_channel())
    sent = []

    async def send() -> int:
        user_message, new_reply = await services.message_accept(
            conversation=conversation, text="hi"
        )
        sent.extend((user_message.pk, new_reply.pk))
        return user_message.pk

    async def collect():
        return [event async for event in turn_events(socket, conversation.pk, send)]

    received = await asyncio.wait_for(collect(), GUARD)
    running = [task for task, owner in turns._turns.items() if owner == conversation.pk]
    await asyncio.wait_for(asyncio.gather(*running), GUARD)

    user_message_id, reply_id = sent
    finished = [e.message.id for e in received if isinstance(e, events.MessageCompleted)]
    assert finished == [user_message_id, reply_id]  # from the message sent on, not before
    assert events.TurnDone(conversation.pk, user_message_id) in received
    assert isinstance(received[-1], events.TurnDone | events.MessageCompleted)
    of_reply = [e for e in received if _message_of(e) == reply_id]
    assert _apply("", of_reply) == ("Hello", True)


def _message_of(event: events.Event) -> int | None:
    if isinstance(event, events.MessageDelta):
        return event.message_id
    message = getattr(event, "message", None)
    return None if message is None else message.id


async def test_text_held_in_a_window_is_published_while_the_upstream_is_silent(settings):
    settings.STREAM_COALESCE_MS = 20
    reply = await _reply()
    channel = await _subscribe(reply.conversation_id)
    layer = get_channel_layer()

    async def silent_until_published():
        yield Chunk(text="Hel")
        yield Chunk(text="lo")  # within the first window: held
        # The upstream says nothing more until "lo" reached the subscriber, so only the
        # end of the window can publish it (a hung test fails at GUARD).
        seen = []
        while not any(e.text == "lo" for e in seen if isinstance(e, events.MessageDelta)):
            message = await asyncio.wait_for(layer.receive(channel), GUARD)
            seen.append(events.decode(message["event"]))
        yield Chunk(text="!")

    async with ReplyWriter(reply) as writer:
        await writer.pump(silent_until_published())
        finished = await writer.finish(MessageStatus.COMPLETE)

    assert finished.content == "Hello!"
