"""6. Cold start: from launching daphne to the first answered GraphQL query.

The clock starts just before `Popen` and stops when `POST /graphql {apiInfo {version}}`
first returns 200 with data (polled every 5 ms on fresh connections). Median of R runs,
next to the same measure for the bare ASGI floor app under daphne (interpreter + Twisted +
daphne alone), alternating. `python -X importtime` of `server.asgi` lists the imports
that cost most (part of the profile).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from bench.common import (
    ROOT,
    SERVER_ENV,
    Daphne,
    Databases,
    child_env,
    env_int,
    http_request,
    log,
    median,
    pick,
    summary,
)

NAME = "coldstart"
QUERY = json.dumps({"query": "{ apiInfo { version } }"}).encode()
HEADERS = {"Content-Type": "application/json"}


def first_answer(server: Daphne, timeout: float = 60.0) -> float:
    """Seconds from launch to the first 200 answer with data."""
    server.launch()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{server.log_tail()}")
            try:
                status, body = http_request(server.port, "POST", "/graphql", QUERY, HEADERS, 2.0)
            except (OSError, ValueError, IndexError):
                time.sleep(0.005)
                continue
            answered = time.perf_counter_ns()
            if status == 200 and b'"data"' in body:
                return (answered - server.launched_ns) / 1e9
            raise RuntimeError(f"unexpected answer {status}: {body[:300]!r}")
        raise RuntimeError(f"no answer within {timeout} s:\n{server.log_tail()}")
    finally:
        server.stop()


def import_times(database: str, top: int = 15) -> list[list]:
    """The slowest imports of `server.asgi` (cumulative microseconds, python -X importtime)."""
    env = child_env({**SERVER_ENV, "DATABASE_URL": database})
    env["DJANGO_SETTINGS_MODULE"] = "server.settings"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import server.asgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[2]), len(match[3]), match[4]))
    total = max((r[0] for r in rows), default=0)
    # Top-level-ish entries (shallow nesting) carry the useful cumulative numbers.
    shallow = sorted((r for r in rows if r[1] <= 3), key=lambda r: -r[0])[:top]
    return [
        [name, round(us / 1000, 1), round(100 * us / total, 1) if total else 0]
        for us, _, name in shallow
    ]


def run() -> dict:
    runs = env_int("BENCH_COLDSTART_RUNS", pick(5, 3))
    database = Databases.fresh(NAME)
    times: dict[str, list[float]] = {"graphql": [], "floor": []}
    for index in range(runs):
        for name in ("floor", "graphql"):
            app = "bench.floor_app:app" if name == "floor" else "server.asgi:application"
            server = Daphne(f"cold-{name}", {"DATABASE_URL": database}, app=app)
            times[name].append(first_answer(server))
        log(
            f"cold start run {index + 1}: graphql {times['graphql'][-1]:.2f} s, "
            f"floor {times['floor'][-1]:.2f} s"
        )
    imports = import_times(database)
    app_s, floor_s = median(times["graphql"]), median(times["floor"])
    return {
        "runs": runs,
        "graphql_s": summary(times["graphql"]),
        "floor_s": summary(times["floor"]),
        "median_ratio": round(app_s / floor_s, 2),
        "slowest_imports_ms": imports,
        "table": [
            {
                "benchmark": "6. Cold start",
                "metric": f"launch -> first answered query, median of {runs} (floor app)",
                "target": "-",
                "measured": f"{app_s:.2f} s ({floor_s:.2f} s floor; {app_s / floor_s:.1f}x)",
                "ok": None,
            }
        ],
    }
