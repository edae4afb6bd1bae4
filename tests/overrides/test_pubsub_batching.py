"""overrides.channel_layers: the Redis pub/sub layer sends a process's publishes in
batches (one pipeline per batch), over a real Redis."""

import asyncio
import uuid

import pytest
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from overrides.channel_layers import PubSubChannelLayer, _BatchingShard
from tests.support import E2E_REDIS_URL, free_port, require_redis


@pytest.fixture
async def layer():
    require_redis(E2E_REDIS_URL)
    layer = PubSubChannelLayer(hosts=[E2E_REDIS_URL], prefix=f"t{uuid.uuid4().hex[:8]}")
    yield layer
    await layer.flush()


@pytest.fixture
def pipelines(monkeypatch):
    """How many pipelines ran, and how many commands each carried."""
    sizes: list[int] = []
    execute = Pipeline.execute

    async def counted(self, *args, **kwargs):
        sizes.append(len(self.command_stack))
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counted)
    return sizes


async def receive_all(layer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(count)]


async def test_concurrent_publishes_arrive_complete_and_in_order_in_fewer_round_trips(
    layer, pipelines
):
    channel = await layer.new_channel()
    await layer.group_add("chat", channel)
    replies, per_reply = 40, 25

    async def reply(index: int) -> None:  # as a ReplyWriter publishes: one after another
        for n in range(per_reply):
            await layer.group_send("chat", {"type": "event", "reply": index, "n": n})

    await asyncio.gather(*(reply(k) for k in range(replies)))
    messages = await receive_all(layer, channel, replies * per_reply)
    for index in range(replies):
        assert [m["n"] for m in messages if m["reply"] == index] == list(range(per_reply))
    assert sum(pipelines) == replies * per_reply  # every publish went through a pipeline
    assert len(pipelines) < replies * per_reply / 4  # several per round trip
    assert max(pipelines) > 1


async def test_a_lone_publish_goes_out_at_once(layer, pipelines):
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "event", "n": 1})
    assert await receive_all(layer, channel, 1) == [{"type": "event", "n": 1}]
    assert pipelines == [1]


async def test_a_cancelled_publisher_leaves_the_others_their_messages(layer):
    channel = await layer.new_channel()
    await layer.group_add("chat", channel)
    first = asyncio.create_task(layer.group_send("chat", {"type": "event", "n": 0}))
    cancelled = asyncio.create_task(layer.group_send("chat", {"type": "event", "n": 1}))
    last = asyncio.create_task(layer.group_send("chat", {"type": "event", "n": 2}))
    await asyncio.sleep(0)  # all three are in the outbox
    cancelled.cancel()
    await asyncio.gather(first, last)
    assert cancelled.cancelled()
    received = await receive_all(layer, channel, 3)  # queued before the cancel: still sent
    assert [m["n"] for m in received] == [0, 1, 2]


async def test_an_unreachable_redis_fails_each_publish_of_the_batch_and_nothing_hangs():
    layer = PubSubChannelLayer(hosts=[f"redis://127.0.0.1:{free_port()}/0"])
    loop_layer = layer._get_layer()
    shard = loop_layer._shards[0]
    assert isinstance(shard, _BatchingShard)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(layer.group_send("chat", {"type": "event", "n": n}) for n in range(5)),
            return_exceptions=True,
        ),
        30,
    )
    assert len(results) == 5
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    assert shard._sender is None and shard._outbox == []
    # The layer recovers on its own: the next publish tries again (and fails the same way).
    with pytest.raises(RedisConnectionError):
        await asyncio.wait_for(layer.group_send("chat", {"type": "event"}), 30)
    await layer.flush()


async def test_a_sender_cancelled_before_it_ran_fails_its_queue_and_the_next_publish_goes_out(
    layer,
):
    channel = await layer.new_channel()
    shard = layer._get_layer()._get_shard(channel)
    queued = asyncio.create_task(layer.send(channel, {"type": "event", "n": 0}))
    await asyncio.sleep(0)  # queued, and its sender created but not yet run
    shard._sender.cancel()
    with pytest.raises(ConnectionError, match="channel layer closed"):
        await asyncio.wait_for(queued, 10)
    await asyncio.wait_for(layer.send(channel, {"type": "event", "n": 1}), 10)
    assert await receive_all(layer, channel, 1) == [{"type": "event", "n": 1}]


async def test_a_sender_cancelled_mid_batch_fails_that_batch_and_what_queued_behind_it(layer):
    channel = await layer.new_channel()
    shard = layer._get_layer()._get_shard(channel)
    await layer.send(channel, {"type": "event", "n": 0})  # connected: the pool is warm
    assert await receive_all(layer, channel, 1) == [{"type": "event", "n": 0}]
    async with shard._lock:  # the next sender waits here, its batch taken
        first = asyncio.create_task(layer.send(channel, {"type": "event", "n": 1}))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(layer.send(channel, {"type": "event", "n": 2}))
        await asyncio.sleep(0)
        shard._sender.cancel()
        results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
    assert [str(r) for r in results] == ["channel layer closed"] * 2, results
    assert shard._sender is None and shard._outbox == []
