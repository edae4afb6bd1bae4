"""Caps on the websockets one client holds at once: per client address
(WS_MAX_SOCKETS_PER_IP) and per chat token (WS_MAX_SOCKETS_PER_CHAT_TOKEN); 0 turns a
cap off.

Counted per process, in memory, on purpose: what the caps prevent is one client's
sockets and subscriptions weighing on the event loop that serves them (a reply fanned
out to 50 sockets x 20 subscriptions slowed another visitor's sendMessage from 66 ms to
1.3 s; 200 idle sockets held memory). That harm stays inside the process holding the
sockets, so a cap per process bounds it for every visitor of that process, with no
shared store whose outage or stale entries (a killed process cannot release its slots)
would refuse honest clients. With N processes a client may hold N x the cap in total,
each process still bounded.

All sockets of a process run on one event loop thread, so the counts need no lock.
"""

from collections import Counter

_held: Counter[tuple[str, str]] = Counter()


class SocketSlots:
    """The slots one socket holds; `release()` frees them all (on disconnect)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []

    def claim(self, kind: str, value: str, limit: int) -> bool:
        """Take a slot under (kind, value), or return False if `limit` are held."""
        key = (kind, value)
        if limit > 0 and _held[key] >= limit:
            return False
        _held[key] += 1
        self.keys.append(key)
        return True

    def release(self) -> None:
        for key in self.keys:
            _held[key] -= 1
            if _held[key] <= 0:
                del _held[key]
        self.keys.clear()
