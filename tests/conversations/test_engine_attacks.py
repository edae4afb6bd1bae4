"""Owner content and visitor input that used to stall, leak or misdirect a turn."""

import pytest

from conversations.models import Conversation, Message
from tests.conversations.scenario_helpers import Chat, JsonServer, make_scenario

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_PROVIDER = "offline"
    settings.OFFLINE_TOKEN_DELAY = 0


async def test_catastrophic_regex_answer_is_checked_in_linear_time():
    # given a question whose pattern makes a backtracking engine take 2^n steps
    bot, _ = await make_scenario(
        [
            (
                "ask",
                "question",
                {
                    "text": "Words?",
                    "variable": "words",
                    "validation": {"type": "regex", "pattern": r"(\w+\s?)*"},
                },
            ),
            ("done", "message", {"text": "Got {{ words }}", "end": True}),
        ]
    )
    chat = await Chat.start(bot)
    assert await chat.texts("hi") == ["Words?"]
    # when a visitor answers with 4,000 characters that almost match
    [reask] = await chat.texts("ab " * 1333 + "!")
    # then the answer is refused (re-asked) instead of freezing the process
    assert reask == "Words?\nPlease answer in the expected format."
    assert await chat.texts("two words") == ["Got two words"]


async def test_catastrophic_condition_regex_on_a_long_variable_does_not_hang():
    bot, _ = await make_scenario(
        [
            ("ask", "question", {"text": "Code?", "variable": "code"}),
            (
                "check",
                "condition",
                {
                    "branches": [
                        {
                            "variable": "code",
                            "operator": "regex",
                            "value": r"^(x+x+)+y$",
                            "target": "yes",
                        }
                    ],
                    "default_target": "no",
                },
            ),
            ("yes", "message", {"text": "matched", "end": True}),
            ("no", "message", {"text": "no match", "end": True}),
        ]
    )
    chat = await Chat.start(bot)
    await chat.texts("hi")
    assert await chat.texts("x" * 3999) == ["no match"]
    assert (await Conversation.objects.aget()).is_completed


# About 0.17 s of CPU on the CI machine: under the budget alone, far over it eight times.
SLOW_HEADER = (
    "{% set s = 'ab' * 45000 %}{% for i in range(1500) %}{% if s.count('ab') %}{% endif %}"
    "{% endfor %}v"
)


@pytest.fixture
def orders(settings):
    server = JsonServer({"status": "shipped"})
    settings.API_CALL_ALLOW_HOSTS = [f"127.0.0.1:{server.port}"]
    yield server
    server.close()


def slow_call(url: str, headers: int) -> list[tuple]:
    content = {
        "url": url + "/orders",
        "headers": {f"X-Slow-{n}": SLOW_HEADER for n in range(headers)},
        "select": "status",
        "variable": "status",
    }
    return [
        ("call", "api_call", content),
        ("done", "message", {"text": "Order {{ status }}", "end": True}),
    ]


async def test_templates_of_a_turn_share_one_render_budget(settings, orders):
    settings.SCENARIO_RENDER_SECONDS = 0.5
    # given an api_call whose header templates are each within the budget, not together
    bot, _ = await make_scenario(slow_call(orders.url, headers=8))
    chat = await Chat.start(bot)
    # when the turn renders them
    [reply] = await chat.say("go")
    # then the turn fails with its own code and a clear message, and nothing is sent
    assert reply["status"] == "FAILED"
    failed = await Message.objects.aget(status="failed")
    assert failed.error_code == "render_budget"
    assert failed.error.startswith("The scenario's templates used more than 0.5 s of CPU time")
    assert orders.paths == []


async def test_one_template_within_the_render_budget_renders(settings, orders):
    settings.SCENARIO_RENDER_SECONDS = 0.5
    bot, _ = await make_scenario(slow_call(orders.url, headers=1))
    chat = await Chat.start(bot)
    assert await chat.texts("go") == ["Order shipped"]
    assert orders.paths == ["/orders"]
