"""The offline reply engine and provider selection from settings."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from conversations.llm import (
    ChatMessage,
    Chunk,
    LLMRequest,
    OfflineProvider,
    OpenAIProvider,
    Usage,
    get_provider,
    provider_info,
)
from conversations.llm.offline import compose_reply, split_tokens


def ask(text: str, *, system: str = "", hint: str = "", max_tokens: int | None = None):
    messages = (ChatMessage("system", system),) if system else ()
    return LLMRequest(
        model="offline",
        messages=(*messages, ChatMessage("user", text)),
        hint=hint,
        max_tokens=max_tokens,
    )


async def collect(request: LLMRequest, delay: float = 0.0) -> list[Chunk]:
    return [chunk async for chunk in OfflineProvider(token_delay=delay).stream(request)]


def test_same_request_gives_the_same_reply():
    request = ask("My order never arrived and I want a refund")

    assert compose_reply(request) == compose_reply(request)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I can't login, my password reset is broken", "trouble with your password"),
        ("Where is my order? I need a refund", "refund"),
    ],
)
def test_support_question_gets_a_support_answer_about_its_topic(text, expected):
    reply = compose_reply(ask(text))

    assert expected in reply
    assert any(word in reply for word in ("fix", "error message"))


def test_education_question_gets_an_explanation_about_its_topic():
    reply = compose_reply(ask("Can you explain photosynthesis for my homework?"))

    assert "photosynthesis" in reply
    assert any(word in reply for word in ("example", "exercise"))


def test_sales_question_gets_a_sales_answer():
    reply = compose_reply(ask("What does the premium plan cost? Any discount?"))

    assert "discount" in reply
    assert any(word in reply for word in ("demo", "trial", "teams"))


def test_bot_context_picks_the_domain_when_the_message_has_no_keyword():
    tutor = compose_reply(ask("What about fractions?", system="You are a patient tutor."))
    shop = compose_reply(ask("What about fractions?", hint="Acme Sales: pricing questions"))

    assert "example" in tutor or "exercise" in tutor
    assert "demo" in shop or "teams" in shop


def test_greeting_is_answered_with_what_the_bot_can_do():
    reply = compose_reply(ask("Hello!", system="Support agent for orders and refunds."))

    assert reply.startswith("Hello!")
    assert "orders" in reply


def test_thanks_is_acknowledged():
    assert compose_reply(ask("Thanks a lot!")).startswith("You're welcome!")


def test_unknown_input_gets_a_generic_answer_mentioning_offline_mode():
    reply = compose_reply(ask("What is the meaning of life?"))

    assert "offline mode" in reply
    assert "meaning" in reply


def test_answers_read_like_two_to_four_sentences():
    for text in ("refund please", "explain gravity", "pricing?", "meaning of life"):
        sentences = re.findall(r"[^.!?]+[.!?]", compose_reply(ask(text)))
        assert 2 <= len(sentences) <= 4, text


def test_split_tokens_keeps_whitespace_exactly():
    text = "  Hello,  world!\nNew line "

    assert "".join(split_tokens(text)) == text


async def test_streamed_chunks_join_exactly_into_the_answer():
    request = ask("How do I reset my password?")

    chunks = await collect(request)

    assert "".join(c.text for c in chunks) == compose_reply(request)
    assert len([c for c in chunks if c.text]) == len(compose_reply(request).split())


async def test_final_chunk_reports_usage():
    request = ask("How do I reset my password?", system="You help customers.")

    chunks = await collect(request)

    text_chunks = [c for c in chunks if c.text]
    assert chunks[-1] == Chunk(usage=Usage(prompt_tokens=9, completion_tokens=len(text_chunks)))


async def test_max_tokens_caps_the_number_of_chunks():
    request = ask("Explain the water cycle", max_tokens=5)

    chunks = await collect(request)

    text = [c.text for c in chunks if c.text]
    assert len(text) == 5
    assert compose_reply(request).startswith("".join(text))
    assert chunks[-1].usage == Usage(prompt_tokens=4, completion_tokens=5)


async def test_token_delay_spaces_the_chunks(monkeypatch):
    sleeps = []

    async def fake_sleep(seconds):
        sleeps.append(seconds)

    monkeypatch.setattr("conversations.llm.offline.asyncio.sleep", fake_sleep)

    chunks = await collect(ask("hi", max_tokens=3), delay=0.05)

    assert len([c for c in chunks if c.text]) == 3
    assert sleeps == [0.05, 0.05]


def test_get_provider_returns_offline_provider_with_the_configured_delay(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0.0

    provider = get_provider()

    assert isinstance(provider, OfflineProvider)
    assert provider.token_delay == 0.0


def test_get_provider_follows_settings_changes(settings):
    settings.LLM_PROVIDER = "offline"
    offline = get_provider()
    settings.LLM_PROVIDER = "openai"
    settings.OPENAI_API_KEY = "sk-switch"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"

    openai_provider = get_provider()

    assert isinstance(offline, OfflineProvider)
    assert isinstance(openai_provider, OpenAIProvider)
    assert openai_provider.base_url == "http://127.0.0.1:9/v1"


def test_unknown_provider_setting_is_improperly_configured(settings):
    settings.LLM_PROVIDER = "gpt5000"

    with pytest.raises(ImproperlyConfigured, match="LLM_PROVIDER"):
        get_provider()


def test_provider_info_describes_the_offline_engine(settings):
    settings.LLM_PROVIDER = "offline"

    assert provider_info() == {
        "name": "offline",
        "description": OfflineProvider().description,
        "base_url": "",
    }
