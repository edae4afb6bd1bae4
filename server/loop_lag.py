"""Event-loop lag: how late the serving event loop runs a timer, as a histogram.

Everything a daphne process does (HTTP requests, websocket frames, streamed replies)
runs on one event loop, so when the loop is busy everything waits. A small task sleeps
`EVENT_LOOP_LAG_INTERVAL` seconds at a time and observes how much later than asked it
woke up (`botstream_event_loop_lag_seconds`, 1 ms to 5 s). An idle process shows about
a millisecond; p99 over 100 ms means the process is CPU-bound (add workers); single
observations of seconds mean something blocked the loop (synchronous I/O or CPU work
that belongs in a thread).

The task runs on the loop that serves the ASGI application: `ensure_lag_monitor()` is
called by `server.background.ProcessTasks` with each connection (daphne sends no
lifespan events), never at import, so management commands do not start it. One task
per event loop (tests run one loop per test).
"""

import asyncio
import weakref

from django.conf import settings

from server.metrics import observe_loop_lag

_monitors: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = (
    weakref.WeakKeyDictionary()
)


async def watch_lag(interval: float) -> None:
    """Sleep `interval` seconds, observe how late the wake-up was, forever."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        observe_loop_lag(max(0.0, loop.time() - due))


def ensure_lag_monitor() -> None:
    """Start the lag monitor on the running loop, once per loop (0 disables it)."""
    interval = settings.EVENT_LOOP_LAG_INTERVAL
    if interval <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _monitors.get(loop)
    if task is None or task.done():
        _monitors[loop] = loop.create_task(watch_lag(interval), name="event-loop-lag")
