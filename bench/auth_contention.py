"""7. Password hashing vs visitors: a visitor's `conversation(id)` query while bad
`Basic` passwords are being checked.

One daphne (production hasher, PBKDF2; rate limits off, so every bad password is really
hashed). A visitor sends the same query back to back on fresh connections: first with
the server idle, then with ATTACKERS threads each keeping one wrong-password request
in flight (a new one as soon as the last answered 401). Both phases take the same number
of samples. Target: the visitor's p99 under attack within 3 times its idle p99 (accounts/
backends.py hashes in a pool of PASSWORD_HASH_WORKERS threads, never on the event loop
or the thread that serves database work).
"""

from __future__ import annotations

import base64
import json
import threading
import time

from bench.common import (
    CpuMeter,
    Daphne,
    Databases,
    env_int,
    graphql,
    http_request,
    log,
    pick,
    seed,
    summary,
)

NAME = "authcontention"
TARGET_RATIO = 3.0
QUERY = "query($id: ID!) { conversation(id: $id) { id messages { edges { node { content } } } } }"


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    status, _ = http_request(
        port,
        "POST",
        "/graphql",
        body,
        {"Content-Type": "application/json", **headers},
        timeout=60,
    )
    return status


def visitor_latencies(port: int, conversation: dict, samples: int) -> list[float]:
    body = json.dumps({"query": QUERY, "variables": {"id": conversation["id"]}}).encode()
    headers = {"X-Chat-Token": conversation["token"]}
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        status = _post(port, body, headers)
        if status != 200:
            raise RuntimeError(f"visitor query answered {status}")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


class Attackers:
    """`count` threads, each with one bad-password request always in flight."""

    def __init__(self, port: int, username: str, count: int) -> None:
        secret = base64.b64encode(f"{username}:wrong-password".encode()).decode()
        self.port = port
        self.headers = {"Authorization": f"Basic {secret}"}
        self.body = json.dumps({"query": "{ me { username } }"}).encode()
        self.stop = threading.Event()
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                status = _post(self.port, self.body, self.headers)
            except OSError:
                status = 0
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> Attackers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)


def run() -> dict:
    attackers = env_int("BENCH_AUTH_ATTACKERS", 20)
    samples = env_int("BENCH_AUTH_SAMPLES", pick(200, 60))
    database = Databases.fresh(NAME)
    data = seed(database, "chat", conversations=1)
    conversation = data["conversations"][0]
    server = Daphne(NAME, {"DATABASE_URL": database}).start()
    try:
        got = graphql(
            server.graphql_url,
            QUERY,
            {"id": conversation["id"]},
            headers={"X-Chat-Token": conversation["token"]},
        )
        assert got["conversation"]["id"] == conversation["id"], got
        visitor_latencies(server.port, conversation, 10)  # warm-up
        idle = summary(visitor_latencies(server.port, conversation, samples))
        log(f"auth idle: p50 {idle['p50']} ms, p99 {idle['p99']} ms")
        with Attackers(server.port, "bench-chat-owner", attackers) as attack:
            time.sleep(1.0)  # every attacker has a request in flight
            meter = CpuMeter(server=server.pid)
            loaded = summary(visitor_latencies(server.port, conversation, samples))
            cpu = meter.read()
        log(f"auth under attack: p50 {loaded['p50']} ms, p99 {loaded['p99']} ms, {attack.statuses}")
    finally:
        server.stop()
    if set(attack.statuses) != {401}:
        raise RuntimeError(f"bad-password requests answered {attack.statuses}, not only 401")
    ratio = loaded["p99"] / idle["p99"]
    return {
        "attackers": attackers,
        "samples": samples,
        "idle_ms": idle,
        "attacked_ms": loaded,
        "bad_password_answers": attack.statuses,
        "server_cpu_share": cpu["server"],
        "others_cpu_share": cpu["others"],
        "p99_ratio": round(ratio, 2),
        "table": [
            {
                "benchmark": "7. Auth contention",
                "metric": f"visitor conversation(id) p99, {attackers} bad Basic passwords "
                "in flight ÷ idle",
                "target": f"<= {TARGET_RATIO:.0f}x",
                "measured": f"{ratio:.2f}x ({loaded['p99']:.1f} vs {idle['p99']:.1f} ms)",
                "ok": ratio <= TARGET_RATIO,
            },
            {
                "benchmark": "7. Auth contention",
                "metric": "visitor p50, attacked vs idle",
                "target": "-",
                "measured": f"{loaded['p50']:.1f} vs {idle['p50']:.1f} ms",
                "ok": None,
            },
        ],
    }
