"""Every error a client can provoke carries `extensions.code`: malformed IDs in every
field and input that takes one (INVALID_ID, like other bad IDs), syntax
(GRAPHQL_PARSE_FAILED), validation (GRAPHQL_VALIDATION_FAILED) and values that do not
coerce (BAD_USER_INPUT). The ID cases are read from the schema, so a new field is
covered without a new test."""

import json

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)
from strawberry.channels.testing import GraphQLWebsocketCommunicator

from schema import schema
from server.asgi import application

GRAPHQL = schema._schema
MALFORMED_IDS = ["", "!!", "Qm90", "Qm90Og=="]
SAMPLE = {"String": "x", "Int": 1, "Float": 1.0, "Boolean": True, "JSON": {}}


def _id_arguments():
    """(root, field, argument) for each root field that takes an ID argument."""
    for root in (GRAPHQL.query_type, GRAPHQL.mutation_type):
        for name, field in root.fields.items():
            for argument, definition in field.args.items():
                if get_named_type(definition.type).name == "ID":
                    yield root.name.lower(), name, argument


def _sample(input_type, id_value):
    """The required fields of `input_type`, with `id_value` for every ID field."""
    values = {}
    for name, field in input_type.fields.items():
        named = get_named_type(field.type)
        if named.name == "ID":
            values[name] = id_value
        elif not isinstance(field.type, GraphQLNonNull):
            continue
        elif isinstance(named, GraphQLEnumType):
            values[name] = next(iter(named.values))
        elif isinstance(named, GraphQLScalarType):
            values[name] = SAMPLE.get(named.name, "x")
        elif isinstance(named, GraphQLInputObjectType):
            values[name] = _sample(named, id_value)
    return values


def _inputs_with_ids():
    for name, field in GRAPHQL.mutation_type.fields.items():
        if "input" not in field.args:
            continue
        input_type = get_named_type(field.args["input"].type)
        if any(get_named_type(f.type).name == "ID" for f in input_type.fields.values()):
            yield name, input_type


def assert_coded(body: dict) -> list[dict]:
    errors = body.get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert code and code != "INTERNAL_SERVER_ERROR", error
    return errors


@pytest.mark.parametrize("value", MALFORMED_IDS)
@pytest.mark.parametrize(("operation", "field", "argument"), list(_id_arguments()))
def test_malformed_id_arguments_are_invalid_id(owner_gql, operation, field, argument, value):
    query = f"{operation}($v: ID!) {{ {field}({argument}: $v) {{ __typename }} }}"
    errors = assert_coded(owner_gql.post(query, {"v": value}).json())
    assert {e["extensions"]["code"] for e in errors} <= {"INVALID_ID"}, errors


@pytest.mark.parametrize("value", MALFORMED_IDS)
@pytest.mark.parametrize(("mutation", "input_type"), list(_inputs_with_ids()))
def test_malformed_ids_in_inputs_have_codes(owner_gql, mutation, input_type, value):
    query = f"mutation($i: {input_type.name}!) {{ {mutation}(input: $i) {{ __typename }} }}"
    assert_coded(owner_gql.post(query, {"i": _sample(input_type, value)}).json())


def test_malformed_id_literal_is_invalid_id(owner_gql):
    [error] = assert_coded(owner_gql.post('{ step(id: "") { id } }').json())
    assert error["extensions"]["code"] == "INVALID_ID"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ apiInfo { name }", None, "GRAPHQL_PARSE_FAILED"),
        ("{ apiInfoz }", None, "GRAPHQL_VALIDATION_FAILED"),
        ('{ bots(first: "x") { totalCount } }', None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int) { bots(first: $n) { totalCount } }", {"n": "x"}, "BAD_USER_INPUT"),
        ("query($n: Int!) { bots(first: $n) { totalCount } }", {}, "BAD_USER_INPUT"),
    ],
)
def test_graphql_errors_have_codes(anon_gql, query, variables, code):
    [error] = assert_coded(anon_gql.post(query, variables).json())
    assert error["extensions"]["code"] == code


@pytest.mark.django_db(transaction=True)
async def test_malformed_id_over_the_socket_is_invalid_id():
    client = GraphQLWebsocketCommunicator(application, "/graphql")
    query = 'subscription { conversationEvents(conversationId: "") { __typename } }'
    try:
        await client.connect()
        await client.send_json_to({"type": "connection_init"})
        await client.receive_json_from(timeout=5)
        await client.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = await client.receive_json_from(timeout=5)
    finally:
        await client.disconnect()
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["INVALID_ID"], json.dumps(message)
