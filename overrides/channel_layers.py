"""Channel layers: the embedded one (in memory) and the Redis one (pub/sub).

EmbeddedChannelLayer (channels' InMemoryChannelLayer). Why: upstream scans every
channel and every group (`_clean_expired`) on each `receive` and `group_send`, so with N
subscribers streaming, each event costs O(N) and the process O(N²) per second (14 % of
the CPU at 200 concurrent replies). Here the scan runs at most once a second: expiry
(60 s) and group expiry (a day) are not that precise anyway. And `group_send` puts the
message on each member's queue directly instead of starting one task per member (`send`
never waits: a full queue raises at once). `send` and `receive` build a channel's queue
only when it has none: upstream's `channels.setdefault(channel, asyncio.Queue(...))`
builds one on every call and throws it away (a receiver's queue is dropped whenever it
is drained, so each event cost two queues: 3 % of the CPU at 200 streaming replies).
Gain of the scan and group_send changes, with two other fixes: 200 streaming replies,
first-token p99 2,080 → 592 ms, tokens delivered by the deadline 3,948 → 7,946 of 8,000
(docs/BENCHMARKS.md "Profile of the slowest path", row 7; commit e2ca7fc).

PubSubChannelLayer (channels-redis' pub/sub layer): see its docstring; the override
is about surviving an outage (commit 3910d70) and about sending a process's publishes in
batches (`_BatchingShard`), the choice of pub/sub about speed.

Written against channels 4.3.2 and channels-redis 4.3.0. Relies on the private
`InMemoryChannelLayer._clean_expired`, `.groups`, `RedisPubSubChannelLayer._get_layer`,
`._layers`, `._args`/`._kwargs`, `channels_redis.utils._wrap_close`,
`RedisPubSubLoopLayer._subscribe_to_channel`, `.channels`, `._get_shard`, `.prefix`,
`._shards`, and `RedisSingleShardConnection.host`, `._lock`, `._redis`, `._ensure_redis`;
tests/overrides/test_channel_layers.py pins their source.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

logger = logging.getLogger(__name__)

CLEAN_INTERVAL = 1.0


class EmbeddedChannelLayer(InMemoryChannelLayer):
    _last_clean = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_clean >= CLEAN_INTERVAL:
            self._last_clean = now
            super()._clean_expired()

    def _queue(self, channel: str) -> asyncio.Queue:
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    async def send(self, channel, message):
        # InMemoryChannelLayer.send, with the queue built only when missing.
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, deepcopy(message)))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def receive(self, channel):
        # InMemoryChannelLayer.receive, with the queue built only when missing.
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self._queue(channel)
        try:
            _, message = await queue.get()
        finally:
            if queue.empty():
                self.channels.pop(channel, None)
        return message

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            # A slow consumer misses it; subscribers repair gaps by offset.
            with contextlib.suppress(ChannelFull):
                await self.send(channel, message)


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis' pub/sub layer (the default with REDIS_URL), surviving Redis outages.

    Why pub/sub: the list-based `RedisChannelLayer` pops a process's messages one at a
    time (a Lua clean-up, BZPOPMIN, ZADD: three round trips each) behind one receive
    lock, so a busy process drains its subscribers' events slower than replies produce
    them (one process, 50 streaming replies: first-token p50 1.3 s, gap p99 6.5 s; with
    pub/sub 75 ms and 0.3 s). Redis pushes published messages instead. It keeps no
    backlog and has no capacity: events missed while a process is cut off are repaired
    like any gap (offsets, sync requests, the database watchdog).

    Upstream, `new_channel()` subscribes at once and raises while Redis is down, which
    failed every websocket connection; and a failed subscribe left the channel looking
    subscribed, so it never received anything after Redis came back. Here a channel
    whose subscribe failed is forgotten, and `receive()` subscribes it again (the
    consumer retries with backoff until Redis is back).
    """

    def _get_layer(self):
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = _PubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


class _PubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._shards = [_BatchingShard(shard.host, self) for shard in self._shards]

    async def _subscribe_to_channel(self, channel):
        self.channels[channel] = asyncio.Queue()
        try:
            await self._get_shard(channel).subscribe(channel)
        except BaseException:
            self.channels.pop(channel, None)
            raise

    async def group_add(self, group, channel):
        if channel not in self.channels:  # its subscribe failed earlier: retry it now
            await self._subscribe_to_channel(channel)
        await super().group_add(group, channel)

    async def new_channel(self, prefix="specific."):
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        try:
            await self._subscribe_to_channel(channel)
        except Exception as exc:
            logger.warning("channel layer unavailable, %s will subscribe later: %r", channel, exc)
        return channel


class _BatchingShard(RedisSingleShardConnection):
    """A shard whose publishes leave in batches, each batch one pipeline.

    Upstream's `publish` takes the shard's lock and awaits its PUBLISH's reply before the
    next publish may start, so a process's events go out one round trip after another:
    at 100 streaming replies (2,500 events/s) they queued behind each other, and each
    cost a pool checkout, a write and a read of its own. Here a publish joins the
    outbox and waits for its batch: while one batch is on the wire, the next one
    gathers, so a busy process sends many events per round trip and an idle one sends
    each at once. Order is kept (one sender per shard, batches in arrival order, a
    pipeline runs its commands in order); a failed batch fails each of its publishes
    with the error, as a failed PUBLISH did (conversations.events.publish reports it
    and subscribers repair the gap), and a sender cancelled with publishes queued fails
    them rather than leaving them waiting.
    """

    def __init__(self, host, channel_layer):
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future]] = []
        self._sender: asyncio.Task | None = None

    async def publish(self, channel, message):
        future = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_outbox())
            self._sender.add_done_callback(self._sender_done)
        await future

    async def _send_outbox(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            try:
                async with self._lock:
                    self._ensure_redis()
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for channel, message, _ in batch:
                            pipe.publish(channel, message)
                        # Each PUBLISH's own answer: one refused (an ACL, say) fails
                        # only its own publish, as it did upstream.
                        results = await pipe.execute(raise_on_error=False)
            except asyncio.CancelledError:
                _settle(batch, [_closed() for _ in batch])
                raise
            except Exception as exc:
                _settle(batch, [exc] * len(batch))
            else:
                _settle(batch, results)

    def _sender_done(self, task: asyncio.Task) -> None:
        # Runs however the sender ended, even cancelled before its first step (its body
        # never ran). A newer sender owns whatever is queued; otherwise nobody will send
        # it, so it fails instead of waiting forever.
        if self._sender is not task:
            return
        self._sender = None
        left, self._outbox = self._outbox, []
        _settle(left, [_closed() for _ in left])


# At most this many publishes per pipeline: after a stall, the backlog goes out in
# pipelines of a bounded size.
MAX_BATCH = 1000


def _closed() -> ConnectionError:
    return ConnectionError("channel layer closed")


def _settle(batch: list, results: list) -> None:
    for (*_, future), result in zip(batch, results, strict=True):
        # A future of a loop already closed (the sender collected after its loop) is
        # left alone: setting it would schedule its callbacks on that closed loop.
        if future.done() or future.get_loop().is_closed():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(None)
