"""Property-based fuzz of the mutation inputs over HTTP (Django test client, every
middleware): whatever the input, never a 500, never an internal error's text, and
every error (GraphQL error or OperationInfo message) says something, with a code.

Strings, numbers, IDs and JSON content come from hypothesis, including values of the
wrong type, forged global IDs (other types, huge or negative primary keys) and
arbitrary JSON for step content. Generation is stubbed out (the reply engine is not
under test here) and rate limits are off, so every example reaches the resolvers.
"""

import base64
import json
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.relay import to_base64

import conversations.turns
from conversations.services import conversation_start
from tests.factories import BotFactory, ScenarioFactory, StepFactory

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

OPERATION_INFO = "... on OperationInfo { messages { kind field message code } }"
CREATE_BOT = f"""
mutation($input: BotInput!) {{
  createBot(input: $input) {{ __typename ... on Bot {{ id name }} {OPERATION_INFO} }}
}}
"""
UPDATE_BOT = f"""
mutation($input: BotPartialInput!) {{
  updateBot(input: $input) {{ __typename ... on Bot {{ id name }} {OPERATION_INFO} }}
}}
"""
CREATE_SCENARIO = f"""
mutation($input: ScenarioInput!) {{
  createScenario(input: $input) {{ __typename ... on Scenario {{ id }} {OPERATION_INFO} }}
}}
"""
CREATE_STEP = f"""
mutation($input: StepInput!) {{
  createStep(input: $input) {{ __typename ... on Step {{ id content }} {OPERATION_INFO} }}
}}
"""
START_CONVERSATION = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}
"""
SEND_MESSAGE = """
mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { id content } reply { id status } }
}
"""

# What must never reach a client: tracebacks, exception class names, driver/ORM text.
INTERNALS = re.compile(
    r"Traceback|File \"|\b\w+(Error|Exception)\b|django\.|psycopg|sqlite|IntegrityError"
    r"|NoneType|object has no attribute|unsupported operand|invalid literal for"
)
MASKED = re.compile(r"^Unexpected error \(id [0-9a-f]{12}\)\.$")
INTERNAL = "INTERNAL_SERVER_ERROR"

# Generated text never contains the markers itself, so an echo cannot look like a leak.
plain_text = st.text(max_size=80).filter(lambda s: not INTERNALS.search(s))
# Some text holds what no column stores: NUL and lone surrogates (refused with a code).
unstorable = st.builds(
    lambda a, bad, b: a + bad + b,
    plain_text,
    st.sampled_from(["\x00", "\ud800", "\udfff"]),
    plain_text,
)
text = plain_text | unstorable
long_text = st.text(min_size=3990, max_size=4010, alphabet="ab ")
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
# Any JSON: the right type or not, so coercion errors are fuzzed too.
anything = json_value
number = st.integers(min_value=-(2**40), max_value=2**40) | st.floats(
    allow_nan=False, allow_infinity=False
)
type_names = st.sampled_from(["Bot", "Scenario", "Step", "Conversation", "Message", "User", ""])
forged_pk = st.integers(min_value=-(2**70), max_value=2**70).map(str) | plain_text
forged_id = st.builds(lambda t, pk: to_base64(t, pk), type_names, forged_pk)
raw_id = plain_text | st.binary(max_size=20).map(lambda b: base64.b64encode(b).decode())


def ids(*real: str):
    """A real ID of the right type, a forged one, or junk."""
    return st.sampled_from(real) | forged_id | raw_id | anything


def maybe(strategy):
    """An explicit null, or the value (`inputs` also drops keys)."""
    return st.none() | strategy


def inputs(**fields) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {}, optional={name: strategy for name, strategy in fields.items()}
    ) | st.fixed_dictionaries(fields)


def check(response) -> dict:
    """The properties every response must have; returns the body."""
    assert response.status_code < 500, response.content
    body = response.json()
    errors = body.get("errors") or []
    for error in errors:
        message = error.get("message")
        assert isinstance(message, str) and message.strip(), error
        assert MASKED.match(message) or not INTERNALS.search(message), error
        assert "traceback" not in json.dumps(error.get("extensions") or {}).lower(), error
        assert (error.get("extensions") or {}).get("code") not in (None, INTERNAL), error
    for payload in (body.get("data") or {}).values():
        for item in (payload or {}).get("messages") or []:
            assert item["message"] and not INTERNALS.search(item["message"]), item
    assert errors or body.get("data"), body
    return body


@pytest.fixture
def world(owner, settings, monkeypatch):
    settings.RATE_LIMITS_ENABLED = False
    monkeypatch.setattr(conversations.turns, "start_turn", lambda *args: None)
    bot = BotFactory(owner=owner, name="Fuzzed", is_active=True)
    scenario = ScenarioFactory(bot=bot, name="Main")
    step = StepFactory(scenario=scenario, name="hello")
    conversation, chat_token = conversation_start(
        user=AnonymousUser(), bot_id=bot.pk, user_session="fuzz"
    )
    return {
        "bot": to_base64("Bot", bot.pk),
        "scenario": to_base64("Scenario", scenario.pk),
        "step": to_base64("Step", step.pk),
        "conversation": to_base64("Conversation", conversation.pk),
        "chat_token": chat_token,
    }


@FUZZ
@given(data=st.data())
def test_create_bot(owner_gql, world, data):
    payload = data.draw(
        inputs(
            name=text | anything,
            description=maybe(text),
            botType=st.sampled_from(["CHAT", "COMPLETION"]) | text,
            model=maybe(text),
            temperature=maybe(number | anything),
            maxTokens=maybe(number),
            systemPrompt=maybe(text | long_text),
            isActive=maybe(st.booleans() | anything),
        )
    )
    check(owner_gql.post(CREATE_BOT, {"input": payload}))


@FUZZ
@given(data=st.data())
def test_update_bot(owner_gql, world, data):
    payload = data.draw(
        inputs(
            id=ids(world["bot"], world["scenario"]),
            name=maybe(text),
            temperature=maybe(number),
            maxTokens=maybe(number),
            botType=maybe(st.sampled_from(["CHAT", "COMPLETION"]) | text),
            isActive=maybe(st.booleans()),
        )
    )
    check(owner_gql.post(UPDATE_BOT, {"input": payload}))


@FUZZ
@given(data=st.data())
def test_create_scenario(owner_gql, world, data):
    payload = data.draw(
        inputs(
            botId=ids(world["bot"], world["step"]),
            name=text | anything,
            description=maybe(text),
            isActive=maybe(st.booleans() | anything),
        )
    )
    check(owner_gql.post(CREATE_SCENARIO, {"input": payload}))


@FUZZ
@given(data=st.data())
def test_create_step(owner_gql, world, data):
    payload = data.draw(
        inputs(
            scenarioId=ids(world["scenario"], world["bot"]),
            name=text,
            stepType=st.sampled_from(["MESSAGE", "QUESTION", "CONDITION", "API_CALL", "LLM"])
            | text,
            content=json_value
            | st.fixed_dictionaries({"text": text, "variable": text})
            | st.fixed_dictionaries({"branches": st.lists(json_value, max_size=3)}),
            order=maybe(number),
            nextStepId=maybe(ids(world["step"])),
        )
    )
    check(owner_gql.post(CREATE_STEP, {"input": payload}))


@FUZZ
@given(data=st.data())
def test_start_conversation(anon_gql, world, data):
    payload = data.draw(
        inputs(
            botId=ids(world["bot"], world["scenario"]),
            scenarioId=maybe(ids(world["scenario"])),
            userSession=maybe(text | anything),
        )
    )
    check(anon_gql.post(START_CONVERSATION, {"input": payload}))


@FUZZ
@given(data=st.data())
def test_send_message(anon_gql, world, data):
    payload = data.draw(
        inputs(
            conversationId=ids(world["conversation"], world["bot"]),
            text=text | long_text | anything,
        )
    )
    token = data.draw(st.sampled_from([world["chat_token"]]) | plain_text.filter(str.isprintable))
    headers = {"X-Chat-Token": token} if token.isascii() else {}
    check(anon_gql.post(SEND_MESSAGE, {"input": payload}, headers=headers))


NULL_TEXT_FIELDS = [
    (CREATE_BOT, "createBot", {"name": "Nulls", "description": None}),
    (CREATE_BOT, "createBot", {"name": "Nulls", "systemPrompt": None}),
    (CREATE_SCENARIO, "createScenario", {"name": "Nulls", "description": None}),
]


@pytest.mark.parametrize(("mutation", "field", "payload"), NULL_TEXT_FIELDS)
def test_explicit_null_clears_a_text_field(owner_gql, world, mutation, field, payload):
    # Found by the fuzz: null used to reach the NOT NULL column; it now means "empty".
    if field == "createScenario":
        payload = {**payload, "botId": world["bot"]}
    body = check(owner_gql.post(mutation, {"input": payload}))
    assert not body.get("errors"), body["errors"]
    assert body["data"][field]["__typename"] != "OperationInfo", body["data"]
