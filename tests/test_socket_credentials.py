"""An open websocket loses its rights with its credential (server/graphql_ws.py): a
revoked token, a logout, a password change or a deactivated user closes it with 4403."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.services import api_token_create
from tests.asgi_client import LOGIN, ME, basic_auth, closed, gql_data, ws_client
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

API_TOKENS = "{ apiTokens { id name } }"
REVOKE = """
mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { __typename ... on ApiToken { revokedAt } }
}
"""


@pytest.fixture(autouse=True)
def quick_recheck(settings):
    settings.WS_AUTH_RECHECK_INTERVAL = 0.05


@pytest.fixture
async def ada():
    return await sync_to_async(UserFactory)(username="ada")


async def token_for(user, name="socket") -> str:
    return (await sync_to_async(api_token_create)(user=user, name=name))[1]


async def me_over(client) -> dict:
    async for result in client.subscribe(ME):
        return result.data


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


async def revoke(name: str, *, using: str) -> None:
    """Revoke the token called `name` through the API, authenticated with the token `using`."""
    owner = {"Authorization": f"Bearer {using}"}
    tokens = (await gql_data(API_TOKENS, headers=owner))["apiTokens"]
    [token_id] = [t["id"] for t in tokens if t["name"] == name]
    await gql_data(REVOKE, {"input": {"id": token_id}}, owner)


async def change_password(user) -> None:
    user.set_password("a-brand-new-password")
    await user.asave(update_fields=["password"])


async def test_revoking_a_token_closes_the_socket_it_opened(ada):
    secret, admin_secret = await token_for(ada), await token_for(ada, "admin")
    async with ws_client({"authToken": secret}) as client:
        assert await me_over(client) == {"me": {"username": "ada"}}

        await revoke("socket", using=admin_secret)

        close = await closed(client)
    assert close["code"] == 4403


async def test_other_credentials_keep_their_sockets(ada):
    revoked, kept = await token_for(ada, "revoked"), await token_for(ada, "kept")
    async with (
        ws_client({"authToken": revoked}) as doomed,
        ws_client({"authToken": kept}) as survivor,
    ):
        await revoke("revoked", using=kept)
        assert (await closed(doomed))["code"] == 4403

        assert await me_over(survivor) == {"me": {"username": "ada"}}


async def test_deactivating_the_user_closes_their_token_socket(ada):
    async with ws_client({"authToken": await token_for(ada)}) as client:
        ada.is_active = False
        await ada.asave(update_fields=["is_active"])
        close = await closed(client)
    assert close["code"] == 4403


async def test_changing_the_password_closes_a_basic_socket(ada):
    async with ws_client(basic_auth("ada", PASSWORD)) as client:
        assert await me_over(client) == {"me": {"username": "ada"}}
        await change_password(ada)
        close = await closed(client)
    assert close["code"] == 4403


async def test_logout_closes_the_sessions_socket(ada):
    http, cookie = await sync_to_async(session_cookie)("ada")
    async with ws_client(headers=cookie) as client:
        assert await me_over(client) == {"me": {"username": "ada"}}
        response = await sync_to_async(http.post)(
            "/graphql",
            {"query": "mutation { logout }"},
            content_type="application/json",
            headers={"X-CSRFToken": http.cookies["csrftoken"].value},
        )
        assert response.json() == {"data": {"logout": True}}
        close = await closed(client)
    assert close["code"] == 4403


async def test_changing_the_password_closes_a_session_socket(ada):
    _, cookie = await sync_to_async(session_cookie)("ada")
    async with ws_client(headers=cookie) as client:
        assert await me_over(client) == {"me": {"username": "ada"}}
        await change_password(ada)
        close = await closed(client)
    assert close["code"] == 4403
