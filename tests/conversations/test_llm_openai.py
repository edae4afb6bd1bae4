"""OpenAIProvider driven through the real openai SDK against a loopback FakeOpenAI."""

import json
from collections.abc import Iterator

import openai
import pytest

from conversations.llm import (
    ChatMessage,
    Chunk,
    LLMError,
    LLMRequest,
    OpenAIProvider,
    Usage,
    get_provider,
    provider_info,
)
from conversations.llm.openai_provider import get_client
from tests.fake_openai import FakeOpenAI, fake_openai_server

API_KEY = "sk-test-secret-0123456789"
MESSAGES = (
    ChatMessage("system", "You are a terse assistant."),
    ChatMessage("user", "Hello there"),
    ChatMessage("assistant", "Hi!"),
    ChatMessage("user", "Tell me a joke"),
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai_server(reply=["Why ", "did ", "the ", "chicken..."]) as server:
        yield server


def make_provider(
    fake: FakeOpenAI, *, timeout: float = 5.0, transport: str = "aiohttp"
) -> OpenAIProvider:
    return OpenAIProvider(
        api_key=API_KEY,
        base_url=fake.base_url,
        timeout=timeout,
        max_retries=0,
        transport=transport,
    )


def request(model: str = "gpt-test", **kwargs) -> LLMRequest:
    return LLMRequest(model=model, messages=MESSAGES, **kwargs)


async def collect(provider: OpenAIProvider, req: LLMRequest) -> list[Chunk]:
    return [chunk async for chunk in provider.stream(req)]


async def failure(provider: OpenAIProvider, req: LLMRequest) -> LLMError:
    with pytest.raises(LLMError) as info:
        await collect(provider, req)
    assert API_KEY not in str(info.value)
    assert API_KEY not in info.value.message
    return info.value


async def test_streamed_text_equals_the_servers_tokens_joined(fake):
    chunks = await collect(make_provider(fake), request())

    assert [c.text for c in chunks if c.text] == ["Why ", "did ", "the ", "chicken..."]


async def test_usage_is_reported_in_a_final_chunk(fake):
    chunks = await collect(make_provider(fake), request())

    assert chunks[-1] == Chunk(usage=Usage(prompt_tokens=12, completion_tokens=4))
    assert all(c.usage is None for c in chunks[:-1])


async def test_request_maps_model_temperature_max_tokens_and_messages_in_order(fake):
    await collect(make_provider(fake), request("gpt-mapped", temperature=0.2, max_tokens=3))

    sent = next(r for r in reversed(fake.requests) if r["model"] == "gpt-mapped")
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 3
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]


async def test_max_tokens_is_omitted_when_unset(fake):
    await collect(make_provider(fake), request("gpt-unbounded"))

    sent = next(r for r in reversed(fake.requests) if r["model"] == "gpt-unbounded")
    assert "max_tokens" not in sent


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "auth_failed"),
        (403, "auth_failed"),
        (429, "rate_limited"),
        (400, "bad_request"),
        (404, "bad_request"),
        (422, "bad_request"),
        (500, "upstream_error"),
        (503, "upstream_error"),
        (409, "upstream_error"),
    ],
)
async def test_http_error_status_maps_to_error_code(fake, status, code):
    error = await failure(make_provider(fake), request(f"fake-fail-{status}"))

    assert error.code == code
    assert f"HTTP {status}" in error.message


async def test_rejected_key_echoed_by_the_server_is_redacted(fake):
    error = await failure(make_provider(fake), request("fake-fail-401"))

    assert "Incorrect API key provided: ***" in error.message
    assert "OPENAI_API_KEY" in error.message


async def test_mid_stream_error_is_stream_broken_with_upstream_message(fake):
    error = await failure(make_provider(fake), request("fake-midstream-2"))

    assert error.code == "stream_broken"
    assert "failed mid-stream" in error.message


async def test_early_close_without_finish_is_stream_broken(fake):
    error = await failure(make_provider(fake), request("fake-close-2"))

    assert error.code == "stream_broken"


async def test_connection_reset_mid_stream_is_stream_broken(fake):
    error = await failure(make_provider(fake), request("fake-reset-2"))

    assert error.code == "stream_broken"


async def test_text_before_a_broken_stream_is_still_yielded(fake):
    received = []
    with pytest.raises(LLMError):
        async for chunk in make_provider(fake).stream(request("fake-close-2")):
            received.append(chunk.text)

    assert received == ["Why ", "did "]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_stalled_stream_times_out(fake, transport):
    provider = make_provider(fake, timeout=0.5, transport=transport)
    error = await failure(provider, request("fake-stall-1"))

    assert error.code == "timeout"
    assert "0.5 s" in error.message


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_unreachable_endpoint_is_connection_error(transport):
    with FakeOpenAI() as stopped:
        base_url = stopped.base_url
    provider = OpenAIProvider(
        api_key=API_KEY, base_url=base_url, timeout=2, max_retries=0, transport=transport
    )

    error = await failure(provider, request())

    assert error.code == "connection_error"
    assert base_url.removesuffix("/v1") in error.message
    assert "Connection error." in error.message and "timed out" not in error.message


async def test_missing_key_is_not_configured_and_names_the_variable(fake):
    provider = OpenAIProvider(api_key="", base_url=fake.base_url)

    with pytest.raises(LLMError) as info:
        await collect(provider, request())

    assert info.value.code == "not_configured"
    assert "OPENAI_API_KEY" in info.value.message


async def test_client_is_reused_for_the_same_configuration(fake):
    provider = make_provider(fake)

    assert get_client(provider.config) is get_client(make_provider(fake).config)
    assert get_client(provider.config) is not get_client(make_provider(fake, timeout=1).config)


async def test_get_provider_builds_openai_provider_from_settings(fake, settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = API_KEY
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_MAX_RETRIES = 0

    chunks = await collect(get_provider(), request())

    assert "".join(c.text for c in chunks) == "Why did the chicken..."
    # The SDK's aiohttp transport unless OPENAI_HTTP_CLIENT says otherwise.
    transport = get_client(get_provider().config)._client._transport
    assert type(transport).__name__ == "AiohttpTransport"
    settings.OPENAI_HTTP_CLIENT = "httpx"
    transport = get_client(get_provider().config)._client._transport
    assert type(transport).__name__ == "AsyncHTTPTransport"
    chunks = await collect(get_provider(), request())
    assert "".join(c.text for c in chunks) == "Why did the chicken..."


def test_provider_info_shows_base_url_without_credentials(settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = API_KEY
    settings.OPENAI_BASE_URL = "https://user:pass@llm.example.com:8443/v1/?token=abc"

    info = provider_info()

    assert info["name"] == "openai"
    assert info["base_url"] == "https://llm.example.com:8443/v1"
    assert "https://llm.example.com:8443/v1" in info["description"]
    assert not any(secret in str(info) for secret in ("pass", "abc", API_KEY))


def test_empty_base_url_means_openai(settings):
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = ""

    assert provider_info()["base_url"] == "https://api.openai.com/v1"


# --- Malformed and unusual streams: the provider reads the SDK's dict chunks and must
# make of every body what the SDK's typed ChatCompletionChunk stream (its path until
# bench/sdkparse.py measured it) made of it: the same text, usage and outcome.


def frame(payload: object, *, end: bytes = b"\n\n") -> bytes:
    return b"data: " + json.dumps(payload).encode() + end


def delta(text: str | None, finish: str | None = None, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text, **extra}, "finish_reason": finish}]}


USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
DONE = b"data: [DONE]\n\n"
COMPLETE = (frame(delta("Hi ")), frame(delta("there")), frame(delta(None, "stop")), frame(USAGE))
DONE_OK = (["Hi ", "there"], (3, 2), "complete")

BODIES = {
    "plain": ((*COMPLETE, DONE), DONE_OK),
    "comments, event names, ids and retry lines are ignored": (
        (b": keep-alive\n\n", b"event: message\nid: 7\nretry: 10\n", *COMPLETE, DONE),
        DONE_OK,
    ),
    "CRLF line ends": (
        tuple(part.replace(b"\n", b"\r\n") for part in (*COMPLETE, DONE)),
        DONE_OK,
    ),
    "CR line ends": (tuple(part.replace(b"\n", b"\r") for part in (*COMPLETE, DONE)), DONE_OK),
    "events split across reads, mid-JSON and between CR and LF": (
        (
            b'data: {"choices": [{"delta": {"con',
            b'tent": "Hi "}}]}\r',
            b"\n\r\n",
            *COMPLETE[1:],
            DONE,
        ),
        DONE_OK,
    ),
    "no space after data:": ((b"data:" + COMPLETE[0][6:], *COMPLETE[1:], DONE), DONE_OK),
    "one event over two data lines": (
        (b'data: {"choices": [{"delta":\ndata: {"content": "Hi "}}]}\n\n', *COMPLETE[1:], DONE),
        DONE_OK,
    ),
    "role-only first delta and tool calls finish": (
        (
            frame(delta(None, role="assistant")),
            frame(delta(None, tool_calls=[{"index": 0, "id": "c1", "type": "function"}])),
            frame(delta(None, "tool_calls")),
            DONE,
        ),
        ([], None, "complete"),
    ),
    "length finish without usage": (
        (frame(delta("Hi")), frame(delta(None, "length")), DONE),
        (["Hi"], None, "complete"),
    ),
    "usage alone finishes": (
        (frame(delta("Hi")), frame(USAGE), DONE),
        (["Hi"], (3, 2), "complete"),
    ),
    "null usage and null delta": (
        (frame({**delta("Hi"), "usage": None}), frame({"choices": [{"delta": None}]}), DONE),
        (["Hi"], None, "stream_broken"),
    ),
    "empty content is no text": (
        (frame(delta("")), frame(delta("Hi", "stop")), DONE),
        (["Hi"], None, "complete"),
    ),
    "[DONE] before any finish": ((frame(delta("Hi")), DONE), (["Hi"], None, "stream_broken")),
    "last event without its blank line is not dispatched": (
        (frame(delta("Hi")), frame(delta(None, "stop"), end=b"\n")),
        (["Hi"], None, "stream_broken"),
    ),
    "error frame with a message": (
        (frame(delta("Hi")), frame({"error": {"message": "overloaded", "type": "server_error"}})),
        (["Hi"], None, "stream_broken: overloaded"),
    ),
    "error frame without a message": (
        (frame({"error": "nope"}),),
        ([], None, "stream_broken: An error occurred during streaming"),
    ),
    "data that is not JSON": (
        (frame(delta("Hi")), b"data: {not json\n\n"),
        (["Hi"], None, "raised"),
    ),
    "a data field without a colon makes an event with empty data": (
        (COMPLETE[0], b"data\n\n", *COMPLETE[1:], DONE),
        (["Hi "], None, "raised"),
    ),
    "a kept event id makes a stray blank line an empty event": (
        (b"id: 1\n", *COMPLETE[:2], b"\n", *COMPLETE[2:]),
        (["Hi ", "there"], None, "raised"),
    ),
    "text that is not UTF-8": (
        (frame(delta("Hi")), b'data: {"x": "\xff"}\n\n'),
        (["Hi"], None, "raised"),
    ),
    "a comment that is not UTF-8": ((b": \xff\n\n", *COMPLETE, DONE), ([], None, "raised")),
    "a chunk without choices": ((frame({"id": "x"}),), ([], None, "raised")),
    "null choices": ((frame({"choices": None}),), ([], None, "raised")),
    # The SDK builds its models without validation: a missing field reads as None.
    "a choice without delta": ((frame({"choices": [{"index": 0}]}),), ([], None, "stream_broken")),
    "JSON null": ((b"data: null\n\n",), ([], None, "raised")),
    "usage without its counts": (
        (frame(delta("Hi", "stop")), frame({"choices": [], "usage": {}})),
        (["Hi"], (None, None), "complete"),
    ),
}


async def outcome(chunks) -> tuple[list[str], tuple[int, int] | None, str]:
    """(texts, usage, how it ended): "complete", an LLMError code (with the upstream's
    message for stream errors) or "raised" for any other exception (a turn reports
    that as an internal error)."""
    texts: list[str] = []
    usage = None
    try:
        async for chunk in chunks:
            if chunk.text:
                texts.append(chunk.text)
            if chunk.usage is not None:
                usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    except LLMError as exc:
        message = exc.message.removeprefix("The stream broke off: ")
        detail = f": {message}" if message != exc.message else ""
        return texts, usage, f"{exc.code}{detail}"
    except Exception:
        return texts, usage, "raised"
    return texts, usage, "complete"


async def typed_sdk_stream(provider: OpenAIProvider, req: LLMRequest):
    """The provider's loop as it was over `chat.completions.create(stream=True)`."""
    completion = await get_client(provider.config).chat.completions.create(
        model=req.model,
        messages=[{"role": m.role, "content": m.content} for m in req.messages],
        stream=True,
        stream_options={"include_usage": True},
    )
    finished = False
    try:
        async with completion:
            async for event in completion:
                for choice in event.choices:
                    if choice.delta and choice.delta.content:
                        yield Chunk(text=choice.delta.content)
                    finished = finished or choice.finish_reason is not None
                if event.usage is not None:
                    finished = True
                    yield Chunk(
                        usage=Usage(event.usage.prompt_tokens, event.usage.completion_tokens)
                    )
    except openai.APIError as exc:
        raise provider._error(exc, started=True) from exc
    if not finished:
        raise LLMError("stream_broken", "ended early")


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
@pytest.mark.parametrize("name", list(BODIES))
async def test_unusual_stream_is_read_as_the_sdks_typed_stream_read_it(fake, name, transport):
    parts, expected = BODIES[name]
    # The reference: the SDK's typed stream over its default transport (httpx2).
    sdk = make_provider(fake, transport="httpx")
    provider = make_provider(fake, transport=transport)

    fake.queue_raw(*parts)
    typed = await outcome(typed_sdk_stream(sdk, request()))
    fake.queue_raw(*parts)
    read = await outcome(provider.stream(request()))

    assert typed == expected
    assert read == expected
