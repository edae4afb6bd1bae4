"""Rate limits (the `limits` library): moving windows in Redis when REDIS_URL is set, so
every process shares the counts, else in process memory.

If the storage is unreachable the limit fails open (the request is served and a warning
logged): an outage of Redis must not take chat down with it.

`hit` counts every event. `exceeded`/`count` (and their sync twins, for Django's sync
views) test first and count only what the caller decides to, e.g. failed passwords; they
share one store per process, so the sync and async paths see the same counts.
"""

import asyncio
import logging
import math
import time
import weakref

from django.conf import settings
from limits import parse, storage, strategies
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from core.exceptions import Forbidden

logger = logging.getLogger(__name__)

# Storages hold connections tied to the event loop that made them.
_limiters: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MovingWindowRateLimiter]" = (
    weakref.WeakKeyDictionary()
)


class RateLimited(Forbidden):
    code = "rate_limited"

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"Too many {what}: retry in {retry_after} s.")
        self.retry_after = retry_after


def _limiter() -> MovingWindowRateLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        if settings.REDIS_URL:
            storage = RedisStorage(
                "async+" + settings.REDIS_URL,
                implementation="redispy",
                socket_timeout=1,
                socket_connect_timeout=1,
            )
        else:
            storage = MemoryStorage()
        limiter = _limiters[loop] = MovingWindowRateLimiter(storage)
    return limiter


async def hit(rule: str, *identifiers: str, what: str) -> None:
    """Count one event under `rule` (e.g. "10/minute"); raise RateLimited past it."""
    if not settings.RATE_LIMITS_ENABLED or not rule:
        return
    item = parse(rule)
    limiter = _limiter()
    try:
        if await limiter.hit(item, *identifiers):
            return
        stats = await limiter.get_window_stats(item, *identifiers)
    except Exception:
        logger.warning("rate limit storage unavailable; %s not limited", what, exc_info=True)
        return
    raise RateLimited(what, _retry_after(stats))


_shared: strategies.MovingWindowRateLimiter | None = None


def _shared_limiter() -> strategies.MovingWindowRateLimiter:
    """The process-wide synchronous limiter (thread-safe): Redis or memory."""
    global _shared
    if _shared is None:
        if settings.REDIS_URL:
            store = storage.RedisStorage(
                settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
            )
        else:
            store = storage.MemoryStorage()
        _shared = strategies.MovingWindowRateLimiter(store)
    return _shared


def _retry_after(stats) -> int:
    return max(1, math.ceil(stats.reset_time - time.time()))


def exceeded_sync(rule: str, *identifiers: str) -> int | None:
    """Seconds to wait if `rule` is used up for `identifiers`, else None (counts nothing)."""
    if not settings.RATE_LIMITS_ENABLED or not rule:
        return None
    item, limiter = parse(rule), _shared_limiter()
    try:
        if limiter.test(item, *identifiers):
            return None
        return _retry_after(limiter.get_window_stats(item, *identifiers))
    except Exception:
        logger.warning("rate limit storage unavailable; not limited", exc_info=True)
        return None


def count_sync(rule: str, *identifiers: str) -> None:
    if not settings.RATE_LIMITS_ENABLED or not rule:
        return
    try:
        _shared_limiter().hit(parse(rule), *identifiers)
    except Exception:
        logger.warning("rate limit storage unavailable; not counted", exc_info=True)


async def exceeded(rule: str, *identifiers: str) -> int | None:
    """`exceeded_sync` for async code: Redis through its async client, memory in place
    (no I/O), so both paths share the counts."""
    if not settings.REDIS_URL or not settings.RATE_LIMITS_ENABLED or not rule:
        return exceeded_sync(rule, *identifiers)
    item, limiter = parse(rule), _limiter()
    try:
        if await limiter.test(item, *identifiers):
            return None
        return _retry_after(await limiter.get_window_stats(item, *identifiers))
    except Exception:
        logger.warning("rate limit storage unavailable; not limited", exc_info=True)
        return None


async def count(rule: str, *identifiers: str) -> None:
    if not settings.REDIS_URL or not settings.RATE_LIMITS_ENABLED or not rule:
        count_sync(rule, *identifiers)
        return
    try:
        await _limiter().hit(parse(rule), *identifiers)
    except Exception:
        logger.warning("rate limit storage unavailable; not counted", exc_info=True)


# The longest IPv6 text ("ffff:...:255.255.255.255") is 45 characters.
MAX_ADDRESS_LENGTH = 45


def client_ip(request) -> str:
    """The caller's address, for an HTTP request (Django's REMOTE_ADDR) or a websocket
    (the consumer's scope `client`). Behind trusted proxies both already hold the
    forwarded client (server/proxies.py); the length bound keeps any other value from
    becoming a huge rate-limit key."""
    meta = getattr(request, "META", None)
    if meta is not None:
        address = meta.get("REMOTE_ADDR") or "unknown"
    else:
        address = (getattr(request, "scope", {}).get("client") or ("unknown", 0))[0]
    return address[:MAX_ADDRESS_LENGTH]
