"""Forwarded client addresses through a real daphne, reached directly as the single-container
recipe publishes it: X-Forwarded-For/-Proto count only from TRUSTED_PROXIES.

Every server here runs with DEBUG off (production defaults: HSTS, JSON access log) and
a conversation-start limit of 3 a minute per client address.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
import websockets

from tests.e2e.wsclient import START_CONVERSATION, create_bot
from tests.support import ROOT

LIMIT = 3


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {
        "DEBUG": "0",
        "SECRET_KEY": "e2e-proxies-secret-key-not-secret",
        "ACCESS_LOG": "1",
        "RATE_LIMITS_ENABLED": "1",
        "RATE_LIMIT_CONVERSATION_START": f"{LIMIT}/minute",
    }


@pytest.fixture(scope="module")
def direct(servers):
    """daphne facing the clients itself: the default, no trusted proxy."""
    return servers.start("direct")


@pytest.fixture(scope="module")
def behind_proxy(servers):
    """daphne behind a proxy on 127.0.0.1 (the tests play the proxy)."""
    return servers.start("behind-proxy", TRUSTED_PROXIES="127.0.0.1,10.0.0.0/8")


@pytest.fixture(scope="module")
def bot(direct, database) -> str:
    return asyncio.run(create_bot(direct.http, database.owner_token))


async def _start(server, bot: str, forwarded_for: str) -> str:
    """Start a conversation; its outcome: "ok" or the error code."""
    _, body = await server.http.post(
        START_CONVERSATION, {"input": {"botId": bot}}, headers={"X-Forwarded-For": forwarded_for}
    )
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else "ok"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(direct, bot):
    # when: a client that reaches daphne directly claims a new address each time
    outcomes = [await _start(direct, bot, f"203.0.113.{i}") for i in range(LIMIT + 3)]

    # then: all count against its real address
    assert outcomes == ["ok"] * LIMIT + ["RATE_LIMITED"] * 3


async def test_a_trusted_proxy_forwards_each_clients_own_address(behind_proxy, bot):
    # when: the proxy forwards six different clients, then one client again and again
    apart = [await _start(behind_proxy, bot, f"198.51.100.{i}") for i in range(LIMIT + 3)]
    same = [await _start(behind_proxy, bot, "192.0.2.77") for _ in range(LIMIT + 1)]

    # then
    assert apart == ["ok"] * (LIMIT + 3)
    assert same == ["ok"] * LIMIT + ["RATE_LIMITED"]


async def test_the_client_is_the_rightmost_untrusted_address(behind_proxy, bot):
    # given: a client that prepends addresses of its choosing; the proxies on the way
    # (10.0.0.9 is trusted) append what they saw
    chains = [f"203.0.113.{i}, 192.0.2.200, 10.0.0.9" for i in range(LIMIT + 1)]

    # when
    outcomes = [await _start(behind_proxy, bot, chain) for chain in chains]

    # then: every request counted for 192.0.2.200, whatever the client prepended
    assert outcomes == ["ok"] * LIMIT + ["RATE_LIMITED"]


async def test_junk_forwarded_for_is_neither_a_key_nor_a_log_field(behind_proxy, bot):
    # given: a junk header of 8 KB, from the trusted proxy
    junk = "x" * 8000

    # when
    outcomes = [await _start(behind_proxy, bot, f"{junk}{i}") for i in range(LIMIT + 1)]

    # then: the proxy's own address was used (one bucket), and logged, not the junk
    assert outcomes == ["ok"] * LIMIT + ["RATE_LIMITED"]
    lines = [json.loads(line) for line in _log_lines(behind_proxy) if '"botstream.access"' in line]
    clients = {line["client"] for line in lines if line["path"] == "/graphql"}
    assert "127.0.0.1" in clients
    assert max(len(client) for client in clients) <= 45
    assert "xxxxxxxx" not in behind_proxy.log_path.read_text()


async def test_websocket_operations_see_the_forwarded_client_too(servers, behind_proxy, bot):
    # given: a direct server of its own (its 127.0.0.1 bucket is fresh)
    direct = servers.start("direct-ws")

    # when: conversations started over websockets, each "forwarded" from a new address
    via_proxy = [await _ws_start(behind_proxy, bot, f"198.18.0.{i}") for i in range(LIMIT + 1)]
    spoofed = [await _ws_start(direct, bot, f"198.18.1.{i}") for i in range(LIMIT + 1)]

    # then: behind the proxy each is its own client; directly, the header is ignored
    assert via_proxy == ["ok"] * (LIMIT + 1)
    assert spoofed == ["ok"] * LIMIT + ["RATE_LIMITED"]


@pytest.mark.parametrize(("trusted", "hsts"), [(True, True), (False, False)])
def test_hsts_when_a_trusted_proxy_says_https(behind_proxy, direct, trusted, hsts):
    server = behind_proxy if trusted else direct

    response = httpx.get(
        f"{server.url}/", headers={"X-Forwarded-Proto": "https"}, timeout=10, trust_env=False
    )

    assert response.status_code == 200
    assert ("strict-transport-security" in response.headers) is hsts
    if hsts:
        assert response.headers["strict-transport-security"] == "max-age=31536000"


def _log_lines(server) -> list[str]:
    return [line for line in server.log_path.read_text().splitlines() if line.startswith("{")]


async def _ws_start(server, bot: str, forwarded_for: str) -> str:
    """startConversation over graphql-transport-ws; "ok" or the error code."""
    async with websockets.connect(
        server.ws_url,
        subprotocols=["graphql-transport-ws"],
        additional_headers={"X-Forwarded-For": forwarded_for},
        open_timeout=10,
        proxy=None,
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": START_CONVERSATION,
                        "variables": {"input": {"botId": bot}},
                    },
                }
            )
        )
        message = json.loads(await socket.recv())
    errors = message["payload"].get("errors") if message["type"] == "next" else message["payload"]
    return errors[0]["extensions"]["code"] if errors else "ok"


def test_a_malformed_trusted_proxy_fails_at_start_up():
    env = {**os.environ, "TRUSTED_PROXIES": "10.0.0.0/8,nginx", "DATABASE_URL": "sqlite://"}

    result = subprocess.run(
        [sys.executable, "-c", "import server.asgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: TRUSTED_PROXIES" in result.stderr
