"""API tokens (issue 12.14): created only with a password, with an optional expiry and a
scope (read / write) enforced on every operation, over HTTP and websockets."""

import base64
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create
from tests.asgi_client import closed, gql_http, ws_client
from tests.conftest import bearer_client, session_client
from tests.factories import PASSWORD
from tests.graphql_client import GraphQLClient

CREATE_API_TOKEN = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    __typename
    ... on CreatedApiToken { secret token { name scope expiresAt } }
    ... on OperationInfo { messages { field message code } }
  }
}
"""
CREATE_BOT = 'mutation { createBot(input: {name: "Scoped"}) { __typename } }'
ME = "{ me { username } }"


def basic_client(user) -> GraphQLClient:
    encoded = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    return GraphQLClient(headers={"Authorization": f"Basic {encoded}"})


def token_client(user, **options) -> GraphQLClient:
    _, secret = api_token_create(user=user, name="scoped", **options)
    return GraphQLClient(headers={"Authorization": f"Bearer {secret}"})


def test_an_api_token_cannot_create_another_token(owner):
    data = bearer_client(owner).execute(CREATE_API_TOKEN, {"input": {"name": "second"}})
    assert data["createApiToken"] == {
        "__typename": "OperationInfo",
        "messages": [
            {
                "field": None,
                "message": "Creating an API token needs your password: log in, or use HTTP Basic.",
                "code": "password_required",
            }
        ],
    }
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["tests"]


@pytest.mark.parametrize("client", [basic_client, session_client], ids=["basic", "session"])
def test_a_password_or_session_login_creates_tokens(owner, client):
    data = client(owner).execute(CREATE_API_TOKEN, {"input": {"name": "ci"}})
    created = data["createApiToken"]
    assert created["token"] == {"name": "ci", "scope": "WRITE", "expiresAt": None}
    token_gql = GraphQLClient(headers={"Authorization": f"Bearer {created['secret']}"})
    assert token_gql.execute(ME) == {"me": {"username": "owner"}}


def test_a_token_gets_a_scope_and_an_expiry(owner):
    expires = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    data = basic_client(owner).execute(
        CREATE_API_TOKEN,
        {"input": {"name": "dashboard", "scope": "READ", "expiresAt": expires.isoformat()}},
    )
    token = data["createApiToken"]["token"]
    assert token["scope"] == "READ"
    assert token["expiresAt"] == expires.isoformat()
    assert ApiToken.objects.get(name="dashboard").expires_at == expires


def test_an_expiry_in_the_past_is_a_field_error(owner):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    data = basic_client(owner).execute(
        CREATE_API_TOKEN, {"input": {"name": "stale", "expiresAt": past}}
    )
    assert data["createApiToken"]["messages"] == [
        {"field": "expiresAt", "message": "The expiry must be in the future.", "code": "in_past"}
    ]


def test_an_expired_token_fails_like_a_revoked_one(owner):
    gql = token_client(owner, expires_at=timezone.now() + timedelta(hours=1))
    assert gql.execute(ME) == {"me": {"username": "owner"}}
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = gql.post(ME)

    assert response.status_code == 401
    assert response.json()["errors"][0] == {
        "message": "Invalid or revoked API token.",
        "extensions": {"code": "UNAUTHENTICATED"},
    }


def test_a_read_token_runs_queries_but_no_mutations_over_http(owner):
    gql = token_client(owner, scope="read")
    assert gql.execute(ME) == {"me": {"username": "owner"}}

    body = gql.post(CREATE_BOT).json()

    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INSUFFICIENT_SCOPE"}
    assert "read scope" in error["message"]
    assert not owner.bots.exists()


def test_a_write_token_runs_mutations(owner):
    data = token_client(owner, scope="write").execute(CREATE_BOT)
    assert data["createBot"] == {"__typename": "Bot"}


@pytest.mark.django_db(transaction=True)
async def test_a_read_token_runs_no_mutations_over_the_websocket(owner):
    _, secret = await sync_to_async(api_token_create)(user=owner, name="ws", scope="read")
    client = ws_client({"authToken": secret})
    await client.gql_init()
    try:
        async for result in client.subscribe(ME):
            assert result.data == {"me": {"username": "owner"}}
        async for result in client.subscribe(CREATE_BOT):
            refused = result
    finally:
        await client.disconnect()
    assert refused.errors[0].extensions == {"code": "INSUFFICIENT_SCOPE"}
    assert not await owner.bots.aexists()


@pytest.mark.django_db(transaction=True)
async def test_an_expired_token_closes_its_open_socket(owner, settings):
    settings.WS_AUTH_RECHECK_INTERVAL = 0.05
    soon = timezone.now() + timedelta(hours=1)
    _, secret = await sync_to_async(api_token_create)(user=owner, name="ws", expires_at=soon)
    client = ws_client({"authToken": secret})
    await client.gql_init()
    try:
        await ApiToken.objects.aupdate(expires_at=timezone.now() - timedelta(seconds=1))
        output = await closed(client)
    finally:
        await client.disconnect()
    assert output["code"] == 4403


@pytest.mark.django_db(transaction=True)
async def test_read_token_mutation_is_refused_before_running_with_graphql_response_json(owner):
    _, secret = await sync_to_async(api_token_create)(user=owner, name="r", scope="read")
    headers = {"Authorization": f"Bearer {secret}", "Accept": "application/graphql-response+json"}
    status, body = await gql_http(CREATE_BOT, headers=headers)
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "INSUFFICIENT_SCOPE"
