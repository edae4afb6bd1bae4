"""The pages work with the Content-Security-Policy enforced, and nothing violates it.

Each test drives a page through what a person does there (GraphiQL: a query and a
streamed subscription; the demo chat: a streamed reply; the admin: log in, list, edit,
save) and then asserts the response carried the policy and the browser reported no
violation (conftest records `securitypolicyviolation` events and console reports).
"""

from __future__ import annotations

import re

from tests.browser.conftest import OWNER_PASSWORD
from tests.browser.test_chat_page import ChatPage
from tests.browser.test_graphiql import CHAT, START, GraphiQL

INLINE_SCRIPT_PROBE = "document.body.dataset.inline = 'ran'"


def _enforced(response) -> str:
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    return policy


def test_an_injected_inline_script_is_blocked(page, page_record, app_server):
    # given: a page under the policy
    _enforced(page.goto("/"))

    # when: markup injects an inline script, as an XSS would
    page.evaluate(
        "const s = document.createElement('script');"
        f"s.textContent = {INLINE_SCRIPT_PROBE!r}; document.body.appendChild(s);"
    )

    # then: it never ran and the browser reported the violation
    page.wait_for_function("() => true")
    assert page.evaluate("document.body.dataset.inline") is None
    assert any("script-src" in report for report in page_record.csp), page_record.csp


def test_graphiql_queries_and_streams_without_violations(page, page_record, app_server):
    graphiql = GraphiQL(page)
    _enforced(page.goto("/graphql?q=" + "query%20Info%20%7B%20apiInfo%20%7B%20name%20%7D%20%7D"))
    page.locator(".graphiql-query-editor .CodeMirror").wait_for()
    graphiql.run()
    assert graphiql.result() == {"data": {"apiInfo": {"name": "Botstream"}}}

    # a subscription over the websocket (connect-src 'self' covers ws:)
    started = app_server.graphql(START, {"botId": app_server.bot_id})["startConversation"]
    graphiql.open(
        CHAT % started["conversation"]["id"], headers={"X-Chat-Token": started["chatToken"]}
    )
    graphiql.run()
    page.wait_for_function(
        "() => /MessageCompleted/.test("
        "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue())",
        timeout=20_000,
    )

    assert page_record.csp == []
    assert page_record.errors == []


def test_demo_chat_streams_a_reply_without_violations(page, page_record, app_server):
    chat = ChatPage(page, app_server)
    _enforced(page.goto(f"/chat/{app_server.bot_id}/"))

    chat.send("Hello there, how does streaming work?")
    chat.watch_reply(lambda reply: reply.status == "COMPLETE")

    assert page_record.csp == []
    assert page_record.errors == []


def test_admin_login_list_and_edit_without_violations(page, page_record):
    # given: the admin's login form
    _enforced(page.goto("/admin/login/?next=/admin/bots/bot/"))

    # when: a superuser logs in, lists bots, opens one, saves it
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/bots/bot/$"))
    page.get_by_role("link", name="Support").click()
    page.get_by_label("Description").fill("Edited under the CSP.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/bots/bot/$"))
    saved = page.locator(".messagelist").inner_text()
    page.goto("/admin/bots/scenario/add/")
    step_rows = page.locator('input[name^="steps-"][name$="-name"]:not([name*="__prefix__"])')
    steps_before = step_rows.count()
    page.get_by_role("button", name="Add another Step").click()

    # then: the admin's scripts ran (the inline formset grew), and nothing was blocked
    assert "was changed successfully" in saved
    assert step_rows.count() == steps_before + 1
    assert page_record.csp == []
    assert page_record.errors == []
