"""Start inputs over HTTP: owners declare them (createBot/updateBot, checked with coded
field errors), visitors read them (botProfile) and send values with startConversation,
which are checked, completed with defaults and kept as conversation variables."""

import pytest
from strawberry.relay import to_base64

from bots.models import Bot
from conversations.models import Conversation
from tests.factories import BotFactory

DECLARATION = "startInputs { name label type required default options maxLength }"
CREATE = f"""
mutation($input: BotInput!) {{
  createBot(input: $input) {{
    __typename
    ... on Bot {{ id {DECLARATION} }}
    ... on OperationInfo {{ messages {{ field message code }} }}
  }}
}}
"""
UPDATE = f"""
mutation($input: BotPartialInput!) {{
  updateBot(input: $input) {{
    __typename
    ... on Bot {{ {DECLARATION} }}
    ... on OperationInfo {{ messages {{ field message code }} }}
  }}
}}
"""
PROFILE = f"query($id: ID!) {{ botProfile(id: $id) {{ id name {DECLARATION} }} }}"
START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { variables bot { name } } }
}
"""
INPUTS = [
    {"name": "name", "type": "STRING", "label": "Your name", "required": True},
    {"name": "plan", "type": "SELECT", "options": ["free", "pro"], "default": "free"},
    {"name": "seats", "type": "NUMBER"},
    {"name": "newsletter", "type": "BOOLEAN", "default": False},
    {"name": "note", "type": "STRING", "maxLength": 10},
]


@pytest.fixture(autouse=True)
def no_limits(settings):
    settings.RATE_LIMITS_ENABLED = False


@pytest.fixture
def bot(owner_gql):
    """An owner's bot declaring INPUTS, made through createBot."""
    created = create(owner_gql, INPUTS)
    assert created["__typename"] == "Bot", created
    return Bot.objects.get()


def create(gql, inputs) -> dict:
    return gql.execute(CREATE, {"input": {"name": "Sales", "startInputs": inputs}})["createBot"]


def test_owner_declares_start_inputs_and_reads_them_back_normalized(owner_gql):
    created = create(owner_gql, INPUTS)

    assert created["__typename"] == "Bot"
    assert created["startInputs"][:2] == [
        {
            "name": "name",
            "label": "Your name",
            "type": "STRING",
            "required": True,
            "default": None,
            "options": [],
            "maxLength": None,
        },
        {
            "name": "plan",
            "label": "plan",  # the name when no label is given
            "type": "SELECT",
            "required": False,
            "default": "free",
            "options": ["free", "pro"],
            "maxLength": None,
        },
    ]
    assert created["startInputs"][4]["maxLength"] == 10
    bot = Bot.objects.get()
    assert bot.start_inputs[1] == {
        "name": "plan",
        "label": "plan",
        "type": "select",
        "required": False,
        "default": "free",
        "options": ["free", "pro"],
    }


@pytest.mark.parametrize(
    ("inputs", "code", "where"),
    [
        ([{"name": "a b", "type": "STRING"}], "invalid_identifier", "start_inputs.0.name"),
        (
            [{"name": "x", "type": "STRING"}, {"name": "x", "type": "NUMBER"}],
            "duplicate_name",
            "start_inputs",
        ),
        ([{"name": "plan", "type": "SELECT"}], "missing_options", "start_inputs.0"),
        (
            [{"name": "plan", "type": "SELECT", "options": ["a", "a"]}],
            "duplicate_option",
            "start_inputs.0.options",
        ),
        (
            [{"name": "n", "type": "NUMBER", "options": ["1"]}],
            "options_not_allowed",
            "start_inputs.0.options",
        ),
        ([{"name": "n", "type": "NUMBER", "maxLength": 5}], "max_length_not_allowed", ""),
        (
            [{"name": "n", "type": "NUMBER", "default": "ten"}],
            "invalid_default",
            "start_inputs.0.default",
        ),
        (
            [{"name": "p", "type": "SELECT", "options": ["a"], "default": "b"}],
            "invalid_default",
            "start_inputs.0.default",
        ),
        ([{"name": "s", "type": "STRING", "maxLength": 0}], "greater_than_equal", ""),
        ([{"name": "s", "type": "STRING", "label": "x" * 201}], "string_too_long", ""),
        ([{"name": f"i{n}", "type": "STRING"} for n in range(21)], "too_long", "start_inputs"),
    ],
)
def test_a_bad_declaration_is_a_coded_field_error(owner_gql, inputs, code, where):
    created = create(owner_gql, inputs)

    assert created["__typename"] == "OperationInfo"
    [message] = created["messages"]
    assert message["field"] == "startInputs"
    assert message["code"] == code
    assert message["message"].startswith(where)
    assert not Bot.objects.exists()


def test_update_replaces_the_declaration_and_null_clears_it(owner_gql, bot):
    bot_id = to_base64("Bot", bot.pk)
    changed = owner_gql.execute(
        UPDATE, {"input": {"id": bot_id, "startInputs": [{"name": "city", "type": "STRING"}]}}
    )["updateBot"]
    assert [i["name"] for i in changed["startInputs"]] == ["city"]

    cleared = owner_gql.execute(UPDATE, {"input": {"id": bot_id, "startInputs": None}})
    assert cleared["updateBot"]["startInputs"] == []
    bot.refresh_from_db()
    assert bot.start_inputs == []


def test_an_invalid_update_keeps_the_declaration(owner_gql, bot):
    bad = [{"name": "n", "type": "NUMBER", "default": True}]

    updated = owner_gql.execute(
        UPDATE, {"input": {"id": to_base64("Bot", bot.pk), "startInputs": bad}}
    )["updateBot"]

    assert updated["messages"][0]["code"] == "invalid_default"
    bot.refresh_from_db()
    assert [i["name"] for i in bot.start_inputs] == ["name", "plan", "seats", "newsletter", "note"]


def test_visitors_read_the_declaration_before_starting(anon_gql, bot):
    profile = anon_gql.execute(PROFILE, {"id": to_base64("Bot", bot.pk)})["botProfile"]

    assert profile["name"] == "Sales"
    assert [(i["name"], i["required"]) for i in profile["startInputs"]] == [
        ("name", True),
        ("plan", False),
        ("seats", False),
        ("newsletter", False),
        ("note", False),
    ]
    assert profile["startInputs"][1]["options"] == ["free", "pro"]


def test_an_inactive_bots_profile_is_only_for_its_owner(anon_gql, other_gql, owner_gql, bot):
    Bot.objects.filter(pk=bot.pk).update(is_active=False)
    variables = {"id": to_base64("Bot", bot.pk)}

    assert anon_gql.execute(PROFILE, variables)["botProfile"] is None
    assert other_gql.execute(PROFILE, variables)["botProfile"] is None
    assert owner_gql.execute(PROFILE, variables)["botProfile"]["name"] == "Sales"


def test_a_profile_asked_with_another_types_id_is_a_coded_error(anon_gql):
    [error] = anon_gql.errors(PROFILE, {"id": to_base64("Scenario", 1)})

    assert error["extensions"]["code"] == "INVALID_ID"


def start(gql, bot, variables):
    return gql.post(
        START, {"input": {"botId": to_base64("Bot", bot.pk), "variables": variables}}
    ).json()


def test_start_fills_defaults_and_keeps_values_as_conversation_variables(anon_gql, bot):
    body = start(anon_gql, bot, {"name": "  Ada ", "seats": 3, "note": "hi"})

    assert "errors" not in body, body
    expected = {"name": "Ada", "plan": "free", "seats": 3, "newsletter": False, "note": "hi"}
    assert body["data"]["startConversation"]["conversation"]["variables"] == expected
    assert Conversation.objects.get().variables == expected


@pytest.mark.parametrize(
    ("variables", "field", "code"),
    [
        ({}, "variables.name", "REQUIRED"),
        ({"name": "   "}, "variables.name", "REQUIRED"),
        ({"name": "Ada", "ghost": 1}, "variables.ghost", "UNKNOWN_VARIABLE"),
        ({"name": 42}, "variables.name", "INVALID_TYPE"),
        ({"name": "Ada", "seats": "3"}, "variables.seats", "INVALID_TYPE"),
        ({"name": "Ada", "seats": True}, "variables.seats", "INVALID_TYPE"),
        ({"name": "Ada", "seats": 10**16}, "variables.seats", "OUT_OF_RANGE"),
        ({"name": "Ada", "newsletter": "yes"}, "variables.newsletter", "INVALID_TYPE"),
        ({"name": "Ada", "plan": "gold"}, "variables.plan", "INVALID_CHOICE"),
        ({"name": "Ada", "note": "x" * 11}, "variables.note", "TOO_LONG"),
        ({"name": "x" * 201}, "variables.name", "TOO_LONG"),
        ({"name": {"first": "Ada"}}, "variables.name", "INVALID_TYPE"),
        (["Ada"], "variables", "INVALID_TYPE"),
        ("Ada", "variables", "INVALID_TYPE"),
    ],
)
def test_bad_start_values_are_coded_field_errors(anon_gql, bot, variables, field, code):
    body = start(anon_gql, bot, variables)

    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["errors"][0]["field"] == field
    assert not Conversation.objects.exists()


def test_every_bad_value_is_reported_at_once(anon_gql, bot):
    body = start(anon_gql, bot, {"seats": "many", "plan": "gold"})

    fields = {e["field"]: e["code"] for e in body["errors"][0]["extensions"]["errors"]}
    assert fields == {
        "variables.name": "required",
        "variables.seats": "invalid_type",
        "variables.plan": "invalid_choice",
    }


def test_a_bot_without_start_inputs_takes_no_variables(anon_gql, owner):
    plain = BotFactory(owner=owner)

    assert start(anon_gql, plain, None)["data"]["startConversation"]["chatToken"]
    body = start(anon_gql, plain, {"name": "Ada"})
    assert body["errors"][0]["extensions"]["code"] == "UNKNOWN_VARIABLE"


def test_values_larger_together_than_the_variables_cap_are_refused(anon_gql, bot, settings):
    settings.CONVERSATION_VARIABLES_MAX_BYTES = 100

    body = start(anon_gql, bot, {"name": "x" * 120})

    [error] = body["errors"]
    assert error["extensions"]["code"] == "TOO_LONG"
    assert error["extensions"]["errors"][0]["field"] == "variables"
    assert not Conversation.objects.exists()
