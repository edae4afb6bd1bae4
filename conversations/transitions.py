"""Every change of a Message's status, and only here.

    (created) -> PENDING -> STREAMING -> COMPLETE | FAILED | STOPPED | INTERRUPTED
                PENDING  ---------------> COMPLETE | FAILED | STOPPED | INTERRUPTED

Each transition is one conditional UPDATE guarded by the current status, never a
read-modify-save: of two processes finishing the same message (a writer and the sweeper,
a stop and a completion) exactly one wins, and only the winner publishes the event. A
terminal message is never written again.
"""

import asyncio
import contextlib
import weakref
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from conversations import events
from conversations.models import ACTIVE_STATUSES, Conversation, Message, MessageRole, MessageStatus
from overrides.prepared import PreparedUpdate

INTERRUPTED_ERROR = "The server restarted while this reply was being generated."


def reply_slot(*, conversation: Conversation, step_id: int | None = None) -> Message:
    """Create an assistant message to be generated (PENDING); the caller publishes it
    with `publish_created` once its transaction has committed."""
    return Message.objects.create(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.PENDING,
        step_id=step_id,
    )


async def areply_slot(*, conversation: Conversation, step_id: int | None = None) -> Message:
    """`reply_slot` from async code, published at once (no transaction to wait for)."""
    message = await Message.objects.acreate(
        conversation=conversation,
        role=MessageRole.ASSISTANT,
        status=MessageStatus.PENDING,
        step_id=step_id,
    )
    await publish_created(message)
    return message


async def publish_created(message: Message) -> None:
    await events.publish(message.conversation_id, events.created(message))


async def progress(message_id: int, content: str) -> bool:
    """PENDING/STREAMING -> STREAMING with the text so far (also the writer's heartbeat).

    False when the message is no longer active or a stop was requested from another
    process. No event: the first delta is what subscribers see. Written by the process's
    `_ProgressWrites` (group commit), the same conditional UPDATE for each message.
    """
    loop = asyncio.get_running_loop()
    writes = _progress_writes.get(loop)
    if writes is None:
        writes = _progress_writes[loop] = _ProgressWrites()
    return await writes.write(message_id, content)


class _ProgressWrites:
    """Group commit for the streaming replies of one process (one per event loop).

    Every streaming reply persists its text every STREAM_PERSIST_INTERVAL: at 300 replies
    that was 600 UPDATEs a second, each its own hop to the database thread and its own
    commit, and the one database thread became the bound of a burst (replies finished
    minutes late). Writes that arrive while a batch is being written wait for the next
    one: one thread hop and one transaction per batch, whatever the number of replies;
    with one reply streaming, each write goes out at once, as before.
    """

    def __init__(self) -> None:
        self.pending: dict[int, tuple[str, list[asyncio.Future]]] = {}
        self.flusher: asyncio.Task | None = None

    async def write(self, message_id: int, content: str) -> bool:
        future = asyncio.get_running_loop().create_future()
        _, waiting = self.pending.get(message_id, ("", []))
        self.pending[message_id] = (content, [*waiting, future])
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, {}
            try:
                written = await sync_to_async(_write_progress)(
                    [(pk, content) for pk, (content, _) in batch.items()]
                )
            except Exception as exc:  # each writer handles it (streaming retries later)
                for _, waiting in batch.values():
                    for future in waiting:
                        if not future.done():
                            future.set_exception(exc)
                continue
            except BaseException:  # cancelled with its loop: so are the writers
                for _, waiting in [*batch.values(), *self.pending.values()]:
                    for future in waiting:
                        future.cancel()
                raise
            for pk, (_, waiting) in batch.items():
                for future in waiting:
                    if not future.done():
                        future.set_result(pk in written)


_progress_writes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ProgressWrites]" = (
    weakref.WeakKeyDictionary()
)


_progress = PreparedUpdate(
    lambda pk: Message.objects.filter(pk=pk, stop_requested=False, status__in=ACTIVE_STATUSES),
    ints=("pk",),
    sets=("status", "content", "updated_at"),
)


def _write_progress(items: list[tuple[int, str]]) -> set[int]:
    """One transaction: the conditional UPDATE of each message; the ids it changed."""
    now = timezone.now()
    written = set()
    # One write alone stays one autocommit UPDATE, as it was before batching: the shortest
    # hold of SQLite's write lock (a process frozen mid-write blocks every other writer).
    with transaction.atomic() if len(items) > 1 else contextlib.nullcontext():
        for pk, content in items:
            if _progress.run(
                pk=pk, status=MessageStatus.STREAMING, content=content, updated_at=now
            ):
                written.add(pk)
    return written


_finishes: dict[tuple[str, ...], PreparedUpdate] = {}


def _finishing(names: tuple[str, ...]) -> PreparedUpdate:
    """`finish`'s UPDATE for one set of fields (a handful of sets exist)."""
    update = _finishes.get(names)
    if update is None:
        update = _finishes[names] = PreparedUpdate(
            lambda pk: Message.objects.filter(pk=pk, status__in=ACTIVE_STATUSES),
            ints=("pk",),
            sets=names,
        )
    return update


async def finish(
    message: Message, status: str, *, error: str = "", error_code: str = "", **values
) -> bool:
    """Active -> `status` (terminal), with `values` (content, token counts) written too.

    On success `message` carries the new state, which is published as its terminal
    event. False when the message was already terminal or is gone: whoever finished it
    published that state, and it stands.
    """
    fields = {**values, "status": status, "error": error, "error_code": error_code}
    fields["updated_at"] = timezone.now()
    updated = await sync_to_async(_finishing(tuple(fields)).run)(pk=message.pk, **fields)
    if not updated:
        return False
    for name, value in fields.items():
        setattr(message, name, value)
    if "content" not in values:
        # Progress writes may have stored more text than the caller's copy holds; the
        # row is terminal now, so this read is final.
        message.content = (
            await Message.objects.filter(pk=message.pk).values_list("content", flat=True).afirst()
            or ""
        )
    await events.publish(message.conversation_id, events.finished(message))
    return True


async def keep_alive(*, conversation_id: int, after_id: int) -> None:
    """Touch the active messages of a turn (those after its user message `after_id`).

    The writer's persists are a reply's heartbeat once it streams; before that a turn may
    spend longer than GENERATION_STALE_AFTER in its scenario part (an api_call may take up
    to 30 s, a render may wait for an engine thread), and its pending reply slot must not
    look orphaned to the sweeper of any process. Not a status change.
    """
    await Message.objects.filter(
        conversation_id=conversation_id, pk__gt=after_id, status__in=ACTIVE_STATUSES
    ).aupdate(updated_at=timezone.now())


async def interrupt_stale(cutoff: datetime) -> int:
    """Active messages untouched since `cutoff` -> INTERRUPTED (partial text kept)."""
    stale = Message.objects.filter(status__in=ACTIVE_STATUSES, updated_at__lt=cutoff)
    count = 0
    async for message in stale:
        updated = await Message.objects.filter(
            pk=message.pk, status__in=ACTIVE_STATUSES, updated_at__lt=cutoff
        ).aupdate(
            status=MessageStatus.INTERRUPTED,
            error=INTERRUPTED_ERROR,
            error_code="interrupted",
            updated_at=timezone.now(),
        )
        if updated:
            count += 1
            message.status = MessageStatus.INTERRUPTED
            message.error, message.error_code = INTERRUPTED_ERROR, "interrupted"
            await events.publish(message.conversation_id, events.finished(message))
    return count
