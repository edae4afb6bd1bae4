"""Orphaned replies: a message left pending/streaming by a dead process becomes interrupted.

A live generation persists at least every GENERATION_HEARTBEAT seconds, so an active
message untouched for GENERATION_STALE_AFTER has no generator anywhere (any process).
"""

import asyncio
import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from conversations import transitions

logger = logging.getLogger(__name__)

_started = False


async def sweep_orphans() -> int:
    """Mark stale active messages interrupted (partial text kept); returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_STALE_AFTER)
    count = await transitions.interrupt_stale(cutoff)
    if count:
        logger.warning("marked %d orphaned replies interrupted", count)
    return count


async def sweep_forever(interval: float) -> None:
    while True:
        try:
            await sweep_orphans()
        except Exception:
            logger.exception("orphan sweep failed")
        await asyncio.sleep(interval)


def ensure_sweeper() -> None:
    """Start the periodic sweep once per process, on the server's event loop."""
    global _started
    if _started or settings.GENERATION_SWEEP_INTERVAL <= 0:
        return
    _started = True
    asyncio.get_running_loop().create_task(sweep_forever(settings.GENERATION_SWEEP_INTERVAL))


class SweeperMiddleware:
    """ASGI wrapper: daphne has no lifespan events, so start the sweeper on first traffic."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        ensure_sweeper()
        return await self.application(scope, receive, send)
