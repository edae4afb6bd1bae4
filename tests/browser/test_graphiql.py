"""GraphiQL at /graphql: local assets only, queries, session and token auth, subscriptions."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.browser.conftest import OWNER_PASSWORD

START = """
mutation Start($botId: ID!) {
  startConversation(input: {botId: $botId}) { chatToken conversation { id } }
}"""
MESSAGES = """
query Messages($id: ID!) {
  conversation(id: $id) { messages { edges { node { id role content status } } } }
}"""
LOGIN = """mutation Login {
  login(input: {username: "owner", password: "%s"}) {
    ... on User { username }
    ... on OperationInfo { messages { message } }
  }
}"""
CREATE_BOT = """mutation CreateBot {
  createBot(input: {name: "Made in GraphiQL", isActive: false}) {
    ... on Bot { name owner { username } }
    ... on OperationInfo { messages { message code } }
  }
}"""
CHAT = """subscription Chat {
  chat(input: {conversationId: "%s", text: "Can you explain how streaming works?"}) {
    __typename
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { id role content status } }
  }
}"""


class GraphiQL:
    """The GraphiQL page, driven like a person would: editor, Run button, result pane."""

    def __init__(self, page) -> None:
        self.page = page

    def open(self, query: str, headers: dict | None = None) -> GraphiQL:
        # `q`, as Strawberry's page: a GET with `?query=` would run instead of opening GraphiQL.
        self.page.goto(f"/graphql?q={quote(query)}")
        self.page.locator(".graphiql-query-editor .CodeMirror").wait_for()
        if headers:
            self.type_headers(json.dumps(headers))
        return self

    def headers_editor(self):
        """The Headers tab's editor (opened), where credentials are typed."""
        self.page.get_by_role("button", name="Headers", exact=True).click()
        editor = self.page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden)")
        return editor.locator(".CodeMirror")

    def type_headers(self, text: str) -> None:
        self.headers_editor().click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(text)

    def headers_text(self) -> str:
        editor = self.headers_editor()
        return editor.evaluate("cm => cm.CodeMirror.getValue()")

    def type_query(self, query: str) -> None:
        """Replace the editor's text by typing it (insert_text: no bracket auto-closing)."""
        self.page.locator(".graphiql-query-editor .CodeMirror").click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.insert_text(query)
        # GraphiQL parses the edit (and its operation name) before it updates the URL.
        self.page.wait_for_function(
            "text => new URLSearchParams(location.search).get('q') === text", arg=query
        )

    def run(self) -> None:
        self.page.get_by_role("button", name=re.compile(r"^Execute query")).click()

    def result_text(self) -> str:
        return self.page.evaluate(
            "() => { const cm = document.querySelector('.result-window .CodeMirror');"
            " return cm ? cm.CodeMirror.getValue() : ''; }"
        )

    def clear_result(self) -> None:
        self.page.evaluate(
            "document.querySelector('.result-window .CodeMirror').CodeMirror.setValue('')"
        )

    def result(self, timeout: float = 10.0) -> dict:
        """The result pane's JSON, once it holds any."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.result_text()
            if text.strip():
                return json.loads(text)
            time.sleep(0.05)
        raise AssertionError("GraphiQL showed no result")


@pytest.fixture
def graphiql(page) -> GraphiQL:
    return GraphiQL(page)


def test_graphiql_loads_from_local_assets_only(graphiql, page, page_record, app_server):
    # when
    graphiql.open("query Info { apiInfo { name } }")

    # then: every script and stylesheet is ours, and nothing tried to leave loopback
    assets = page.evaluate(
        "[...document.scripts].map(s => s.src).concat("
        "[...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href))"
    )
    assert len(assets) >= 7
    assert all(url.startswith(f"{app_server.url}/static/graphiql/") for url in assets), assets
    assert page_record.external == []
    assert page_record.errors == []
    assert "unpkg" not in page.content()


def test_graphiql_runs_a_query_typed_in_the_editor(graphiql, page_record):
    graphiql.open("query Nothing { __typename }")

    # when
    graphiql.type_query("query Info {\n  apiInfo { name version }\n  me { username }\n}")
    graphiql.run()

    # then
    assert graphiql.result() == {
        "data": {"apiInfo": {"name": "Botstream", "version": None}, "me": None}
    }
    assert page_record.external == []


def test_graphiql_session_login_then_cookie_authenticated_mutation(graphiql, page):
    # given: logged in through GraphiQL, which rotates the CSRF cookie
    graphiql.open(LOGIN % OWNER_PASSWORD)
    csrf_at_load = _cookie(page, "csrftoken")
    graphiql.run()
    assert graphiql.result() == {"data": {"login": {"username": "owner"}}}
    assert _cookie(page, "sessionid")
    assert _cookie(page, "csrftoken") != csrf_at_load

    # when: a mutation from the same page, authenticated by the session cookie alone
    graphiql.type_query(CREATE_BOT)
    graphiql.clear_result()
    graphiql.run()

    # then: the page sent the current CSRF token, and the bot belongs to the session's user
    assert graphiql.result() == {
        "data": {"createBot": {"name": "Made in GraphiQL", "owner": {"username": "owner"}}}
    }


def test_graphiql_bearer_token_from_the_headers_editor(graphiql, app_server):
    # given
    headers = {"Authorization": f"Bearer {app_server.owner_token}"}

    # when
    graphiql.open("query Me { me { username } }", headers=headers)
    graphiql.run()

    # then
    assert graphiql.result() == {"data": {"me": {"username": "owner"}}}


def test_graphiql_takes_no_credentials_from_the_url(graphiql, page, app_server):
    # given: a link carrying someone's token in GraphiQL's old `headers` parameter
    headers = quote(json.dumps({"Authorization": f"Bearer {app_server.owner_token}"}))
    page.goto(f"/graphql?q={quote('query Me { me { username } }')}&headers={headers}")
    page.locator(".graphiql-query-editor .CodeMirror").wait_for()

    # when
    graphiql.run()

    # then: the query ran as the visitor, the token is nowhere on the page or in the URL
    assert graphiql.result() == {"data": {"me": None}}
    assert app_server.owner_token not in graphiql.headers_text()
    assert "headers" not in parse_qs(urlsplit(page.url).query)


def test_graphiql_subscription_streams_a_reply_live(graphiql, app_server):
    # given: a visitor's conversation, its chat token in the headers editor
    started = app_server.graphql(START, {"botId": app_server.bot_id})["startConversation"]
    conversation_id = started["conversation"]["id"]
    graphiql.open(CHAT % conversation_id, headers={"X-Chat-Token": started["chatToken"]})

    # when
    graphiql.run()

    # then: the pane shows deltas as they come, then the completed reply
    seen: list[dict] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = graphiql.result_text()
        if text.strip() and (not seen or json.loads(text) != seen[-1]):
            seen.append(json.loads(text))
            last = (seen[-1].get("data") or {}).get("chat") or {}
            if seen[-1].get("errors") or _is_reply_completed(last):
                break
        time.sleep(0.02)
    events = [result["data"]["chat"] for result in seen if result.get("data")]
    assert [r for r in seen if r.get("errors")] == []
    deltas = [e for e in events if e["__typename"] == "MessageDelta"]
    assert len(deltas) >= 3, f"saw {len(deltas)} deltas: {events}"
    assert [d["offset"] for d in deltas] == sorted(d["offset"] for d in deltas)
    completed = events[-1]
    assert _is_reply_completed(completed), events[-3:]
    stored = app_server.graphql(MESSAGES, {"id": conversation_id}, started["chatToken"])
    reply = stored["conversation"]["messages"]["edges"][-1]["node"]
    assert completed["message"] == reply
    assert reply["status"] == "COMPLETE" and reply["content"]


def test_graphiql_subscription_url_is_the_graphql_websocket(graphiql, app_server, page):
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    started = app_server.graphql(START, {"botId": app_server.bot_id})
    graphiql.open(
        CHAT % started["startConversation"]["conversation"]["id"],
        headers={"X-Chat-Token": started["startConversation"]["chatToken"]},
    )

    graphiql.run()
    graphiql.result()

    host = urlsplit(app_server.url).netloc
    assert sockets and all(url.rstrip("/") == f"ws://{host}/graphql" for url in sockets)
    assert parse_qs(urlsplit(page.url).query)["q"][0].startswith("subscription Chat")


def _is_reply_completed(event: dict) -> bool:
    # `chat` also reports the visitor's own message as completed, first.
    message = event.get("message") or {}
    return event.get("__typename") == "MessageCompleted" and message.get("role") == "ASSISTANT"


def _cookie(page, name: str) -> str | None:
    return next((c["value"] for c in page.context.cookies() if c["name"] == name), None)
