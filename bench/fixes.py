"""The proposed fixes, measured side by side with today's code: `python -m bench fixes`.

Not one of the six (it is not run by `make bench`): it quantifies the gains claimed in
docs/BENCHMARKS.md. Each variant is the real application with some of the patches of
bench/whatif.py applied at start-up (BENCH_WHATIF), cumulatively:
- HTTP: one daphne per variant plus the floor app, all up at once, loadgen rounds
  alternating between them (c=1 and c=C), medians;
- nested read: one worker per variant on the same data;
- streaming N=50: today's code vs the fixes, in-memory layer and Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench import http_floor
from bench.common import (
    REDIS_URL,
    ROOT,
    SERVER_ENV,
    CpuMeter,
    Daphne,
    Databases,
    child_env,
    env_float,
    env_int,
    flush_redis,
    log,
    median,
    pick,
    seed,
    track,
)
from bench.streaming import Upstream, interval, measure, tokens

NAME = "fixes"

# node_id, annotation, async_static and parse_cache are in the code since bb9bc39 (they
# were measured with this benchmark before); what remains proposed is measured here.
HTTP_VARIANTS = [
    ("today", ""),
    ("+limits_rule", "limits_rule"),
    ("+lean_mw", "lean_mw"),
    ("+limits_rule+lean_mw", "limits_rule,lean_mw"),
]
# (label, patches, sizes tried): 20 bots is the largest size today's code answers on
# SQLite; the fk_join variant is also measured at the full 50.
NESTED_VARIANTS = [
    ("today", "", "20"),
    ("+fk_join", "fk_join", "20"),
    ("+fk_join", "fk_join", "50"),
]
STREAM_FIXES = "limits_rule,layer_clean,redis_channel"


def http_fixes() -> dict:
    connections = env_int("BENCH_HTTP_CONNECTIONS", 32)
    duration = env_float("BENCH_HTTP_SECONDS", pick(3.0, 2.0))
    rounds = pick(2, 1)
    database = Databases.fresh("fixes-http")
    token = seed(database, "bots", count=20, scenarios=2, steps=3)["token"]
    headers = [f"Authorization: Bearer {token}"]
    body = json.dumps({"query": http_floor.QUERY})
    servers = {"floor": Daphne("fix-floor", {"DATABASE_URL": database}, app="bench.floor_app:app")}
    for name, patches in HTTP_VARIANTS:
        env = {"DATABASE_URL": database, "BENCH_WHATIF": patches}
        servers[name] = Daphne(f"fix-{name.strip('+')}", env)
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        for server in servers.values():
            server.start()
        for _ in range(rounds):
            for level in (1, connections):
                for name, server in servers.items():
                    meter = CpuMeter(server=server.pid)
                    result = http_floor.loadgen(server.port, body, headers, level, duration)
                    cpu = meter.read(untracked_ours=result["loadgen_cpu_share"])
                    http_floor._check(name, result)
                    result["server_cpu_share"] = cpu["server"]
                    result["others_cpu_share"] = cpu["others"]
                    runs.setdefault((name, level), []).append(result)
                    log(
                        f"fixes http {name} c={level}: {result['rps']} req/s, "
                        f"p50 {result['latency_ms']['p50']} ms, cpu {cpu['server']}, "
                        f"others {cpu['others']}"
                    )
    finally:
        for server in servers.values():
            server.stop()
    out = {}
    floor_rps = median(r["rps"] for r in runs[("floor", connections)])
    for name in servers:
        rps = median(r["rps"] for r in runs[(name, connections)])
        cpu = median(r["server_cpu_share"] for r in runs[(name, connections)])
        out[name] = {
            f"rps_c{connections}": rps,
            "ratio_to_floor": round(rps / floor_rps, 4),
            "cpu_ms_per_request": round(1000 * cpu / rps, 2) if rps else None,
            "p50_ms_c1": median(r["latency_ms"]["p50"] for r in runs[(name, 1)]),
            "p99_ms_c1": median(r["latency_ms"]["p99"] for r in runs[(name, 1)]),
        }
    return {
        "connections": connections,
        "variants": out,
        "runs": {f"{k[0]} c{k[1]}": v for k, v in runs.items()},
    }


def nested_fixes() -> dict:
    out = {}
    for label, patches, sizes in NESTED_VARIANTS:
        name = f"{label} @{sizes}"
        database = Databases.fresh(f"fixes-nested-{len(out)}")
        env = child_env({**SERVER_ENV, "DATABASE_URL": database, "BENCH_WHATIF": patches})
        env["BENCH_NESTED_SIZES"] = sizes
        env["DJANGO_SETTINGS_MODULE"] = "server.settings"
        env["BENCH_PROFILE"] = "0"
        env["LOG_LEVEL"] = "CRITICAL"
        process = track(
            subprocess.Popen(
                [sys.executable, "-m", "bench.nested_read", "--worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        stdout, _ = process.communicate(timeout=600)
        if process.returncode:
            out[name] = {"error": f"worker failed ({process.returncode})"}
            continue
        result = json.loads(stdout.strip().splitlines()[-1])
        real, floor = result["times_ms"]["real"]["p50"], result["times_ms"]["floor"]["p50"]
        out[name] = {
            "size": result["size"],
            "failed_at_50": bool(result["failure"]),
            "real_p50_ms": real,
            "floor_p50_ms": floor,
            "ratio": round(real / floor, 2),
            "queries": result["queries"].get(f"real_first{result['size']}"),
            "identical": result["identical"],
        }
        log(f"fixes nested {name}: {out[name]}")
    return out


def stream_fixes() -> dict:
    n = env_int("BENCH_FIXES_STREAM_N", 50)
    flush_redis(REDIS_URL)
    database = Databases.fresh("fixes-stream")
    pool = seed(database, "chat", conversations=8 * (n + 2))["conversations"]
    upstream = Upstream(tokens(), interval())
    out = {}
    try:
        for layer in ("memory", "redis"):
            for name, patches in (("today", ""), ("fixed", STREAM_FIXES)):
                env = {"BENCH_WHATIF": patches}
                if layer == "redis":
                    env["REDIS_URL"] = REDIS_URL
                server = Daphne(
                    f"fix-stream-{layer}-{name}",
                    {"DATABASE_URL": database, "OPENAI_BASE_URL": upstream.base_url, **env},
                ).start()
                try:
                    measure("warmup", server, server, upstream, pool, 1, 2, {"server": server})
                    result = measure(
                        f"{layer}-{name}", server, server, upstream, pool, n, 1, {"server": server}
                    )
                finally:
                    server.stop()
                    flush_redis(REDIS_URL)
                out[f"{layer}-{name}"] = {
                    "added_first_token_ms": result["added_first_token_ms"],
                    "inter_delta_gap_ms": result["inter_delta_gap_ms"],
                    "send_message_http_ms": result["send_message_http_ms"],
                    "zero_loss": result["zero_loss"],
                    "cpu_share": result["cpu_share"],
                }
    finally:
        upstream.stop()
    return {"n": n, "variants": out}


def run() -> dict:
    parts = os.environ.get("BENCH_FIXES", "http,nested,stream").split(",")
    result = {}
    if "http" in parts:
        result["http"] = http_fixes()
    if "nested" in parts:
        result["nested"] = nested_fixes()
    if "stream" in parts:
        result["stream"] = stream_fixes()
    rows = []
    http = result.get("http", {})
    for name, v in http.get("variants", {}).items():
        rps = v[f"rps_c{http['connections']}"]
        rows.append(
            {
                "benchmark": "fixes: HTTP",
                "metric": name,
                "target": ">= 25% of floor",
                "measured": f"{v['ratio_to_floor']:.1%} ({rps:.0f} req/s, "
                f"{v['cpu_ms_per_request']} ms CPU/req; c=1 p50 {v['p50_ms_c1']:.1f} ms)",
                "ok": v["ratio_to_floor"] >= 0.25,
            }
        )
    for name, v in result.get("nested", {}).items():
        if "error" in v:
            continue
        rows.append(
            {
                "benchmark": "fixes: nested",
                "metric": name,
                "target": "<= 1.5x",
                "measured": f"{v['ratio']}x ({v['real_p50_ms']:.0f} vs "
                f"{v['floor_p50_ms']:.0f} ms, {v['queries']} queries)",
                "ok": v["ratio"] <= 1.5,
            }
        )
    for name, v in result.get("stream", {}).get("variants", {}).items():
        a = v["added_first_token_ms"]
        rows.append(
            {
                "benchmark": "fixes: streaming",
                "metric": f"N={result['stream']['n']} {name}",
                "target": "-",
                "measured": f"added p50 {a['p50']:.1f} / p99 {a['p99']:.1f} ms, "
                f"gap p99 {v['inter_delta_gap_ms']['p99']:.0f} ms",
                "ok": None,
            }
        )
    result["table"] = rows
    return result
