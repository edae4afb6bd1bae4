"""Looking objects up by global ID: malformed or mismatched IDs get clear answers."""

import pytest
from strawberry import relay

from tests.factories import BotFactory, ScenarioFactory

BOT = "query($id: ID!) { bot(id: $id) { name } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Scenario { name } } }"
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id } }"


def global_id(type_name: str, node_id: str) -> str:
    return str(relay.GlobalID(type_name, node_id))


@pytest.fixture
def bot(owner):
    return BotFactory(owner=owner, name="Support bot")


@pytest.mark.parametrize("node_id", ["abc", "1.5", "", str(2**70), "-" + str(2**70)])
@pytest.mark.parametrize(("field", "query"), [("bot", BOT), ("node", NODE)], ids=["bot", "node"])
def test_an_id_no_object_can_have_finds_nothing(owner_gql, bot, field, query, node_id):
    data = owner_gql.execute(query, {"id": global_id("Bot", node_id)})

    assert data == {field: None}


def test_a_conversation_id_that_is_not_a_number_finds_nothing(owner_gql):
    data = owner_gql.execute(CONVERSATION, {"id": global_id("Conversation", "abc")})

    assert data == {"conversation": None}


def test_the_id_of_another_type_in_a_typed_field_is_a_clear_error(owner_gql, bot):
    scenario = ScenarioFactory(bot=bot, name="Onboarding")

    errors = owner_gql.errors(BOT, {"id": global_id("Scenario", str(scenario.pk))})

    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        ("Expected the ID of a Bot, got the ID of a Scenario.", "INVALID_ID")
    ]


def test_node_still_resolves_any_type(owner_gql, bot):
    scenario = ScenarioFactory(bot=bot, name="Onboarding")
    scenario_id = global_id("Scenario", str(scenario.pk))

    assert owner_gql.execute(NODE, {"id": scenario_id}) == {
        "node": {"id": scenario_id, "name": "Onboarding"}
    }


def test_a_valid_id_still_finds_the_object(owner_gql, bot):
    data = owner_gql.execute(BOT, {"id": global_id("Bot", str(bot.pk))})

    assert data == {"bot": {"name": "Support bot"}}
