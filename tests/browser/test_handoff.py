"""Human handoff in Chromium (issue 18): a visitor on the demo chat page (and in the
widget, the same client code) and an operator on /operator/, in two browser contexts.
The visitor asks for a human, the operator sees the request in the live inbox, claims
it, reads the history, answers, and hands back; the visitor's page shows each step in
its one event stream, and after a reload the same transcript comes back from the
replay."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OWNER_PASSWORD, _open_page
from tests.browser.test_chat_page import ChatPage
from tests.browser.test_widget import Widget, chat_on_page_or_widget
from tests.support import run_manage

pytestmark = pytest.mark.usefixtures("app_server")

OPERATOR = "operator-ana"
ADD_OPERATOR = """
from django.contrib.auth import get_user_model
from bots.models import Bot, BotOperator
user, _ = get_user_model().objects.get_or_create(username="{username}")
user.set_password("{password}")
user.save()
BotOperator.objects.get_or_create(bot_id={bot}, user=user, defaults={{"display_name": "Ana"}})
"""


@pytest.fixture
def handoff_on(app_server):
    """The active bot hands off (a setting of its owner), with an operator "Ana"; put
    back afterwards, as other tests share the server."""
    script = ADD_OPERATOR.format(username=OPERATOR, password=OWNER_PASSWORD, bot=app_server.bot_pk)
    run_manage(["shell", "-c", script], app_server.env)
    app_server.update_bot(handoff_enabled=True)
    yield
    app_server.update_bot(handoff_enabled=False)


@pytest.fixture
def operator_page(browser, app_server, page_record, viewport, request):
    context, page = _open_page(browser, app_server, page_record, viewport)
    yield page
    context.close()


visitor = pytest.fixture(params=["page", "widget"], name="visitor")(chat_on_page_or_widget)


def _items(chat: ChatPage, role: str):
    return chat.page.locator(f"#log li[data-role={role}]")


@pytest.mark.usefixtures("handoff_on")
def test_a_visitor_and_an_operator_in_two_browsers(visitor, operator_page, page_record):
    page = visitor.page
    status = page.locator("#status")

    # the visitor chats with the bot, then asks for a human
    visitor.send("My order never arrived")
    visitor.watch_reply(lambda s: s.status == "COMPLETE")
    ask = page.get_by_role("button", name="Talk to a human")
    expect(ask).to_be_visible()
    ask.click()
    expect(status).to_have_text("Waiting for an operator…")
    expect(ask).to_be_hidden()

    # the operator logs in, sees the request live, claims it and reads the history
    operator_page.goto("/operator/")
    operator_page.get_by_label("Username").fill(OPERATOR)
    operator_page.get_by_label("Password").fill(OWNER_PASSWORD)
    operator_page.get_by_role("button", name="Log in").click()
    entry = operator_page.locator("#inbox li[data-mode=WAITING]")
    expect(entry).to_contain_text("Support")
    expect(entry).to_contain_text("My order never arrived")
    entry.get_by_role("button", name="Claim").click()
    transcript = operator_page.locator("#transcript")
    expect(transcript).to_contain_text("My order never arrived")
    expect(operator_page.locator("#mode")).to_have_text("You are answering this visitor.")
    expect(operator_page.locator("#inbox li[data-mode=HUMAN]")).to_have_count(1)

    # the visitor sees who joined, by display name only
    expect(status).to_have_text("Ana is answering.")
    expect(_items(visitor, "SYSTEM").last).to_have_text("Notice: Ana joined the conversation.")

    # the operator answers; the visitor's answer reaches the operator, not the bot
    operator_page.get_by_label("Your reply").fill("Hi, I am Ana. Let me check your order.")
    operator_page.get_by_role("button", name="Send").click()
    answer = _items(visitor, "OPERATOR")
    expect(answer).to_contain_text("Hi, I am Ana. Let me check your order.")
    expect(answer.locator(".msg__author")).to_have_text("Ana")
    visitor.send("Thank you")
    expect(transcript).to_contain_text("Thank you")
    expect(_items(visitor, "ASSISTANT")).to_have_count(1)

    # handed back: the bot answers the next message
    operator_page.get_by_role("button", name="Hand back to the bot").click()
    expect(status).to_have_text("The bot is answering again.")
    expect(ask).to_be_visible()
    expect(operator_page.locator("#mode")).to_have_text("The bot is answering.")
    expect(operator_page.locator("#inbox li.inbox__entry")).to_have_count(0)
    visitor.send("One more question")
    expect(_items(visitor, "ASSISTANT")).to_have_count(2)
    expect(_items(visitor, "ASSISTANT").last).to_have_attribute("data-status", "COMPLETE")

    # a reload replays the same transcript: each notice and message once
    roles_before = page.eval_on_selector_all("#log li", "items => items.map(i => i.dataset.role)")
    page.reload()
    if isinstance(visitor, Widget):
        visitor.show()
    expect(_items(visitor, "ASSISTANT")).to_have_count(2)
    expect(_items(visitor, "ASSISTANT").last).to_have_attribute("data-status", "COMPLETE")
    roles_after = page.eval_on_selector_all("#log li", "items => items.map(i => i.dataset.role)")
    assert roles_after == roles_before
    assert roles_after.count("SYSTEM") == 3 and roles_after.count("OPERATOR") == 1
    expect(ask).to_be_visible()
    # both pages ran without script errors or blocked content (the CSP)
    assert page_record.csp == []
    assert page_record.errors == []
