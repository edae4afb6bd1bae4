"""1. HTTP floor: the visitor's and the owner's HTTP requests vs a bare ASGI app, under daphne.

Two servers run at once (the idle one costs nothing): the bare ASGI floor
(`bench/floor_app.py`) and the application. `bench.loadgen`, in its own process, sends
each endpoint's requests, alternating with the floor in every round:

- `healthz`: `GET /healthz` (liveness, no I/O);
- `typename`: `{ __typename }` over `/graphql`, the smallest GraphQL request (Django's
  request cycle and middlewares, Strawberry's parse, validation and execution, no
  resolver of ours): the floor of any GraphQL call on this stack;
- `bots`: the owner's `bots(first: 20)` read (bearer API token);
- `startConversation`: an anonymous visitor opens a chat with an active bot;
- `sendMessage`: a visitor sends a message with its chat token, round-robin over many
  conversations, so a conversation is never asked again while its reply is generated
  (the "busy" rule). Replies come from the offline engine with no delay between words,
  so they end within milliseconds and cost their CPU within the measured window: the
  CPU per call of sendMessage includes generating, persisting and publishing its reply.

Two load levels: 1 connection (service latency) and C keep-alive connections
(throughput). Per endpoint and level: requests/s and its share of the floor's, p50 /
p99, server CPU per call (daphne's CPU share ÷ requests/s), and the event-loop lag
daphne recorded meanwhile. Rate limits are off (SERVER_ENV). Target: sendMessage ≥ 20 %
of the floor's requests/s at C connections.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile

from bench.common import (
    PROFILE,
    ROOT,
    CpuMeter,
    Daphne,
    Databases,
    LoopLag,
    Profiler,
    Workdir,
    child_env,
    env_float,
    env_int,
    graphql,
    http_request,
    log,
    median,
    pick,
    seed,
    track,
)

NAME = "http"
TYPENAME = "query Typename { __typename }"
BOTS = (
    "query Bots { bots(first: 20) { totalCount "
    "edges { node { id name model isActive scenarioCount } } } }"
)
START = (
    "mutation Start($input: StartConversationInput!) { startConversation(input: $input) "
    "{ chatToken conversation { id } } }"
)
SEND = (
    "mutation Send($input: SendMessageInput!) { sendMessage(input: $input) "
    "{ userMessage { id content } reply { id status } } }"
)
TARGETS = {"sendMessage": 0.20, "bots": 0.25}


def _body(query: str, variables: dict | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def loadgen(
    port: int,
    case: dict,
    connections: int,
    duration: float,
) -> dict:
    warmup = 1.0
    args = [sys.executable, "-m", "bench.loadgen", "--port", str(port)]
    args += ["--method", case["method"], "--path", case["path"], "--body", case.get("body", "")]
    args += ["--connections", str(connections)]
    args += ["--warmup", str(warmup), "--duration", str(duration)]
    for header in case.get("headers", []):
        args += ["--header", header]
    if case.get("variants"):
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", dir=Workdir.path(), delete=False
        ) as file:
            json.dump(case["variants"], file)
        args += ["--variants", file.name]
    process = track(
        subprocess.Popen(args, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    )
    out, _ = process.communicate(timeout=warmup + duration + 60)
    if process.returncode:
        raise RuntimeError(f"loadgen failed ({process.returncode})")
    return json.loads(out)


def cases(owner_token: str, chat: dict) -> dict[str, dict]:
    """What each endpoint sends; the floor gets the owner's read, byte for byte."""
    owner = [f"Authorization: Bearer {owner_token}"]
    bots = {"method": "POST", "path": "/graphql", "body": _body(BOTS), "headers": owner}
    return {
        "floor": bots,
        "healthz": {"method": "GET", "path": "/healthz"},
        "typename": {"method": "POST", "path": "/graphql", "body": _body(TYPENAME)},
        "bots": bots,
        "startConversation": {
            "method": "POST",
            "path": "/graphql",
            "body": _body(START, {"input": {"botId": chat["bot_id"]}}),
        },
        "sendMessage": {
            "method": "POST",
            "path": "/graphql",
            "variants": [
                {
                    "body": _body(SEND, {"input": {"conversationId": c["id"], "text": "Hi"}}),
                    "headers": [f"X-Chat-Token: {c['token']}"],
                }
                for c in chat["conversations"]
            ],
        },
    }


def _smoke(port: int, endpoints: dict[str, dict], owner_token: str, chat: dict) -> None:
    """Each endpoint answers as the measured phases expect, before any is measured."""
    url = f"http://127.0.0.1:{port}/graphql"
    status, body = http_request(port, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}, (status, body)
    assert graphql(url, TYPENAME) == {"__typename": "Query"}
    data = graphql(url, BOTS, headers={"Authorization": f"Bearer {owner_token}"})
    assert len(data["bots"]["edges"]) == 20, data
    assert all(e["node"]["scenarioCount"] == 2 for e in data["bots"]["edges"]), data
    data = graphql(url, START, {"input": {"botId": chat["bot_id"]}})
    assert data["startConversation"]["chatToken"].startswith("chat_"), data
    last = chat["conversations"][-1]
    data = graphql(
        url,
        SEND,
        {"input": {"conversationId": last["id"], "text": "Hi"}},
        headers={"X-Chat-Token": last["token"]},
    )
    assert data["sendMessage"]["reply"]["status"] == "PENDING", data


def run() -> dict:
    connections = env_int("BENCH_HTTP_CONNECTIONS", 32)
    duration = env_float("BENCH_HTTP_SECONDS", pick(5.0, 2.0))
    rounds = pick(2, 1)
    # At ~400 sends/s a conversation comes round every few seconds: its reply (offline,
    # no delay) has long ended.
    conversations = env_int("BENCH_HTTP_CONVERSATIONS", pick(2000, 800))
    database = Databases.fresh(NAME)
    owner_token = seed(database, "bots", count=20, scenarios=2, steps=3)["token"]
    chat = seed(database, "chat", conversations=conversations, welcome=False)
    endpoints = cases(owner_token, chat)

    app_env = {"DATABASE_URL": database, "LLM_PROVIDER": "offline", "OFFLINE_TOKEN_DELAY": "0"}
    servers = {
        "floor": Daphne("floor", {"DATABASE_URL": database}, app="bench.floor_app:app"),
        "app": Daphne("app", app_env),
    }
    try:
        for server in servers.values():
            server.start()
        app = servers["app"]
        _smoke(app.port, endpoints, owner_token, chat)

        runs: dict[tuple[str, int], list[dict]] = {}
        for round_index in range(rounds):
            for level in (1, connections):
                for name, case in endpoints.items():
                    server = servers["floor" if name == "floor" else "app"]
                    lag = None if name == "floor" else LoopLag(server.port)
                    meter = CpuMeter(server=server.pid)
                    result = loadgen(server.port, case, level, duration)
                    cpu = meter.read(untracked_ours=result["loadgen_cpu_share"])
                    result["server_cpu_share"] = cpu["server"]
                    result["server_runq_share"] = cpu["server_runq"]
                    result["others_cpu_share"] = cpu["others"]
                    result["event_loop_lag"] = lag.read() if lag else None
                    _check(name, result)
                    runs.setdefault((name, level), []).append(result)
                    log(
                        f"http round {round_index + 1} {name} c={level}: {result['rps']} req/s, "
                        f"p50 {result['latency_ms'].get('p50')} ms, "
                        f"p99 {result['latency_ms'].get('p99')}"
                        f" ms, server cpu {result['server_cpu_share']}, "
                        f"loadgen cpu {result['loadgen_cpu_share']}, server runq "
                        f"{result['server_runq_share']}, others {result['others_cpu_share']}, "
                        f"graphql errors {result['graphql_errors']}, "
                        f"loop lag {result['event_loop_lag']}"
                    )
        profiles = {}
        if PROFILE:
            for name, case in endpoints.items():
                if name == "floor":
                    continue
                profiler = Profiler(app.pid, f"http-{name}", duration)
                loadgen(app.port, case, connections, duration)
                profiles[name] = profiler.finish()
    finally:
        for server in servers.values():
            server.stop()

    def agg(name: str, level: int) -> dict:
        results = runs[(name, level)]
        rps = median(r["rps"] for r in results)
        cpu = median(r["server_cpu_share"] for r in results)
        lags = [r["event_loop_lag"] for r in results if r["event_loop_lag"]]
        return {
            "rps": round(rps, 1),
            # A round may time no request (none both started and ended in its window).
            "p50_ms": round(median(r["latency_ms"].get("p50", math.nan) for r in results), 3),
            "p99_ms": round(median(r["latency_ms"].get("p99", math.nan) for r in results), 3),
            "server_cpu_share": round(cpu, 3),
            "cpu_ms_per_call": round(1000 * cpu / rps, 3) if rps else None,
            "loadgen_cpu_share": round(median(r["loadgen_cpu_share"] for r in results), 3),
            "server_runq_share": round(median(r["server_runq_share"] for r in results), 3),
            "others_cpu_share": round(median(r["others_cpu_share"] for r in results), 3),
            "graphql_errors": sum(r["graphql_errors"] for r in results),
            "loop_lag_p99_ms": median(x["p99_ms"] for x in lags if x.get("count")),
            "rounds": results,
        }

    levels = (1, connections)
    summary = {name: {f"c{level}": agg(name, level) for level in levels} for name in endpoints}
    for by_level in summary.values():
        for level in levels:
            at = by_level[f"c{level}"]
            at["floor_share"] = round(at["rps"] / summary["floor"][f"c{level}"]["rps"], 4)
    return {
        "queries": {
            "typename": TYPENAME,
            "bots": BOTS,
            "startConversation": START,
            "sendMessage": SEND,
        },
        "connections": connections,
        "duration_s": duration,
        "rounds": rounds,
        "conversations": conversations,
        "endpoints": summary,
        "profiles": profiles,
        "table": _table(summary, connections),
    }


def _table(summary: dict, connections: int) -> list[dict]:
    floor = summary["floor"]
    rows = []
    for name, by_level in summary.items():
        if name == "floor":
            continue
        at_c, at_1 = by_level[f"c{connections}"], by_level["c1"]
        floor_c = floor[f"c{connections}"]
        share = at_c["floor_share"]
        target = TARGETS.get(name)
        rows.append(
            {
                "benchmark": "1. HTTP floor",
                "metric": f"{name} req/s ÷ floor req/s (c={connections}); CPU per call",
                "target": f">= {target:.0%}" if target else "-",
                "measured": f"{share:.1%} ({at_c['rps']:.0f} / {floor_c['rps']:.0f} req/s); "
                f"{at_c['cpu_ms_per_call']} ms (floor {floor_c['cpu_ms_per_call']} ms)",
                "ok": share >= target if target else None,
            }
        )
        rows.append(
            {
                "benchmark": "1. HTTP floor",
                "metric": f"{name} p50 / p99, c={connections} and c=1",
                "target": "-",
                "measured": f"{at_c['p50_ms']:.1f} / {at_c['p99_ms']:.1f} ms; "
                f"{at_1['p50_ms']:.2f} / {at_1['p99_ms']:.2f} ms",
                "ok": None,
            }
        )
    return rows


def _check(name: str, result: dict) -> None:
    """Every counted answer must be a 200 with the expected body (no GraphQL errors)."""
    bad = {k: v for k, v in result["statuses"].items() if k != "200"}
    if bad or result["errors"] or not result["requests"]:
        raise RuntimeError(f"{name}: statuses {result['statuses']}, errors {result['errors']}")
    if result["graphql_errors"]:
        raise RuntimeError(
            f"{name}: {result['graphql_errors']} answers with errors, e.g. "
            f"{result['error_sample'][:300]}"
        )
    sample = json.loads(result["sample"])
    if name != "healthz" and (sample.get("errors") or "data" not in sample):
        raise RuntimeError(f"{name}: unexpected body {result['sample'][:300]}")
