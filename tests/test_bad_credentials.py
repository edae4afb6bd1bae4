"""Credentials the database cannot hold (NUL, lone surrogates, not base64) are an auth
failure, never an outage (issue 13.2): HTTP 401, websocket 4403, login field errors."""

import base64
import logging

import pytest
from django.db import DataError, OperationalError

from accounts import authentication
from tests.asgi_client import LOGIN, ME, close_after_init, gql_http

pytestmark = pytest.mark.django_db(transaction=True)


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize("raw", ["alice\0:x", "alice:x\0", "\0:\0"])
async def test_nul_in_http_basic_is_401_not_an_outage(raw, caplog):
    status, body = await gql_http(ME, headers={"Authorization": basic(raw)})
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "database unavailable" not in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": basic("alice\0:x")},
        {"Authorization": "Basic é"},
        {"authToken": "bst_\ud800"},
        {"authToken": "bst_\0"},
        {"chatToken": "chat_\ud800"},
    ],
    ids=["nul-basic", "non-ascii-basic", "surrogate-token", "nul-token", "surrogate-chat-token"],
)
async def test_bad_credentials_in_connection_init_close_4403(payload):
    close = await close_after_init(payload)
    assert close["code"] == 4403


async def test_database_outage_in_connection_init_closes_1011(monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(authentication, "usable_tokens", down)
    close = await close_after_init({"authToken": "bst_anything"})
    assert close["code"] == 1011


async def test_only_connection_errors_are_reported_as_an_outage(monkeypatch, caplog):
    async def bad_data(*args, **kwargs):
        raise DataError("invalid byte sequence")

    monkeypatch.setattr("server.graphql_http.user_from_authorization", bad_data)
    with caplog.at_level(logging.ERROR):
        status, body = await gql_http(ME, headers={"Authorization": "Bearer bst_x"})
    assert status == 500
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"].startswith("Unexpected error (id ")
    assert "database unavailable" not in caplog.text


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [("ada\0", "x", "input.username"), ("ada", "pass\ud800word", "input.password")],
)
async def test_unstorable_login_input_is_a_field_error(username, password, field):
    variables = {"input": {"username": username, "password": password}}
    status, body = await gql_http(LOGIN, variables)
    assert status == 200
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
