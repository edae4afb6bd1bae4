"""A closed-loop HTTP/1.1 keep-alive load generator, run as its own process.

    python -m bench.loadgen --port 8000 --path /graphql --body '{"query": ...}' \
        --header 'Authorization: Bearer …' --connections 32 --warmup 2 --duration 8

`connections` sockets each send one request, read the whole response, send the next.
With `--variants FILE` (a JSON list of {"body": …, "headers": […]}) the requests take
each variant in turn, across all connections (e.g. one chat token per conversation).
Throughput counts the answers completed inside the measured window; latency is measured
per request started inside it, from the write to the last byte read (perf_counter_ns).
Prints one JSON object:
requests/s, latency percentiles (ms), status counts, errors, and this process's own CPU
use (a share near 1.0 means the generator itself was the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import time
from collections.abc import Iterator

from bench.common import summary


def build_request(args, body: str, headers: list[str]) -> bytes:
    body = body.encode()
    lines = [
        f"{args.method} {args.path} HTTP/1.1",
        f"Host: 127.0.0.1:{args.port}",
        "Accept: application/json",
        "Content-Type: application/json",
        *headers,
    ]
    if args.method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    keep_alive = b"connection: close" not in lower
    index = lower.find(b"content-length:")
    if index >= 0:
        end = lower.index(b"\r\n", index)
        body = await reader.readexactly(int(lower[index + 15 : end]))
        return status, body, keep_alive
    if b"transfer-encoding: chunked" in lower:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, b"".join(parts), keep_alive
            parts.append(chunk[:-2])
    return status, await reader.read(), False


class Stats:
    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.completed = 0
        self.statuses: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        # 200 answers whose body carries GraphQL errors (e.g. a refused message).
        self.graphql_errors = 0
        self.error_sample: bytes = b""
        self.sample: bytes = b""


async def worker(
    args, requests: Iterator[bytes], measure_from: int, stop_at: int, stats: Stats
) -> None:
    reader = writer = None
    while time.perf_counter_ns() < stop_at:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", args.port)
            request = next(requests)
            started = time.perf_counter_ns()
            writer.write(request)
            status, body, keep_alive = await asyncio.wait_for(read_response(reader), args.timeout)
            ended = time.perf_counter_ns()
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            stats.errors[type(exc).__name__] = stats.errors.get(type(exc).__name__, 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
            continue
        if measure_from <= ended <= stop_at:
            # Throughput: every answer completed in the window (slow answers that started
            # in the warm-up count too, else a slow server is under-counted).
            stats.completed += 1
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if started >= measure_from:
                stats.latencies_ns.append(ended - started)
            if b'"errors"' in body:
                stats.graphql_errors += 1
                stats.error_sample = stats.error_sample or body
        if not stats.sample:
            stats.sample = body
        if not keep_alive:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def load_variants(args) -> list[dict]:
    if not args.variants:
        return [{"body": args.body, "headers": []}]
    with open(args.variants) as file:
        return json.load(file)


async def run(args, variants: list[dict]) -> dict:
    requests = itertools.cycle(
        [build_request(args, v["body"], [*args.header, *v["headers"]]) for v in variants]
    )
    stats = Stats()
    begin = time.perf_counter_ns()
    measure_from = begin + int(args.warmup * 1e9)
    stop_at = measure_from + int(args.duration * 1e9)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(
        *(worker(args, requests, measure_from, stop_at, stats) for _ in range(args.connections))
    )
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    wall = (time.perf_counter_ns() - begin) / 1e9
    return {
        "connections": args.connections,
        "duration_s": args.duration,
        "requests": stats.completed,
        "rps": round(stats.completed / args.duration, 1),
        "latency_ms": summary(ns / 1e6 for ns in stats.latencies_ns),
        "statuses": {str(k): v for k, v in stats.statuses.items()},
        "errors": stats.errors,
        "graphql_errors": stats.graphql_errors,
        "error_sample": stats.error_sample.decode("utf-8", "replace")[:500],
        "loadgen_cpu_share": round(cpu / wall, 3),
        "sample": stats.sample.decode("utf-8", "replace"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body", default="")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--variants", default="")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args, load_variants(args)))))


if __name__ == "__main__":
    main()
