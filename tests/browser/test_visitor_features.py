"""Issue 16's visitor features in both clients, the demo chat page and the widget:
feedback, suggestion chips, regenerate, expiry with a fresh conversation, start inputs.

Their server side is built on other branches; each test runs once schema.graphql has what
it needs (tests/browser/contract.py). Bot settings are made in the database as an owner
would make them (Bot fields: suggestions_enabled, inactivity_timeout, start_inputs).
"""

from __future__ import annotations

import time

import pytest

from tests.browser.contract import needs
from tests.browser.test_chat_page import TERMINAL, ChatPage
from tests.browser.test_widget import Widget, chat_on_page_or_widget

MESSAGES = """
query Messages($id: ID!) {
  conversation(id: $id) {
    variables
    messages { edges { node { id role content feedback { rating comment } } } }
  }
}"""
VERSIONS = """
query Versions($id: ID!) {
  conversation(id: $id) {
    messages { edges { node { id role version replacesId versions { id } } } }
  }
}"""


client = pytest.fixture(params=["page", "widget"], name="client")(chat_on_page_or_widget)


def _reload(client: ChatPage) -> None:
    client.page.reload()
    if isinstance(client, Widget):
        client.show()


def _ask(client: ChatPage, text: str = "Hello"):
    client.send(text)
    return client.watch_reply(lambda s: s.status in TERMINAL)[-1]


def _stored(client: ChatPage, query: str = MESSAGES) -> dict:
    conversation = client.hook("conversation")
    data = client.server.graphql(query, {"id": conversation["id"]}, conversation["chatToken"])
    return data["conversation"]


def _last_reply(conversation: dict) -> dict:
    nodes = [edge["node"] for edge in conversation["messages"]["edges"]]
    return [node for node in nodes if node["role"] == "ASSISTANT"][-1]


def _pressed(client: ChatPage, name: str, pressed: bool) -> None:
    selector = f'button[aria-label="{name}"][aria-pressed="{str(pressed).lower()}"]'
    client.page.locator(selector).wait_for()


@needs("feedback")
def test_feedback_rates_comments_survives_a_reload_and_revokes(client):
    # given
    assert _ask(client).status == "COMPLETE"
    page = client.page

    # when: thumbs up, then a comment
    page.get_by_role("button", name="Good answer").click()
    _pressed(client, "Good answer", True)
    page.get_by_role("button", name="Comment").click()
    page.get_by_label("Comment on this answer").fill("Clear, thanks")
    page.get_by_role("button", name="Save comment").click()
    page.locator("#status", has_text="Thank you for your feedback.").wait_for()

    # then: stored for this reply
    assert _last_reply(_stored(client))["feedback"] == {"rating": "UP", "comment": "Clear, thanks"}

    # when: reloaded, the rating is shown again (it travels with the replayed message)
    _reload(client)
    _pressed(client, "Good answer", True)
    _pressed(client, "Bad answer", False)

    # when: pressing the pressed rating again revokes it
    page.get_by_role("button", name="Good answer").click()
    _pressed(client, "Good answer", False)
    assert _last_reply(_stored(client))["feedback"] is None


@pytest.fixture
def suggestions_on(app_server):
    app_server.update_bot(suggestions_enabled=True)
    yield
    app_server.update_bot(suggestions_enabled=False)


@needs("suggestions")
def test_suggestion_chips_come_with_the_stream_and_send_their_text(client, suggestions_on):
    # given: a completed reply, then its suggestions (a SuggestionsReady event)
    _ask(client)
    chips = client.page.get_by_role("group", name="Suggested questions").get_by_role("button")
    chips.first.wait_for()
    offered = chips.all_inner_texts()

    # when: reloaded, the replay brings them again
    _reload(client)
    chips.first.wait_for()
    assert chips.all_inner_texts() == offered

    # when: the visitor picks one
    chips.first.click()
    client.page.locator("#log li[data-role=ASSISTANT]").nth(1).wait_for()
    final = client.watch_reply(lambda s: s.status in TERMINAL)[-1]

    # then: it was sent as the visitor's message
    texts = client.page.locator("#log li[data-role=USER] .msg__text").all_inner_texts()
    assert texts[-1] == offered[0]
    assert final.status == "COMPLETE"


@needs("regenerate")
def test_regenerate_swaps_the_last_reply_in_place(client):
    # given
    _ask(client)
    first = client.hook("messages")[-1]["id"]
    page = client.page

    # when
    page.get_by_role("button", name="Regenerate").click()
    page.locator(f'#log li[data-role=ASSISTANT]:not([data-message-id="{first}"])').wait_for()
    final = client.watch_reply(lambda s: s.status in TERMINAL)[-1]

    # then: one reply in the log, the new version in the old one's place
    assert final.status == "COMPLETE"
    assert page.locator("#log li").count() == 2
    latest = client.hook("messages")[-1]
    assert latest["id"] != first and latest["replacesId"] == first and latest["version"] == 2
    assert "version 2" in page.locator("#log li[data-role=ASSISTANT] .msg__status").inner_text()
    stored = _last_reply(_stored(client, VERSIONS))
    assert stored["id"] == latest["id"]
    assert [v["id"] for v in stored["versions"]] == [first, latest["id"]]


@pytest.fixture
def short_sessions(app_server):
    app_server.update_bot(inactivity_timeout=3)
    yield 3
    app_server.update_bot(inactivity_timeout=3600)


@needs("expiry")
def test_expired_conversation_offers_a_new_one(client, short_sessions):
    # given: a conversation left idle past the bot's inactivity timeout
    _ask(client)
    old = client.hook("conversation")
    time.sleep(short_sessions + 1)

    # when: the visitor writes again (or the expiry event arrived first)
    client.send("Still there?")
    page = client.page
    page.get_by_role("alert").filter(has_text="This conversation has expired.").wait_for()
    restart = page.get_by_role("button", name="Start a new conversation")

    # then: one button gives a fresh conversation with the same bot
    restart.click()
    page.locator("#expired").wait_for(state="hidden")
    new = client.hook("conversation")
    assert new["id"] != old["id"] and new["chatToken"] != old["chatToken"]
    assert page.locator("#log li").count() == 0
    assert _ask(client, "Hello again").status == "COMPLETE"


@pytest.fixture
def email_required(app_server):
    email = {"name": "email", "label": "Email", "type": "string", "required": True}
    app_server.update_bot(start_inputs=[email])
    yield
    app_server.update_bot(start_inputs=[])


@needs("startInputs")
def test_required_start_inputs_are_asked_before_the_first_message(client, email_required):
    # when: the first message finds the bot needs an email first
    client.send("Hello")
    page = client.page
    field = page.get_by_label("email")
    field.wait_for()
    field.fill("ada@example.com")
    page.get_by_role("button", name="Start").click()
    final = client.watch_reply(lambda s: s.status in TERMINAL)[-1]

    # then: the conversation started with it, and the pending message went out
    assert final.status == "COMPLETE"
    stored = _stored(client)
    assert stored["variables"]["email"] == "ada@example.com"
    assert stored["messages"]["edges"][0]["node"]["content"] == "Hello"


@needs("startInputs")
def test_widget_passes_its_data_variables_as_start_inputs(
    host_page, app_server, host_site, email_required
):
    widget = Widget(host_page, app_server, host_site)
    widget.open(variables='{"email": "grace@example.com"}')
    widget.show()

    assert _ask(widget).status == "COMPLETE"
    assert _stored(widget)["variables"]["email"] == "grace@example.com"
