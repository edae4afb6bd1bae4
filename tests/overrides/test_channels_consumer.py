"""overrides/channels_consumer.py copies AsyncConsumer.__call__ with the layer's receive
wrapped: pin what it copies and calls (channels 4.3.2)."""

from channels.consumer import AsyncConsumer
from channels.utils import await_many_dispatch
from strawberry.channels import GraphQLWSConsumer

from overrides.channels_consumer import ResilientLayerMixin
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
