"""The embeddable widget (/widget.js) on another site: a page served from a second origin
(tests/browser/host_site.py) with a strict CSP of its own, talking to the API cross-origin.
"""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from tests.browser.test_chat_page import QUESTION, TERMINAL, ChatPage, _grows

SIZE_BUDGET = 30 * 1024  # bytes, gzipped
HOST = "document.querySelector('[data-botstream-widget]')"


class Widget(ChatPage):
    """The widget as a visitor uses it on the host site: launcher, panel, composer."""

    ROOT = f"{HOST}.shadowRoot"
    HOOKS = f"{HOST}.botstream"

    def __init__(self, page, server, site) -> None:
        super().__init__(page, server)
        self.site = site

    def open(self, **attributes: str) -> Widget:
        self.page.goto(self.site.page_url(self.server.bot_id, **attributes))
        self.launcher.wait_for()
        return self

    @property
    def launcher(self):
        return self.page.get_by_role("button", name=re.compile(r"^Chat: "))

    @property
    def panel(self):
        return self.page.get_by_role("dialog")

    def show(self) -> None:
        if not self.panel.is_visible():
            self.launcher.click()
        self.panel.wait_for()


def chat_on_page_or_widget(request, app_server) -> ChatPage:
    """A visitor's chat on the demo page or in the widget on a host site, by the
    fixture's parameter: `pytest.fixture(params=["page", "widget"], name=...)(this)`."""
    if request.param == "page":
        return ChatPage(request.getfixturevalue("page"), app_server).open()
    site = request.getfixturevalue("host_site")
    widget = Widget(request.getfixturevalue("host_page"), app_server, site).open()
    widget.show()
    return widget


@pytest.fixture
def widget(host_page, app_server, host_site) -> Widget:
    return Widget(host_page, app_server, host_site).open()


def test_widget_script_fits_the_size_budget_and_may_be_embedded(app_server):
    # when
    response = httpx.get(
        f"{app_server.url}/widget.js", headers={"Accept-Encoding": "gzip"}, trust_env=False
    )
    again = httpx.get(
        f"{app_server.url}/widget.js",
        headers={"If-None-Match": response.headers["etag"]},
        trust_env=False,
    )

    # then: gzipped on the wire under budget; embeddable cross-origin; revalidated by ETag
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-encoding"] == "gzip"
    wire = int(response.headers["content-length"])
    assert wire < SIZE_BUDGET, f"widget.js is {wire} bytes gzipped"
    assert len(gzip.compress(response.content)) < SIZE_BUDGET
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "BotstreamClient" in response.text and "BotstreamChatView" in response.text
    assert again.status_code == 304


def test_widget_streams_a_reply_cross_origin_isolated_from_the_host(
    widget, host_page, page_record, app_server, host_site
):
    # given: nothing of the widget leaks into the host page
    assert host_page.evaluate("typeof BotstreamClient + typeof BotstreamChatView") == (
        "undefinedundefined"
    )
    assert widget.panel.is_hidden()

    # when: the visitor opens the panel and asks
    widget.launcher.click()
    assert widget.launcher.get_attribute("aria-expanded") == "true"
    widget.send(QUESTION)
    seen = widget.watch_reply(lambda s: s.status in TERMINAL)

    # then: the reply streamed in and is the stored one
    final = seen[-1]
    assert final.status == "COMPLETE"
    assert len({s.text for s in seen if s.status == "STREAMING" and s.text}) >= 3, seen
    _grows(seen, final.text)
    user, reply = widget.stored_messages()
    assert user["content"] == QUESTION and reply["content"] == final.text
    # the host's styles (red, 40px serif) did not reach the widget's text
    style = host_page.evaluate(
        f"() => {{ const p = {widget.ROOT}.querySelector('.msg__text');"
        " const s = getComputedStyle(p); return [s.color, s.fontSize]; }"
    )
    assert style != ["rgb(255, 0, 0)", "40px"] and style[0] != "rgb(255, 0, 0)"
    # only the host site and the API were contacted; the host's CSP was never violated
    assert page_record.external == [] and page_record.errors == []
    assert page_record.csp == []
    assert host_page.url.startswith(host_site.url) and host_site.url != app_server.url


def test_widget_stop_keeps_the_partial_text(widget, host_page):
    # given
    widget.show()
    widget.send(QUESTION)
    widget.watch_reply(lambda s: s.status == "STREAMING" and len(s.text.split()) >= 3)

    # when
    host_page.get_by_role("button", name="Stop").click()
    stopped = widget.watch_reply(lambda s: s.status in TERMINAL)[-1]

    # then
    reply = widget.stored_messages()[-1]
    assert stopped.status == reply["status"] == "STOPPED"
    assert stopped.text == reply["content"] and stopped.text
    assert host_page.locator("#status").inner_text() == "Reply stopped."


def test_reload_mid_reply_resumes_and_the_reply_finishes_exactly_once(widget, host_page):
    # given: a reply on its way
    widget.show()
    widget.send(QUESTION)
    before = widget.watch_reply(lambda s: s.status == "STREAMING" and len(s.text.split()) >= 3)
    conversation = widget.hook("conversation")

    # when: the visitor reloads the host page
    host_page.reload()
    widget.launcher.wait_for()

    # then: the panel is open as it was, the same conversation resumes, and the reply
    # finishes once: one question, one reply, exactly the stored text
    assert widget.panel.is_visible()
    seen = widget.watch_reply(lambda s: s.status in TERMINAL)
    assert widget.hook("conversation") == conversation
    stored = widget.stored_messages()
    assert [s["content"] for s in stored] == [QUESTION, seen[-1].text]
    assert seen[-1].status == stored[-1]["status"] == "COMPLETE"
    _grows(before + seen, seen[-1].text)
    texts = host_page.locator("#log .msg__text").all_inner_texts()
    assert texts == [QUESTION, seen[-1].text]


def test_keyboard_opens_and_closes_the_panel_with_focus_where_expected(widget, host_page):
    # when: the launcher is reached with the keyboard and pressed
    widget.launcher.focus()
    host_page.keyboard.press("Enter")

    # then: a labelled dialog with its log, status and composer; focus in the composer
    assert widget.panel.get_attribute("aria-labelledby") == "panel-title"
    assert host_page.get_by_role("dialog", name="Chat").is_visible()
    log = host_page.get_by_role("log")
    assert log.get_attribute("aria-live") == "polite"
    assert host_page.get_by_role("status").count() == 1
    focused = f"{widget.ROOT}.activeElement && {widget.ROOT}.activeElement.id"
    assert host_page.evaluate(focused) == "message"

    # when: Escape closes it
    host_page.keyboard.press("Escape")

    # then: focus is back on the launcher, which says the panel is closed
    assert widget.panel.is_hidden()
    assert widget.launcher.get_attribute("aria-expanded") == "false"
    assert host_page.evaluate(focused) == "launcher"


@pytest.mark.parametrize("viewport", [{"width": 360, "height": 740}])
def test_phone_width_the_panel_fills_the_screen(widget, host_page, viewport):
    widget.show()
    widget.send(QUESTION)
    widget.watch_reply(lambda s: s.status in TERMINAL)

    assert host_page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    panel = widget.panel.bounding_box()
    assert panel and panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport["width"]
    for name in ("Send", "Stop", "New conversation"):
        box = host_page.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
        assert box["y"] + box["height"] <= viewport["height"]
    assert host_page.get_by_label("Your message").is_visible()


def test_a_site_not_allowed_by_the_api_cannot_chat(host_page, app_server, blocked_site):
    # given: a site whose origin is not in CORS_ALLOWED_ORIGINS
    widget = Widget(host_page, app_server, blocked_site).open()
    widget.show()

    # when
    widget.send("Hello")

    # then: the browser refused the API's answer (no CORS header); nothing was started
    host_page.locator("#error", has_text="cannot be reached").wait_for()
    assert widget.hook("conversation") is None


OPEN_SOCKET = """(url) => new Promise((resolve) => {
  const socket = new WebSocket(url, "graphql-transport-ws");
  socket.onopen = () => { resolve("open"); socket.close(); };
  socket.onclose = () => resolve("refused");
})"""


def test_websocket_origin_check_follows_the_allow_list(
    host_page, app_server, host_site, blocked_site
):
    ws_url = app_server.graphql_url.replace("http", "ws", 1)
    seen = {}
    for site in (host_site, blocked_site):
        host_page.goto(site.page_url(app_server.bot_id))
        seen[site.url] = host_page.evaluate(OPEN_SOCKET, ws_url)

    assert seen == {host_site.url: "open", blocked_site.url: "refused"}
