"""Run the benchmarks: `python -m bench` (all of them) or `python -m bench NAME [NAME ...]`.

Names: http, nested, streaming, scaleout, idle, coldstart, engine, auth, burst, sdkparse, fanout,
floor, workers, knowledge; analytics only when named (a million messages: about 35 min).
Environment: BENCH_QUICK=1 (smaller, ~2 min), BENCH_PROFILE=1 (py-spy during runs),
BENCH_DATABASE_URL (Postgres instead of SQLite), BENCH_REDIS_URL (scale-out, workers; flushed),
BENCH_WAIT_QUIET=S (before each benchmark wait up to S seconds for an idle machine).
Each benchmark writes bench/results/<name>.json; the run ends with a summary table
(also bench/results/summary.md).
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from bench.common import (
    QUICK,
    RESULTS,
    code_version,
    env_float,
    install_signal_handlers,
    log,
    raise_fd_limit,
    wait_quiet,
    write_result,
)

BENCHMARKS = {
    "http": "bench.http_floor",
    "nested": "bench.nested_read",
    "streaming": "bench.streaming",
    "scaleout": "bench.scale_out",
    "idle": "bench.idle",
    "coldstart": "bench.cold_start",
    "engine": "bench.engine_attack",
    "auth": "bench.auth_contention",
    "burst": "bench.burst",
    "sdkparse": "bench.sdkparse",
    "fanout": "bench.fanout",
    "floor": "bench.transport_floor",
    "workers": "bench.workers",
    "analytics": "bench.analytics",
    "knowledge": "bench.knowledge_quality",
}
# Run only when named: `analytics` seeds a million messages (about 35 min on this machine).
OPT_IN = {"analytics"}
DEFAULT = [name for name in BENCHMARKS if name not in OPT_IN]


def table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | metric | target | measured | met |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ok = {True: "yes", False: "**no**", None: "-"}[row.get("ok")]
        lines.append(
            f"| {row['benchmark']} | {row['metric']} | {row['target']} | {row['measured']} | {ok} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    names = argv or DEFAULT
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        known = list(BENCHMARKS)
        print(f"unknown benchmark(s) {unknown}; choose from {known}", file=sys.stderr)
        return 2
    install_signal_handlers()
    raise_fd_limit()
    started = time.monotonic()
    rows: list[dict] = []
    failed = []
    for name in names:
        log(f"=== {name} ===")
        quiet = wait_quiet(env_float("BENCH_WAIT_QUIET", 0))
        code_at_start = code_version()
        began = time.monotonic()
        try:
            result = importlib.import_module(BENCHMARKS[name]).run()
            result["machine_before"] = quiet
            result["code_at_start"] = code_at_start
        except Exception:
            traceback.print_exc()
            failed.append(name)
            rows.append(
                {
                    "benchmark": name,
                    "metric": "(failed)",
                    "target": "-",
                    "measured": "-",
                    "ok": False,
                }
            )
            continue
        result["seconds"] = round(time.monotonic() - began, 1)
        path = write_result(name, result)
        rows += result.get("table", [])
        log(f"{name} done in {result['seconds']} s -> {path.relative_to(RESULTS.parent.parent)}")
    total = time.monotonic() - started
    text = table(rows)
    footer = f"\nTotal {total:.0f} s{' (BENCH_QUICK)' if QUICK else ''}: {' '.join(names)}"
    print(text + footer)
    if names == DEFAULT:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "summary.md").write_text(text + "\n" + footer + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
