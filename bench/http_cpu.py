"""CPU per HTTP request, in-process: the real ASGI application called directly.

`python -m bench.http_cpu [rounds] [calls]` (or `BENCH_HTTP_CPU_JSON=1` for one JSON
line). No server, no sockets, no load generator: each request is an ASGI call of
`server.asgi.application` (the production stack: middlewares, Strawberry, the access
log) made one after the other on one event loop, and its cost is the process's CPU time
(`time.process_time()`, every thread: the database thread's share included) divided by
the calls. Wall-clock time means nothing on a shared machine; CPU time is the figure
that moves with the code. `sendMessage` waits for its turn to end before the next call
(offline engine, no delay between words), so its reply's generation, persistence and
publishing count in its CPU, as in `bench/http_floor.py`. The floor is
`bench/floor_app.py` called the same way.

Production-like settings (`bench.common.SERVER_ENV`: DEBUG off, JSON logs, access log
on, rate limits off), SQLite in a temporary directory, the in-memory channel layer.
To compare two commits, run this file from each checkout in turn (alternating).
`BENCH_HTTP_CPU_PROFILE=sendMessage` profiles that kind's measured calls with yappi
(CPU clock, every thread) and prints the functions by own and cumulative time.
"""

import asyncio
import json
import os
import sys
import tempfile
import time

KINDS = ("floor", "healthz", "typename", "bots", "startConversation", "sendMessage")


def _configure(directory: str) -> None:
    from bench.common import SERVER_ENV

    os.environ.update(SERVER_ENV)
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{directory}/bench.sqlite3",
            "LLM_PROVIDER": "offline",
            "OFFLINE_TOKEN_DELAY": "0",
            "DJANGO_SETTINGS_MODULE": "server.settings",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        }
    )
    for name in ("REDIS_URL", "METRICS_ENABLED"):
        os.environ.pop(name, None)


def _request(method: str, path: str, body: bytes = b"", headers=()) -> tuple[dict, list]:
    all_headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
    all_headers += [(k.lower().encode(), v.encode()) for k, v in headers]
    all_headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": all_headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    return scope, [{"type": "http.request", "body": body, "more_body": False}]


async def _call(app, scope: dict, messages: list) -> bytes:
    pending = list(messages)
    done = asyncio.Event()
    body = []

    async def receive():
        if pending:
            return pending.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body":
            body.append(message.get("body", b""))
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return b"".join(body)


def _seed() -> dict:
    from django.core.management import call_command

    from bench import seed

    call_command("migrate", verbosity=0)
    return {"owner": seed.bots(count=20), "chat": seed.chat(conversations=2000, welcome=True)}


def _cases(data: dict) -> dict:
    from bench.http_floor import BOTS, SEND, START, TYPENAME, _body

    chat = data["chat"]
    owner = [("Authorization", f"Bearer {data['owner']['token']}")]
    bots = ("POST", "/graphql", _body(BOTS).encode(), owner)
    sends = [
        (
            "POST",
            "/graphql",
            _body(SEND, {"input": {"conversationId": c["id"], "text": "Hi"}}).encode(),
            [("X-Chat-Token", c["token"])],
        )
        for c in chat["conversations"]
    ]
    start = _body(START, {"input": {"botId": chat["bot_id"]}}).encode()
    return {
        "floor": [bots],
        "healthz": [("GET", "/healthz", b"", [])],
        "typename": [("POST", "/graphql", _body(TYPENAME).encode(), [])],
        "bots": [bots],
        "startConversation": [("POST", "/graphql", start, [])],
        "sendMessage": sends,
    }


async def _measure(apps: dict, cases: dict, rounds: int, calls: int) -> dict:
    from conversations import turns

    cursor = {kind: 0 for kind in cases}
    samples: dict[str, list[float]] = {kind: [] for kind in cases}

    async def one(kind: str) -> None:
        variants = cases[kind]
        method, path, body, headers = variants[cursor[kind] % len(variants)]
        cursor[kind] += 1
        scope, messages = _request(method, path, body, headers)
        answer = await _call(apps[kind], scope, messages)
        if kind != "healthz" and b'"errors"' in answer:
            raise RuntimeError(f"{kind}: {answer[:300]!r}")
        if turns._turns:
            await asyncio.gather(*list(turns._turns))

    for kind in cases:  # warm up: caches, connections, first-call imports
        for _ in range(20):
            await one(kind)
    profiled = os.environ.get("BENCH_HTTP_CPU_PROFILE")
    for _ in range(rounds):
        for kind in cases:
            if kind == profiled:
                _profile(start=True)
            start = time.process_time()
            for _ in range(calls):
                await one(kind)
            samples[kind].append((time.process_time() - start) / calls * 1000)
            if kind == profiled:
                _profile(start=False)
    if profiled:
        _profile_report(rounds * calls)
    return {kind: sorted(values)[len(values) // 2] for kind, values in samples.items()}


def _profile(*, start: bool) -> None:
    import yappi

    if start:
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True, profile_threads=True)
    else:
        yappi.stop()


def _profile_report(calls: int) -> None:
    import yappi

    stats = yappi.get_func_stats()
    for key, title in (("ttot", "cumulative"), ("tsub", "own")):
        print(f"--- by {title} CPU, µs per call ---")
        for stat in sorted(stats, key=lambda s: getattr(s, key), reverse=True)[:60]:
            where = f"{os.path.relpath(stat.module)}:{stat.lineno}" if stat.module else ""
            print(
                f"{getattr(stat, key) / calls * 1e6:9.1f} {stat.ncall / calls:7.2f}x"
                f"  {stat.name}  {where}"
            )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as directory:
        _configure(directory)
        from bench.floor_app import app as floor
        from server.asgi import application

        data = _seed()
        apps = {kind: application for kind in KINDS} | {"floor": floor}
        result = asyncio.run(_measure(apps, _cases(data), rounds, calls))
    if os.environ.get("BENCH_HTTP_CPU_JSON"):
        print(json.dumps(result))
    else:
        for kind, ms in result.items():
            print(f"{kind:>18}: {ms:7.3f} ms CPU per call (median of {rounds} rounds x {calls})")


if __name__ == "__main__":
    main()
