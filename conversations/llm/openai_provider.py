"""Streaming chat completions from any OpenAI-compatible endpoint, via the openai SDK."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import weakref
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import anyio
import httpx2
import jiter
import openai
from openai import AsyncOpenAI

from .base import Chunk, LLMError, LLMErrorCode, LLMRequest, Usage
from .sse import SSEDecoder

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Upstream error bodies can be whole HTML pages from a proxy; keep messages readable.
_MAX_UPSTREAM_MESSAGE = 300


class ClientConfig(NamedTuple):
    base_url: str
    api_key: str
    timeout: float
    max_retries: int
    # The SDK's HTTP transport: "aiohttp" (`openai[aiohttp]`, its DefaultAioHttpClient)
    # or "httpx" (its default, httpx2). aiohttp reads a streamed chunk at a third of the
    # CPU (docs/BENCHMARKS.md, section 9).
    transport: str = "aiohttp"


# One client (and so one connection pool) per config and per event loop: the SDK's
# pooled connections belong to the loop that opened them, and tests, async_to_sync
# threads and servers may each run their own loop. A server runs one loop, so one
# client; an entry lives as long as its client (which holds its loop), so a process that
# runs many short loops (the tests) keeps one client per loop it used.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientConfig, AsyncOpenAI]]
_clients = weakref.WeakKeyDictionary()


def get_client(config: ClientConfig) -> AsyncOpenAI:
    """Return the shared `AsyncOpenAI` client for `config` on the running event loop."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(config)
    if client is None:
        client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key,
            timeout=config.timeout,
            max_retries=config.max_retries,
            http_client=openai.DefaultAioHttpClient() if config.transport == "aiohttp" else None,
        )
        per_loop[config] = client
    return client


def public_url(url: str) -> str:
    """Return `url` without user info, query or fragment, fit for display."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class OpenAIProvider:
    """Provider for OpenAI and compatible APIs (YandexGPT, Ollama, vLLM…)."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "",
        timeout: float = 60.0,
        max_retries: int = 2,
        transport: str = "aiohttp",
    ) -> None:
        self.config = ClientConfig(
            base_url or DEFAULT_BASE_URL, api_key, timeout, max_retries, transport
        )
        self.base_url = public_url(self.config.base_url)
        self.description = f"OpenAI-compatible at {self.base_url}, model from the bot"

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        """Stream the completion as text chunks, then one usage chunk.

        Raises `LLMError`; a stream that ends before a finish reason or usage arrived
        is reported as `stream_broken` rather than passed off as a complete reply.
        """
        if not self.config.api_key:
            raise LLMError(
                LLMErrorCode.NOT_CONFIGURED,
                "Set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible endpoint) "
                "to use the openai provider.",
            )
        client = get_client(self.config)
        started = finished = False
        try:
            async with client.chat.completions.with_streaming_response.create(
                model=request.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                temperature=request.temperature,
                max_tokens=openai.omit if request.max_tokens is None else request.max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            ) as response:
                started = True
                # Fields read as from the SDK's models, which it builds unvalidated:
                # a missing one reads as None.
                async for event in _chunks(response.http_response):
                    for choice in event.get("choices"):
                        delta = choice.get("delta")
                        if delta and (text := delta.get("content")):
                            yield Chunk(text=text)
                        finished = finished or choice.get("finish_reason") is not None
                    if (usage := event.get("usage")) is not None:
                        finished = True
                        yield Chunk(usage=_usage(usage))
        except openai.APIError as exc:
            raise self._error(exc, started=started) from exc
        if not finished:
            raise LLMError(
                LLMErrorCode.STREAM_BROKEN,
                f"The stream from {self.base_url} ended before the reply was complete.",
            )

    def _error(self, exc: openai.APIError, *, started: bool) -> LLMError:
        detail = self._upstream_message(exc)
        if isinstance(exc, openai.APIStatusError):
            code = next(
                (code for classes, code in _STATUS_ERRORS if isinstance(exc, classes)),
                LLMErrorCode.UPSTREAM_ERROR,
            )
            return LLMError(code, f"{_STATUS_TEXT[code]} (HTTP {exc.status_code}: {detail})")
        if isinstance(exc, openai.APITimeoutError) and not _refused_connection(exc):
            return LLMError(
                LLMErrorCode.TIMEOUT,
                f"{self.base_url} did not answer within {self.config.timeout:g} s.",
            )
        if started:
            return LLMError(LLMErrorCode.STREAM_BROKEN, f"The stream broke off: {detail}")
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(
                LLMErrorCode.CONNECTION_ERROR, f"Could not connect to {self.base_url}: {detail}"
            )
        return LLMError(LLMErrorCode.UPSTREAM_ERROR, f"Unexpected answer: {detail}")

    def _upstream_message(self, exc: openai.APIError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, str) or not message:
            message = exc.message
        if isinstance(exc, openai.APITimeoutError) and _refused_connection(exc):
            message = "Connection error."  # the SDK's words for it, not "Request timed out."
        if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None:
            message = f"{message} ({exc.__cause__})"
        # Some servers echo the key they rejected; never let it reach users or logs.
        if self.config.api_key:
            message = message.replace(self.config.api_key, "***")
        if len(message) > _MAX_UPSTREAM_MESSAGE:
            message = message[:_MAX_UPSTREAM_MESSAGE] + "…"
        return message


_STATUS_ERRORS: tuple[tuple[tuple[type[openai.APIStatusError], ...], LLMErrorCode], ...] = (
    ((openai.AuthenticationError, openai.PermissionDeniedError), LLMErrorCode.AUTH_FAILED),
    ((openai.RateLimitError,), LLMErrorCode.RATE_LIMITED),
    (
        (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError),
        LLMErrorCode.BAD_REQUEST,
    ),
)
_STATUS_TEXT = {
    LLMErrorCode.AUTH_FAILED: "The LLM endpoint rejected the credentials; check OPENAI_API_KEY",
    LLMErrorCode.RATE_LIMITED: "The LLM endpoint is rate limiting requests",
    LLMErrorCode.BAD_REQUEST: "The LLM endpoint refused the request",
    LLMErrorCode.UPSTREAM_ERROR: "The LLM endpoint failed",
}


# What the SDK's stream turns into APITimeoutError / APIConnectionError while reading.
_TIMEOUTS = (httpx2.TimeoutException,)
_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError, anyio.EndOfStream, aiohttp.ClientError)
# After [DONE] the SDK reads what is left of an HTTP/1.1 body (for connection reuse)
# for up to 0.1 s.
_DRAIN_SECONDS = 0.1


async def _chunks(http: httpx2.Response) -> AsyncIterator[Any]:
    """Each chunk of a streamed completion as its JSON value (a dict, unless the upstream
    sent something else), as the SDK's `AsyncStream[object]` gives them, at the cost of
    reading the bytes and jiter (bench/sdkparse.py: the SDK's stream with its typed
    models cost several times that per chunk, and the untyped one still twice).

    As the SDK: stop at [DONE]; an `{"error": ...}` chunk raises APIError with its
    message; a read that times out or fails raises APITimeoutError / APIConnectionError.
    """
    decoder = SSEDecoder()
    body = http.aiter_bytes()
    try:
        async for read in body:
            for data in decoder.feed(read):
                if data.startswith(b"[DONE]"):
                    if http.http_version == "HTTP/1.1":
                        with contextlib.suppress(TimeoutError, *_TRANSPORT_ERRORS):
                            async with asyncio.timeout(_DRAIN_SECONDS):
                                async for _ in body:
                                    pass
                    return
                event = jiter.from_json(data, cache_mode="keys")
                if isinstance(event, dict) and (error := event.get("error")):
                    raise _stream_error(error, http.request)
                yield event
    except _TIMEOUTS as exc:
        raise openai.APITimeoutError(request=http.request) from exc
    except _TRANSPORT_ERRORS as exc:
        raise openai.APIConnectionError(request=http.request) from exc


def _refused_connection(exc: BaseException) -> bool:
    """Whether an APITimeoutError is really a failed connection: the SDK's vendored
    aiohttp transport maps every `aiohttp.ClientConnectionError` (refused, unreachable,
    reset) to httpx2's ConnectTimeout, a timeout only by name."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectionError):
            return not isinstance(cause, aiohttp.ServerTimeoutError | aiohttp.SocketTimeoutError)
        cause = cause.__cause__
    return False


def _stream_error(error: object, request: httpx2.Request) -> openai.APIError:
    """The SDK's error for an `{"error": ...}` chunk (legacy stream mode)."""
    message = error.get("message") if isinstance(error, Mapping) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=request, body=error)


def _usage(usage: dict) -> Usage:
    return Usage(
        prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens")
    )
