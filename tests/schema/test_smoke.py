from bots.models import Bot

BOTS = """
query {
  bots(first: 10) {
    totalCount edges { node { id name botType scenarioCount owner { username } } }
  }
}
"""

CREATE_BOT = """
mutation($input: BotInput!) {
  createBot(input: $input) {
    __typename
    ... on Bot { id name temperature botType }
    ... on OperationInfo { messages { field message code kind } }
  }
}
"""


def test_owner_lists_own_bots(owner_gql, bot):
    data = owner_gql.execute(BOTS)
    assert data["bots"]["totalCount"] == 1
    node = data["bots"]["edges"][0]["node"]
    assert node["name"] == "Support bot"
    assert node["botType"] == "CHAT"
    assert node["owner"]["username"] == "owner"


def test_create_bot_validation_error(owner_gql):
    data = owner_gql.execute(CREATE_BOT, {"input": {"name": "x", "temperature": 3.5}})
    result = data["createBot"]
    assert result["__typename"] == "OperationInfo"
    assert result["messages"][0]["field"] == "temperature"
    assert not Bot.objects.exists()


def test_create_bot(owner_gql, owner):
    data = owner_gql.execute(CREATE_BOT, {"input": {"name": "New", "botType": "COMPLETION"}})
    assert data["createBot"]["__typename"] == "Bot"
    assert Bot.objects.get().owner == owner
