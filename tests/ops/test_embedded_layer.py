"""The embedded channel layer (overrides/channel_layers.py) keeps channels' in-memory semantics."""

import asyncio

import pytest
from channels.exceptions import ChannelFull

from overrides.channel_layers import EmbeddedChannelLayer


@pytest.fixture
def layer():
    return EmbeddedChannelLayer(capacity=2, expiry=60)


async def test_group_send_reaches_every_member_once(layer):
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("g", channel)

    await layer.group_send("g", {"type": "x", "n": 1})

    for channel in channels:
        assert await layer.receive(channel) == {"type": "x", "n": 1}
    assert layer.channels == {}  # nothing left queued


async def test_a_waiting_receiver_gets_what_is_sent_in_order_and_a_drained_channel_goes(layer):
    channel = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    queue = layer.channels[channel]  # the receiver's queue, made by its receive

    await layer.send(channel, {"type": "x", "n": 1})
    await layer.send(channel, {"type": "x", "n": 2})

    assert layer.channels[channel] is queue  # sends used it, none replaced it
    assert await waiting == {"type": "x", "n": 1}
    assert await layer.receive(channel) == {"type": "x", "n": 2}
    assert channel not in layer.channels  # drained: forgotten, as upstream
    await layer.send(channel, {"type": "x", "n": 3})
    await layer.send(channel, {"type": "x", "n": 4})
    with pytest.raises(ChannelFull):  # capacity 2, as upstream
        await layer.send(channel, {"type": "x", "n": 5})


async def test_members_get_their_own_copy(layer):
    first, second = await layer.new_channel(), await layer.new_channel()
    for channel in (first, second):
        await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "x", "items": [1]})

    received = await layer.receive(first)
    received["items"].append(2)

    assert await layer.receive(second) == {"type": "x", "items": [1]}


async def test_a_full_member_does_not_stop_the_others(layer):
    slow, fast = await layer.new_channel(), await layer.new_channel()
    for channel in (slow, fast):
        await layer.group_add("g", channel)
    for n in range(2):
        await layer.send(slow, {"type": "fill", "n": n})  # slow is at capacity
    with pytest.raises(ChannelFull):
        await layer.send(slow, {"type": "fill", "n": 2})

    await layer.group_send("g", {"type": "x"})

    assert await layer.receive(fast) == {"type": "x"}
    assert [(await layer.receive(slow))["n"] for _ in range(2)] == [0, 1]


async def test_expired_messages_are_dropped_with_their_channel_at_the_next_scan(layer):
    layer.expiry = 0
    gone, kept = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", gone)
    await layer.send(gone, {"type": "old"})
    await asyncio.sleep(0.01)
    layer._last_clean = 0.0  # the next call scans

    await layer.group_send("g", {"type": "new"})  # scans first: `gone` is dropped

    assert gone not in layer.channels
    assert layer.groups.get("g", {}) == {}
    layer.expiry = 60
    await layer.send(kept, {"type": "fresh"})
    assert await layer.receive(kept) == {"type": "fresh"}


async def test_the_expiry_scan_runs_at_most_once_a_second(layer):
    layer.expiry = 0
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "first"})  # scans (first call), then queues
    await asyncio.sleep(0.01)

    await layer.group_send("g", {"type": "second"})  # within the second: no scan

    assert layer.channels[channel].qsize() == 2  # the expired "first" is still queued
    assert channel in layer.groups["g"]
