"""Out-of-range input never reaches the database: paging cursors with offsets past its
integers or negative, IDs of thousands of digits, over-long names. Each is a clean
validation error (or a 404 for pages), the same on SQLite and Postgres."""

import base64

import pytest
from django.contrib.auth.models import AnonymousUser
from strawberry.relay import to_base64

from accounts.models import ApiToken
from conversations.services import conversation_start
from tests.factories import PASSWORD
from tests.graphql_client import GraphQLClient

MESSAGES = """
query($id: ID!, $after: String, $before: String) {
  conversation(id: $id) {
    messages(first: 5, after: $after, before: $before) { edges { node { id } } }
  }
}
"""
BOTS_AFTER_LITERAL = '{ bots(after: "%s") { totalCount } }'
CREATE_TOKEN = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    __typename ... on OperationInfo { messages { field code } }
  }
}
"""
STEP = "query($id: ID!) { step(id: $id) { id } }"
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { userMessage { id } } }
"""


def cursor(offset) -> str:
    return to_base64("arrayconnection", offset)


@pytest.mark.parametrize("offset", [10**20, 2**63, -1, -5, "1" * 5000])
@pytest.mark.parametrize("argument", ["after", "before"])
def test_message_cursor_out_of_range_is_refused(anon_gql, bot, offset, argument):
    conversation, token = conversation_start(user=AnonymousUser(), bot_id=bot.pk, user_session="")
    variables = {"id": to_base64("Conversation", conversation.pk), argument: cursor(offset)}
    body = anon_gql.post(MESSAGES, variables, headers={"X-Chat-Token": token}).json()
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "reason": "invalid_cursor",
        "field": argument,
    }


def test_cursor_literal_out_of_range_is_refused(owner_gql):
    [error] = owner_gql.errors(BOTS_AFTER_LITERAL % cursor(10**20))
    assert error["extensions"]["reason"] == "invalid_cursor"


def test_cursor_in_range_pages(owner_gql, bot):
    data = owner_gql.execute(BOTS_AFTER_LITERAL % cursor(2**31 - 1))
    assert data == {"bots": {"totalCount": 1}}


@pytest.mark.parametrize("reference", ["1" * 5000, "9" * 25, str(2**63)])
def test_chat_page_for_an_impossible_bot_id_is_404(client, db, reference):
    assert client.get(f"/chat/{reference}/").status_code == 404


@pytest.mark.parametrize("pk", ["1" * 5000, str(2**63), str(-(2**63) - 1)])
def test_node_id_out_of_range_finds_nothing(owner_gql, pk):
    assert owner_gql.execute(STEP, {"id": to_base64("Step", pk)}) == {"step": None}


@pytest.mark.parametrize("pk", ["1" * 5000, str(10**30)])
def test_input_id_out_of_range_is_a_field_error(anon_gql, pk):
    variables = {"input": {"conversationId": to_base64("Conversation", pk), "text": "hi"}}
    [error] = anon_gql.errors(SEND, variables, headers={"X-Chat-Token": "t"})
    assert error["extensions"]["code"] not in ("INTERNAL_SERVER_ERROR", None), error


def test_api_token_name_over_100_characters_is_a_field_error(owner):
    # Tokens are created with a password (a token cannot mint tokens).
    basic = base64.b64encode(f"{owner.username}:{PASSWORD}".encode()).decode()
    client = GraphQLClient(headers={"Authorization": f"Basic {basic}"})
    data = client.execute(CREATE_TOKEN, {"input": {"name": "n" * 101}})
    payload = data["createApiToken"]
    assert payload["__typename"] == "OperationInfo"
    assert payload["messages"] == [{"field": "name", "code": "max_length"}]
    assert not owner.api_tokens.filter(name__startswith="nnn").exists()
    assert not ApiToken.objects.filter(user=owner).exists()
