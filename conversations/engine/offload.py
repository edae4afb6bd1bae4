"""The engine's CPU work (templates, owner regexes on visitor text) runs here, off the loop.

A few dedicated threads, not the loop's default executor: DNS lookups of ``api_call``
steps use that one and must not queue behind renders, and two threads bound how much of
the interpreter lock scenario work can take from the event loop at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

_THREADS = 2
_executor = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="scenario-engine")

T = TypeVar("T")


async def off_loop(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``func(*args, **kwargs)`` in an engine thread; the caller's coroutine only waits."""
    call = partial(func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor, call)
