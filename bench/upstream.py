"""The fake OpenAI upstream in a process of its own (tests.fake_openai.FakeOpenAI).

    python -m bench.upstream --tokens 40 --interval 0.02

Prints `{"port": P, "pid": PID}`, then answers commands on stdin, one per line, with one
JSON line: `dump` (every stream so far: tag, timings in perf_counter ns, tokens sent),
`clear`, `quit`. The reply to a user message "bench-<tag>" is `tokens` tokens
"<tag>-0 ", "<tag>-1 ", … so every conversation's text is distinct and checkable.

`barrier K`: the next K streams wait until all K requests have arrived (or 90 s), then
each starts after a random delay, uniform over one reply's duration (tokens x interval,
or --spread): at the end of that window all K streams are running, and each stream's
first token meets about K/2 others mid-stream, as in a steady state of K independent
conversations, whatever time the server took to accept the K messages (measured apart,
by the clients). The window also avoids K stream starts landing in the same instant.

`first_token_ns` is the fake's own record (time.perf_counter after the first token's
chunk was written and drained): the reference for the server's added latency. Its
clock is CLOCK_MONOTONIC, the same as the clients' in their own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time

from tests.fake_openai import FakeOpenAI

BARRIER_TIMEOUT = 90.0


class BarrierFake(FakeOpenAI):
    """FakeOpenAI whose streams can be held until a batch has arrived; tagged records."""

    def __init__(self, *, spread: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.spread = spread
        self.expected = 0
        self.arrived = 0
        self.released: asyncio.Event | None = None
        self.barrier_timeouts = 0
        self.arrivals: dict[str, float] = {}

    def set_barrier(self, count: int) -> None:
        async def reset() -> None:
            self.expected, self.arrived = count, 0
            self.released = asyncio.Event()

        asyncio.run_coroutine_threadsafe(reset(), self._loop).result(5)

    def _renew(self) -> None:
        self.released.set()
        self.released, self.arrived = asyncio.Event(), 0

    async def _stream(self, writer, body, tokens, finish, mode):
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        tag = str(users[-1].get("content", "")).removeprefix("bench-") if users else ""
        body = {**body, "model": f"tag:{tag}"}
        self.arrivals[tag] = time.perf_counter()
        if self.expected > 1 and self.released is not None:
            # One barrier per batch of `expected` streams, renewed when it opens.
            released = self.released
            self.arrived += 1
            if self.arrived >= self.expected:
                self._renew()
            try:
                await asyncio.wait_for(released.wait(), BARRIER_TIMEOUT)
            except TimeoutError:
                self.barrier_timeouts += 1
                if released is self.released:
                    self._renew()
            await asyncio.sleep(random.uniform(0, self.spread))
        return await super()._stream(writer, body, tokens, finish, mode)


class Replies:
    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def __call__(self, body: dict) -> list[str]:
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        tag = str(users[-1].get("content", "")).removeprefix("bench-") if users else ""
        return [f"{tag}-{k} " for k in range(self.tokens)]


def ns(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1e9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--spread", type=float, default=None)
    args = parser.parse_args()
    spread = args.tokens * args.interval if args.spread is None else args.spread
    replies = Replies(args.tokens)
    fake = BarrierFake(reply=replies, token_interval=args.interval, stall_seconds=5, spread=spread)
    fake.start()
    print(json.dumps({"port": fake.port, "pid": os.getpid()}), flush=True)
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "dump":
                out = [
                    {
                        "tag": s.model.removeprefix("tag:"),
                        "received_ns": ns(fake.arrivals.get(s.model.removeprefix("tag:"))),
                        "started_ns": ns(s.received_at),
                        "first_token_ns": ns(s.first_token_at),
                        "last_token_ns": ns(s.last_token_at),
                        "tokens_sent": s.tokens_sent,
                        "completed": s.completed,
                    }
                    for s in fake.streams
                ]
                print(
                    json.dumps({"streams": out, "barrier_timeouts": fake.barrier_timeouts}),
                    flush=True,
                )
            elif command == "clear":
                fake.clear()
                fake.barrier_timeouts = 0
                fake.arrivals.clear()
                print(json.dumps({"ok": True}), flush=True)
            elif command.startswith("barrier"):
                fake.set_barrier(int(command.split()[1]))
                print(json.dumps({"ok": True}), flush=True)
            elif command == "quit":
                break
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
