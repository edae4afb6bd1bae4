"""Where an idle websocket's memory goes: daphne with tracemalloc, for diagnosis only.

`daphne bench.memtrace:application` serves the real application with tracemalloc on.
`kill -USR1 <pid>` takes a snapshot: the first is the baseline, each later one writes the
top allocation sites grown since the baseline to $BENCH_MEMTRACE_OUT (JSON).
Used by `python -m bench idle` when BENCH_MEMTRACE=1 (slower: allocations are traced).
"""

from __future__ import annotations

import json
import os
import signal
import tracemalloc

tracemalloc.start(int(os.environ.get("BENCH_MEMTRACE_FRAMES", "1")))

from server.asgi import application  # noqa: E402

_baseline: list[tracemalloc.Snapshot] = []


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _on_signal(_signum, _frame) -> None:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__),)
    )
    if not _baseline:
        _baseline.append(snapshot)
        return
    stats = snapshot.compare_to(_baseline[0], "lineno")
    grown = [s for s in stats if s.size_diff > 0]
    total = sum(s.size_diff for s in grown)
    rows = [
        {
            "where": f"{_short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
            "kib": round(s.size_diff / 1024, 1),
            "count": s.count_diff,
        }
        for s in grown[:40]
    ]
    by_package: dict[str, int] = {}
    for s in grown:
        package = _short(s.traceback[0].filename).split("/", 1)[0]
        by_package[package] = by_package.get(package, 0) + s.size_diff
    out = {
        "traced_growth_kib": round(total / 1024, 1),
        "top": rows,
        "by_package_kib": sorted(
            ([k, round(v / 1024, 1)] for k, v in by_package.items()), key=lambda r: -r[1]
        ),
    }
    with open(os.environ.get("BENCH_MEMTRACE_OUT", "memtrace.json"), "w") as handle:
        json.dump(out, handle, indent=2)


signal.signal(signal.SIGUSR1, _on_signal)

__all__ = ["application"]
