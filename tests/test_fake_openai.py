"""The fake OpenAI server speaks the streaming protocol and fails on demand."""

import asyncio
import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest
from openai import AsyncOpenAI

from tests.fake_openai import DEFAULT_REPLY, FakeOpenAI, fake_openai_server

USER = [{"role": "user", "content": "Say something nice"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai_server(reply=["One ", "two ", "three"]) as server:
        yield server


def post(fake: FakeOpenAI, body: dict, *, timeout: float = 5.0, headers: dict | None = None):
    """POST a chat request with http.client; return (status, content type, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            json.dumps(body),
            {"content-type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        return response.status, response.getheader("content-type"), response.read().decode()
    finally:
        conn.close()


def stream(model: str = "gpt-test", **extra) -> dict:
    return {"model": model, "messages": USER, "stream": True, **extra}


def events(text: str) -> list:
    """The `data:` payloads of an SSE body, JSON-decoded except for [DONE]."""
    payloads = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


def test_stream_sends_token_frames_then_finish_usage_and_done(fake):
    status, content_type, body = post(fake, stream(stream_options={"include_usage": True}))

    frames = events(body)
    assert status == 200
    assert content_type.startswith("text/event-stream")
    assert [f["choices"][0]["delta"] for f in frames[:3]] == [
        {"role": "assistant", "content": token} for token in ("One ", "two ", "three")
    ]
    assert all(
        f["object"] == "chat.completion.chunk" and f["model"] == "gpt-test" for f in frames[:5]
    )
    assert frames[3]["choices"][0]["finish_reason"] == "stop"
    assert frames[4]["choices"] == []
    assert frames[4]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    assert frames[5:] == ["[DONE]"]


def test_stream_without_include_usage_has_no_usage_frame(fake):
    _, _, body = post(fake, stream())

    frames = events(body)
    assert frames[-1] == "[DONE]"
    assert not any("usage" in f for f in frames[:-1])


def test_non_stream_request_returns_a_chat_completion(fake):
    status, _, body = post(fake, {"model": "gpt-test", "messages": USER})

    completion = json.loads(body)
    assert status == 200
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "One two three"}


def test_max_tokens_truncates_the_reply_with_finish_reason_length(fake):
    _, _, body = post(fake, stream(max_tokens=2))

    frames = events(body)
    assert [f["choices"][0]["delta"].get("content") for f in frames[:2]] == ["One ", "two "]
    assert frames[2]["choices"][0]["finish_reason"] == "length"


def test_default_reply_is_fixed():
    with FakeOpenAI() as fake:
        _, _, body = post(fake, {"model": "m", "messages": USER})

    assert json.loads(body)["choices"][0]["message"]["content"] == DEFAULT_REPLY


def test_callable_reply_and_queued_replies_pick_the_tokens(fake):
    fake.reply = lambda request: ["echo: ", request["messages"][-1]["content"]]
    fake.queue_reply("first queued")
    fake.queue_reply(["second ", "queued"])

    replies = [json.loads(post(fake, {"model": "m", "messages": USER})[2]) for _ in range(3)]

    contents = [r["choices"][0]["message"]["content"] for r in replies]
    assert contents == ["first queued", "second queued", "echo: Say something nice"]


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_fail_mode_answers_the_status_with_an_openai_error_body(fake, status):
    code, content_type, body = post(fake, stream(f"fake-fail-{status}"))

    error = json.loads(body)["error"]
    assert code == status
    assert content_type == "application/json"
    assert error["message"] and error["type"] and error["code"]


def test_401_echoes_the_bearer_key(fake):
    _, _, body = post(fake, stream("fake-fail-401"), headers={"authorization": "Bearer sk-abc"})

    assert "sk-abc" in json.loads(body)["error"]["message"]


def test_midstream_mode_sends_an_error_frame_after_n_tokens(fake):
    _, _, body = post(fake, stream("fake-midstream-2"))

    frames = events(body)
    assert [f["choices"][0]["delta"]["content"] for f in frames[:2]] == ["One ", "two "]
    assert frames[2]["error"]["message"]
    assert len(frames) == 3


def test_close_mode_ends_the_body_without_finish_or_done(fake):
    _, _, body = post(fake, stream("fake-close-1"))

    frames = events(body)
    assert len(frames) == 1
    assert frames[0]["choices"][0]["finish_reason"] is None


def test_reset_mode_drops_the_connection_mid_body(fake):
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        post(fake, stream("fake-reset-1"))


def test_stall_mode_goes_silent_until_the_server_stops():
    fake = FakeOpenAI(reply=["a ", "b"], mode="stall-1").start()
    try:
        with pytest.raises(socket.timeout):
            post(fake, stream(), timeout=0.3)
    finally:
        started = time.monotonic()
        fake.stop()

    assert time.monotonic() - started < 2


def test_stall_ends_after_stall_seconds():
    with (
        fake_openai_server(mode="stall-0", stall_seconds=0.2) as fake,
        pytest.raises((http.client.IncompleteRead, ConnectionError)),
    ):
        post(fake, stream(), timeout=3)


def test_model_mode_overrides_the_server_mode(fake):
    fake.mode = "fail-500"

    server_wide, _, _ = post(fake, stream())
    per_model, _, _ = post(fake, stream("fake-fail-429"))

    assert (server_wide, per_model) == (500, 429)


def test_unknown_mode_is_rejected(fake):
    with pytest.raises(ValueError, match="stall-soon"):
        FakeOpenAI(mode="stall-soon")
    with pytest.raises(ValueError, match="boom"):
        fake.mode = "boom"


def test_unknown_route_is_404(fake):
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", "/v1/models")

    assert conn.getresponse().status == 404
    conn.close()


def test_requests_sent_tokens_and_stream_timings_are_recorded(fake):
    post(fake, stream(temperature=0.3))
    post(fake, stream("fake-close-1"))

    assert [r["model"] for r in fake.requests] == ["gpt-test", "fake-close-1"]
    assert fake.requests[0]["temperature"] == 0.3
    assert fake.sent_tokens == 4
    first, second = fake.streams
    assert first.completed and not second.completed
    assert first.received_at <= first.first_token_at
    assert second.tokens_sent == 1


def test_token_interval_spaces_the_tokens():
    with fake_openai_server(reply=["a ", "b ", "c ", "d"], token_interval=0.05) as fake:
        started = time.monotonic()
        post(fake, stream())

    assert time.monotonic() - started >= 0.15


def test_clear_forgets_the_records(fake):
    post(fake, stream())

    fake.clear()

    assert (fake.requests, fake.streams, fake.sent_tokens) == ([], [], 0)


def test_base_url_is_loopback_with_the_bound_port(fake):
    assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
    assert fake.port > 0


async def test_serves_the_real_sdk_with_hundreds_of_concurrent_streams():
    async def one(client: AsyncOpenAI, index: int) -> str:
        model = "fake-close-1" if index % 10 == 0 else "gpt-test"
        response = await client.chat.completions.create(model=model, messages=USER, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in response if c.choices])

    with fake_openai_server(reply=["x ", "y ", "z"], token_interval=0.01) as fake:
        client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
        async with client:
            replies = await asyncio.gather(*(one(client, i) for i in range(300)))

    assert replies.count("x y z") == 270
    assert replies.count("x ") == 30
    assert len(fake.requests) == 300
