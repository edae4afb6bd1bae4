"""9. Workers: the production command with 2 daphne workers vs 1, streamed replies at one p99.

Both set-ups are `deploy/entrypoint.sh` as the image runs it (supervisord owning the
port, WEB_CONCURRENCY daphne workers accepting on it), on the Redis pub/sub layer
(BENCH_REDIS_URL, flushed first), started once and kept up side by side: each level N
is measured on one, then the other (the order alternates level by level), so a change
in the machine's load hits both. A subscription and its reply may be in different
workers: Redis carries the events between them, as in production.

The measurement is bench.streaming's (same websocket clients, same fake upstream: 40
tokens at 20 ms, the N streams started within one reply's duration; same added
first-token definition). For each set-up the capacity at a p99 bound B is the N where
the added first-token p99 reaches B, interpolated between the ladder's levels (a level
that loses or leaves a reply unfinished counts as over the bound). Target: 2 workers
carry >= 1.7x the replies of 1 at the same p99 (`BENCH_WORKERS_P99_MS`, default 100).
The bench's own processes (clients, fake upstream) share the same cores: their CPU and
the machine's `others` are recorded at every level.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import signal
import subprocess
import time
from types import SimpleNamespace

from bench.common import (
    BIN,
    METRICS_TOKEN,
    REDIS_URL,
    SERVER_ENV,
    Databases,
    Workdir,
    child_env,
    env_float,
    flush_redis,
    http_request,
    log,
    pick,
    seed,
)
from bench.streaming import Upstream, interval, measure, tokens
from tests import support
from tests.support import free_port, start_entrypoint

NAME = "workers"
TARGET_RATIO = 1.7
# The token the shared streaming measurement reads /metrics with (bench.common.LoopLag).
TOKEN = METRICS_TOKEN


def ladder() -> list[int]:
    text = os.environ.get("BENCH_WORKERS_N", "")
    if text:
        return [int(n) for n in text.split(",")]
    return pick([5, 10, 20, 40, 60, 80, 120, 160, 200, 300], [10, 40, 80])


def rounds_for(n: int) -> int:
    """Enough rounds for about 60 first tokens per level (a p99 of 10 samples is a max)."""
    return max(1, math.ceil(pick(60, 20) / n))


def bounds_ms() -> list[float]:
    main = env_float("BENCH_WORKERS_P99_MS", 100.0)
    return [main, *(b for b in (50.0, 200.0, 400.0) if b != main)]


class Workers(support.Daphne):
    """The production command on a free loopback port, in a process group of its own."""

    def __init__(self, count: int, env: dict[str, str]) -> None:
        super().__init__(
            f"workers-{count}",
            child_env(
                {
                    **SERVER_ENV,
                    **env,
                    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                    "WEB_CONCURRENCY": str(count),
                    "BIND_HOST": "127.0.0.1",
                    "METRICS_TOKEN": TOKEN,
                    "MIGRATE_ON_START": "0",
                }
            ),
            Workdir.path() / f"workers-{count}.log",
            ready_timeout=90.0,
        )
        self.count = count
        self.worker_pids: set[int] = set()

    def launch(self) -> None:
        self.port = free_port()
        self.env["PORT"] = str(self.port)
        self.process = start_entrypoint(self.env, self.log_path)
        atexit.register(self.stop)

    def wait_ready(self, path: str = "/healthz") -> float:
        """Seconds until every worker has answered `path` (its pid, with the token)."""
        started = time.monotonic()
        while len(self.worker_pids) < self.count:
            if not self.alive or time.monotonic() > started + self.ready_timeout:
                self.stop()
                raise RuntimeError(f"{self.count} workers did not all answer:\n{self.log_tail()}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                status, body = http_request(
                    self.port, "GET", path, headers={"Authorization": f"Bearer {TOKEN}"}
                )
                if status == 200:
                    self.worker_pids.add(json.loads(body)["pid"])
                    continue
            time.sleep(self.poll_interval)
        return time.monotonic() - started

    def processes(self) -> dict[str, SimpleNamespace]:
        """supervisord and each worker, for CpuMeter (through bench.streaming.measure)."""
        named = {f"w{self.count}_manager": SimpleNamespace(pid=self.pid)}
        for index, pid in enumerate(sorted(self.worker_pids)):
            named[f"w{self.count}_worker{index}"] = SimpleNamespace(pid=pid)
        return named

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM to supervisord (it stops the workers); the whole group killed if stuck."""
        if not self.alive:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def capacity(levels: list[dict], bound_ms: float) -> tuple[float, bool]:
    """The N where the added first-token p99 reaches `bound_ms`, linearly interpolated
    between the last level under it and the first over it; (N, True) when even the
    largest level stays under it (a lower bound), (0, False) when the smallest is over."""
    previous_n, previous_p99 = 0, 0.0
    for level in sorted(levels, key=lambda r: r["n"]):
        p99 = level["added_first_token_ms"].get("p99", math.inf)
        if not level["zero_loss"]:
            p99 = math.inf
        if p99 > bound_ms:
            if previous_n == 0:
                return 0.0, False
            if math.isinf(p99):
                return float(previous_n), False
            share = (bound_ms - previous_p99) / (p99 - previous_p99)
            return previous_n + share * (level["n"] - previous_n), False
        previous_n, previous_p99 = level["n"], p99
    return float(previous_n), True


def run() -> dict:
    plan = ladder()
    needed = 2 * (sum(n * rounds_for(n) for n in plan) + 2)
    flush_redis(REDIS_URL)
    database = Databases.fresh(NAME)
    pool = seed(database, "chat", conversations=needed)["conversations"]
    upstream = Upstream(tokens(), interval())
    env = {
        "DATABASE_URL": database,
        "OPENAI_BASE_URL": upstream.base_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_CHANNEL_LAYER": "pubsub",
    }
    setups = {1: Workers(1, env), 2: Workers(2, env)}
    results: dict[int, list[dict]] = {1: [], 2: []}
    try:
        for workers in setups.values():
            workers.start()
            log(f"{workers.count} worker(s) up: pids {sorted(workers.worker_pids)}")
        for count, workers in setups.items():
            measure(f"warmup{count}", workers, workers, upstream, pool, 1, 2, workers.processes())
        for index, n in enumerate(plan):
            order = (1, 2) if index % 2 == 0 else (2, 1)
            for count in order:
                workers = setups[count]
                results[count].append(
                    measure(
                        f"w{count}",
                        workers,
                        workers,
                        upstream,
                        pool,
                        n,
                        rounds_for(n),
                        workers.processes(),
                    )
                )
    finally:
        for workers in setups.values():
            workers.stop()
        upstream.stop()
        flush_redis(REDIS_URL)
    return report(plan, results)


def report(plan: list[int], results: dict[int, list[dict]]) -> dict:
    capacities = []
    for bound in bounds_ms():
        one, one_censored = capacity(results[1], bound)
        two, two_censored = capacity(results[2], bound)
        ratio = two / one if one else math.nan
        capacities.append(
            {
                "p99_bound_ms": bound,
                "one_worker_n": round(one, 1),
                "two_workers_n": round(two, 1),
                "one_is_lower_bound": one_censored,
                "two_is_lower_bound": two_censored,
                "ratio": round(ratio, 2),
            }
        )
        log(
            f"added first-token p99 <= {bound:g} ms: 1 worker N={one:.0f}"
            f"{'+' if one_censored else ''}, 2 workers N={two:.0f}"
            f"{'+' if two_censored else ''}: x{ratio:.2f}"
        )
    others = [r["cpu_share"]["others"] for count in results for r in results[count]]
    rows = [level_row(plan, results, index) for index in range(len(plan))]
    main = capacities[0]
    rows.insert(
        0,
        {
            "benchmark": "9. Workers",
            "metric": "replies carried at the same added first-token p99 "
            f"(<= {main['p99_bound_ms']:g} ms), 2 workers / 1 worker, Redis pub/sub",
            "target": f">= {TARGET_RATIO:g}x",
            "measured": f"x{main['ratio']:.2f} (N {main['one_worker_n']:g}"
            f"{'+' if main['one_is_lower_bound'] else ''} vs {main['two_workers_n']:g}"
            f"{'+' if main['two_is_lower_bound'] else ''}); others max "
            f"{max(others, default=0):.2f} cores",
            "ok": main["ratio"] >= TARGET_RATIO and not main["two_is_lower_bound"],
        },
    )
    return {
        "ladder": plan,
        "results": {str(count): levels for count, levels in results.items()},
        "capacities": capacities,
        "others_max": max(others, default=0),
        "table": rows,
    }


def level_row(plan: list[int], results: dict[int, list[dict]], index: int) -> dict:
    def shown(result: dict) -> str:
        first, gap = result["added_first_token_ms"], result["inter_delta_gap_ms"]
        cpu = result["cpu_share"]
        workers = sum(v for k, v in cpu.items() if "worker" in k and not k.endswith("_runq"))
        return (
            f"{first.get('p50', math.nan):.0f} / {first.get('p99', math.nan):.0f} ms, "
            f"gap p99 {gap.get('p99', math.nan):.0f} ms, "
            f"{result['tokens_received']}/{result['tokens_sent']} tokens, "
            f"workers {workers:.2f} cores, others {cpu['others']:.2f}"
        )

    one, two = results[1][index], results[2][index]
    return {
        "benchmark": "9. Workers",
        "metric": f"N={plan[index]} x{one['rounds']}: added first-token p50 / p99; 1 vs 2 workers",
        "target": "zero loss",
        "measured": f"{shown(one)} | {shown(two)}",
        "ok": one["zero_loss"] and two["zero_loss"],
    }
