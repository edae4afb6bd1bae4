"""3. Streaming: N concurrent conversations through real websocket clients and daphne.

Three processes besides daphne, so none measures itself:
- `bench.upstream`: the fake OpenAI server streaming T tokens every I seconds; it records
  when each stream's first token was written (perf_counter = CLOCK_MONOTONIC);
- `bench.stream_client`: N websocket clients (graphql-transport-ws, `conversationEvents`),
  sending with `sendMessage` over HTTP once every subscription is live, and recording when
  each delta arrives (perf_counter_ns, CLOCK_MONOTONIC);
- daphne (LLM_PROVIDER=openai, OPENAI_BASE_URL=the fake, in-memory channel layer).
Added first-token latency = client receive time of the reply's first delta - the fake's
send time of the first token: what the server adds between the upstream and the visitor.
Loss: every reply rebuilt from its deltas must equal the text the fake sent.

Targets (issue 15, point 4), per level N: every token delivered in order, every reply
finished within 1.5x its upstream duration (the client's MessageCompleted minus the fake's
first token, against the fake's last token minus its first), added first-token p99 <= 50 ms
and inter-delta gap p99 <= 100 ms; at N=1 added first-token p50 <= 5 ms. The run reports
the largest N where all of them hold, per channel layer (BENCH_STREAM_LAYERS: memory,
pubsub, core; the Redis ones on BENCH_REDIS_URL, flushed first), and the event-loop lag
daphne recorded during each level (its /metrics histogram). After a level misses the
targets a Redis layer runs no larger N (BENCH_STREAM_ALL_LEVELS=1 runs them anyway).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import tempfile

from bench import profile_split
from bench.common import (
    PROFILE,
    REDIS_URL,
    ROOT,
    CpuMeter,
    Daphne,
    Databases,
    LoopLag,
    Profiler,
    child_env,
    env_float,
    env_int,
    flush_redis,
    log,
    pick,
    proc_cpu_seconds,
    seed,
    summary,
    track,
)

NAME = "streaming"
P50_TARGET_MS = 5.0
P99_TARGET_MS = 50.0
GAP_TARGET_MS = 100.0
DURATION_TARGET = 1.5
LAYER_ENV = {
    "memory": {},
    "pubsub": {"REDIS_URL": REDIS_URL, "REDIS_CHANNEL_LAYER": "pubsub"},
    "core": {"REDIS_URL": REDIS_URL, "REDIS_CHANNEL_LAYER": "core"},
}
TOKEN = re.compile(r"\S+\s*|\s+")


def tokens() -> int:
    return env_int("BENCH_STREAM_TOKENS", 40)


def interval() -> float:
    return env_float("BENCH_STREAM_INTERVAL", 0.02)


def levels() -> list[tuple[int, int]]:
    """(N, rounds): N=1 repeated to get a distribution; larger N once or twice."""
    text = __import__("os").environ.get("BENCH_STREAM_N", "")
    if text:
        return [(int(n), 1 if int(n) > 1 else 10) for n in text.split(",")]
    return pick(
        [(1, 15), (50, 2), (100, 1), (200, 1), (300, 1), (500, 1)], [(1, 8), (50, 1), (200, 1)]
    )


def layers() -> list[str]:
    text = __import__("os").environ.get("BENCH_STREAM_LAYERS", "")
    names = [name.strip() for name in text.split(",") if name.strip()] or pick(
        ["memory", "pubsub", "core"], ["memory"]
    )
    unknown = set(names) - set(LAYER_ENV)
    if unknown:
        raise SystemExit(f"BENCH_STREAM_LAYERS: unknown {sorted(unknown)}; use {list(LAYER_ENV)}")
    return names


class Upstream:
    """The fake OpenAI server process."""

    def __init__(self, n_tokens: int, token_interval: float) -> None:
        self.process = track(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.upstream",
                    "--tokens",
                    str(n_tokens),
                    "--interval",
                    str(token_interval),
                ],
                cwd=ROOT,
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
        hello = json.loads(self.process.stdout.readline())
        self.port, self.pid = hello["port"], hello["pid"]
        self.tokens, self.interval = n_tokens, token_interval

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, text: str) -> dict:
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        from bench.common import stop_process

        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.process)


def run_clients(config: dict, timeout: float, module: str = "bench.stream_client") -> dict:
    """Run a client process (`python -m MODULE CONFIG.json`); its last JSON line."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(config, handle)
    process = track(
        subprocess.Popen(
            [sys.executable, "-m", module, handle.name],
            cwd=ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    finally:
        __import__("os").unlink(handle.name)
    if process.returncode:
        raise RuntimeError(f"{module} failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def measure(
    label: str,
    subscribe_on: Daphne,
    send_to: Daphne,
    upstream: Upstream,
    pool: list[dict],
    n: int,
    rounds: int,
    servers: dict[str, Daphne],
    profile_name: str | None = None,
) -> dict:
    """Run `rounds` batches of N concurrent conversations; the statistics of all of them."""
    batches = []
    for r in range(rounds):
        batch = [pool.pop() for _ in range(n)]
        for index, conversation in enumerate(batch):
            conversation["tag"] = f"{label}-n{n}-r{r}-c{index}"
        batches.append(batch)
    upstream.command("clear")
    upstream.command(f"barrier {n}")
    stream_seconds = upstream.tokens * upstream.interval
    timeout = 60 + stream_seconds + n * 0.2
    deadline = 30 + 3 * stream_seconds
    meter = CpuMeter(upstream=upstream.pid, **{name: s.pid for name, s in servers.items()})
    cpu_before = {name: proc_cpu_seconds(s.pid) for name, s in servers.items()}
    lag = LoopLag(send_to.port)
    profiler = None
    if profile_name:
        target = send_to
        # The whole phase (connecting, sending, streaming): stopped when the clients end.
        profiler = Profiler(target.pid, profile_name, timeout + deadline + 60)
    result = run_clients(
        {
            "mode": "stream",
            "sub_url": subscribe_on.ws_url,
            "send_url": send_to.graphql_url,
            "batches": batches,
            "timeout": timeout,
            "deadline": deadline,
        },
        timeout=rounds * (2 * timeout + deadline + 60),
    )
    cpu = meter.read()
    cpu_seconds = {name: proc_cpu_seconds(s.pid) - cpu_before[name] for name, s in servers.items()}
    profile = profiler.finish(timeout=0) if profiler else None
    dump = upstream.command("dump")
    out = analyse(label, n, rounds, result, dump, cpu, upstream, profile)
    out["event_loop_lag"] = lag.read()
    # Server CPU per delivered token: every process serving this phase, all its work
    # (accepting the sends, generating, fanning out) over the tokens the clients got.
    server_cpu = sum(cpu_seconds.values())
    out["server_cpu_s"] = round(server_cpu, 3)
    out["server_cpu_us_per_token"] = (
        round(1e6 * server_cpu / out["tokens_received"], 1) if out["tokens_received"] else None
    )
    if profiler and profiler.raw.exists():
        out["cpu_split"] = profile_split.report(
            profiler.raw.read_text(), out["tokens_received"], server_cpu
        )
        log("server CPU by category:\n" + profile_split.markdown(out["cpu_split"]))
    return out


def analyse(label, n, rounds, result, dump, cpu, upstream, profile) -> dict:
    streams: dict[str, list[dict]] = {}
    for stream in dump["streams"]:
        streams.setdefault(stream["tag"], []).append(stream)
    added, gaps, to_upstream, user_first, send_ms = [], [], [], [], []
    sent_total = received_total = lost = incomplete = duplicated_requests = 0
    prefix_ok = True
    errors: list[str] = []
    intervals: list[tuple[int, int]] = []
    durations: list[float] = []
    client_cpu = []
    connect_s = []
    for batch in result["batches"]:
        client_cpu.append(batch["client_cpu_share"])
        connect_s.append(batch["connect_s"])
        for c in batch["conversations"]:
            records = streams.get(c["tag"], [])
            if len(records) != 1:
                duplicated_requests += len(records) > 1
                errors.append(f"{c['tag']}: {len(records)} upstream requests")
            record = records[0] if records else None
            expected_tokens = record["tokens_sent"] if record else 0
            expected = "".join(f"{c['tag']}-{k} " for k in range(expected_tokens))
            content = c["content"] or ""
            sent_total += expected_tokens
            received_total += len(TOKEN.findall(content))
            if c["status"] != "COMPLETE":
                # Not finished by the deadline (overload): what arrived must still be an
                # exact prefix of what the upstream sent, with no gap or duplicate.
                incomplete += 1
                if not expected.startswith(content) or c["errors"]:
                    prefix_ok = False
            elif content != expected or c["final_content"] != expected:
                lost += 1
            errors += [f"{c['tag']}: {e}" for e in c["errors"]]
            if c["send_end_ns"]:
                send_ms.append((c["send_end_ns"] - c["send_start_ns"]) / 1e6)
            if record and record["first_token_ns"] and c["first_delta_ns"]:
                added.append((c["first_delta_ns"] - record["first_token_ns"]) / 1e6)
                to_upstream.append((record["received_ns"] - c["send_start_ns"]) / 1e6)
                user_first.append((c["first_delta_ns"] - c["send_start_ns"]) / 1e6)
            times = c["delta_ns"]
            gaps += [(b - a) / 1e6 for a, b in itertools.pairwise(times)]
            if record and c["done_ns"]:
                intervals.append((record["started_ns"], c["done_ns"]))
                upstream_ns = (record.get("last_token_ns") or 0) - (record["first_token_ns"] or 0)
                if c["status"] == "COMPLETE" and record["first_token_ns"] and upstream_ns > 0:
                    durations.append((c["done_ns"] - record["first_token_ns"]) / upstream_ns)
    peak = running = 0
    for _, step in sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals]):
        running += step
        peak = max(peak, running)
    added_summary = summary(added)
    gap_summary = summary(gaps)
    late = sum(ratio > DURATION_TARGET for ratio in durations)
    out = {
        "label": label,
        "n": n,
        "rounds": rounds,
        "conversations": n * rounds,
        "tokens_per_reply": upstream.tokens,
        "token_interval_ms": upstream.interval * 1000,
        "added_first_token_ms": added_summary,
        "inter_delta_gap_ms": gap_summary,
        "duration_ratio": {**summary(durations), "over_target": late},
        "send_to_upstream_request_ms": summary(to_upstream),
        "send_to_first_delta_ms": summary(user_first),
        "send_message_http_ms": summary(send_ms),
        "tokens_sent": sent_total,
        "tokens_received": received_total,
        "replies_lost_or_wrong": lost,
        "replies_not_complete": incomplete,
        "incomplete_are_exact_prefixes": prefix_ok,
        "waited_after_sends_s": [b.get("waited_after_sends_s") for b in result["batches"]],
        "barrier_timeouts": dump.get("barrier_timeouts", 0),
        "errors": errors[:10],
        "error_count": len(errors),
        "peak_concurrent_streams": peak,
        "connect_s": connect_s,
        "cpu_share": {
            **cpu,
            "clients": max(client_cpu) if client_cpu else None,
            "others": round(max(0.0, cpu["others"] - (max(client_cpu) if client_cpu else 0)), 3),
        },
        "p50_ok": added_summary.get("p50", 1e9) <= P50_TARGET_MS,
        "p99_ok": added_summary.get("p99", 1e9) <= P99_TARGET_MS,
        "gap_ok": gap_summary.get("p99", 1e9) <= GAP_TARGET_MS,
        "duration_ok": not late and len(durations) == n * rounds,
        "zero_loss": sent_total == received_total and not lost and not incomplete,
        "profile": profile,
    }
    out["targets_ok"] = (
        out["zero_loss"]
        and out["duration_ok"]
        and out["gap_ok"]
        and (out["p50_ok"] if n == 1 else out["p99_ok"])
    )
    log(
        f"{label} N={n}x{rounds}: added first token p50 {added_summary.get('p50')} ms "
        f"p99 {added_summary.get('p99')} ms; gap p99 {gap_summary.get('p99')} ms; "
        f"reply/upstream duration p99 {out['duration_ratio'].get('p99')} ({late} over); "
        f"tokens {received_total}/{sent_total}; lost {lost}; incomplete {incomplete}; peak {peak}; "
        f"cpu {out['cpu_share']}"
    )
    return out


def start_server(name: str, database: str, upstream: Upstream, **env: str) -> Daphne:
    return Daphne(
        name, {"DATABASE_URL": database, "OPENAI_BASE_URL": upstream.base_url, **env}
    ).start()


def run() -> dict:
    plan = levels()
    names = layers()
    needed = len(names) * sum(n * r for n, r in plan) + 2 * len(names)
    database = Databases.fresh(NAME)
    pool = seed(database, "chat", conversations=needed)["conversations"]
    upstream = Upstream(tokens(), interval())
    all_levels = __import__("os").environ.get("BENCH_STREAM_ALL_LEVELS") == "1"
    top = max(n for n, _ in plan)
    results = []
    try:
        for layer in names:
            if LAYER_ENV[layer]:
                flush_redis(REDIS_URL)
            server = start_server(f"streaming-{layer}", database, upstream, **LAYER_ENV[layer])
            try:
                measure("warmup", server, server, upstream, pool, 1, 2, {"server": server})
                for n, rounds in plan:
                    profiled = PROFILE and n == top and layer == names[0]
                    profile = f"streaming-n{n}" if profiled else None
                    servers = {"server": server}
                    out = measure(
                        layer, server, server, upstream, pool, n, rounds, servers, profile
                    )
                    out["layer"] = layer
                    results.append(out)
                    if n > 1 and not out["targets_ok"] and layer != "memory" and not all_levels:
                        log(f"{layer}: N={n} misses the targets; no larger N on this layer")
                        break
            finally:
                server.stop()
    finally:
        upstream.stop()
    return {"levels": results, "largest_n": largest_n(results), "table": table_rows(results)}


def largest_n(results: list[dict]) -> dict[str, int | None]:
    """Per layer: the largest N up to which every level met the targets (None: not even N=1)."""
    out: dict[str, int | None] = {}
    for layer in dict.fromkeys(r.get("layer", "memory") for r in results):
        best = None
        for r in sorted((r for r in results if r.get("layer", "memory") == layer), key=_n):
            if not r["targets_ok"]:
                break
            best = r["n"]
        out[layer] = best
    return out


def _n(result: dict) -> int:
    return result["n"]


def table_rows(results: list[dict]) -> list[dict]:
    nan = float("nan")  # a level where no delta arrived has no percentiles
    rows = []
    for r in results:
        a, g, d = r["added_first_token_ms"], r["inter_delta_gap_ms"], r["duration_ratio"]
        lag = r.get("event_loop_lag") or {}
        target = f"p50 <= {P50_TARGET_MS:g} ms" if r["n"] == 1 else f"p99 <= {P99_TARGET_MS:g} ms"
        rows.append(
            {
                "benchmark": f"3. Streaming ({r.get('layer', 'memory')})",
                "metric": f"N={r['n']}: added first-token p50/p99; gap p99; reply/upstream "
                "duration max; tokens recv/sent; loop lag p99",
                "target": f"{target}, gap <= {GAP_TARGET_MS:g} ms, <= {DURATION_TARGET:g}x, "
                "zero loss",
                "measured": f"{a.get('p50', nan):.1f} / {a.get('p99', nan):.1f} ms;"
                f" {g.get('p99', nan):.0f} ms; {d.get('max', nan):.2f}x"
                f" ({d.get('over_target', 0)} over); {r['tokens_received']}/{r['tokens_sent']}"
                f"; lag p99 {lag.get('p99_ms', nan)} ms"
                + (
                    f" ({r['replies_not_complete']} of {r['conversations']} unfinished "
                    f"{r['waited_after_sends_s'][-1]:.0f} s after the sends, received text "
                    f"{'an exact prefix' if r['incomplete_are_exact_prefixes'] else 'CORRUPT'})"
                    if r["replies_not_complete"]
                    else ""
                ),
                "ok": r["targets_ok"],
            }
        )
    for layer, n in largest_n(results).items():
        rows.append(
            {
                "benchmark": f"3. Streaming ({layer})",
                "metric": "largest N where every target holds",
                "target": ">= 500",
                "measured": f"N={n}" if n else "none",
                "ok": bool(n and n >= 500),
            }
        )
    return rows
