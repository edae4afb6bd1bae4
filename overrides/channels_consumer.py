"""A consumer whose channel-layer receive survives a layer outage.

Why: Channels' AsyncConsumer reads the client socket and the channel layer together;
when the layer (Redis) is down, its receive raises and takes the whole websocket down
with it. Here the layer side retries with backoff instead, so the socket stays up,
queries and mutations keep working, subscriptions report the outage, and everything
resumes when the layer is back (commit 7f41ff1; tests/e2e/test_dependency_failures.py).
A gain in availability, not speed: nothing to measure in bench/.

Written against channels 4.3.2. `ResilientLayerMixin.__call__` is a copy of
`AsyncConsumer.__call__` with the layer's receive wrapped; it relies on
`channels.utils.await_many_dispatch` and `AsyncConsumer.dispatch`.
tests/overrides/test_channels_consumer.py pins the source of all three.
"""

import asyncio
import contextlib
import functools
import logging
import time

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch

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
            await await_many_dispatch(sources, self.dispatch)

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
