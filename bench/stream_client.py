"""Websocket chat clients in a process of their own (graphql-transport-ws, `websockets`).

    python -m bench.stream_client CONFIG.json      # prints one JSON result per command

Config: `{"mode": "stream" | "idle", "sub_url": ws://…/graphql, "send_url": http://…/graphql,
"batches": [[{"id", "token", "tag"}, …], …], "timeout": seconds}`.

stream: for each batch, every conversation gets its own socket (connection_init with its
chat token, then a `conversationEvents` subscription). The conversation already holds a
finished welcome message, which the server replays right after joining the group: that
is the signal that the subscription is live. Once all are live, every conversation sends
"bench-<tag>" with `sendMessage` over HTTP (all at once), and the client records, per
conversation, the receive time (time.perf_counter_ns, CLOCK_MONOTONIC) of each event of
the reply, rebuilds the reply from its deltas (checking offsets: no gap, no overlap) and
compares it with the final message. Sockets close when the batch is done.

idle: open and subscribe the conversations of the first batch in stages (cumulative
counts in "stages"); after each stage print `{"ready": n, …}` and obey stdin lines:
`probe K` (send on K of them and wait for their replies), `next` (next stage), `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

EVENTS = """
subscription Events($id: ID!) {
  conversationEvents(conversationId: $id) {
    __typename
    ... on MessageCreated { message { id role content status } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { id role content status } }
    ... on MessageFailed { message { id role content status } code error }
  }
}
"""

SEND = """
mutation Send($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { id } reply { id status } }
}
"""

CONNECT_CONCURRENCY = 50


@dataclass
class Conversation:
    id: str
    token: str
    tag: str
    ws: Any = None
    reader: asyncio.Task | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    known: set[str] = field(default_factory=set)  # message ids seen before sending
    sent: bool = False
    messages: dict[str, dict] = field(default_factory=dict)
    reply_id: str | None = None
    send_start_ns: int = 0
    send_end_ns: int = 0
    first_delta_ns: int | None = None
    delta_ns: list[int] = field(default_factory=list)
    done_ns: int | None = None
    status: str | None = None
    final_content: str | None = None
    errors: list[str] = field(default_factory=list)

    def result(self) -> dict:
        reply = self.messages.get(self.reply_id or "", {})
        return {
            "tag": self.tag,
            "reply_id": self.reply_id,
            "send_start_ns": self.send_start_ns,
            "send_end_ns": self.send_end_ns,
            "first_delta_ns": self.first_delta_ns,
            "delta_ns": self.delta_ns,
            "done_ns": self.done_ns,
            "status": self.status,
            "content": reply.get("content"),
            "final_content": self.final_content,
            "errors": self.errors[:5],
        }


async def read_loop(conversation: Conversation) -> None:
    ws = conversation.ws
    try:
        async for raw in ws:
            received = time.perf_counter_ns()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    conversation.errors.append(json.dumps(payload["errors"])[:300])
                    continue
                on_event(conversation, payload["data"]["conversationEvents"], received)
            elif kind == "ping":
                await ws.send('{"type":"pong"}')
            elif kind in ("error", "complete"):
                conversation.errors.append(f"{kind}: {json.dumps(message)[:300]}")
                conversation.done.set()
    except websockets.ConnectionClosed as exc:
        if not conversation.done.is_set():
            conversation.errors.append(f"closed: {exc}")
    finally:
        conversation.ready.set()
        conversation.done.set()


def on_event(conversation: Conversation, event: dict, received: int) -> None:
    kind = event["__typename"]
    if kind == "MessageCreated":
        message = event["message"]
        if message["id"] in conversation.messages:
            conversation.errors.append(f"duplicate MessageCreated {message['id']}")
        conversation.messages[message["id"]] = {
            "content": message["content"],
            "role": message["role"],
        }
        if not conversation.sent:
            conversation.known.add(message["id"])
        elif message["role"] == "ASSISTANT" and conversation.reply_id is None:
            conversation.reply_id = message["id"]
    elif kind == "MessageDelta":
        current = conversation.messages.get(event["messageId"])
        if current is None:
            conversation.errors.append(f"delta for unknown message {event['messageId']}")
            return
        if event["offset"] != len(current["content"]):
            conversation.errors.append(
                f"offset {event['offset']} != length {len(current['content'])}"
            )
        current["content"] = current["content"][: event["offset"]] + event["text"]
        if conversation.sent and event["messageId"] not in conversation.known:
            if conversation.first_delta_ns is None:
                conversation.first_delta_ns = received
            conversation.delta_ns.append(received)
    elif kind in ("MessageCompleted", "MessageFailed"):
        message = event["message"]
        if not conversation.sent:
            conversation.ready.set()  # the welcome message, replayed: subscription is live
            return
        if message["role"] != "ASSISTANT" or message["id"] in conversation.known:
            return
        current = conversation.messages.get(message["id"], {})
        if current.get("content") != message["content"]:
            conversation.errors.append("rebuilt content differs from the final message")
        conversation.final_content = message["content"]
        conversation.status = message["status"]
        conversation.done_ns = received
        conversation.done.set()


async def open_socket(conversation: Conversation, url: str, limit: asyncio.Semaphore, wait):
    async with limit:
        try:
            ws = await websockets.connect(
                url,
                subprotocols=["graphql-transport-ws"],
                open_timeout=wait,
                close_timeout=2,
                max_size=2**22,
                proxy=None,
            )
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"chatToken": conversation.token}}
                )
            )
            ack = json.loads(await asyncio.wait_for(ws.recv(), wait))
            if ack.get("type") != "connection_ack":
                raise RuntimeError(f"no ack: {ack}")
            conversation.ws = ws
            conversation.reader = asyncio.create_task(read_loop(conversation))
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": EVENTS, "variables": {"id": conversation.id}},
                    }
                )
            )
        except Exception as exc:  # reported, the batch goes on
            conversation.errors.append(f"connect: {type(exc).__name__}: {exc}")
            conversation.ready.set()
            conversation.done.set()


async def send(client: httpx.AsyncClient, conversation: Conversation) -> None:
    conversation.sent = True
    conversation.send_start_ns = time.perf_counter_ns()
    try:
        response = await client.post(
            "",
            json={
                "query": SEND,
                "variables": {
                    "input": {
                        "conversationId": conversation.id,
                        "text": f"bench-{conversation.tag}",
                    }
                },
            },
            headers={"X-Chat-Token": conversation.token},
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(json.dumps(body["errors"])[:300])
        reply = body["data"]["sendMessage"]["reply"]
        conversation.reply_id = conversation.reply_id or reply["id"]
    except Exception as exc:
        conversation.errors.append(f"send: {type(exc).__name__}: {exc}")
        conversation.done.set()
    conversation.send_end_ns = time.perf_counter_ns()


async def connect_all(conversations: list[Conversation], url: str, wait: float) -> float:
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()
    await asyncio.gather(*(open_socket(c, url, limit, wait) for c in conversations))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            await asyncio.gather(*(c.ready.wait() for c in conversations))
    return time.perf_counter() - started


async def close_all(conversations: list[Conversation]) -> None:
    async def close(c: Conversation) -> None:
        if c.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.ws.close(), 5)
        if c.reader is not None:
            c.reader.cancel()
            with contextlib.suppress(BaseException):
                await c.reader

    await asyncio.gather(*(close(c) for c in conversations))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def stream_batch(config: dict, batch: list[dict]) -> dict:
    timeout = float(config.get("timeout", 60))
    conversations = [Conversation(c["id"], c["token"], c["tag"]) for c in batch]
    connect_s = await connect_all(conversations, config["sub_url"], timeout)
    live = [c for c in conversations if not c.errors]
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    limits = httpx.Limits(max_connections=min(len(live), 100) or 1)
    async with httpx.AsyncClient(
        base_url=config["send_url"], limits=limits, timeout=timeout, trust_env=False
    ) as client:
        await asyncio.gather(*(send(client, c) for c in live))
        sent_at = time.perf_counter()
        # Replies must finish within `deadline` seconds of the last send (else the server
        # is overloaded: what arrived by then is still checked).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(float(config.get("deadline", timeout))):
                await asyncio.gather(*(c.done.wait() for c in live))
        waited = time.perf_counter() - sent_at
    cpu = cpu_seconds() - cpu_before
    wall = time.perf_counter() - wall_before
    await close_all(conversations)
    return {
        "n": len(conversations),
        "connect_s": round(connect_s, 3),
        "client_cpu_share": round(cpu / max(wall, 1e-9), 3),
        "waited_after_sends_s": round(waited, 3),
        "conversations": [c.result() for c in conversations],
    }


async def idle(config: dict) -> None:
    """Open sockets in stages (cumulative counts); after each, report and wait for stdin."""
    timeout = float(config.get("timeout", 120))
    everyone = [Conversation(c["id"], c["token"], c["tag"]) for c in config["batches"][0]]
    stages = config.get("stages") or [len(everyone)]
    opened: list[Conversation] = []
    loop = asyncio.get_running_loop()

    def emit(payload: dict) -> None:
        print(json.dumps(payload))
        sys.stdout.flush()

    for stage in stages:
        new = everyone[len(opened) : stage]
        connect_s = await connect_all(new, config["sub_url"], timeout)
        opened += new
        ready = [c for c in opened if not c.errors and c.ready.is_set()]
        errors = [e for c in opened for e in c.errors][:5]
        emit(
            {
                "ready": len(ready),
                "opened": len(opened),
                "connect_s": round(connect_s, 3),
                "errors": errors,
            }
        )
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line.startswith("probe"):
                count = int(line.split()[1])
                sample = ready[:: max(1, len(ready) // count)][:count]
                async with httpx.AsyncClient(
                    base_url=config["send_url"], timeout=timeout, trust_env=False
                ) as client:
                    await asyncio.gather(*(send(client, c) for c in sample))
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(30):
                            await asyncio.gather(*(c.done.wait() for c in sample))
                ok = sum(1 for c in sample if c.status == "COMPLETE" and not c.errors)
                emit(
                    {
                        "probed": len(sample),
                        "complete": ok,
                        "errors": [e for c in sample for e in c.errors][:5],
                    }
                )
                continue
            break  # "next" (or "close", or end of input)
        if line != "next":
            break
    await close_all(opened)
    emit({"closed": True})


async def main(config: dict) -> None:
    if config["mode"] == "idle":
        await idle(config)
        return
    results = []
    for batch in config["batches"]:
        # The clients timestamp every frame: a pause of their own garbage collector
        # (100 ms and more with hundreds of sockets) would be read as the server's gap.
        # Collected between batches instead; a batch is short and bounded.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            results.append(await stream_batch(config, batch))
        finally:
            gc.enable()
            gc.unfreeze()
    print(json.dumps({"batches": results}))


if __name__ == "__main__":
    import resource as _r

    soft, hard = _r.getrlimit(_r.RLIMIT_NOFILE)
    _r.setrlimit(_r.RLIMIT_NOFILE, (min(hard, 65536), hard))
    with open(sys.argv[1]) as handle:
        asyncio.run(main(json.load(handle)))
