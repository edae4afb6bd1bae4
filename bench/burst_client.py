"""A burst of visitors in a process of their own: `python -m bench.burst_client CONFIG.json`.

Config: `{"http_url", "ws_url", "bot_id", "visitors": N, "window": seconds, "timeout",
"tokens"}`. Each visitor starts at a random moment within `window` and does what a chat
widget does on first use: `startConversation` over HTTP, a websocket (graphql-transport-ws)
with its chat token in `connection_init`, then one `chat` subscription that sends
"bench-<tag>" and streams the reply. Per visitor the client records when each step
finished (time.perf_counter_ns), every delta of the reply (offsets checked: no gap, no
overlap), the final message, and any failure: an HTTP error, a refused or reset socket,
a close code, a timeout. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass, field

import httpx
import websockets

START = """
mutation Start($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}
"""

CHAT = """
subscription Chat($input: SendMessageInput!) {
  chat(input: $input) {
    __typename
    ... on MessageCreated { message { id role status } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { id role content status } }
    ... on MessageFailed { message { id role status } code error }
  }
}
"""


@dataclass
class Visitor:
    tag: str
    start_ns: int = 0
    started_ns: int = 0  # startConversation answered
    acked_ns: int = 0  # connection_ack received
    subscribed_ns: int = 0  # the chat subscription sent
    first_delta_ns: int = 0
    done_ns: int = 0
    deltas: int = 0
    content: str = ""
    final_content: str | None = None
    status: str | None = None
    failure: str | None = None  # first failure: "http 429", "reset", "close 4013", ...
    errors: list[str] = field(default_factory=list)


def fail(visitor: Visitor, kind: str, detail: str) -> None:
    visitor.failure = visitor.failure or kind
    visitor.errors.append(f"{kind}: {detail}"[:300])


async def visit(visitor: Visitor, config: dict, client: httpx.AsyncClient) -> None:
    await asyncio.sleep(random.uniform(0, config["window"]))
    visitor.start_ns = time.perf_counter_ns()
    try:
        response = await client.post(
            config["http_url"],
            json={"query": START, "variables": {"input": {"botId": config["bot_id"]}}},
        )
    except httpx.HTTPError as exc:
        fail(visitor, "http-connect", f"{type(exc).__name__}: {exc}")
        return
    if response.status_code != 200 or response.json().get("errors"):
        fail(visitor, f"http {response.status_code}", response.text)
        return
    started = response.json()["data"]["startConversation"]
    visitor.started_ns = time.perf_counter_ns()
    try:
        async with websockets.connect(
            config["ws_url"],
            subprotocols=["graphql-transport-ws"],
            open_timeout=config["timeout"],
            close_timeout=2,
            proxy=None,
        ) as ws:
            init = {"type": "connection_init", "payload": {"chatToken": started["chatToken"]}}
            await ws.send(json.dumps(init))
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                fail(visitor, "no-ack", json.dumps(ack))
                return
            visitor.acked_ns = time.perf_counter_ns()
            text = f"bench-{visitor.tag}"
            variables = {"input": {"conversationId": started["conversation"]["id"], "text": text}}
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": CHAT, "variables": variables},
                    }
                )
            )
            visitor.subscribed_ns = time.perf_counter_ns()
            await read(ws, visitor)
    except websockets.ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        fail(visitor, f"close {code}" if code else "reset", str(exc))
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        kind = "reset" if isinstance(exc, ConnectionError) else type(exc).__name__
        fail(visitor, kind, f"{type(exc).__name__}: {exc}")


async def read(ws, visitor: Visitor) -> None:
    reply_id = None
    async for raw in ws:
        message = json.loads(raw)
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        if message["type"] == "complete":
            return
        if message["type"] != "next" or message["payload"].get("errors"):
            fail(visitor, "graphql", json.dumps(message)[:300])
            return
        event = message["payload"]["data"]["chat"]
        kind = event["__typename"]
        if kind == "MessageCreated" and event["message"]["role"] == "ASSISTANT":
            reply_id = event["message"]["id"]
        elif kind == "MessageDelta" and event["messageId"] == reply_id:
            now = time.perf_counter_ns()
            if event["offset"] != len(visitor.content):
                fail(visitor, "offset", f"{event['offset']} after {len(visitor.content)} chars")
                return
            visitor.first_delta_ns = visitor.first_delta_ns or now
            visitor.deltas += 1
            visitor.content += event["text"]
        elif kind in ("MessageCompleted", "MessageFailed") and event["message"]["id"] == reply_id:
            visitor.done_ns = time.perf_counter_ns()
            visitor.status = event["message"]["status"]
            visitor.final_content = event["message"].get("content")


async def main(config: dict) -> None:
    visitors = [Visitor(tag=f"{config['label']}-v{i}") for i in range(config["visitors"])]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(config["timeout"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        tasks = [asyncio.wait_for(visit(v, config, client), config["timeout"]) for v in visitors]
        for visitor, outcome in zip(
            visitors, await asyncio.gather(*tasks, return_exceptions=True), strict=True
        ):
            if isinstance(outcome, TimeoutError):
                fail(visitor, "timeout", f"not done within {config['timeout']} s")
            elif isinstance(outcome, BaseException):
                fail(visitor, type(outcome).__name__, str(outcome))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    print(
        json.dumps(
            {
                "visitors": [asdict(v) for v in visitors],
                "client_cpu_share": round(cpu / max(time.monotonic() - began, 1e-9), 3),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        asyncio.run(main(json.load(handle)))
