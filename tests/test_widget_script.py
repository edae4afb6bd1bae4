"""/widget.js (server/widget.py) and the client features the pages are given
(server/chat_page.py): what the browser tests in tests/browser/test_widget.py build on."""

import gzip
import json
import re
from pathlib import Path

from django.test import Client
from graphql import build_schema

from server.chat_page import client_features, features_of

SCHEMA = Path(__file__).resolve().parents[1] / "schema.graphql"
PARTIAL = """
type Query { ping: Int }
type Mutation { rateMessage(id: ID): Int, resetConversation(id: ID): Int }
type Message { id: ID, feedback: Int }
type ConversationExpired { id: ID }
input StartConversationInput { botId: ID }
"""


def test_a_feature_is_on_only_when_the_schema_has_all_it_needs():
    assert features_of(build_schema(PARTIAL)) == ("feedback", "expiry")


def test_the_pages_and_the_browser_tests_read_the_same_features():
    committed = features_of(build_schema(SCHEMA.read_text()))

    assert client_features() == committed


def test_widget_script_is_gzipped_for_clients_that_accept_it(client: Client):
    plain = client.get("/widget.js")
    zipped = client.get("/widget.js", headers={"Accept-Encoding": "gzip, br"})

    assert plain.status_code == zipped.status_code == 200
    assert plain["Content-Type"] == "text/javascript; charset=utf-8"
    assert "Content-Encoding" not in plain and zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    assert "Accept-Encoding" in plain["Vary"] and plain["ETag"] == zipped["ETag"]
    assert plain["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_widget_script_carries_the_server_features_inside_one_function(client: Client):
    source = client.get("/widget.js").content.decode()

    features = re.search(r"^const FEATURES = (.*);$", source, re.MULTILINE)
    assert features and json.loads(features[1]) == list(client_features())
    assert source.startswith("/* Botstream chat widget */\n(function () {")
    assert source.rstrip().endswith("})();")
    assert 'const GRAPHQL_PATH = "/graphql";' in source


def test_widget_script_revalidates_by_etag_and_refuses_posts(client: Client):
    etag = client.get("/widget.js")["ETag"]

    assert client.get("/widget.js", headers={"If-None-Match": etag}).status_code == 304
    assert client.post("/widget.js").status_code == 405
