"""SDK parse: the openai SDK's CPU per streamed chunk, by streaming path (issue 15.3).

    python -m bench sdkparse    (BENCH_SDKPARSE_ROUNDS, _TOKENS, _STREAMS, _CONCURRENT,
                                 _INTERVAL; BENCH_SDKPARSE_HTTP=0: the mock set-up only)

Every path streams the same chat completions through the SDK's `AsyncOpenAI` client and
reads from each chunk what `OpenAIProvider` needs (delta text, finish reason, usage);
the rebuilt texts are compared, so no path skips work. Paths:

- `models`: `chat.completions.create(stream=True)`, typed `ChatCompletionChunk` models
  (the provider's path before this benchmark);
- `dicts`: `with_streaming_response.create(stream=True)` parsed as `AsyncStream[object]`:
  the SDK's own SSE decoder, `json.loads`, its error frames and exception mapping, but
  plain dicts instead of models;
- `lines-json` / `lines-jiter`: `with_streaming_response` + `iter_lines()`, the SSE
  fields picked here, then `json.loads` or jiter (the SDK's own fast JSON parser);
- `bytes-jiter`: `with_streaming_response` + `iter_bytes()`, events split here, jiter;
- `raw`: `with_streaming_response` + `iter_bytes()`, no parsing at all: the floor of
  the SDK's request and httpx2's response stream;
- `provider`: `OpenAIProvider.stream` as it is in the code measured.

Two set-ups, paths alternating within each round, median over the rounds:
- **mock**: an in-process `httpx2.MockTransport`, the body handed over one SSE frame
  per read (as a token-by-token upstream delivers it): the SDK's work per chunk, with
  no socket. One stream at a time; chunks/s is wall time.
- **http**: the fake OpenAI server (`bench.upstream`, its own process) over loopback,
  C streams at once, a token every I seconds: adds httpx2's per-read socket cost.
CPU is `time.process_time()` of this process (the fake's CPU is not in it).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import jiter
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient

from bench.common import env_float, env_int, log, pick
from conversations.llm import ChatMessage, LLMRequest, OpenAIProvider
from conversations.llm import openai_provider as provider_module
from tests.fake_openai import _Frames

NAME = "sdkparse"
API_KEY = "sk-bench"

Reader = Callable[[AsyncOpenAI, dict[str, Any]], Awaitable[str]]


def request_body(tag: str) -> dict[str, Any]:
    return {
        "model": "gpt-bench",
        "messages": [{"role": "user", "content": f"bench-{tag}"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


# --- the paths: each returns the text it rebuilt (and raises on a missing finish) ---


async def read_models(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    parts, finished = [], False
    stream = await client.chat.completions.create(**body)
    async with stream:
        async for event in stream:
            for choice in event.choices:
                if choice.delta and choice.delta.content:
                    parts.append(choice.delta.content)
                finished = finished or choice.finish_reason is not None
            if event.usage is not None:
                finished = True
    return _done(parts, finished)


async def read_dicts(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    parts, finished = [], False
    async with client.chat.completions.with_streaming_response.create(**body) as response:
        stream = await response.parse(to=AsyncStream[object])
        async for event in stream:
            finished = _take(event, parts) or finished
    return _done(parts, finished)


async def read_lines_json(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    return await _read_lines(client, body, json.loads)


async def read_lines_jiter(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    return await _read_lines(client, body, _jiter_loads)


async def read_bytes_jiter(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    parts, finished = [], False
    async with client.chat.completions.with_streaming_response.create(**body) as response:
        async for data in _byte_events(response.iter_bytes()):
            if data.startswith(b"[DONE]"):
                break
            finished = _take(jiter.from_json(data), parts) or finished
    return _done(parts, finished)


async def read_raw(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    async with client.chat.completions.with_streaming_response.create(**body) as response:
        size = 0
        async for chunk in response.iter_bytes():
            size += len(chunk)
    return f"{size} bytes"


async def read_provider(client: AsyncOpenAI, body: dict[str, Any]) -> str:
    provider = OpenAIProvider(api_key=API_KEY, base_url=str(client.base_url), max_retries=0)
    # The provider's shared client for its config on this loop: the one measured here.
    provider_module._clients.setdefault(asyncio.get_running_loop(), {})[provider.config] = client
    message = body["messages"][0]
    request = LLMRequest(model=body["model"], messages=(ChatMessage("user", message["content"]),))
    return "".join([chunk.text async for chunk in provider.stream(request)])


def _jiter_loads(text: str) -> Any:
    return jiter.from_json(text.encode())


async def _read_lines(client: AsyncOpenAI, body: dict[str, Any], loads) -> str:
    parts, finished, data = [], False, []
    async with client.chat.completions.with_streaming_response.create(**body) as response:
        async for line in response.iter_lines():
            if line:
                if line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                continue
            if not data:
                continue
            payload, data = "\n".join(data), []
            if payload.startswith("[DONE]"):
                break
            finished = _take(loads(payload), parts) or finished
    return _done(parts, finished)


async def _byte_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The data of each event, for LF-only streams (enough for a benchmark)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            data = [line[6:] for line in event.split(b"\n") if line.startswith(b"data: ")]
            if data:
                yield b"\n".join(data)


def _take(event: Any, parts: list[str]) -> bool:
    finished = False
    for choice in event.get("choices") or ():
        content = (choice.get("delta") or {}).get("content")
        if content:
            parts.append(content)
        finished = finished or choice.get("finish_reason") is not None
    return finished or event.get("usage") is not None


def _done(parts: list[str], finished: bool) -> str:
    if not finished:
        raise RuntimeError("stream ended without a finish reason or usage")
    return "".join(parts)


PATHS: dict[str, Reader] = {
    "models": read_models,
    "dicts": read_dicts,
    "lines-json": read_lines_json,
    "lines-jiter": read_lines_jiter,
    "bytes-jiter": read_bytes_jiter,
    "raw": read_raw,
    "provider": read_provider,
}
# Over HTTP only: the same readers with the SDK's aiohttp transport (`openai[aiohttp]`,
# `DefaultAioHttpClient`) instead of its default httpx2 one.
AIOHTTP_PATHS = {"raw-aiohttp": read_raw, "provider-aiohttp": read_provider}


# --- set-ups ---


class _FrameStream(httpx2.AsyncByteStream):
    def __init__(self, frames: list[bytes]) -> None:
        self.frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for frame in self.frames:
            yield frame


def mock_client(tokens: int) -> AsyncOpenAI:
    """A client whose transport answers every request with `tokens` token frames, one
    frame per read, then finish, usage and [DONE] (tests/fake_openai.py's frames)."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        tag = body["messages"][-1]["content"].removeprefix("bench-")
        frames = _Frames("chatcmpl-bench", body["model"])
        out = [frames.token(f"{tag}-{k} ") for k in range(tokens)]
        out += [frames.finish("stop"), frames.usage(3, tokens), b"data: [DONE]\n\n"]
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_FrameStream(out)
        )

    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    return AsyncOpenAI(
        api_key=API_KEY, base_url="http://mock.invalid/v1", http_client=http_client, max_retries=0
    )


def expected_text(tag: str, tokens: int) -> str:
    return "".join(f"{tag}-{k} " for k in range(tokens))


async def measure_mock(path: str, client: AsyncOpenAI, tokens: int, streams: int) -> dict:
    reader = PATHS[path]
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(streams):
        text = await reader(client, request_body(f"m{index}"))
        _check(path, text, expected_text(f"m{index}", tokens))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    chunks = streams * tokens
    return {"us_per_chunk": 1e6 * cpu / chunks, "chunks_per_s": chunks / wall}


async def measure_http(
    path: str, base_url: str, tokens: int, concurrent: int, round_index: int
) -> dict:
    reader = {**PATHS, **AIOHTTP_PATHS}[path]
    http_client = DefaultAioHttpClient() if path in AIOHTTP_PATHS else None
    client = AsyncOpenAI(
        api_key=API_KEY, base_url=base_url, max_retries=0, timeout=60, http_client=http_client
    )
    try:
        # Warm the connection pool, so every path reads over kept-alive connections.
        await asyncio.gather(
            *(reader(client, request_body(f"w{path}-{k}")) for k in range(concurrent))
        )
        gc.collect()
        tags = [f"h{round_index}{path}-{k}" for k in range(concurrent)]
        cpu, wall = time.process_time(), time.perf_counter()
        texts = await asyncio.gather(*(reader(client, request_body(tag)) for tag in tags))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await client.close()
    for tag, text in zip(tags, texts, strict=True):
        _check(path, text, expected_text(tag, tokens))
    chunks = concurrent * tokens
    return {"us_per_chunk": 1e6 * cpu / chunks, "cpu_share": cpu / wall}


def _check(path: str, text: str, expected: str) -> None:
    if not path.startswith("raw") and text != expected:
        raise AssertionError(f"{path}: rebuilt text differs: {text[:80]!r} vs {expected[:80]!r}")


def _medians(rows: list[dict]) -> dict:
    return {key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]}


async def run_mock(rounds: int, tokens: int, streams: int) -> dict:
    client = mock_client(tokens)
    results: dict[str, list[dict]] = {path: [] for path in PATHS}
    for path in PATHS:  # warm-up: imports, pydantic schemas, caches
        await measure_mock(path, client, tokens, 2)
    for round_index in range(rounds):
        order = list(PATHS) if round_index % 2 == 0 else list(reversed(PATHS))
        for path in order:
            results[path].append(await measure_mock(path, client, tokens, streams))
    await client.close()
    return {path: _medians(rows) for path, rows in results.items()}


async def run_http(rounds: int, tokens: int, interval: float, concurrent: int) -> dict:
    from bench.streaming import Upstream

    upstream = Upstream(tokens, interval)
    try:
        paths = [*PATHS, *AIOHTTP_PATHS]
        results: dict[str, list[dict]] = {path: [] for path in paths}
        for round_index in range(rounds):
            order = paths if round_index % 2 == 0 else paths[::-1]
            for path in order:
                results[path].append(
                    await measure_http(path, upstream.base_url, tokens, concurrent, round_index)
                )
    finally:
        upstream.stop()
    return {path: _medians(rows) for path, rows in results.items()}


def run() -> dict:
    rounds = env_int("BENCH_SDKPARSE_ROUNDS", pick(7, 3))
    tokens = env_int("BENCH_SDKPARSE_TOKENS", 200)
    streams = env_int("BENCH_SDKPARSE_STREAMS", pick(20, 5))
    concurrent = env_int("BENCH_SDKPARSE_CONCURRENT", pick(50, 20))
    interval = env_float("BENCH_SDKPARSE_INTERVAL", 0.005)
    mock = asyncio.run(run_mock(rounds, tokens, streams))
    log(f"mock: {json.dumps(mock)}")
    http = {}
    if env_int("BENCH_SDKPARSE_HTTP", 1):  # 0: the in-process set-up only (a minute)
        http = asyncio.run(run_http(rounds, tokens, interval, concurrent))
        log(f"http: {json.dumps(http)}")
    return {
        "rounds": rounds,
        "tokens_per_stream": tokens,
        "mock_streams_per_round": streams,
        "http_concurrent_streams": concurrent,
        "http_token_interval_s": interval,
        "mock": mock,
        "http": http,
        "table": table_rows(mock, http),
    }


def table_rows(mock: dict, http: dict) -> list[dict]:
    base = mock["models"]["us_per_chunk"]
    rows = []
    nan = float("nan")
    for path in [*PATHS, *AIOHTTP_PATHS]:
        m = mock.get(path, {"us_per_chunk": nan, "chunks_per_s": nan})
        h = http.get(path, {"us_per_chunk": nan})
        rows.append(
            {
                "benchmark": "SDK parse",
                "metric": f"{path}: CPU µs per chunk, mock / http; mock chunks/s",
                "target": "-",
                "measured": f"{m['us_per_chunk']:.1f} / {h['us_per_chunk']:.1f} µs "
                f"({m['us_per_chunk'] / base:.2f}x models); {m['chunks_per_s']:,.0f}/s",
                "ok": None,
            }
        )
    return rows
