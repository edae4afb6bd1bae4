"""Authentication over HTTP: session login (with CSRF), bearer API tokens, HTTP Basic."""

from django.test import Client

from accounts.models import ApiToken
from tests.asgi_client import basic_auth
from tests.conftest import bearer_client
from tests.factories import PASSWORD
from tests.graphql_client import GraphQLClient

LOGIN = """
mutation($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on User { username }
    ... on OperationInfo { messages { field message code kind } }
  }
}
"""

LOGOUT = "mutation { logout }"

ME = "query { me { username } }"

CREATE_BOT = """
mutation { createBot(input: {name: "Cookie bot"}) { __typename ... on Bot { name } } }
"""

CREATE_API_TOKEN = """
mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    __typename
    ... on CreatedApiToken { secret token { id name prefix revokedAt } }
  }
}
"""

REVOKE_API_TOKEN = """
mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) {
    __typename
    ... on ApiToken { revokedAt }
    ... on OperationInfo { messages { message code } }
  }
}
"""

API_TOKENS = "query { apiTokens { name prefix } }"


def cookie_client() -> GraphQLClient:
    return GraphQLClient(Client(enforce_csrf_checks=True))


def logged_in(user) -> GraphQLClient:
    gql = cookie_client()
    data = gql.execute(LOGIN, {"input": {"username": user.username, "password": PASSWORD}})
    assert data["login"] == {"__typename": "User", "username": user.username}
    return gql


def csrf_header(gql: GraphQLClient) -> dict[str, str]:
    return {"X-CSRFToken": gql.client.cookies["csrftoken"].value}


def assert_unauthorized(response, message: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]
    }


def test_login_with_the_right_password_sets_a_session_cookie(owner):
    gql = logged_in(owner)
    assert gql.client.cookies["sessionid"].value
    # Django rotates the CSRF token on login, so the client has one to send back.
    assert gql.client.cookies["csrftoken"].value


def test_session_cookie_authenticates_queries(owner):
    gql = logged_in(owner)
    assert gql.execute(ME, headers=csrf_header(gql)) == {"me": {"username": "owner"}}


def test_cookie_authenticated_post_query_without_csrf_token_is_refused(owner):
    # Every cookie-authenticated POST is checked: telling queries from mutations would
    # mean parsing the document before the check.
    response = logged_in(owner).post(ME)
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_FAILED"


def test_session_cookie_authenticates_get_queries(owner):
    gql = logged_in(owner)
    response = gql.client.get("/graphql", {"query": ME}, headers={"Accept": "application/json"})
    assert response.json() == {"data": {"me": {"username": "owner"}}}


def test_login_with_a_wrong_password_is_invalid_credentials(owner):
    gql = cookie_client()
    data = gql.execute(LOGIN, {"input": {"username": "owner", "password": "nope"}})
    assert data["login"] == {
        "__typename": "OperationInfo",
        "messages": [
            {
                "field": None,
                "message": "Invalid username or password.",
                "code": "invalid_credentials",
                "kind": "VALIDATION",
            }
        ],
    }
    assert "sessionid" not in gql.client.cookies
    assert gql.execute(ME) == {"me": None}


def test_login_of_an_unknown_user_is_invalid_credentials(db):
    data = cookie_client().execute(LOGIN, {"input": {"username": "ghost", "password": "x"}})
    assert data["login"]["messages"][0]["code"] == "invalid_credentials"


def test_cookie_authenticated_mutation_without_csrf_token_is_refused(owner):
    gql = logged_in(owner)
    response = gql.post(CREATE_BOT)
    assert response.status_code == 403
    assert response.json() == {
        "errors": [
            {
                "message": "CSRF check failed: send the csrftoken cookie's value as the "
                "X-CSRFToken header.",
                "extensions": {"code": "CSRF_FAILED"},
            }
        ]
    }
    assert not owner.bots.exists()


def test_cookie_authenticated_mutation_with_a_wrong_csrf_token_is_refused(owner):
    gql = logged_in(owner)
    response = gql.post(CREATE_BOT, headers={"X-CSRFToken": "x" * 64})
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_FAILED"
    assert not owner.bots.exists()


def test_cookie_authenticated_mutation_with_csrf_token_runs(owner):
    gql = logged_in(owner)
    data = gql.execute(CREATE_BOT, headers=csrf_header(gql))
    assert data["createBot"] == {"__typename": "Bot", "name": "Cookie bot"}
    assert owner.bots.get().name == "Cookie bot"


def test_graphiql_page_sets_the_csrf_cookie(owner):
    client = Client(enforce_csrf_checks=True)
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert client.cookies["csrftoken"].value


def test_session_client_fixture_runs_mutations(owner):
    from tests.conftest import session_client

    data = session_client(owner).execute(CREATE_BOT)
    assert data["createBot"]["__typename"] == "Bot"


def test_logout_ends_the_session(owner):
    gql = logged_in(owner)
    assert gql.execute(LOGOUT, headers=csrf_header(gql)) == {"logout": True}
    assert gql.execute(ME, headers=csrf_header(gql)) == {"me": None}


def test_logout_when_anonymous_returns_false(db):
    assert cookie_client().execute(LOGOUT) == {"logout": False}


def test_api_token_created_by_mutation_authenticates(owner):
    gql = logged_in(owner)
    data = gql.execute(CREATE_API_TOKEN, {"input": {"name": "ci"}}, headers=csrf_header(gql))
    created = data["createApiToken"]
    assert created["token"]["name"] == "ci"
    assert created["secret"].startswith(created["token"]["prefix"])
    token_gql = GraphQLClient(headers={"Authorization": f"Bearer {created['secret']}"})
    assert token_gql.execute(ME) == {"me": {"username": "owner"}}
    # Only the digest is stored.
    assert not ApiToken.objects.filter(digest=created["secret"]).exists()


def test_revoked_api_token_is_refused(owner):
    # Tokens are created with a password (issue 12.14): HTTP Basic here.
    gql = GraphQLClient(headers=basic_auth("owner", PASSWORD))
    created = gql.execute(CREATE_API_TOKEN, {"input": {"name": "short-lived"}})["createApiToken"]
    token_gql = GraphQLClient(headers={"Authorization": f"Bearer {created['secret']}"})

    data = gql.execute(REVOKE_API_TOKEN, {"input": {"id": created["token"]["id"]}})

    assert data["revokeApiToken"]["revokedAt"]
    assert_unauthorized(token_gql.post(ME), "Invalid or revoked API token.")


def test_revoking_another_users_token_is_not_found(owner, other_user):
    other_gql = GraphQLClient(headers=basic_auth(other_user.username, PASSWORD))
    created = other_gql.execute(CREATE_API_TOKEN, {"input": {"name": "mine"}})["createApiToken"]

    data = bearer_client(owner).execute(REVOKE_API_TOKEN, {"input": {"id": created["token"]["id"]}})

    assert data["revokeApiToken"] == {
        "__typename": "OperationInfo",
        "messages": [{"message": "API token not found.", "code": "not_found"}],
    }
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()


def test_api_tokens_lists_only_the_callers_tokens(owner, other_user):
    bearer_client(other_user)
    data = bearer_client(owner).execute(API_TOKENS)
    assert [token["name"] for token in data["apiTokens"]] == ["tests"]


def test_wrong_bearer_token_is_401(db):
    response = GraphQLClient(headers={"Authorization": "Bearer bst_wrong"}).post(ME)
    assert_unauthorized(response, "Invalid or revoked API token.")


def test_token_of_an_inactive_user_is_401(owner):
    gql = bearer_client(owner)
    owner.is_active = False
    owner.save()
    assert_unauthorized(gql.post(ME), "Invalid or revoked API token.")


def test_unsupported_authorization_scheme_is_401(db):
    response = GraphQLClient(headers={"Authorization": "Token abc"}).post(ME)
    assert_unauthorized(response, "Unsupported Authorization scheme: use Bearer or Basic.")


def test_bearer_token_needs_no_csrf_token(owner):
    # No cookie, no ambient credential: CSRF does not apply.
    gql = bearer_client(owner)
    gql.client = Client(enforce_csrf_checks=True)
    assert gql.execute(CREATE_BOT)["createBot"]["__typename"] == "Bot"


def test_http_basic_authenticates(owner):
    gql = GraphQLClient(Client(enforce_csrf_checks=True), headers=basic_auth("owner", PASSWORD))
    assert gql.execute(ME) == {"me": {"username": "owner"}}
    assert gql.execute(CREATE_BOT)["createBot"]["__typename"] == "Bot"


def test_http_basic_with_a_wrong_password_is_401(owner):
    response = GraphQLClient(headers=basic_auth("owner", "wrong")).post(ME)
    assert_unauthorized(response, "Invalid username or password.")


def test_malformed_basic_credentials_are_401(db):
    response = GraphQLClient(headers={"Authorization": "Basic abc"}).post(ME)
    assert_unauthorized(response, "Malformed Basic credentials.")


def test_anonymous_request_is_not_refused(db):
    assert GraphQLClient().execute(ME) == {"me": None}
