"""Caps on the websockets one client holds at once: per client address
(WS_MAX_SOCKETS_PER_IP) and per chat token (WS_MAX_SOCKETS_PER_CHAT_TOKEN); 0 turns a
cap off.

What the caps prevent: one client's sockets and subscriptions weighing on the event
loops that serve them (a reply fanned out to 50 sockets x 20 subscriptions slowed
another visitor's sendMessage from 66 ms to 1.3 s; 200 idle sockets held memory).

With REDIS_URL the count is shared by every process: a sorted set per (kind, value
digest) in Redis, one member per socket, scored by a lease expiry that the holding
process renews every LEASE_SECONDS / 3. A socket's slot is removed when it closes; the
slots of a killed process expire within LEASE_SECONDS. If Redis cannot be reached, a
claim falls back to this process's own count (a warning is logged, at most once a
minute): an outage of Redis must not refuse every socket. Without Redis the count is
per process, which is all there is.
"""

import asyncio
import hashlib
import logging
import time
import uuid
import weakref
from collections import Counter

import redis.asyncio as redis
from django.conf import settings

logger = logging.getLogger(__name__)

LEASE_SECONDS = 90
KEY_PREFIX = "botstream:ws-slots"
# Drop expired members, then add this one if fewer than the limit are held.
CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

_local: Counter[str] = Counter()
# Slots this process holds in Redis, {key: {member}}, renewed by one task per loop.
_shared: dict[str, set[str]] = {}
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shared]" = (
    weakref.WeakKeyDictionary()
)
_last_warning = 0.0


def _warn(action: str, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        logger.warning("websocket slots: Redis unreachable (%s), %r", action, exc)


class _Shared:
    """The Redis client of one event loop and its lease renewal task."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
        )
        self.claim = self.client.register_script(CLAIM)
        self.renewal: asyncio.Task | None = None

    def renew_while_held(self) -> None:
        if self.renewal is None or self.renewal.done():
            self.renewal = asyncio.create_task(self._renew())

    def stop_if_idle(self) -> None:
        # No task outlives the sockets: a pending one would be destroyed with its loop.
        if not _shared and self.renewal is not None:
            self.renewal.cancel()
            self.renewal = None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            expiry = time.time() + LEASE_SECONDS
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, members in list(_shared.items()):
                        pipe.zadd(key, dict.fromkeys(members, expiry), xx=True)
                        pipe.expire(key, LEASE_SECONDS)
                    await pipe.execute()
            except Exception as exc:  # renewed again next round
                _warn("renewing leases", exc)


def _shared_store() -> _Shared:
    loop = asyncio.get_running_loop()
    store = _clients.get(loop)
    if store is None:
        store = _clients[loop] = _Shared()
    return store


class SocketSlots:
    """The slots one socket holds; `release()` frees them all (on disconnect)."""

    def __init__(self) -> None:
        self.member = uuid.uuid4().hex
        self.local: list[str] = []
        self.shared: list[str] = []

    async def claim(self, kind: str, value: str, limit: int) -> bool:
        """Take a slot under (kind, value), or return False if `limit` are held."""
        if limit <= 0:
            return True
        # A digest: Redis never holds a chat token (nor an address) itself.
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"{KEY_PREFIX}:{kind}:{digest}"
        if settings.REDIS_URL:
            try:
                return await self._claim_shared(key, limit)
            except Exception as exc:  # fail open to the local count
                _warn("claiming a slot", exc)
        if _local[key] >= limit:
            return False
        _local[key] += 1
        self.local.append(key)
        return True

    async def _claim_shared(self, key: str, limit: int) -> bool:
        store = _shared_store()
        now = time.time()
        args = [now, limit, now + LEASE_SECONDS, self.member, LEASE_SECONDS]
        if not await store.claim(keys=[key], args=args):
            return False
        _shared.setdefault(key, set()).add(self.member)
        self.shared.append(key)
        store.renew_while_held()
        return True

    async def release(self) -> None:
        for key in self.local:
            _local[key] -= 1
            if _local[key] <= 0:
                del _local[key]
        self.local.clear()
        keys, self.shared = self.shared, []
        for key in keys:
            members = _shared.get(key, set())
            members.discard(self.member)
            if not members:
                _shared.pop(key, None)
        if keys:
            store = _shared_store()
            store.stop_if_idle()
            try:
                async with store.client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.zrem(key, self.member)
                    await pipe.execute()
            except Exception as exc:  # the lease expires instead
                _warn("releasing a slot", exc)
