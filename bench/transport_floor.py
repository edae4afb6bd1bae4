"""The floor of a streamed reply's CPU in one process: what the fixed stack costs alone.

    python -m bench floor    (BENCH_FLOOR_N=100,250,500 BENCH_FLOOR_SECONDS=8
                              BENCH_FLOOR_ROUNDS=3)

Issue 15 point 4 asks one daphne process to stream N=500 replies at 50 tokens/s each.
Two parts of that path are fixed by the stack and cannot be skipped by any code of ours:
- **the upstream read**: every token arrives as one SSE chunk that the openai SDK reads
  and parses (point 3: keep the SDK; its cheapest path is the aiohttp transport);
- **the websocket write**: every coalesced event leaves as one frame that daphne
  (autobahn + twisted) writes.

This benchmark measures both alone, on this machine, and adds them up for each N:
- **frame**: daphne serving `bench.floor_app:app` (no Django, no channels, no GraphQL):
  N websockets, each sent a delta-sized frame every 40 ms (the default coalescing) from
  its own timer; a client process (`--client`) reads them and checks their order.
  Figure: daphne's CPU (user + system, /proc) per frame sent, median of the rounds;
  the floor takes the cheapest level's.
- **chunk**: `OpenAIProvider.stream` over the SDK's aiohttp transport against the fake
  OpenAI server (bench/sdkparse.py's `provider-aiohttp` path, 50 streams at once),
  CPU of the reading process per chunk, median of the rounds.

The floor at N is then N x 50 chunks/s x chunk + N x 25 frames/s x frame, in cores. A
process whose floor is above one core cannot deliver N replies on time whatever the rest
of it costs; the latency targets need headroom below that (at 70 % busy a loop already
queues work for tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

from bench.common import (
    CpuMeter,
    Daphne,
    child_env,
    env_int,
    log,
    median,
    percentile,
    pick,
    proc_cpu_seconds,
    track,
)

NAME = "floor"
TOKENS_PER_S = 50
FRAME_INTERVAL = 0.04  # conversations.streaming's default coalescing


def _levels() -> list[int]:
    raw = os.environ.get("BENCH_FLOOR_N", "100,250,500")
    return [int(n) for n in raw.split(",") if n.strip()]


# --- the client process ---


async def _client(url: str, n: int, frames: int, interval: float) -> dict:
    import websockets

    counts = [0] * n
    errors: list[str] = []
    gaps: list[float] = []

    async def one(index: int) -> None:
        try:
            async with websockets.connect(
                f"{url}?frames={frames}&interval={interval}",
                open_timeout=30,
                close_timeout=5,
                proxy=None,
            ) as ws:
                last = None
                async for text in ws:
                    now = time.perf_counter()
                    offset = json.loads(text)["payload"]["data"]["conversationEvents"]["offset"]
                    if offset != counts[index]:
                        errors.append(f"socket {index}: frame {offset} after {counts[index]}")
                        return
                    counts[index] += 1
                    if last is not None:
                        gaps.append(now - last)
                    last = now
        except Exception as exc:  # reported: the level does not hold
            errors.append(f"socket {index}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(k) for k in range(n)))
    return {
        "frames": sum(counts),
        "expected": n * frames,
        "errors": errors[:5],
        "error_count": len(errors),
        "gap_p99_ms": round(1000 * percentile(gaps, 99), 1) if gaps else None,
    }


# --- the parent ---


def _frames_level(server: Daphne, n: int, seconds: float) -> dict:
    frames = int(seconds / FRAME_INTERVAL)
    url = f"ws://127.0.0.1:{server.port}/floor"
    client = track(
        subprocess.Popen(
            [sys.executable, "-m", "bench.transport_floor", "--client", url, str(n), str(frames)],
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    meter = CpuMeter(daphne=server.pid)  # the client has exited by the reading: in `others`
    out, _ = client.communicate(timeout=seconds * 4 + 60)
    used = proc_cpu_seconds(server.pid) - meter.start["daphne"]
    result = json.loads(out.strip().splitlines()[-1])
    result.update(meter.read())
    result["us_per_frame"] = round(used * 1e6 / max(result["frames"], 1), 1)
    return result


def _chunk_cost(rounds: int) -> float:
    from bench.sdkparse import measure_http
    from bench.streaming import Upstream

    upstream = Upstream(200, 0.005)
    try:
        values = [
            asyncio.run(measure_http("provider-aiohttp", upstream.base_url, 200, 50, k))[
                "us_per_chunk"
            ]
            for k in range(rounds)
        ]
    finally:
        upstream.stop()
    return median(values)


def floor_cores(n: int, us_per_chunk: float, us_per_frame: float) -> dict:
    chunks = n * TOKENS_PER_S
    frames = n / FRAME_INTERVAL
    upstream = chunks * us_per_chunk / 1e6
    transport = frames * us_per_frame / 1e6
    return {
        "n": n,
        "chunks_per_s": chunks,
        "frames_per_s": round(frames),
        "upstream_cores": round(upstream, 3),
        "transport_cores": round(transport, 3),
        "floor_cores": round(upstream + transport, 3),
    }


def run() -> dict:
    rounds = env_int("BENCH_FLOOR_ROUNDS", pick(3, 1))
    seconds = env_int("BENCH_FLOOR_SECONDS", pick(8, 4))
    levels = _levels()
    per_level: dict[int, list[dict]] = {n: [] for n in levels}
    with Daphne("floor", {}, app="bench.floor_app:app") as server:
        for round_index in range(rounds):
            for n in levels if round_index % 2 == 0 else levels[::-1]:
                result = _frames_level(server, n, seconds)
                log(f"floor: N={n} round {round_index + 1}: {json.dumps(result)}")
                per_level[n].append(result)
    us_per_chunk = _chunk_cost(rounds)
    log(f"floor: SDK (aiohttp) {us_per_chunk:.1f} µs per chunk")
    frames = {}
    for n, results in per_level.items():
        frames[n] = {
            "us_per_frame": median(r["us_per_frame"] for r in results),
            "daphne_cores": median(r["daphne"] for r in results),
            "gap_p99_ms": median(r["gap_p99_ms"] or 0 for r in results),
            "all_frames_in_order": all(
                r["frames"] == r["expected"] and not r["error_count"] for r in results
            ),
        }
    # The cheapest frame of any level is the floor (a busier loop batches more per wake-up).
    us_per_frame = min(level["us_per_frame"] for level in frames.values())
    floors = [floor_cores(n, us_per_chunk, us_per_frame) for n in sorted({*levels, 1, 50, 200})]
    return {
        "rounds": rounds,
        "seconds_per_level": seconds,
        "frames": frames,
        "us_per_chunk": round(us_per_chunk, 1),
        "us_per_frame": us_per_frame,
        "floors": floors,
        "table": [
            {
                "benchmark": "floor",
                "metric": f"N={row['n']}: SDK + daphne alone, cores",
                "target": "< 1 core",
                "measured": f"{row['floor_cores']:.2f} ({row['upstream_cores']:.2f} upstream "
                f"+ {row['transport_cores']:.2f} frames)",
                "ok": row["floor_cores"] < 1.0,
            }
            for row in floors
        ],
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        url, n, frames = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        print(json.dumps(asyncio.run(_client(url, n, frames, FRAME_INTERVAL))))
