"""Response headers: a Content-Security-Policy on every page, HSTS on HTTPS responses.

The browser proves the pages work under the policy (tests/browser/test_csp.py); these
tests pin the header itself and that the served HTML carries no inline code.
"""

import re

import pytest
from django.test import Client
from strawberry import relay

from tests.factories import BotFactory

PAGES = ["/", "/chat/", "/chat/{bot}/", "/graphql", "/admin/login/"]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.fixture
def bot(owner):
    return BotFactory(owner=owner, name="Support", is_public=True)


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_csp_that_allows_no_inline_code(client: Client, bot, path):
    response = client.get(
        path.format(bot=relay.to_base64("Bot", bot.pk)), headers={"Accept": "text/html"}
    )

    assert response.status_code == 200
    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_STYLE.search(html)


def test_graphql_responses_carry_the_policy_too(anon_gql):
    response = anon_gql.post("{ apiInfo { name } }")

    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_hsts_is_sent_on_https_responses_only(settings):
    settings.SECURE_HSTS_SECONDS = 31536000

    https = Client().get("/", secure=True)
    http = Client().get("/")

    assert https["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in http
