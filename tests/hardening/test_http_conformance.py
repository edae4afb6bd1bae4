"""GraphQL over HTTP: media types and status codes (server/graphql_http.py)."""

import json

import pytest
from django.test import Client

from server.graphql_http import negotiate

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

API_INFO = "{ apiInfo { name } }"
INVALID = "{ apiInfo { nope } }"
UNPARSEABLE = "{ apiInfo {"
LOGOUT = "mutation { logout }"
CONVERSATION = '{ conversation(id: "Q29udmVyc2F0aW9uOjE=") { id } }'

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client()


def post(client: Client, body, accept: str | None = None, content_type: str = JSON):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"Accept": accept} if accept else {}
    return client.post("/graphql", data, content_type=content_type, headers=headers)


def error_message(response) -> str:
    body = response.json()
    assert body["errors"][0]["message"], body
    return body["errors"][0]["message"]


def test_graphql_response_json_when_the_client_accepts_it(client):
    response = post(client, {"query": API_INFO}, accept=f"{GRAPHQL_RESPONSE_JSON}, {JSON}")
    assert response.status_code == 200
    assert response["Content-Type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    assert response.json() == {"data": {"apiInfo": {"name": "Botstream"}}}
    assert "Accept" in response["Vary"]


def test_application_json_when_the_client_asks_for_it(client):
    response = post(client, {"query": API_INFO}, accept=JSON)
    assert response.status_code == 200
    assert response["Content-Type"] == JSON


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),  # legacy: no Accept header means application/json
        ("*/*", JSON),
        ("application/*", JSON),
        (f"{JSON}, {GRAPHQL_RESPONSE_JSON}", JSON),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, {JSON}", JSON),
        ("text/html, */*;q=0.8", JSON),
        ("text/csv", None),
        (f"text/csv, {JSON};q=0", None),
    ],
)
def test_accept_negotiation(accept, expected):
    assert negotiate(accept) == expected


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (f"{JSON}; charset=utf-8", JSON),
        (f"{JSON};charset=UTF-8, text/html", JSON),
        (f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8, {JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        # At equal q the more specific range wins (RFC 9110 §12.5.1; Django's rule).
        (f"*/*, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
    ],
)
def test_accept_negotiation_with_parameters_and_wildcards(accept, expected):
    assert negotiate(accept) == expected


def test_unsupported_accept_is_406(client):
    response = post(client, {"query": API_INFO}, accept="text/csv")
    assert response.status_code == 406
    assert response["Content-Type"] == JSON
    assert error_message(response) == (
        f"Not acceptable: this endpoint answers {GRAPHQL_RESPONSE_JSON} or {JSON}."
    )


def test_graphiql_still_opens_for_a_browser(client):
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_query_over_get(client):
    response = client.get(
        "/graphql", {"query": API_INFO}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"apiInfo": {"name": "Botstream"}}}


def test_mutation_over_get_is_405_with_allow(client):
    response = client.get("/graphql", {"query": LOGOUT}, headers={"Accept": GRAPHQL_RESPONSE_JSON})
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert error_message(response) == "Mutations are not allowed over GET: use POST."


def test_other_methods_are_405(client):
    response = client.put("/graphql", json.dumps({"query": API_INFO}), content_type=JSON)
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"


def test_bad_json_is_400(client):
    response = post(client, '{"query": ', accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400
    assert response["Content-Type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    assert error_message(response) == "Unable to parse request body as JSON"


@pytest.mark.parametrize("body", ["null", "7", '"{ apiInfo { name } }"', "[" * 50_000])
def test_json_that_is_not_an_object_is_400(client, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_missing_query_is_400(client):
    response = post(client, {"variables": {}})
    assert response.status_code == 400
    assert error_message(response) == "No GraphQL query found in the request"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_unsupported_content_type_is_415(client, content_type):
    response = post(client, {"query": API_INFO}, content_type=content_type)
    assert response.status_code == 415
    assert error_message(response) == (
        f"Unsupported Content-Type ({content_type}): send the operation as {JSON} (UTF-8)."
    )


@pytest.mark.parametrize(
    ("encoding", "status"), [("utf-16", 415), ("utf-32", 415), ("utf-16-le", 400)]
)
def test_utf16_body_is_refused(client, encoding, status):
    # json.loads guesses UTF-16/32 from bytes: such a body used to run. With a BOM it is
    # not UTF-8 (415); without one it is UTF-8 with NULs that is not JSON (400).
    body = json.dumps({"query": API_INFO}).encode(encoding)
    response = post(client, body)
    assert response.status_code == status
    assert "data" not in response.json()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_the_body_are_400(client, constant):
    body = '{"query": "query($v: Float) { apiInfo { name } }", "variables": {"v": %s}}'
    response = post(client, body.replace("%s", constant))
    assert response.status_code == 400
    assert error_message(response) == (
        f"{constant} is not a JSON number: send finite numbers (or null)."
    )


def test_non_finite_numbers_in_get_variables_are_400(client):
    query = "query($v: Float) { apiInfo { name } }"
    response = client.get("/graphql", {"query": query, "variables": '{"v": NaN}'})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_non_utf8_charset_is_415(client):
    response = post(client, {"query": API_INFO}, content_type=f"{JSON}; charset=latin-1")
    assert response.status_code == 415


def test_batch_is_400(client):
    response = post(client, [{"query": API_INFO}, {"query": API_INFO}])
    assert response.status_code == 400
    assert error_message(response).startswith("Batched operations are not supported")


@pytest.mark.parametrize("query", [UNPARSEABLE, INVALID])
def test_request_errors_are_400_without_data_in_graphql_response_json(client, query):
    response = post(client, {"query": query}, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400
    assert response["Content-Type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["locations"]


@pytest.mark.parametrize("query", [UNPARSEABLE, INVALID])
def test_request_errors_stay_200_in_application_json(client, query):
    response = post(client, {"query": query}, accept=JSON)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"]


def test_variable_coercion_failure_is_400_in_graphql_response_json(client):
    body = {"query": "query($n: Int) { bots(first: $n) { totalCount } }", "variables": {"n": "x"}}
    response = post(client, body, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 400
    assert error_message(response).startswith("Variable '$n' has invalid value")


def test_field_errors_are_200_with_data(client):
    response = post(client, {"query": CONVERSATION}, accept=GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"conversation": None}
    assert body["errors"][0]["path"] == ["conversation"]


def test_transport_errors_use_the_negotiated_media_type(client):
    response = post(client, [{"query": API_INFO}], accept=GRAPHQL_RESPONSE_JSON, content_type=JSON)
    assert response.status_code == 400
    assert response["Content-Type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
