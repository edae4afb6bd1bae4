"""The demo chat page (/chat/<bot>/): streaming, stop, resume after a dropped socket."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import pytest

MESSAGES = """
query Messages($id: ID!) {
  conversation(id: $id) { messages { edges { node { id role content status } } } }
}"""
QUESTION = "Can you explain how GraphQL subscriptions stream a reply?"
TERMINAL = {"COMPLETE", "STOPPED", "FAILED", "INTERRUPTED"}


@dataclass
class Snapshot:
    text: str
    status: str


class ChatPage:
    """The demo chat as a visitor uses it: label, keyboard, buttons; state read from the DOM.

    ROOT is the JavaScript expression of the node holding the chat's markup and HOOKS
    that of its test hooks: the widget (test_widget.py) has them in its shadow root."""

    ROOT = "document"
    HOOKS = "window.__botstream"

    def __init__(self, page, server) -> None:
        self.page = page
        self.server = server

    def open(self) -> ChatPage:
        self.page.goto(f"/chat/{self.server.bot_id}/")
        return self

    def send(self, text: str) -> None:
        self.page.get_by_label("Your message").fill(text)
        self.page.keyboard.press("Enter")

    def reply(self) -> Snapshot:
        """The last assistant message as shown (empty before there is one)."""
        found = self.page.evaluate(
            f"() => {{ const all = {self.ROOT}.querySelectorAll('#log li[data-role=ASSISTANT]');"
            " const li = all[all.length - 1];"
            " return li ? [li.querySelector('.msg__text').textContent, li.dataset.status]"
            " : ['', '']; }"
        )
        return Snapshot(*found)

    def watch_reply(self, until, timeout: float = 20.0) -> list[Snapshot]:
        """Sample the reply every 20 ms until `until(snapshot)`; every distinct state seen."""
        seen: list[Snapshot] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.reply()
            if not seen or current != seen[-1]:
                seen.append(current)
            if until(current):
                return seen
            time.sleep(0.02)
        raise AssertionError(f"reply never reached the expected state; last: {seen[-1:]}")

    def hook(self, name: str):
        return self.page.evaluate(f"{self.HOOKS}.{name}()")

    def stored_messages(self) -> list[dict]:
        """The conversation as the server stored it, read over GraphQL with the page's token."""
        conversation = self.hook("conversation")
        data = self.server.graphql(
            MESSAGES, {"id": conversation["id"]}, chat_token=conversation["chatToken"]
        )
        return [edge["node"] for edge in data["conversation"]["messages"]["edges"]]


@pytest.fixture
def chat(page, app_server) -> ChatPage:
    return ChatPage(page, app_server).open()


def _grows(snapshots: list[Snapshot], final: str) -> None:
    """Each state shown is a prefix of the final text: nothing lost, repeated or reordered."""
    for snapshot in snapshots:
        assert final.startswith(snapshot.text), f"{snapshot.text!r} is not a prefix of {final!r}"


def test_landing_lists_the_demo_chat_of_active_bots(page, app_server):
    # when
    page.goto("/")
    page.get_by_role("link", name="Demo chat").click()

    # then: the active bot is listed, the inactive one is not
    bots = page.locator(".chat__bots a")
    assert bots.all_inner_texts() == ["Support"]
    bots.first.click()
    assert page.url.endswith(f"/chat/{app_server.bot_id}/")
    assert page.get_by_role("heading", level=1).inner_text() == "Support"


def test_reply_streams_in_then_completes_with_the_stored_text(chat, page, page_record):
    # when
    chat.send(QUESTION)
    seen = chat.watch_reply(lambda s: s.status in TERMINAL)

    # then: the text grew over several states before completing
    final = seen[-1]
    assert final.status == "COMPLETE"
    streaming = [s for s in seen if s.status == "STREAMING" and s.text]
    assert len({s.text for s in streaming}) >= 3, seen
    _grows(seen, final.text)
    user, reply = chat.stored_messages()
    assert user == {**user, "role": "USER", "content": QUESTION}
    assert reply["status"] == "COMPLETE" and reply["content"] == final.text
    assert page.locator("#status").inner_text() == "Reply received."
    assert page.get_by_label("Your message").input_value() == ""
    assert page_record.external == [] and page_record.errors == []


def test_stop_keeps_the_partial_text_and_says_so(chat, page):
    # given: a reply on its way
    chat.send(QUESTION)
    chat.watch_reply(lambda s: s.status == "STREAMING" and len(s.text.split()) >= 3)

    # when
    page.get_by_role("button", name="Stop").click()
    seen = chat.watch_reply(lambda s: s.status in TERMINAL)

    # then: stopped, partial text kept (as stored), status shown, focus back in the composer
    stopped = seen[-1]
    reply = chat.stored_messages()[-1]
    assert stopped.status == reply["status"] == "STOPPED"
    assert stopped.text == reply["content"] and stopped.text
    page.wait_for_timeout(500)
    assert chat.reply() == stopped, "text kept arriving after the stop"
    assert page.locator("#log li[data-role=ASSISTANT] .msg__status").last.inner_text() == "Stopped"
    assert page.locator("#status").inner_text() == "Reply stopped."
    assert page.get_by_role("button", name="Stop").is_disabled()
    assert page.evaluate("document.activeElement.id") == "message"


def test_dropped_socket_resumes_without_losing_or_repeating_text(chat, page):
    # given: the page's websocket frames, and a reply on its way
    subscribes: list[dict] = []

    def on_socket(ws) -> None:
        def sent(payload) -> None:
            message = json.loads(payload)
            if message.get("type") == "subscribe":
                subscribes.append(message["payload"]["variables"])

        ws.on("framesent", sent)

    page.on("websocket", on_socket)
    chat.send(QUESTION)
    before = chat.watch_reply(lambda s: s.status == "STREAMING" and len(s.text.split()) >= 3)

    # when: the socket drops mid-reply
    chat.hook("dropSocket")
    page.locator("#status[data-state=reconnecting]").wait_for()
    seen = chat.watch_reply(lambda s: s.status in TERMINAL)

    # then: a second connection resumed from the reply's received length, and the text is
    # exactly the stored one, every state shown on the way being a prefix of it
    final = seen[-1]
    reply = chat.stored_messages()[-1]
    assert final.status == reply["status"] == "COMPLETE"
    assert final.text == reply["content"]
    _grows(before + seen, final.text)
    assert len(before[-1].text) < len(final.text)
    assert chat.hook("connections") == 2
    assert len(subscribes) == 2, subscribes
    resume = subscribes[1]["resume"]
    assert resume["messageId"] == reply["id"]
    assert len(before[-1].text) <= resume["offset"] < len(reply["content"])
    assert page.locator("#status[data-state=connected]").count() == 1


def test_reload_replays_the_conversation_of_this_tab(chat, page):
    # given: a finished exchange
    chat.send("Hello")
    first = chat.watch_reply(lambda s: s.status in TERMINAL)[-1]

    # when
    page.reload()
    page.locator("#log li[data-role=ASSISTANT][data-status=COMPLETE]").wait_for()

    # then: the same conversation, rebuilt from the server's replay
    texts = page.locator("#log .msg__text").all_inner_texts()
    assert texts == ["Hello", first.text]
    assert [m["content"] for m in chat.stored_messages()] == texts


def test_new_conversation_starts_over(chat, page):
    chat.send("Hello")
    chat.watch_reply(lambda s: s.status in TERMINAL)
    first = chat.hook("conversation")

    page.get_by_role("button", name="New conversation").click()
    assert page.locator("#log li").count() == 0
    chat.send("Hello again")
    chat.watch_reply(lambda s: s.status in TERMINAL)

    assert chat.hook("conversation")["id"] != first["id"]
    assert page.locator("#log .msg__text").first.inner_text() == "Hello again"


DELETE = """
mutation Delete($input: DeleteConversationInput!) {
  deleteConversation(input: $input) { __typename }
}"""


def test_deleted_conversation_is_cleared_and_the_next_message_starts_over(chat, page):
    # given: a reply on its way
    chat.send(QUESTION)
    chat.watch_reply(lambda s: s.status == "STREAMING" and len(s.text.split()) >= 3)
    first = chat.hook("conversation")

    # when: the conversation is deleted elsewhere (its owner, another tab)
    data = chat.server.graphql(DELETE, {"input": {"id": first["id"]}}, first["chatToken"])
    page.locator("#error", has_text="This conversation was deleted").wait_for()

    # then: the page forgets it, and the composer starts a new one
    assert data["deleteConversation"]["__typename"] == "Conversation"
    assert page.locator("#log li").count() == 0
    assert chat.hook("conversation") is None
    assert page.get_by_role("button", name="Stop").is_disabled()
    chat.send("Hello again")
    chat.watch_reply(lambda s: s.status in TERMINAL)
    assert chat.hook("conversation")["id"] != first["id"]
    assert page.locator("#log .msg__text").first.inner_text() == "Hello again"


def test_markup_is_accessible(chat, page):
    log = page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite"
    assert re.match(r"Conversation with Support", log.get_attribute("aria-label"))
    assert page.get_by_role("status").count() == 1
    for name in ("Send", "Stop", "New conversation"):
        assert page.get_by_role("button", name=name).count() == 1
    assert page.evaluate("document.activeElement.id") == "message"


@pytest.mark.parametrize("viewport", [{"width": 360, "height": 740}])
def test_phone_width_fits_without_horizontal_scrolling(chat, page, viewport):
    chat.send(QUESTION)
    chat.watch_reply(lambda s: s.status in TERMINAL)

    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    for name in ("Send", "Stop", "New conversation"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert page.get_by_label("Your message").is_visible()
