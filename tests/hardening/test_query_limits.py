"""An attack corpus over HTTP: each document is refused before execution with a clear
message (or handled), never a 500. Limits: server/settings.py `# --- GraphQL limits ---`."""

import json
import logging
import re

import pytest
from django.db import OperationalError
from graphql import get_introspection_query

import schema.system
from tests.factories import ScenarioFactory, StepFactory
from tests.graphql_client import GraphQLClient

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

# README's deepest documented query: 11 levels through Relay edges/node.
README_QUERY = """
query {
  bots(first: 20, filters: {isActive: true, search: "support"}, ordering: [{name: ASC}]) {
    totalCount
    edges { node { id name scenarioCount
      scenarios { edges { node { name initialStep { name }
        steps { edges { node { name stepType content nextStep { name } } } } } } } } }
  }
}
"""

# 13 levels.
DEEP = """
{ bots { edges { node { scenarios { edges { node { steps { edges { node {
  nextStep { nextStep { nextStep { name } } } } } } } } } } } } }
"""

# The same depth, hidden in fragments.
DEEP_FRAGMENTS = """
{ bots { edges { node { ...B } } } }
fragment B on Bot { scenarios { edges { node { ...S } } } }
fragment S on Scenario { steps { edges { node { ...T } } } }
fragment T on Step { nextStep { nextStep { nextStep { name } } } }
"""

# Wide: 300 selections, about 1200 tokens.
WIDE = "{ " + " ".join("apiInfo { name }" for _ in range(300)) + " }"

ALIAS_FLOOD = "{ " + " ".join(f"a{i}: apiInfo {{ name }}" for i in range(16)) + " }"

# Ten aliases, spread ten times: 100 aliases once fragments are expanded.
FRAGMENT_ALIASES = (
    "{ apiInfo { " + " ".join("...F" for _ in range(10)) + " } }\n"
    "fragment F on ApiInfo { " + " ".join(f"n{i}: name" for i in range(10)) + " }"
)

# Two directives in a fragment spread 30 times: 60 directives expanded.
DIRECTIVE_FLOOD = (
    "{ apiInfo { " + " ".join("...F" for _ in range(30)) + " } }\n"
    "fragment F on ApiInfo { name @include(if: true) version @skip(if: false) }"
)

# Each fragment spreads the previous one twice: 2**30 fields once expanded.
FRAGMENT_FANOUT = "{ apiInfo { ...F30 } }\nfragment F0 on ApiInfo { name }\n" + "\n".join(
    f"fragment F{i} on ApiInfo {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 31)
)

# The same with an alias at the bottom: 2**60 aliases, counted without walking them.
ALIAS_FANOUT = "{ apiInfo { ...F60 } }\nfragment F0 on ApiInfo { n: name }\n" + "\n".join(
    f"fragment F{i} on ApiInfo {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 61)
)

FRAGMENT_CYCLE = """
{ ...A }
fragment A on Query { apiInfo { name } ...B }
fragment B on Query { me { username } ...A }
"""

COST_BOMB = """
{ bots(first: 100) { edges { node { name
  scenarios(first: 100) { edges { node { name
    steps(first: 100) { edges { node { name content } } } } } } } } } }
"""

COST_BOMB_VARIABLES = """
query($n: Int) { bots(first: $n) { edges { node {
  scenarios(first: $n) { edges { node { steps(first: $n) { edges { node { name } } } } } } } } } }
"""

# The same, with the page size hidden in the variable's default.
COST_BOMB_DEFAULTS = COST_BOMB_VARIABLES.replace("$n: Int", "$n: Int = 100")

PAGE_TOO_LARGE = "{ bots(first: 101) { edges { node { name } } } }"

HUGE_DOCUMENT = "{ apiInfo { name } }" + "#" * (65 * 1024)

INTROSPECTION = "{ __schema { types { name } } }"
TYPE_INTROSPECTION = '{ __type(name: "Bot") { fields { name } } }'
TYPENAME = "{ __typename apiInfo { __typename name } }"
# Four nested list fields inside introspection: the classic introspection DoS.
INTROSPECTION_BOMB = (
    "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
)

# GraphiQL asks for this (graphql-js getIntrospectionQuery with every option GraphiQL uses).
GRAPHIQL_INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)

UNKNOWN_FIELD = "{ botz }"
UNKNOWN_ENUM_VALUE = "{ bots(filters: {botType: CHT}) { totalCount } }"
API_INFO = "{ apiInfo { name } }"
CONVERSATION = '{ conversation(id: "Q29udmVyc2F0aW9uOjE=") { id } }'
START = 'mutation { startConversation(input: {botId: "U2NlbmFyaW86MQ=="}) { chatToken } }'

UNEXPECTED_ID = re.compile(r"^Unexpected error \(id ([0-9a-f]{12})\)\.$")


@pytest.fixture
def production(settings):
    """DEBUG off, and what follows from it (the settings derive from DEBUG at start-up)."""
    settings.DEBUG = False
    settings.GRAPHQL_INTROSPECTION = False
    settings.GRAPHQL_FIELD_SUGGESTIONS = False
    return settings


@pytest.fixture
def world(bot):
    scenario = ScenarioFactory(bot=bot, name="Main")
    first = StepFactory(scenario=scenario, name="hello", order=1)
    StepFactory(scenario=scenario, name="bye", order=2)
    first.next_step = scenario.steps.get(name="bye")
    first.save()
    return bot


def post(gql: GraphQLClient, query: str, variables: dict | None = None):
    """POST asking for graphql-response+json, so refusals are 4xx, never 200 or 500."""
    return gql.post(query, variables, headers={"Accept": GRAPHQL_RESPONSE_JSON})


def refused(response, code: str | None = None, status: int = 400) -> str:
    """The message of a refusal, checked: the status, no data, one clear error."""
    assert response.status_code == status, response.content
    body = response.json()
    assert "data" not in body, body
    error = body["errors"][0]
    assert error["message"]
    if code is not None:
        assert error["extensions"]["code"] == code, error
    return error["message"]


def test_readme_deepest_query_is_admitted(owner_gql, world):
    response = post(owner_gql, README_QUERY)
    body = response.json()
    assert response.status_code == 200
    assert "errors" not in body, body
    node = body["data"]["bots"]["edges"][0]["node"]
    steps = node["scenarios"]["edges"][0]["node"]["steps"]["edges"]
    assert steps[0]["node"]["nextStep"] == {"name": "bye"}


def test_deep_query_is_refused(owner_gql):
    message = refused(post(owner_gql, DEEP), "QUERY_TOO_DEEP")
    assert message == "The operation is 13 levels deep; the limit is 12."


def test_depth_counts_through_fragments(owner_gql):
    message = refused(post(owner_gql, DEEP_FRAGMENTS), "QUERY_TOO_DEEP")
    assert "13 levels deep" in message


def test_depth_limit_is_a_setting(owner_gql, settings):
    settings.GRAPHQL_MAX_DEPTH = 10
    message = refused(post(owner_gql, README_QUERY), "QUERY_TOO_DEEP")
    assert message == "The operation is 11 levels deep; the limit is 10."


def test_wide_query_is_refused_by_the_token_limit(owner_gql):
    message = refused(post(owner_gql, WIDE))
    assert message.startswith("Syntax Error: Document contains more than 1000 tokens.")


def test_alias_flood_is_refused(owner_gql):
    message = refused(post(owner_gql, ALIAS_FLOOD), "TOO_MANY_ALIASES")
    assert message == "The operation uses 16 aliases (fragments expanded); the limit is 15."


def test_aliases_are_counted_with_fragments_expanded(owner_gql):
    message = refused(post(owner_gql, FRAGMENT_ALIASES), "TOO_MANY_ALIASES")
    assert "uses 100 aliases" in message


def test_directive_flood_is_refused(owner_gql):
    message = refused(post(owner_gql, DIRECTIVE_FLOOD), "TOO_MANY_DIRECTIVES")
    assert message == "The operation uses 60 directives (fragments expanded); the limit is 50."


def test_fragment_fanout_is_refused_by_cost(owner_gql):
    message = refused(post(owner_gql, FRAGMENT_FANOUT), "QUERY_TOO_COMPLEX")
    assert f"may resolve {2**30 + 1} fields" in message


def test_exponential_aliases_are_counted_without_expanding_them(owner_gql):
    message = refused(post(owner_gql, ALIAS_FANOUT), "TOO_MANY_ALIASES")
    assert message.startswith("The operation uses over 1000000000000000 aliases")


def test_fragment_cycle_is_a_validation_error(owner_gql):
    message = refused(post(owner_gql, FRAGMENT_CYCLE))
    assert message == "Cannot spread fragment 'A' within itself via 'B'."


def test_cost_bomb_is_refused(owner_gql):
    message = refused(post(owner_gql, COST_BOMB), "QUERY_TOO_COMPLEX")
    assert "limit is 5000" in message
    assert "Ask for smaller pages" in message


def test_cost_counts_page_sizes_sent_as_variables(owner_gql, world):
    refused(post(owner_gql, COST_BOMB_VARIABLES, {"n": 100}), "QUERY_TOO_COMPLEX")
    response = post(owner_gql, COST_BOMB_VARIABLES, {"n": 5})
    assert response.status_code == 200
    assert "errors" not in response.json()


@pytest.mark.parametrize("sent", ["100.0", "1e2", "1.0e2", "100"])
def test_cost_counts_page_sizes_as_coerced_from_whole_floats(owner_gql, sent):
    # graphql-core runs `first: 100.0` as 100: the limit must count it as 100 too.
    body = json.dumps({"query": COST_BOMB_VARIABLES, "variables": {"n": 0}}).replace(
        "0}}", sent + "}}"
    )
    response = owner_gql.client.post(
        "/graphql",
        data=body,
        content_type="application/json",
        headers={**owner_gql.headers, "Accept": GRAPHQL_RESPONSE_JSON},
    )
    refused(response, "QUERY_TOO_COMPLEX")


def test_page_size_sent_as_a_whole_float_is_checked(owner_gql):
    query = "query($n: Int) { bots(first: $n) { totalCount } }"
    message = refused(post(owner_gql, query, {"n": 101.0}), "PAGE_SIZE_TOO_LARGE")
    assert message == "Argument 'first' cannot be higher than 100."


def test_cost_counts_variable_defaults(owner_gql):
    refused(post(owner_gql, COST_BOMB_DEFAULTS), "QUERY_TOO_COMPLEX")


def test_page_size_above_the_cap_is_refused_before_execution(owner_gql):
    message = refused(post(owner_gql, PAGE_TOO_LARGE), "PAGE_SIZE_TOO_LARGE")
    assert message == "Argument 'first' cannot be higher than 100."


def test_huge_body_is_refused_with_413(anon_gql):
    message = refused(post(anon_gql, HUGE_DOCUMENT), "PAYLOAD_TOO_LARGE", status=413)
    assert message == "The request body is larger than 65536 bytes."


def test_a_body_with_a_credential_may_be_as_large_as_an_upload_and_no_larger(owner_gql, settings):
    # Owners upload documents as base64 (createDocument): a larger body, still capped.
    settings.GRAPHQL_MAX_UPLOAD_BYTES = 128 * 1024
    message = refused(post(owner_gql, HUGE_DOCUMENT))
    assert message == "Syntax Error: Source contains more than 65536 code points. Parsing aborted."
    bigger = HUGE_DOCUMENT + "#" * (128 * 1024)
    message = refused(post(owner_gql, bigger), "PAYLOAD_TOO_LARGE", status=413)
    assert message == "The request body is larger than 131072 bytes."


def test_huge_document_over_get_is_refused_before_parsing(anon_gql):
    response = anon_gql.client.get(
        "/graphql", {"query": HUGE_DOCUMENT}, headers={"Accept": GRAPHQL_RESPONSE_JSON}
    )
    message = refused(response)
    assert message == "Syntax Error: Source contains more than 65536 code points. Parsing aborted."


def test_batch_is_refused(anon_gql):
    batch = json.dumps([{"query": API_INFO}, {"query": API_INFO}])
    response = anon_gql.client.post("/graphql", batch, content_type="application/json")
    message = refused(response, "BAD_REQUEST")
    assert message == "Batched operations are not supported: send one operation per request."


def test_introspection_is_refused_in_production(anon_gql, production):
    for query in (INTROSPECTION, TYPE_INTROSPECTION):
        message = refused(post(anon_gql, query))
        assert message.startswith("GraphQL introspection has been disabled")


def test_introspection_can_be_enabled_in_production(anon_gql, production):
    production.GRAPHQL_INTROSPECTION = True
    response = post(anon_gql, INTROSPECTION)
    assert response.status_code == 200
    assert response.json()["data"]["__schema"]["types"]


def test_typename_is_not_introspection(anon_gql, production):
    response = post(anon_gql, TYPENAME)
    assert response.json() == {
        "data": {"__typename": "Query", "apiInfo": {"__typename": "ApiInfo", "name": "Botstream"}}
    }


def test_graphiql_introspection_query_fits_the_limits(anon_gql):
    response = post(anon_gql, GRAPHIQL_INTROSPECTION)
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    # No refusal: any error is one of a field's, during execution.
    assert all(error.get("path") for error in body.get("errors", [])), body["errors"]


def test_nested_introspection_lists_are_refused(anon_gql):
    message = refused(post(anon_gql, INTROSPECTION_BOMB))
    assert message == "Maximum introspection depth exceeded"


def test_suggestions_are_shown_in_development(anon_gql, settings):
    settings.GRAPHQL_FIELD_SUGGESTIONS = True
    message = refused(post(anon_gql, UNKNOWN_FIELD))
    assert message == "Cannot query field 'botz' on type 'Query'. Did you mean 'bot' or 'bots'?"


def test_suggestions_are_hidden_in_production(anon_gql, production):
    assert refused(post(anon_gql, UNKNOWN_FIELD)) == "Cannot query field 'botz' on type 'Query'."
    message = refused(post(anon_gql, UNKNOWN_ENUM_VALUE))
    assert "CHT" in message
    assert "Did you mean" not in message
    assert "CHAT" not in message


def test_unexpected_errors_are_masked_and_logged_with_their_id(anon_gql, monkeypatch, caplog):
    def broken():
        raise RuntimeError("connection to 10.0.0.7 failed: password=hunter2")

    monkeypatch.setattr(schema.system, "api_info", broken)
    with caplog.at_level(logging.ERROR, logger="schema.extensions"):
        response = anon_gql.post(API_INFO)
    assert response.status_code == 200
    assert b"hunter2" not in response.content and b"RuntimeError" not in response.content
    error = response.json()["errors"][0]
    error_id = UNEXPECTED_ID.match(error["message"]).group(1)
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id}
    [record] = [r for r in caplog.records if r.name == "schema.extensions"]
    assert error_id in record.getMessage()
    assert record.exc_info[0] is RuntimeError


def test_database_outages_say_so_without_the_drivers_text(anon_gql, monkeypatch, caplog):
    def unreachable():
        raise OperationalError('connection to server at "10.0.0.7", port 5432 failed')

    monkeypatch.setattr(schema.system, "api_info", unreachable)
    with caplog.at_level(logging.ERROR, logger="schema.extensions"):
        response = anon_gql.post(API_INFO)
    assert b"10.0.0.7" not in response.content
    error = response.json()["errors"][0]
    assert error["message"] == "The database is unavailable right now; retry shortly."
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert error["extensions"]["errorId"] in caplog.text


def test_domain_errors_are_not_masked(anon_gql, settings):
    settings.RATE_LIMITS_ENABLED = False
    permission = anon_gql.post(CONVERSATION).json()["errors"][0]
    assert permission["message"] == "Authentication required: log in or send an API token."
    wrong_id = anon_gql.post(START).json()["errors"][0]
    assert wrong_id["message"] == "Expected the ID of a Bot."
    assert wrong_id["extensions"]["code"] == "INVALID_ID"
