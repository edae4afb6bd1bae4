"""Bursts: N visitors open a chat within one second against one daphne process.

Each visitor (bench/burst_client.py, a process of its own) starts a conversation over
HTTP, opens a websocket with its chat token and sends its first message with the `chat`
subscription, all at a random moment within BENCH_BURST_WINDOW (1 s); the fake upstream
(bench/upstream.py) answers every message with BENCH_BURST_TOKENS tokens at
BENCH_BURST_INTERVAL (40 x 50 ms = 2 s, as a real model would). A burst holds when no
visitor was refused, reset or timed out, every reply is exact (the deltas rebuild the
final text, which is what the upstream sent) and streamed live (more than one delta).
Sizes: BENCH_BURST_N (default 100,200,300,500; quick 100,300); the result names the
largest burst that held.
"""

from __future__ import annotations

import os

from bench.common import (
    PROFILE,
    CpuMeter,
    Databases,
    Profiler,
    env_float,
    env_int,
    log,
    pick,
    seed,
    summary,
)
from bench.streaming import Upstream, run_clients, start_server

NAME = "burst"


def sizes() -> list[int]:
    text = os.environ.get("BENCH_BURST_N")
    if text:
        return [int(n) for n in text.split(",")]
    return pick([100, 200, 300, 500], [100, 300])


def analyse(
    n: int, result: dict, cpu: dict, tokens: int, reply_seconds: float, profile: dict | None
) -> dict:
    failures: dict[str, int] = {}
    # How far every visitor got, failed or not: where a burst breaks down.
    reached = {
        stage: sum(1 for v in result["visitors"] if v[f"{stage}_ns"])
        for stage in ("started", "acked", "first_delta", "done")
    }
    wrong = single_delta = 0
    start_ms, ack_ms, first_ms, done_ms, deltas = [], [], [], [], []
    errors = []
    for v in result["visitors"]:
        if v["failure"]:
            failures[v["failure"]] = failures.get(v["failure"], 0) + 1
            errors += v["errors"][:1]
            continue
        expected = "".join(f"{v['tag']}-{k} " for k in range(tokens))
        if v["status"] != "COMPLETE" or v["content"] != expected or v["final_content"] != expected:
            wrong += 1
            errors.append(f"{v['tag']}: status {v['status']}, {len(v['content'])} chars")
        if v["deltas"] <= 1:
            single_delta += 1
        deltas.append(v["deltas"])
        start_ms.append((v["started_ns"] - v["start_ns"]) / 1e6)
        ack_ms.append((v["acked_ns"] - v["started_ns"]) / 1e6)
        if v["first_delta_ns"]:
            first_ms.append((v["first_delta_ns"] - v["subscribed_ns"]) / 1e6)
        if v["done_ns"]:
            done_ms.append((v["done_ns"] - v["subscribed_ns"]) / 1e6)
    failed = sum(failures.values())
    holds = not failed and not wrong and not single_delta
    out = {
        "n": n,
        "holds": holds,
        "failed": failed,
        "failures": failures,
        "reached": reached,
        "replies_wrong": wrong,
        "replies_with_one_delta": single_delta,
        "start_conversation_ms": summary(start_ms),
        "connection_ack_ms": summary(ack_ms),
        "subscribe_to_first_delta_ms": summary(first_ms),
        "subscribe_to_done_ms": summary(done_ms),
        "upstream_reply_ms": round(reply_seconds * 1000),
        "deltas_per_reply": summary(deltas, 1),
        "cpu_share": {**cpu, "clients": result["client_cpu_share"]},
        "errors": errors[:10],
        "profile": profile,
    }
    first = out["subscribe_to_first_delta_ms"]
    log(
        f"burst N={n}: holds {holds}; failures {failures}; reached {reached}; wrong {wrong}; "
        f"one-delta {single_delta}; first delta p50 {first.get('p50')} ms "
        f"p99 {first.get('p99')} ms; cpu {out['cpu_share']}"
    )
    return out


def run() -> dict:
    tokens = env_int("BENCH_BURST_TOKENS", 40)
    interval = env_float("BENCH_BURST_INTERVAL", 0.05)
    window = env_float("BENCH_BURST_WINDOW", 1.0)
    database = Databases.fresh(NAME)
    bot_id = seed(database, "chat", conversations=1)["bot_id"]
    upstream = Upstream(tokens, interval)
    server = start_server(NAME, database, upstream)
    results = []
    try:
        for n in sizes():
            upstream.command("clear")
            meter = CpuMeter(server=server.pid, upstream=upstream.pid)
            profiler = Profiler(server.pid, f"burst-n{n}", window + 20) if PROFILE else None
            config = {
                "label": f"burst{n}",
                "http_url": server.graphql_url,
                "ws_url": server.ws_url,
                "bot_id": bot_id,
                "visitors": n,
                "window": window,
                "timeout": 60.0,
            }
            result = run_clients(config, config["timeout"] + window + 60, "bench.burst_client")
            cpu = meter.read()
            profile = profiler.finish() if profiler else None
            results.append(analyse(n, result, cpu, tokens, tokens * interval, profile))
    finally:
        server.stop()
        upstream.stop()
    held = [r["n"] for r in results if r["holds"]]
    largest = max(held) if held else 0
    return {"levels": results, "largest_burst_held": largest, "table": table_rows(results)}


def table_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        first = r["subscribe_to_first_delta_ms"]
        rows.append(
            {
                "benchmark": NAME,
                "metric": f"N={r['n']} in 1 s: failed / wrong / one-delta; first delta p50/p99",
                "target": "0 / 0 / 0",
                "measured": (
                    f"{r['failed']} {r['failures'] or ''} / {r['replies_wrong']} / "
                    f"{r['replies_with_one_delta']}; {first.get('p50')} / {first.get('p99')} ms"
                ),
                "ok": r["holds"],
            }
        )
    return rows
