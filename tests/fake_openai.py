"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It serves `POST /v1/chat/completions` (streamed as server-sent events, or as one JSON
body) from an asyncio loop in a background thread, so sync and async code can use it
and hundreds of streams can run at once. The client is the real openai SDK:

    with fake_openai_server(reply=["Hi", " there"], token_interval=0.01) as fake:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test")

Failure modes, for the whole server (`mode=` / `fake.mode`) or per request through the
model name `fake-<mode>` (which wins, so concurrent requests can mix them):

    fail-<status>   answer HTTP <status> with an OpenAI error body (401 echoes the key)
    midstream-<n>   after n tokens send `data: {"error": ...}` and end the stream
    stall-<n>       after n tokens go silent, socket open, until stop() or stall_seconds
    close-<n>       after n tokens end the body and close, without finish or [DONE]
    reset-<n>       after n tokens drop the connection mid-body

Per request, chosen from its body (e.g. only the suggestion calls of a chat): set
`fake.mode_for = lambda body: "fail-500" or None` (a failure mode, else the usual rules)
and `fake.delay_for = lambda body: seconds` (a wait before the response starts).

`POST /v1/embeddings` answers with deterministic vectors (`fake_embedding`: a hashed bag
of word stems), so retrieval with embeddings can be measured offline; its requests are
in `fake.embedding_requests`.

`queue_raw(parts)` answers the next streamed request with `parts` verbatim as its SSE
body, each part one write (then the end of the response): malformed or unusual
streams, byte for byte, split where a test wants.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import itertools
import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_REPLY = "Hello! This is the fake OpenAI server, and this reply is always the same."
Reply = str | list[str] | Callable[[dict[str, Any]], str | list[str]]

_MODE = re.compile(r"(fail|midstream|stall|close|reset)-(\d+)")
_TOKEN = re.compile(r"\S+\s*|\s+")
EMBEDDING_DIMENSIONS = 256
_EMBEDDING_WORD = re.compile(r"[^\W_]{3,}")


def fake_embedding(text: str) -> list[float]:
    """A deterministic vector: each word of 3+ letters adds 1 at the hash of its first
    five letters (a crude stem), so texts sharing stems point the same way."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in _EMBEDDING_WORD.findall(text.lower()):
        vector[zlib.crc32(word[:5].encode()) % EMBEDDING_DIMENSIONS] += 1.0
    return vector


@dataclass(frozen=True)
class Mode:
    kind: str
    arg: int

    @classmethod
    def parse(cls, text: str | None) -> Mode | None:
        """Parse "stall-2" (or a model name "fake-stall-2"); None for no failure."""
        if not text:
            return None
        match = _MODE.fullmatch(text.removeprefix("fake-"))
        return cls(match[1], int(match[2])) if match else None


@dataclass
class StreamRecord:
    """Timing of one streamed response (time.perf_counter() values)."""

    model: str
    received_at: float
    first_token_at: float | None = None
    last_token_at: float | None = None
    tokens_sent: int = 0
    completed: bool = False


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeOpenAI:
    """The server; see the module docstring. Use `start()`/`stop()` or `with`."""

    def __init__(
        self,
        *,
        reply: Reply = DEFAULT_REPLY,
        token_interval: float = 0.0,
        mode: str | None = None,
        stall_seconds: float = 30.0,
    ) -> None:
        self.reply = reply
        self.token_interval = token_interval
        self.mode = mode
        self.stall_seconds = stall_seconds
        self.mode_for: Callable[[dict[str, Any]], str | None] | None = None
        self.delay_for: Callable[[dict[str, Any]], float] | None = None
        self.port = 0
        self.sent_tokens = 0
        self._replies: collections.deque[Reply] = collections.deque()
        self._raw_bodies: collections.deque[list[bytes]] = collections.deque()
        self._requests: list[dict[str, Any]] = []
        self._embedding_requests: list[dict[str, Any]] = []
        self._streams: list[StreamRecord] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def mode(self) -> str | None:
        """The failure mode of every request whose model names none (None: no failure)."""
        return self._mode

    @mode.setter
    def mode(self, mode: str | None) -> None:
        if mode is not None and Mode.parse(mode) is None:
            raise ValueError(f"Unknown fake OpenAI mode {mode!r}")
        self._mode = mode

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every chat request body received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """A snapshot of every embeddings request body received."""
        with self._lock:
            return list(self._embedding_requests)

    @property
    def streams(self) -> list[StreamRecord]:
        """A snapshot of the streamed responses and their timings."""
        with self._lock:
            return list(self._streams)

    def queue_reply(self, reply: Reply) -> None:
        """Answer the next chat request with `reply` (queued replies go first, in order)."""
        self._replies.append(reply)

    def queue_raw(self, *parts: bytes) -> None:
        """Answer the next streamed chat request with the SSE body `parts`, as they are."""
        self._raw_bodies.append(list(parts))

    def clear(self) -> None:
        """Forget recorded requests, streams and counters (e.g. between benchmark phases)."""
        with self._lock:
            self._requests.clear()
            self._streams.clear()
            self.sent_tokens = 0

    def start(self) -> FakeOpenAI:
        """Bind a free loopback port and serve from a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("FakeOpenAI is already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, errors), name="fake-openai", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if errors or not self.port:
            self._thread = None
            raise RuntimeError("FakeOpenAI failed to start") from (errors[0] if errors else None)
        return self

    def stop(self) -> None:
        """Close every connection (stalled ones too) and stop the server thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except BaseException as exc:  # reported to start(); the thread has nobody else
            errors.append(exc)
            ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        # A deep backlog: benchmarks open hundreds of connections at once.
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        await self._stopping.wait()
        server.close()
        # Abort rather than cancel: handlers then see a dead socket and return normally
        # (Python 3.11's asyncio logs an error for cancelled connection handlers).
        for writer in list(self._connections.values()):
            writer.transport.abort()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=5)
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._respond(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away or spoke garbage: just drop the connection
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _respond(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection may serve another."""
        if (request.method, request.path) == ("POST", "/v1/embeddings"):
            return await self._embeddings(request, writer)
        if (request.method, request.path) != ("POST", "/v1/chat/completions"):
            await _send_json(writer, 404, _error_body(f"No route {request.path}", "not_found"))
            return True
        try:
            body = json.loads(request.body)
        except ValueError:
            await _send_json(writer, 400, _error_body("Invalid JSON body", "invalid_json"))
            return True
        with self._lock:
            self._requests.append(body)
        model = str(body.get("model", ""))
        if self.delay_for is not None and (delay := self.delay_for(body)) > 0:
            await asyncio.sleep(delay)
        chosen = self.mode_for(body) if self.mode_for is not None else None
        mode = Mode.parse(chosen) or Mode.parse(model) or Mode.parse(self.mode)
        if mode is not None and mode.kind == "fail":
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            await _send_json(writer, mode.arg, _status_error(mode.arg, model, key))
            return True
        if body.get("stream") and self._raw_bodies:
            writer.write(_SSE_HEAD)
            for part in self._raw_bodies.popleft():
                await _send_chunk(writer, part)
            await _send_chunk(writer, b"")
            return True
        tokens, finish = self._tokens_for(body)
        if not body.get("stream"):
            await _send_json(writer, 200, self._completion(body, tokens, finish))
            return True
        return await self._stream(writer, body, tokens, finish, mode)

    async def _embeddings(self, request: _Request, writer: asyncio.StreamWriter) -> bool:
        try:
            body = json.loads(request.body)
        except ValueError:
            await _send_json(writer, 400, _error_body("Invalid JSON body", "invalid_json"))
            return True
        with self._lock:
            self._embedding_requests.append(body)
        mode = Mode.parse(str(body.get("model", ""))) or Mode.parse(self.mode)
        if mode is not None and mode.kind == "fail":
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            await _send_json(writer, mode.arg, _status_error(mode.arg, body.get("model"), key))
            return True
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(str(text))}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(text).split()) for text in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        payload = {"object": "list", "data": data, "model": body.get("model"), "usage": usage}
        await _send_json(writer, 200, payload)
        return True

    def _tokens_for(self, body: dict[str, Any]) -> tuple[list[str], str]:
        reply = self._replies.popleft() if self._replies else self.reply
        if callable(reply):
            reply = reply(body)
        tokens = _TOKEN.findall(reply) if isinstance(reply, str) else list(reply)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if limit is not None and len(tokens) > limit:
            return tokens[:limit], "length"
        return tokens, "stop"

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        body: dict[str, Any],
        tokens: list[str],
        finish: str,
        mode: Mode | None,
    ) -> bool:
        record = StreamRecord(model=str(body.get("model", "")), received_at=time.perf_counter())
        with self._lock:
            self._streams.append(record)
        frame = _Frames(f"chatcmpl-fake-{next(self._ids)}", record.model)
        writer.write(_SSE_HEAD)
        for index, token in enumerate(tokens):
            if mode is not None and index == mode.arg:
                return await self._fail_stream(writer, mode)
            if index and self.token_interval > 0:
                await asyncio.sleep(self.token_interval)
            await _send_chunk(writer, frame.token(token))
            record.tokens_sent += 1
            record.last_token_at = time.perf_counter()
            record.first_token_at = record.first_token_at or record.last_token_at
            with self._lock:
                self.sent_tokens += 1
        if mode is not None:  # n >= len(tokens): the failure comes after the last token
            return await self._fail_stream(writer, mode)
        await _send_chunk(writer, frame.finish(finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            await _send_chunk(writer, frame.usage(_prompt_tokens(body), len(tokens)))
        await _send_chunk(writer, b"data: [DONE]\n\n")
        await _send_chunk(writer, b"")
        record.completed = True
        return True

    async def _fail_stream(self, writer: asyncio.StreamWriter, mode: Mode) -> bool:
        if mode.kind == "midstream":
            error = _error_body("The fake server failed mid-stream.", "server_error")
            await _send_chunk(writer, b"data: " + json.dumps(error).encode() + b"\n\n")
            await _send_chunk(writer, b"")
            return True
        if mode.kind == "close":
            await _send_chunk(writer, b"")
            return False
        if mode.kind == "stall":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.stall_seconds)
        writer.transport.abort()
        return False

    def _completion(self, body: dict[str, Any], tokens: list[str], finish: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens)},
                    "finish_reason": finish,
                }
            ],
            "usage": _usage(_prompt_tokens(body), len(tokens)),
        }


@contextlib.contextmanager
def fake_openai_server(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """Run a `FakeOpenAI(**kwargs)` for the duration of a `with` block."""
    with FakeOpenAI(**kwargs) as fake:
        yield fake


@dataclass(frozen=True)
class _Frames:
    """Builds the SSE frames of one streamed completion."""

    id: str
    model: str

    def token(self, text: str) -> bytes:
        return self._frame([_choice({"role": "assistant", "content": text}, None)])

    def finish(self, reason: str) -> bytes:
        return self._frame([_choice({}, reason)])

    def usage(self, prompt: int, completion: int) -> bytes:
        return self._frame([], usage=_usage(prompt, completion))

    def _frame(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        payload = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + json.dumps(payload).encode() + b"\n\n"


_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nx-request-id: fake\r\n\r\n"
)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None  # the client closed a kept-alive connection: normal end
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in filter(None, lines):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return _Request(method, target.split("?", 1)[0], headers, body)


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write one HTTP chunk; empty `data` writes the terminating chunk."""
    if writer.transport.is_closing():
        raise ConnectionResetError("client disconnected")
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await writer.drain()


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    writer.write(
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: fake\r\n\r\n".encode()
        + body
    )
    await writer.drain()


def _status_error(status: int, model: str, key: str) -> dict[str, Any]:
    if status == 401:
        # Echo the key like some servers do, so tests can prove callers redact it.
        return _error_body(f"Incorrect API key provided: {key}.", "invalid_api_key")
    if status == 404:
        return _error_body(f"The model `{model}` does not exist.", "model_not_found")
    if status == 429:
        return _error_body("Rate limit reached for requests.", "rate_limit_exceeded")
    return _error_body(f"The fake server answered {status} on purpose.", "fake_error")


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "fake_error", "param": None, "code": code}}


def _choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish}


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _prompt_tokens(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
