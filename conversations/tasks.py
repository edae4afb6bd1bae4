"""Background jobs of the chat runtime, run by the task queue's worker (core/periodic.py)."""

import logging

from django.conf import settings

from conversations import lifecycle
from core.periodic import periodic

logger = logging.getLogger(__name__)


@periodic("expire-idle-conversations", every=lambda: settings.CONVERSATION_EXPIRY_SWEEP_INTERVAL)
def expire_idle_conversations() -> int:
    """Close the conversations idle past their bot's inactivity timeout (one batch)."""
    closed = lifecycle.expire_idle(limit=settings.CONVERSATION_EXPIRY_SWEEP_BATCH)
    if closed:
        logger.info("closed %d idle conversations", len(closed))
    return len(closed)
