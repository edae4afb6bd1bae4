"""conversations.replay.Inbox: the live side of a subscription's stream, waited on with a
quiet deadline (the watchdog, expiry and handoff checks run when it passes)."""

import asyncio

import pytest

from conversations.replay import QUIET, Inbox, LiveEventsUnavailable


class Listener:
    """An async iterator over a queue, as Strawberry's listen_to_channel generator is."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if isinstance(item, BaseException):
            raise item
        if item is None:
            raise StopAsyncIteration
        return item


@pytest.fixture
async def opened():
    """`opened()` -> a listener and the Inbox reading it, closed when the test ends."""
    inboxes: list[Inbox] = []

    def open_one() -> tuple[Listener, Inbox]:
        listener = Listener()
        inboxes.append(Inbox(listener))
        return listener, inboxes[-1]

    yield open_one
    for inbox in inboxes:
        await inbox.close()


async def test_messages_come_in_order_and_quiet_only_when_none_came(opened):
    listener, inbox = opened()
    for n in range(3):
        listener.queue.put_nowait({"n": n})
    assert [await inbox.next(5) for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert await inbox.next(0.05) is QUIET
    listener.queue.put_nowait({"n": 3})
    assert await inbox.next(5) == {"n": 3}  # still reading after a quiet spell


async def test_no_deadline_waits_for_the_message(opened):
    listener, inbox = opened()
    waiting = asyncio.create_task(inbox.next(None))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    listener.queue.put_nowait({"n": 1})
    assert await waiting == {"n": 1}


async def test_a_later_deadline_replaces_an_earlier_one(opened):
    # The first wait arms the timer for 0.2 s; the second moves the deadline to 5 s,
    # so the early timer must re-arm itself rather than end the second wait.
    listener, inbox = opened()
    first = asyncio.create_task(inbox.next(0.2))  # waits: a timer armed 0.2 s ahead
    await asyncio.sleep(0.01)
    listener.queue.put_nowait({"n": 0})
    assert await first == {"n": 0}
    second = asyncio.create_task(inbox.next(5))
    await asyncio.sleep(0.3)
    assert not second.done()
    listener.queue.put_nowait({"n": 1})
    assert await second == {"n": 1}


async def test_an_earlier_deadline_replaces_a_later_one(opened):
    listener, inbox = opened()
    first = asyncio.create_task(inbox.next(60))  # waits: a timer armed a minute ahead
    await asyncio.sleep(0.05)
    listener.queue.put_nowait({"n": 0})
    assert await first == {"n": 0}
    assert await asyncio.wait_for(inbox.next(0.05), 10) is QUIET


async def test_a_failing_listener_fails_the_stream_and_an_ended_one_too(opened):
    listener, inbox = opened()
    listener.queue.put_nowait(RuntimeError("layer down"))
    with pytest.raises(RuntimeError, match="layer down"):
        await inbox.next(5)

    listener, inbox = opened()
    listener.queue.put_nowait({"n": 0})
    listener.queue.put_nowait(None)
    assert await inbox.next(5) == {"n": 0}  # what came before the end is delivered
    with pytest.raises(LiveEventsUnavailable):
        await inbox.next(5)


async def test_close_stops_the_reader(opened):
    listener, inbox = opened()
    await asyncio.sleep(0)
    await inbox.close()
    listener.queue.put_nowait({"n": 0})
    await asyncio.sleep(0.05)
    assert listener.queue.qsize() == 1  # nobody read it
