"""The console's analytics page in Chromium: totals, uPlot charts (vendored, drawn under
the site's CSP), the per-bucket table, range errors from the API, and the transcript
download with the session cookie."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.test_console import CONVERSATION_QUERY, SEND, START, Console

pytestmark = pytest.mark.usefixtures("app_server")

RATE = """
mutation($input: RateMessageInput!) { rateMessage(input: $input) { message { id } } }
"""
REPLY = "query($id: ID!) { conversation(id: $id) { messages(last: 1) { edges { node { id } } } } }"
TOTALS = """
query($input: BotStatsInput!) {
  botStats(input: $input) {
    totals { conversations messages feedbackUp handoffs firstTokenP50Ms }
  }
}"""


def _chat(page, app_server, label: str) -> None:
    """A visitor's conversation with the seeded bot, its reply finished and rated up."""
    start = app_server.graphql(START, {"input": {"botId": app_server.bot_id, "userSession": label}})
    token = start["startConversation"]["chatToken"]
    conversation_id = start["startConversation"]["conversation"]["id"]
    sent = {"input": {"conversationId": conversation_id, "text": f"Hello from {label}"}}
    app_server.graphql(SEND, sent, chat_token=token)
    for _ in range(200):  # until the reply is finished (no timing asserted)
        data = app_server.graphql(CONVERSATION_QUERY, {"id": conversation_id}, chat_token=token)
        statuses = [e["node"]["status"] for e in data["conversation"]["messages"]["edges"]]
        if statuses == ["COMPLETE", "COMPLETE"]:
            break
        page.wait_for_timeout(100)
    reply = app_server.graphql(REPLY, {"id": conversation_id}, chat_token=token)
    reply_id = reply["conversation"]["messages"]["edges"][0]["node"]["id"]
    app_server.graphql(RATE, {"input": {"messageId": reply_id, "rating": "UP"}}, chat_token=token)


def _api_totals(app_server, page) -> dict:
    """The same figures straight from the API, for the page's range and time zone."""
    window = page.evaluate(
        """() => {
          const day = (d) => new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
          const now = new Date();
          return {from: day(new Date(now - 6 * 86400000)) + "T00:00:00",
                  to: day(new Date(now.getTime() + 86400000)) + "T00:00:00",
                  timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone};
        }"""
    )
    response = httpx.post(
        app_server.graphql_url,
        json={"query": TOTALS, "variables": {"input": {"botId": app_server.bot_id, **window}}},
        headers={"Authorization": f"Bearer {app_server.owner_token}"},
        trust_env=False,
    )
    return response.json()["data"]["botStats"]["totals"]


def _tile(page, label: str):
    return page.locator(f'.stats__tile[data-total="{label}"] dd')


def test_the_owner_reads_charts_and_table_and_downloads_the_transcripts(
    page, app_server, page_record
):
    # given: a rated conversation today
    _chat(page, app_server, "stats-visitor")
    console = Console(page)
    console.login()

    # when: from the bots list to the bot's analytics (default: the last 7 days, per day)
    page.get_by_role("row", name=re.compile("^Support Active")).get_by_role(
        "link", name="Analytics"
    ).click()

    # then: the totals are the API's, four charts are drawn, one table row per day
    expect(page.get_by_role("heading", name="Analytics: Support")).to_be_visible()
    totals = _api_totals(app_server, page)
    assert totals["conversations"] >= 1 and totals["feedbackUp"] >= 1
    assert totals["firstTokenP50Ms"] is not None
    expect(_tile(page, "Conversations")).to_have_text(str(totals["conversations"]))
    expect(_tile(page, "Messages")).to_have_text(str(totals["messages"]))
    expect(_tile(page, "Feedback up")).to_have_text(str(totals["feedbackUp"]))
    expect(_tile(page, "Handoffs")).to_have_text(str(totals["handoffs"]))
    expect(_tile(page, "First token p50")).to_have_text(f"{totals['firstTokenP50Ms']} ms")
    charts = page.locator(".stats__chart")
    expect(charts).to_have_count(4)
    expect(page.locator(".stats__chart canvas")).to_have_count(4)  # uPlot drew each
    assert page.locator(".stats__chart .u-legend").first.is_visible()
    table = page.locator("table.stats__table")
    expect(table.locator("caption")).to_have_text("Per day")
    expect(table.locator("tbody tr")).to_have_count(7)
    today = table.locator("tbody tr").last
    expect(today.locator("td").first).to_have_text(str(totals["conversations"]))

    # the JSONL download carries the visitor's message (the session cookie authenticates)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download JSONL").click()
    lines = download.value.path().read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert "Hello from stats-visitor" in [r["content"] for r in records]
    assert {r["user_session"] for r in records} >= {"stats-visitor"}

    # per hour: 7 x 24 rows
    page.get_by_label("Per").select_option(label="Hour")
    page.get_by_role("button", name="Show").click()
    expect(table.locator("caption")).to_have_text("Per hour")
    expect(table.locator("tbody tr")).to_have_count(7 * 24)

    assert page_record.errors == [] and page_record.csp == [] and page_record.external == []


def test_a_range_the_api_refuses_shows_its_message(page, app_server, page_record):
    console = Console(page)
    console.login()
    bot = app_server.bot_id
    page.goto(f"/console/#/bot/{bot}/stats?from=2026-03-05&to=2026-03-01&granularity=DAY")
    expect(page.get_by_role("alert")).to_have_text("`to` must be after `from`.")
    page.goto(f"/console/#/bot/{bot}/stats?from=2020-01-01&to=2026-01-01&granularity=HOUR")
    expect(page.get_by_role("alert")).to_contain_text("At most 1000 buckets")
    assert page_record.errors == [] and page_record.csp == []
