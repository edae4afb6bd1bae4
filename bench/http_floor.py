"""1. HTTP floor: /graphql answering a small list query vs a bare ASGI app, both under daphne.

Both servers run at once (the idle one costs nothing) and get the very same requests
(POST /graphql, same headers and JSON body) from `bench.loadgen` in another process,
alternating rounds. Two load levels: 1 connection (service latency) and C keep-alive
connections (throughput). Target: /graphql >= 25 % of the floor's requests/s at C.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import (
    PROFILE,
    ROOT,
    CpuMeter,
    Daphne,
    Databases,
    Profiler,
    child_env,
    env_float,
    env_int,
    graphql,
    log,
    median,
    pick,
    seed,
    track,
)

NAME = "http"
QUERY = (
    "query Bots { bots(first: 20) { totalCount "
    "edges { node { id name model isActive scenarioCount } } } }"
)
TARGET_RATIO = 0.25


def loadgen(port: int, body: str, headers: list[str], connections: int, duration: float) -> dict:
    warmup = 1.0
    args = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", "/graphql"]
    args += ["--body", body, "--connections", str(connections)]
    args += ["--warmup", str(warmup), "--duration", str(duration)]
    for header in headers:
        args += ["--header", header]
    process = track(
        subprocess.Popen(args, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    )
    out, _ = process.communicate(timeout=warmup + duration + 60)
    if process.returncode:
        raise RuntimeError(f"loadgen failed ({process.returncode})")
    return json.loads(out)


def run() -> dict:
    connections = env_int("BENCH_HTTP_CONNECTIONS", 32)
    duration = env_float("BENCH_HTTP_SECONDS", pick(5.0, 2.0))
    rounds = pick(2, 1)
    database = Databases.fresh(NAME)
    token = seed(database, "bots", count=20, scenarios=2, steps=3)["token"]
    auth = f"Bearer {token}"
    headers = [f"Authorization: {auth}"]
    body = json.dumps({"query": QUERY})

    servers = {
        "floor": Daphne("floor", {"DATABASE_URL": database}, app="bench.floor_app:app"),
        "graphql": Daphne("graphql", {"DATABASE_URL": database}),
    }
    try:
        for server in servers.values():
            server.start()
        data = graphql(servers["graphql"].graphql_url, QUERY, headers={"Authorization": auth})
        assert len(data["bots"]["edges"]) == 20, data
        assert all(e["node"]["scenarioCount"] == 2 for e in data["bots"]["edges"]), data

        runs: dict[tuple[str, int], list[dict]] = {}
        for round_index in range(rounds):
            for level in (1, connections):
                for name, server in servers.items():
                    meter = CpuMeter(server=server.pid)
                    result = loadgen(server.port, body, headers, level, duration)
                    cpu = meter.read(untracked_ours=result["loadgen_cpu_share"])
                    result["server_cpu_share"] = cpu["server"]
                    result["server_runq_share"] = cpu["server_runq"]
                    result["others_cpu_share"] = cpu["others"]
                    _check(name, result)
                    runs.setdefault((name, level), []).append(result)
                    log(
                        f"http round {round_index + 1} {name} c={level}: {result['rps']} req/s, "
                        f"p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']}"
                        f" ms, server cpu {result['server_cpu_share']}, "
                        f"loadgen cpu {result['loadgen_cpu_share']}, server runq "
                        f"{result['server_runq_share']}, others {result['others_cpu_share']}"
                    )
        profile = None
        if PROFILE:
            server = servers["graphql"]
            profiler = Profiler(server.pid, "http-graphql", duration)
            loadgen(server.port, body, headers, connections, duration)
            profile = profiler.finish()
    finally:
        for server in servers.values():
            server.stop()

    def agg(name: str, level: int) -> dict:
        results = runs[(name, level)]
        return {
            "rps": round(median(r["rps"] for r in results), 1),
            "p50_ms": round(median(r["latency_ms"]["p50"] for r in results), 3),
            "p99_ms": round(median(r["latency_ms"]["p99"] for r in results), 3),
            "server_cpu_share": round(median(r["server_cpu_share"] for r in results), 3),
            "loadgen_cpu_share": round(median(r["loadgen_cpu_share"] for r in results), 3),
            "server_runq_share": round(median(r["server_runq_share"] for r in results), 3),
            "others_cpu_share": round(median(r["others_cpu_share"] for r in results), 3),
            "rounds": results,
        }

    floor_c, graphql_c = agg("floor", connections), agg("graphql", connections)
    floor_1, graphql_1 = agg("floor", 1), agg("graphql", 1)
    ratio = graphql_c["rps"] / floor_c["rps"]
    return {
        "query": QUERY,
        "connections": connections,
        "duration_s": duration,
        "rounds": rounds,
        "floor": {"c1": floor_1, f"c{connections}": floor_c},
        "graphql": {"c1": graphql_1, f"c{connections}": graphql_c},
        "rps_ratio": round(ratio, 4),
        "latency_ratio_c1_p50": round(graphql_1["p50_ms"] / floor_1["p50_ms"], 2),
        "profile": profile,
        "table": [
            {
                "benchmark": "1. HTTP floor",
                "metric": f"/graphql req/s ÷ floor req/s (c={connections})",
                "target": f">= {TARGET_RATIO:.0%}",
                "measured": f"{ratio:.1%} ({graphql_c['rps']:.0f} / {floor_c['rps']:.0f} req/s)",
                "ok": ratio >= TARGET_RATIO,
            },
            {
                "benchmark": "1. HTTP floor",
                "metric": f"p50 / p99 latency, c={connections}: /graphql vs floor",
                "target": "-",
                "measured": f"{graphql_c['p50_ms']:.1f} / {graphql_c['p99_ms']:.1f} ms vs "
                f"{floor_c['p50_ms']:.1f} / {floor_c['p99_ms']:.1f} ms",
                "ok": None,
            },
            {
                "benchmark": "1. HTTP floor",
                "metric": "p50 / p99 latency, c=1: /graphql vs floor",
                "target": "-",
                "measured": f"{graphql_1['p50_ms']:.2f} / {graphql_1['p99_ms']:.2f} ms vs "
                f"{floor_1['p50_ms']:.2f} / {floor_1['p99_ms']:.2f} ms",
                "ok": None,
            },
        ],
    }


def _check(name: str, result: dict) -> None:
    """Every counted answer must be a 200 with the expected body."""
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    if bad or result["errors"] or not result["requests"]:
        raise RuntimeError(f"{name}: statuses {result['statuses']}, errors {result['errors']}")
    sample = json.loads(result["sample"])
    if sample.get("errors") or "data" not in sample:
        raise RuntimeError(f"{name}: unexpected body {result['sample'][:300]}")
