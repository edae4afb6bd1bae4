"""overrides/channels_consumer.py copies AsyncConsumer.__call__ with the layer's receive
wrapped and replaces await_many_dispatch: pin what it copies and calls (channels 4.3.2),
and check that dispatch_many keeps await_many_dispatch's contract."""

import asyncio

import pytest
from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.utils import await_many_dispatch
from strawberry.channels import GraphQLWSConsumer

from overrides.channels_consumer import ResilientLayerMixin, dispatch_many
from server.graphql_ws import GraphQLWSConsumer as Consumer
from tests.overrides.upstream import changed

PINNED = {
    "AsyncConsumer.__call__": (AsyncConsumer.__call__, "e52238720872dbc3"),
    "AsyncConsumer.dispatch": (AsyncConsumer.dispatch, "39f34e7d4fb0f655"),
    "channels.utils.await_many_dispatch": (await_many_dispatch, "30ef889498560da3"),
}


def test_upstream_consumer_call_is_the_one_the_override_copies():
    assert changed(PINNED) == []


def test_no_class_between_the_mixin_and_async_consumer_defines_call():
    # The copy replaces AsyncConsumer.__call__; a __call__ added by Strawberry's or
    # Channels' websocket consumers in between would be skipped unseen.
    mro = Consumer.__mro__
    between = mro[mro.index(ResilientLayerMixin) + 1 : mro.index(AsyncConsumer)]
    assert GraphQLWSConsumer in between
    assert [cls for cls in between if "__call__" in vars(cls)] == []


class Source:
    """An async callable handing out queued items; counts the receives it was asked for."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.calls = 0
        self.cancelled = 0

    async def __call__(self):
        self.calls += 1
        try:
            return await self.queue.get()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def test_dispatch_many_dispatches_in_order_one_at_a_time_and_rearms_after_each():
    client, layer = Source(), Source()
    seen, busy = [], []

    async def dispatch(message):
        if message == "stop":
            raise StopConsumer
        busy.append(message)
        assert len(busy) == 1, "two dispatches at once"
        await asyncio.sleep(0.01)
        # The source of this message is asked for its next one only after this returns.
        source = client if message.startswith("c") else layer
        assert source.calls == len([m for m in seen if m[0] == message[0]]) + 1
        seen.append(message)
        busy.pop()

    for n in range(3):
        layer.queue.put_nowait(f"l{n}")
        client.queue.put_nowait(f"c{n}")
    runner = asyncio.create_task(dispatch_many([client, layer], dispatch))
    await asyncio.sleep(0.2)
    assert [m for m in seen if m[0] == "c"] == ["c0", "c1", "c2"]
    assert [m for m in seen if m[0] == "l"] == ["l0", "l1", "l2"]

    client.queue.put_nowait("stop")
    with pytest.raises(StopConsumer):
        await runner
    assert layer.cancelled == 1  # the layer's pending receive was cancelled on the way out


async def test_dispatch_many_raises_a_source_failure_and_cancels_the_others():
    client = Source()

    async def broken():
        raise RuntimeError("layer down")

    with pytest.raises(RuntimeError, match="layer down"):
        await dispatch_many([client, broken], lambda message: asyncio.sleep(0))
    assert client.cancelled == 1
