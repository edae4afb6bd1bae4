"""7. Engine attacks: the worst `/healthz` latency while visitors attack the scenario engine.

Two phases against one daphne process (offline LLM), each D seconds (BENCH_ATTACK_SECONDS,
10; quick 5), after a baseline of the same length with no attack:

* `regex`: visitors answer a question validated by ``(\\w+\\s?)*`` with 4,000 characters
  that almost match (issue 12.3: with Python's ``re`` 26 characters stalled /healthz
  for 4.7 s, and the time doubles per character);
* `templates`: visitors run an api_call whose four header templates take ~1.5 s of CPU
  each (issue 12.4: every request stalled 5.9 s).

Each visitor (BENCH_ATTACK_VISITORS per bot, 2) sends its message over HTTP, polls its
conversation until the reply is terminal, and sends again. A probe thread GETs /healthz
every 50 ms on a fresh connection; per phase: p50, p99 and max latency, and the outcome
of each attacking turn (its status and error code). Bounded: every request has a
timeout, a phase stops after D seconds and waits at most 30 s for replies in flight.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from bench.common import Daphne, Databases, env_int, http_request, log, pick, seed, summary

NAME = "engine_attack"
PROBE_INTERVAL = 0.05
PROBE_TIMEOUT = 30.0
EVIL_ANSWER = "ab " * 1333 + "!"  # 4,000 characters, no match: worst case for backtracking
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { reply { id } } }
"""
LAST = """
query($id: ID!) {
  conversation(id: $id) { messages(last: 3) { edges { node { id status errorCode } } } }
}
"""
TERMINAL = {"COMPLETE", "FAILED", "STOPPED", "INTERRUPTED"}


def post(server: Daphne, query: str, variables: dict, token: str) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json", "X-Chat-Token": token}
    status, payload = http_request(
        server.port, "POST", urlsplit(server.graphql_url).path, body, headers, 30.0
    )
    result = json.loads(payload)
    if status != 200 or result.get("errors"):
        raise RuntimeError(f"GraphQL {status}: {payload[:300]!r}")
    return result["data"]


def turn(server: Daphne, conversation: dict, text: str, deadline: float) -> str:
    """Send `text` and wait for the reply; its outcome ("COMPLETE", "FAILED render_budget"...)."""
    variables = {"input": {"conversationId": conversation["id"], "text": text}}
    reply = post(server, SEND, variables, conversation["token"])["sendMessage"]["reply"]
    while time.monotonic() < deadline:
        data = post(server, LAST, {"id": conversation["id"]}, conversation["token"])
        for edge in data["conversation"]["messages"]["edges"]:
            node = edge["node"]
            if node["id"] == reply["id"] and node["status"] in TERMINAL:
                return f"{node['status']} {node['errorCode'] or ''}".strip()
        time.sleep(0.1)
    return "unfinished"


class Probe(threading.Thread):
    """GET /healthz every PROBE_INTERVAL; latencies (s) under the current phase name."""

    def __init__(self, server: Daphne) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.phase = "baseline"
        self.latencies: dict[str, list[float]] = {}
        self.failures: Counter[str] = Counter()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            phase, started = self.phase, time.perf_counter()
            try:
                status, _ = http_request(self.server.port, "GET", "/healthz", timeout=PROBE_TIMEOUT)
            except OSError:
                status = None
            elapsed = time.perf_counter() - started
            self.latencies.setdefault(phase, []).append(elapsed)
            if status != 200:
                self.failures[phase] += 1
            self.stopped.wait(max(0.0, PROBE_INTERVAL - elapsed))


def attack(server: Daphne, visitors: list[dict], text: str, seconds: float) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def visitor(conversation: dict) -> None:
        while time.monotonic() < stop_at:
            try:
                outcome = turn(server, conversation, text, stop_at + 30)
            except (OSError, RuntimeError, ValueError) as exc:
                outcome = f"error {type(exc).__name__}"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=visitor, args=(c,), daemon=True) for c in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 70)
    return outcomes


def run() -> dict:
    seconds = env_int("BENCH_ATTACK_SECONDS", pick(10, 5))
    visitors = env_int("BENCH_ATTACK_VISITORS", 2)
    database = Databases.fresh(NAME)
    data = seed(database, "engine_attack", visitors=visitors)
    server = Daphne(NAME, {"DATABASE_URL": database, "LLM_PROVIDER": "offline"}).start()
    probe = Probe(server)
    outcomes = {}
    try:
        for conversation in data["regex"]:  # the first message starts the scenario
            turn(server, conversation, "hi", time.monotonic() + 30)
        probe.start()
        time.sleep(seconds)
        for phase, text in (("regex", EVIL_ANSWER), ("templates", "go")):
            probe.phase = phase
            outcomes[phase] = dict(attack(server, data[phase], text, seconds))
            log(f"engine attack {phase}: {outcomes[phase]}")
        probe.phase = "after"
        time.sleep(1)
    finally:
        probe.stopped.set()
        probe.join(PROBE_TIMEOUT + 1)
        server.stop()
    healthz = {phase: summary(values) for phase, values in probe.latencies.items()}
    rows = [
        {
            "benchmark": f"7. Engine attack ({phase})",
            "metric": f"/healthz latency while {visitors} visitors attack for {seconds} s",
            "target": "no stall (max < 0.5 s)",
            "measured": f"p50 {healthz[phase]['p50'] * 1000:.0f} ms, p99 "
            f"{healthz[phase]['p99'] * 1000:.0f} ms, max {healthz[phase]['max'] * 1000:.0f} ms "
            f"(baseline max {healthz['baseline']['max'] * 1000:.0f} ms); turns {outcomes[phase]}",
            "ok": healthz[phase]["max"] < 0.5 and not probe.failures[phase],
        }
        for phase in ("regex", "templates")
    ]
    return {
        "seconds": seconds,
        "visitors_per_bot": visitors,
        "healthz_s": healthz,
        "healthz_failures": dict(probe.failures),
        "turn_outcomes": outcomes,
        "table": rows,
    }
