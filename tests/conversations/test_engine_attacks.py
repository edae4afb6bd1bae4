"""Owner content and visitor input that used to stall, leak or misdirect a turn."""

import pytest

from conversations.models import Conversation
from tests.conversations.scenario_helpers import Chat, make_scenario

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
