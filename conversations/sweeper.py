"""Run the orphan sweep (conversations.turns.sweep_orphans) periodically in each process."""

import asyncio
import logging

from django.conf import settings

from conversations import turns

logger = logging.getLogger(__name__)

_started = False


async def sweep_forever(interval: float) -> None:
    while True:
        try:
            await turns.sweep_orphans()
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
