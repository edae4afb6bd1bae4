"""overrides/channel_layers.py overrides private methods of channels' in-memory layer and
channels-redis' pub/sub layer: pin them (channels 4.3.2, channels-redis 4.3.0)."""

from channels.layers import InMemoryChannelLayer
from channels_redis import utils
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)

from tests.overrides.upstream import changed

PINNED = {
    # EmbeddedChannelLayer: throttles the scan, replaces group_send; copies send and
    # receive (building a queue only when missing), and __init__ defines `channels` /
    # `groups`.
    "InMemoryChannelLayer.__init__": (InMemoryChannelLayer.__init__, "a868dc26b1c1947d"),
    "InMemoryChannelLayer._clean_expired": (
        InMemoryChannelLayer._clean_expired,
        "604032dae1cc01d2",
    ),
    "InMemoryChannelLayer.group_send": (InMemoryChannelLayer.group_send, "693c3172deb6431b"),
    "InMemoryChannelLayer.send": (InMemoryChannelLayer.send, "a4dab1cd8aff886e"),
    "InMemoryChannelLayer.receive": (InMemoryChannelLayer.receive, "e615f8ae40b60e12"),
    "InMemoryChannelLayer.group_add": (InMemoryChannelLayer.group_add, "7c4f2ffd2d8f7a91"),
    # PubSubChannelLayer: a copy of _get_layer building our loop layer.
    "RedisPubSubChannelLayer.__init__": (RedisPubSubChannelLayer.__init__, "b0e717765373b2f6"),
    "RedisPubSubChannelLayer._get_layer": (
        RedisPubSubChannelLayer._get_layer,
        "1862b87a25ac72b2",
    ),
    "channels_redis.utils._wrap_close": (utils._wrap_close, "3d610af1683772a9"),
    # _PubSubLoopLayer: copies of _subscribe_to_channel and new_channel; receive()
    # subscribes a channel it does not know, which is how a failed subscribe recovers.
    "RedisPubSubLoopLayer.__init__": (RedisPubSubLoopLayer.__init__, "fd9d37e275298a58"),
    "RedisPubSubLoopLayer._subscribe_to_channel": (
        RedisPubSubLoopLayer._subscribe_to_channel,
        "3da2e955db06450f",
    ),
    "RedisPubSubLoopLayer.new_channel": (RedisPubSubLoopLayer.new_channel, "bf1469b4d6819726"),
    "RedisPubSubLoopLayer.group_add": (RedisPubSubLoopLayer.group_add, "09e5aeb8954a88f2"),
    "RedisPubSubLoopLayer.receive": (RedisPubSubLoopLayer.receive, "2d3fa7938ba6e0a6"),
    "RedisPubSubLoopLayer._get_shard": (RedisPubSubLoopLayer._get_shard, "9c655ee12ccbc91e"),
    # _BatchingShard: replaces publish (one PUBLISH per round trip, under the lock); uses
    # the shard's `host`, `_lock`, `_redis` and `_ensure_redis`, which flush() resets.
    "RedisSingleShardConnection.__init__": (
        RedisSingleShardConnection.__init__,
        "9c8f408acb4c2d7b",
    ),
    "RedisSingleShardConnection.publish": (RedisSingleShardConnection.publish, "5a18093dbcb440f5"),
    "RedisSingleShardConnection._ensure_redis": (
        RedisSingleShardConnection._ensure_redis,
        "ba228d3cee7116dc",
    ),
    "RedisSingleShardConnection.flush": (RedisSingleShardConnection.flush, "d122fe3f4578cb1c"),
}


def test_upstream_layer_internals_are_the_ones_the_overrides_were_written_against():
    assert changed(PINNED) == []
