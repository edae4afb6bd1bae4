"""The scenario engine, driven like a visitor: `chat` subscriptions over the websocket."""

import pytest

from conversations.models import Conversation, Message
from tests.conversations.scenario_helpers import Chat, JsonServer, make_scenario

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


@pytest.fixture
def prices(settings):
    server = JsonServer({"data": {"price": 42, "currency": "EUR"}})
    settings.API_CALL_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.close()


def onboarding(api_url: str):
    return [
        ("greet", "message", {"text": "Welcome!"}),
        (
            "ask_name",
            "question",
            {
                "text": "Your name?",
                "variable": "name",
                "validation": {"type": "text", "min_length": 2},
            },
        ),
        (
            "ask_plan",
            "question",
            {
                "text": "Which plan?",
                "variable": "plan",
                "validation": {"type": "choice", "options": ["Basic", "Pro"]},
                "reask_text": "Please pick a plan.",
            },
        ),
        (
            "route",
            "condition",
            {
                "branches": [
                    {"variable": "plan", "operator": "eq", "value": "Pro", "target": "pro"}
                ],
                "default_target": "basic",
            },
        ),
        ("basic", "message", {"text": "Basic suits you, {{ name }}."}, "price"),
        ("pro", "message", {"text": "Pro it is, {{ name }}!"}),
        (
            "price",
            "api_call",
            {
                "url": api_url + "/price?plan={{ plan }}",
                "select": "data.price",
                "variable": "price",
                "error_target": "no_price",
            },
        ),
        ("tell", "message", {"text": "{{ plan }} costs {{ price }}.", "end": True}),
        ("no_price", "message", {"text": "Prices are unavailable: {{ price_error }}", "end": True}),
    ]


async def test_full_scenario_then_free_chat(prices):
    # given a chat bot whose scenario uses messages, questions, a condition and an API call
    bot, _ = await make_scenario(onboarding(prices.url), system_prompt="You sell plans.")
    chat = await Chat.start(bot)
    # when the visitor walks through it
    assert await chat.texts("hi") == ["Welcome!", "Your name?"]
    assert (await chat.texts("A"))[0].startswith("Your name?")  # too short: re-asked
    assert await chat.texts("Ada") == ["Which plan?"]
    reask = await chat.texts("Gold")
    assert reask[0].startswith("Please pick a plan.") and "Basic" in reask[0]
    assert await chat.texts("2") == ["Pro it is, Ada!", "Pro costs 42."]
    # then variables are collected, the API was called, and the scenario is complete
    conversation = await Conversation.objects.aget()
    assert conversation.variables == {"name": "Ada", "plan": "Pro", "price": 42}
    assert conversation.is_completed and prices.paths == ["/price?plan=Pro"]
    # and a chat bot continues as free LLM chat with the collected variables in context
    free = await chat.say("How do I pay?")
    assert len(free) == 1 and free[0]["status"] == "COMPLETE" and free[0]["content"]


async def test_condition_default_branch_and_api_error_target(prices):
    prices.status = 500
    bot, _ = await make_scenario(onboarding(prices.url))
    chat = await Chat.start(bot)
    await chat.texts("hi")
    await chat.texts("Bob")
    texts = await chat.texts("basic")
    assert texts[0] == "Basic suits you, Bob."
    # the visitor reads a generic reason, the owner the detail
    assert texts[1] == "Prices are unavailable: the lookup failed"
    conversation = await Conversation.objects.aget()
    assert "500" in conversation.private_variables["price_error"]


async def test_api_call_to_a_private_address_is_refused_without_allow_list(settings):
    settings.API_CALL_ALLOW_HOSTS = []
    bot, _ = await make_scenario(
        [
            (
                "call",
                "api_call",
                {"url": "http://127.0.0.1:9/x", "variable": "r", "error_target": "failed"},
            ),
            ("ok", "message", {"text": "ok", "end": True}),
            ("failed", "message", {"text": "refused: {{ r_error }}", "end": True}),
        ]
    )
    chat = await Chat.start(bot)
    [text] = await chat.texts("go")
    assert text.startswith("refused:")


async def test_llm_step_streams_and_stores_its_reply():
    bot, _ = await make_scenario(
        [
            ("topic", "question", {"text": "Topic?", "variable": "topic"}),
            ("explain", "llm", {"prompt": "Explain {{ topic }} simply.", "variable": "answer"}),
            ("done", "message", {"text": "Saved.", "end": True}),
        ],
        bot_type="completion",
    )
    chat = await Chat.start(bot)
    await chat.texts("hello")
    replies = await chat.say("photosynthesis")
    assert [r["status"] for r in replies] == ["COMPLETE", "COMPLETE"]
    conversation = await Conversation.objects.aget()
    assert conversation.variables["answer"] == replies[0]["content"]
    assert replies[1]["content"] == "Saved."


async def test_loop_without_question_stops_at_the_step_cap(settings):
    settings.SCENARIO_MAX_STEPS_PER_TURN = 5
    bot, _ = await make_scenario(
        [
            ("a", "message", {"text": "tick"}),
            (
                "b",
                "condition",
                {
                    "branches": [{"variable": "x", "operator": "exists", "target": "a"}],
                    "default_target": "a",
                },
            ),
        ],
        active=False,
    )
    chat = await Chat.start(bot)
    scenario = await bot.scenarios.afirst()
    await Conversation.objects.aupdate(
        scenario_id=scenario.pk, current_step_id=scenario.initial_step_id
    )
    replies = await chat.say("go")
    assert replies[-1]["status"] == "FAILED"
    failed = await Message.objects.filter(status="failed").aget()
    assert failed.error_code == "step_limit" and "loop" in failed.error


async def test_completion_bot_without_scenario_answers_each_message_alone():
    bot, scenario = await make_scenario([("m", "message", {"text": "hi", "end": True})])
    await scenario.adelete()
    chat = await Chat.start(bot)
    [reply] = await chat.say("I need help with my order")
    assert reply["status"] == "COMPLETE" and reply["content"]
