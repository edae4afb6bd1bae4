"""OpenAIProvider driven through the real openai SDK against a loopback FakeOpenAI."""

from collections.abc import Iterator

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


def make_provider(fake: FakeOpenAI, *, timeout: float = 5.0) -> OpenAIProvider:
    return OpenAIProvider(api_key=API_KEY, base_url=fake.base_url, timeout=timeout, max_retries=0)


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


async def test_stalled_stream_times_out(fake):
    error = await failure(make_provider(fake, timeout=0.5), request("fake-stall-1"))

    assert error.code == "timeout"
    assert "0.5 s" in error.message


async def test_unreachable_endpoint_is_connection_error():
    with FakeOpenAI() as stopped:
        base_url = stopped.base_url
    provider = OpenAIProvider(api_key=API_KEY, base_url=base_url, timeout=2, max_retries=0)

    error = await failure(provider, request())

    assert error.code == "connection_error"
    assert base_url.removesuffix("/v1") in error.message


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
