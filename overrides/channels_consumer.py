"""A consumer whose channel-layer receive survives a layer outage.

Why: Channels' AsyncConsumer reads the client socket and the channel layer together;
when the layer (Redis) is down, its receive raises and takes the whole websocket down
with it. Here the layer side retries with backoff instead, so the socket stays up,
queries and mutations keep working, subscriptions report the outage, and everything
resumes when the layer is back (commit 7f41ff1; tests/e2e/test_dependency_failures.py).
A gain in availability, not speed: nothing to measure in bench/.

`dispatch_many` replaces `channels.utils.await_many_dispatch`, which waits with
`asyncio.wait` for every message (a future, a callback on each source's task and two
sets each time: 2-3 % of the CPU of a process streaming 200 replies); here each source's
pending receive hands its result over through a done callback. Same contract: one
receive pending per source, re-armed only once its result is dispatched (so the layer's
capacity still bounds what a slow consumer holds), results dispatched one at a time,
the pending receives cancelled on the way out.

Written against channels 4.3.2. `ResilientLayerMixin.__call__` is a copy of
`AsyncConsumer.__call__` with the layer's receive wrapped; it relies on
`AsyncConsumer.dispatch`, and copies `channels.utils.await_many_dispatch`'s contract.
tests/overrides/test_channels_consumer.py pins the source of all three.
"""

import asyncio
import collections
import contextlib
import functools
import logging
import time

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class ResilientLayerMixin:
    _last_layer_warning = 0.0

    async def __call__(self, scope, receive, send):
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            sources.append(self._receive_from_layer)
        with contextlib.suppress(StopConsumer):
            await dispatch_many(sources, self.dispatch)

    async def _receive_from_layer(self):
        delay = 0.5
        while True:
            try:
                return await self.channel_receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now = time.monotonic()
                if now - ResilientLayerMixin._last_layer_warning > 10:
                    ResilientLayerMixin._last_layer_warning = now
                    logger.warning("channel layer receive failed, retrying: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


async def dispatch_many(sources, dispatch) -> None:
    """Await every source (an async callable) at once and dispatch each result as it comes:
    `channels.utils.await_many_dispatch` without an `asyncio.wait` per message."""
    loop = asyncio.get_running_loop()
    ready: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
    tasks: list[asyncio.Future | None] = [None] * len(sources)
    waiter: asyncio.Future | None = None

    def arm(index: int) -> None:
        task = asyncio.ensure_future(sources[index]())
        task.add_done_callback(functools.partial(done, index))
        tasks[index] = task

    def done(index: int, task: asyncio.Future) -> None:
        ready.append((index, task))
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    try:
        for index in range(len(sources)):
            arm(index)
        while True:
            while not ready:
                waiter = loop.create_future()
                await waiter
            index, task = ready.popleft()
            tasks[index] = None
            await dispatch(task.result())
            arm(index)
    finally:
        for task in tasks:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
