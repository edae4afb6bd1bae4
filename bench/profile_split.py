"""Where a streaming server's CPU goes, by category, from a py-spy raw (collapsed) profile.

    python -m bench.profile_split bench/results/profile-streaming-n200.txt [TOKENS CPU_S]

py-spy records with `--gil`: only the thread holding the interpreter lock is sampled,
so each sample is a slice of the process's Python CPU. A sample goes to one category:
first by anchors anywhere in its stack (an HTTP request: `sendMessage`), then by the
innermost frame whose package names a category, walking from the leaf to the root
(stdlib helpers such as asyncio's `wait` and `Task` machinery, `json.decoder`,
`contextlib` and asgiref's thread hops pass the sample on to their caller; a stack of
nothing but the loop's own frames is the event loop). Database work runs in asgiref's
thread, whose stacks do not show the caller: it is all counted as persistence (the
streaming phase's only other DB writes are the `sendMessage` inserts, counted with
them; the anchors catch the rest of those requests).

Given the tokens delivered and the server's CPU seconds over the same phase, each
category's share converts to µs of server CPU per delivered token.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.common import _frame_key

UPSTREAM_SDK = "upstream: openai SDK (SSE, JSON, models)"
UPSTREAM_HTTP = "upstream: HTTP client reads (aiohttp or httpx2/httpcore2/h11, anyio)"
COALESCE = "coalescing (ReplyWriter.pump/_take/flush)"
PERSIST = "persistence (progress/finish UPDATEs, Django ORM, SQLite)"
HEARTBEAT = "turn heartbeat (transitions.keep_alive UPDATEs, on the loop)"
LAYER = "channel layer (publish, group_send, receive, event encode/decode)"
SUBSCRIBER = "GraphQL execution per subscriber (Strawberry, graphql-core, replay)"
CONSUMER = "websocket consumer (channels, graphql_ws handler)"
JSON_ENCODE = "JSON encoding (json.dumps of frames)"
TRANSPORT = "transport (daphne, autobahn, twisted)"
EVENT_LOOP = "event loop (asyncio scheduling, epoll, tasks)"
HTTP = "HTTP requests (sendMessage over /graphql)"
TURN = "turn lifecycle (turns, generation, LLM request build)"
LOGGING = "logging"
OTHER = "other"

ORDER = [
    UPSTREAM_SDK,
    UPSTREAM_HTTP,
    COALESCE,
    PERSIST,
    HEARTBEAT,
    LAYER,
    SUBSCRIBER,
    CONSUMER,
    JSON_ENCODE,
    TRANSPORT,
    EVENT_LOOP,
    HTTP,
    TURN,
    LOGGING,
    OTHER,
]

# Anchors: any frame of the stack (file path prefix or "function (path)" prefix).
ANCHORS = [
    ("server/graphql_http.py", HTTP),
    ("django/core/handlers/", HTTP),
    ("strawberry/http/", HTTP),
    ("channels/generic/http.py", HTTP),
    ("_keep_alive (conversations/turns.py)", HEARTBEAT),
    ("_persist (conversations/streaming.py)", PERSIST),
    ("_write_progress (conversations/streaming.py)", PERSIST),
    ("conversations/transitions.py", PERSIST),
]

# Leaf to root: the first frame whose path starts with one of these decides.
PACKAGES = [
    ("json/encoder.py", JSON_ENCODE),
    ("dumps (json/__init__.py)", JSON_ENCODE),
    ("openai/_vendor/httpx_aiohttp/", UPSTREAM_HTTP),
    ("aiohttp/", UPSTREAM_HTTP),
    ("multidict/", UPSTREAM_HTTP),
    ("yarl/", UPSTREAM_HTTP),
    ("openai/", UPSTREAM_SDK),
    ("pydantic/", UPSTREAM_SDK),
    ("pydantic_core/", UPSTREAM_SDK),
    ("jiter/", UPSTREAM_SDK),
    ("conversations/llm/", UPSTREAM_SDK),
    ("httpx2/", UPSTREAM_HTTP),
    ("httpcore2/", UPSTREAM_HTTP),
    ("h11/", UPSTREAM_HTTP),
    ("anyio/", UPSTREAM_HTTP),
    ("sniffio/", UPSTREAM_HTTP),
    ("conversations/streaming.py", COALESCE),
    ("django/db/", PERSIST),
    ("sqlite3/", PERSIST),
    ("psycopg/", PERSIST),
    ("django/", PERSIST),
    ("conversations/events.py", LAYER),
    ("overrides/channel_layers.py", LAYER),
    ("channels/layers.py", LAYER),
    ("channels_redis/", LAYER),
    ("msgpack/", LAYER),
    ("conversations/replay.py", SUBSCRIBER),
    ("schema/", SUBSCRIBER),
    ("strawberry/", SUBSCRIBER),
    ("strawberry_django/", SUBSCRIBER),
    ("graphql/", SUBSCRIBER),
    ("server/graphql_ws.py", CONSUMER),
    ("overrides/", CONSUMER),
    ("channels/", CONSUMER),
    ("daphne/", TRANSPORT),
    ("autobahn/", TRANSPORT),
    ("twisted/", TRANSPORT),
    ("txaio/", TRANSPORT),
    ("zope/", TRANSPORT),
    ("conversations/", TURN),
    ("logging/", LOGGING),
    ("pythonjsonlogger/", LOGGING),
    ("server/logging.py", LOGGING),
]
# Scheduling itself: a sample whose stack holds nothing above but the loop's own frames.
LOOP = ("asyncio/", "selectors.py")


def _path(key: str) -> str:
    return key.rsplit("(", 1)[-1].rstrip(")")


def category(frames: list[str]) -> str:
    """The category of one sample; `frames` root first, as `_frame_key` gives them."""
    for frame in frames:
        for marker, name in ANCHORS:
            if frame.startswith(marker) or _path(frame).startswith(marker):
                return name
    for frame in reversed(frames):
        path = _path(frame)
        for marker, name in PACKAGES:
            if frame.startswith(marker) or path.startswith(marker):
                return name
    if any(_path(frame).startswith(LOOP) for frame in frames):
        return EVENT_LOOP
    return OTHER


def split(text: str) -> dict[str, int]:
    counts = dict.fromkeys(ORDER, 0)
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_frame_key(f) for f in stack.split(";") if not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread (")]
        if frames:
            counts[category(frames)] += int(count_text)
    return counts


def report(text: str, tokens: int | None = None, cpu_seconds: float | None = None) -> dict:
    counts = split(text)
    total = sum(counts.values())
    per_token = cpu_seconds * 1e6 / tokens if tokens and cpu_seconds else None
    rows = []
    for name in ORDER:
        share = counts[name] / total if total else 0.0
        rows.append(
            {
                "category": name,
                "samples": counts[name],
                "percent": round(100 * share, 1),
                "us_per_token": round(share * per_token, 1) if per_token else None,
            }
        )
    return {"samples": total, "us_per_token": per_token and round(per_token, 1), "rows": rows}


def markdown(result: dict) -> str:
    lines = ["| category | share of server CPU | µs per delivered token |", "|---|---|---|"]
    for row in result["rows"]:
        us = "-" if row["us_per_token"] is None else f"{row['us_per_token']:.1f}"
        lines.append(f"| {row['category']} | {row['percent']:.1f} % | {us} |")
    total = result["us_per_token"]
    lines.append(f"| **total** ({result['samples']} samples) | 100 % | {total or '-'} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    text = Path(argv[0]).read_text()
    tokens = int(argv[1]) if len(argv) > 1 else None
    cpu = float(argv[2]) if len(argv) > 2 else None
    result = report(text, tokens, cpu)
    print(markdown(result))
    print(json.dumps(result), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
