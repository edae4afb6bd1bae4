"""An open websocket loses its rights with its credential (server/graphql_ws.py): a
revoked token, a logout, a password change or a deactivated user closes it with 4403."""

import base64

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.services import api_token_create
from tests.asgi_client import gql_data, ws_client
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ME = "{ me { username } }"
API_TOKENS = "{ apiTokens { id name } }"
REVOKE = """
mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { __typename ... on ApiToken { revokedAt } }
}
"""
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { __typename } }
"""


@pytest.fixture(autouse=True)
def quick_recheck(settings):
    settings.WS_AUTH_RECHECK_INTERVAL = 0.05


@pytest.fixture
async def ada():
    return await sync_to_async(UserFactory)(username="ada")


async def token_for(user, name="socket") -> str:
    return (await sync_to_async(api_token_create)(user=user, name=name))[1]


async def opened(params=None, headers=None):
    client = ws_client(params, headers=headers or [])
    await client.gql_init()
    return client


async def me_over(client) -> dict:
    async for result in client.subscribe(ME):
        return result.data


async def closed(client) -> dict:
    while True:
        output = await client.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output


def session_cookie(username: str) -> tuple[Client, list[tuple[bytes, bytes]]]:
    """Log in through the login mutation; the client and the handshake's cookie header."""
    client = Client()
    response = client.post(
        "/graphql",
        {"query": LOGIN, "variables": {"input": {"username": username, "password": PASSWORD}}},
        content_type="application/json",
    )
    assert response.json()["data"]["login"]["__typename"] == "User"
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return client, [(b"cookie", cookie.encode())]


async def test_revoking_a_token_closes_the_socket_it_opened(ada):
    secret, admin_secret = await token_for(ada), await token_for(ada, "admin")
    client = await opened({"authToken": secret})
    try:
        assert await me_over(client) == {"me": {"username": "ada"}}
        owner = {"Authorization": f"Bearer {admin_secret}"}
        tokens = (await gql_data(API_TOKENS, headers=owner))["apiTokens"]
        [socket_token] = [t["id"] for t in tokens if t["name"] == "socket"]

        await gql_data(REVOKE, {"input": {"id": socket_token}}, owner)

        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403


async def test_other_credentials_keep_their_sockets(ada):
    revoked, kept = await token_for(ada, "revoked"), await token_for(ada, "kept")
    doomed, survivor = await opened({"authToken": revoked}), await opened({"authToken": kept})
    try:
        owner = {"Authorization": f"Bearer {kept}"}
        tokens = (await gql_data(API_TOKENS, headers=owner))["apiTokens"]
        [revoked_id] = [t["id"] for t in tokens if t["name"] == "revoked"]
        await gql_data(REVOKE, {"input": {"id": revoked_id}}, owner)
        assert (await closed(doomed))["code"] == 4403

        assert await me_over(survivor) == {"me": {"username": "ada"}}
    finally:
        await doomed.disconnect()
        await survivor.disconnect()


async def test_deactivating_the_user_closes_their_token_socket(ada):
    client = await opened({"authToken": await token_for(ada)})
    try:
        ada.is_active = False
        await ada.asave(update_fields=["is_active"])
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403


async def test_changing_the_password_closes_a_basic_socket(ada):
    basic = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    client = await opened({"Authorization": f"Basic {basic}"})
    try:
        assert await me_over(client) == {"me": {"username": "ada"}}
        ada.set_password("a-brand-new-password")
        await ada.asave(update_fields=["password"])
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403


async def test_logout_closes_the_sessions_socket(ada):
    http, cookie = await sync_to_async(session_cookie)("ada")
    client = await opened(headers=cookie)
    try:
        assert await me_over(client) == {"me": {"username": "ada"}}
        response = await sync_to_async(http.post)(
            "/graphql",
            {"query": "mutation { logout }"},
            content_type="application/json",
            headers={"X-CSRFToken": http.cookies["csrftoken"].value},
        )
        assert response.json() == {"data": {"logout": True}}
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403


async def test_changing_the_password_closes_a_session_socket(ada):
    _, cookie = await sync_to_async(session_cookie)("ada")
    client = await opened(headers=cookie)
    try:
        assert await me_over(client) == {"me": {"username": "ada"}}
        ada.set_password("a-brand-new-password")
        await ada.asave(update_fields=["password"])
        close = await closed(client)
    finally:
        await client.disconnect()
    assert close["code"] == 4403
