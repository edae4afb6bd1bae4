"""The owner console (/console/) end to end in Chromium: an owner builds the demo support
scenario from an empty bot through the forms, sees its graph with a deliberate error
marked, fixes it, activates it and chats with it (issue 17, point 7)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OWNER_PASSWORD

pytestmark = pytest.mark.usefixtures("app_server")


# Every status each chat message shows, in order (a reply that streams shows STREAMING).
RECORD_STATUSES = """() => {
  window.__statuses = {};
  const log = document.querySelector("section.chat [role=log]");
  const note = (li) => {
    const seen = (window.__statuses[li.dataset.messageId] ||= []);
    if (seen[seen.length - 1] !== li.dataset.status) seen.push(li.dataset.status);
  };
  new MutationObserver((records) => records.forEach((r) => {
    if (r.target.matches && r.target.matches("li")) note(r.target);
    r.addedNodes.forEach((n) => n.matches && n.matches("li") && note(n));
  })).observe(log, {subtree: true, childList: true, attributes: true,
                    attributeFilter: ["data-status"]});
}"""


class Console:
    """The console as an owner uses it: labels, buttons, the graph's nodes."""

    def __init__(self, page) -> None:
        self.page = page

    def login(self, username: str = "owner", password: str = OWNER_PASSWORD) -> None:
        self.page.goto("/console/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        expect(self.page.get_by_text(f"Logged in as {username}")).to_be_visible()

    def notice(self, text: str) -> None:
        expect(self.page.locator("#notice")).to_contain_text(text)

    def step_form(self):
        return self.page.locator("form", has=self.page.locator("#step-title"))

    def add_step(self, name: str, step_type: str, fill) -> None:
        self.page.get_by_role("button", name="Add step").click()
        expect(self.page.locator("#step-title")).to_have_text("New step")
        form = self.step_form()
        form.get_by_label("Step name").fill(name)
        form.get_by_label("Step type").select_option(label=step_type)
        fill(form)
        form.get_by_role("button", name="Create step").click()
        self.notice(f'Step "{name}" created')
        expect(self.page.locator("#step-title")).to_have_text(f"Step: {name}")

    def node(self, name: str):
        return self.page.locator(f'.graph__node[data-step="{name}"]')


def _question(text: str, variable: str, answer_type: str, reask: str, options: str = ""):
    def fill(form) -> None:
        form.get_by_label("Question").fill(text)
        form.get_by_label("Store the answer in variable").fill(variable)
        form.get_by_label("Answer type").select_option(answer_type)
        expect(form.get_by_label("Pattern (RE2)")).to_be_hidden()  # only for regex
        if options:
            form.get_by_label("Options, one per line").fill(options)
        form.get_by_label("Re-ask text (optional)").fill(reask)

    return fill


def _message(text: str):
    return lambda form: form.get_by_label("Text", exact=True).fill(text)


def _route(target: str):
    def fill(form) -> None:
        form.get_by_role("button", name="Add branch").click()
        form.get_by_label("Variable").fill("topic")
        form.get_by_label("Operator").select_option("eq")
        form.get_by_label("Value").fill("billing")
        form.get_by_label("Go to step", exact=True).fill(target)
        form.get_by_label("Otherwise go to step (optional)").fill("ask_email")

    return fill


def _status_call(form) -> None:
    form.get_by_label("Method").select_option("GET")
    form.get_by_label("URL").fill("https://api.github.com/zen")
    form.get_by_label('Headers, one "Name: value" per line').fill("Accept: text/plain")
    form.get_by_label("Timeout, seconds").fill("5")
    form.get_by_label("Largest response, bytes").fill("2048")
    form.get_by_label("Store the result in variable").fill("status_note")
    form.get_by_label("On error go to step (optional)").fill("status_unknown")


def _answer(form) -> None:
    form.get_by_label("Prompt").fill(
        "The visitor needs help with {{ topic }}; their email is {{ email }}. "
        "Greet them and list what you can do in three short bullet points."
    )
    form.get_by_label("Store the reply in variable (optional)").fill("first_answer")


def test_owner_builds_the_support_scenario_sees_an_error_fixes_it_and_chats(
    page, page_record, app_server
):
    console = Console(page)
    console.login()

    # an empty bot
    page.get_by_label("Name", exact=True).fill("Help desk")
    page.get_by_label("System prompt").fill("You help Botstream's customers.")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Help desk", level=1)).to_be_visible()
    new_scenario = page.locator("form", has=page.get_by_role("button", name="Create scenario"))
    new_scenario.get_by_label("Name").fill("Triage")
    new_scenario.get_by_role("button", name="Create scenario").click()
    expect(page.get_by_role("heading", name="Scenario: Triage")).to_be_visible()

    # the steps, through the forms; "route" names a step that does not exist (a typo)
    console.add_step("welcome", "Message", _message("Hi! I'm the Botstream support assistant."))
    console.notice("made the initial step")
    console.add_step(
        "ask_topic",
        "Question",
        _question(
            "What do you need help with: billing, technical or account?",
            "topic",
            "choice",
            "Please pick one: billing, technical or account (or 1, 2, 3).",
            options="billing\ntechnical\naccount",
        ),
    )
    console.add_step("route", "Condition", _route("biling"))
    console.add_step(
        "billing", "Message", _message("Invoices and payment methods live under Settings.")
    )
    console.add_step(
        "ask_email",
        "Question",
        _question(
            "Which email should a human use if I can't solve this?",
            "email",
            "email",
            "That doesn't look like an email address. Could you retype it?",
        ),
    )
    console.add_step("status", "API call", _status_call)
    console.add_step("status_ok", "Message", _message("Our systems are up. {{ status_note }}"))
    console.add_step(
        "status_unknown",
        "Message",
        _message("I couldn't reach the status page, but that won't stop me helping."),
    )
    console.add_step("answer", "LLM reply", _answer)

    # status_ok goes on to the answer (picked by name from the step list)
    page.locator(".steps").get_by_role("button", name="status_ok", exact=True).click()
    expect(page.locator("#step-title")).to_have_text("Step: status_ok")
    console.step_form().get_by_label("Next step").select_option(label="answer")
    console.step_form().get_by_role("button", name="Save step").click()
    console.notice('Step "status_ok" saved')

    # the graph: every step a node, the typo marked as an error on "route"
    for name in ("welcome", "ask_topic", "route", "billing", "ask_email", "status", "answer"):
        expect(console.node(name)).to_be_visible()
    expect(console.node("route")).to_have_attribute("data-issue", "ERROR")
    expect(console.node("route")).to_have_attribute("aria-label", re.compile('targets "biling"'))
    expect(console.node("biling")).to_have_class(re.compile("graph__node--missing"))
    expect(console.node("billing")).to_have_attribute("data-issue", "WARNING")  # unreachable
    expect(console.node("welcome")).to_have_attribute("data-issue", "")
    edge = page.locator('.graph__edge[data-from="status_ok"][data-to="answer"]')
    expect(edge).to_have_attribute("data-label", "next")
    expect(page.locator("#validation")).to_contain_text('Step "route" targets "biling"')

    # activation is refused while the error stands, with the API's message
    page.get_by_role("button", name="Activate scenario").click()
    settings = page.locator("form", has=page.locator("#scenario-settings"))
    expect(settings.locator('[data-field="isActive"] .field__error')).to_contain_text(
        'targets "biling"'
    )
    expect(page.get_by_role("button", name="Activate scenario")).to_be_visible()

    # click the marked node: its form opens; fix the target
    console.node("route").click()
    expect(page.locator("#step-title")).to_have_text("Step: route")
    console.step_form().get_by_label("Go to step", exact=True).fill("billing")
    console.step_form().get_by_role("button", name="Save step").click()
    console.notice('Step "route" saved')
    expect(console.node("route")).to_have_attribute("data-issue", "")
    expect(console.node("biling")).to_have_count(0)
    expect(page.locator("#validation")).to_contain_text("No problems")

    page.get_by_role("button", name="Activate scenario").click()
    console.notice("Scenario activated")
    expect(page.get_by_role("button", name="Deactivate scenario")).to_be_visible()

    # chat with it beside the editor: streaming, variables collected so far
    chat = page.locator("section.chat")
    box = chat.get_by_label("Test message")
    box.fill("Hello")
    box.press("Enter")
    expect(chat.locator("li[data-role=ASSISTANT]").last).to_contain_text(
        "billing, technical or account"
    )
    box.fill("billing")
    box.press("Enter")
    expect(chat.get_by_text("Invoices and payment methods")).to_be_visible()
    expect(chat.locator('dd[data-variable="topic"]')).to_have_text("billing")
    replies = chat.locator("li[data-role=ASSISTANT]")
    expect(replies.last).to_contain_text("Which email")
    asked = replies.count()
    page.evaluate(RECORD_STATUSES)
    box.fill("ada@example.com")
    box.press("Enter")
    expect(chat.locator('dd[data-variable="email"]')).to_have_text("ada@example.com")
    expect(replies.nth(asked)).to_contain_text("couldn't reach the status page")
    # the LLM step's reply streams in: seen growing, then complete
    llm = replies.nth(asked + 1)
    expect(llm).to_have_attribute("data-status", "COMPLETE", timeout=20_000)
    expect(llm.locator(".msg__text")).not_to_be_empty()
    seen = page.evaluate("id => window.__statuses[id]", llm.get_attribute("data-message-id"))
    assert "STREAMING" in seen and seen[-1] == "COMPLETE", seen
    expect(chat.locator('dd[data-variable="first_answer"]')).not_to_be_empty()

    # after the scenario, free chat; a socket dropped mid-reply resumes with no gap
    box.fill("Thanks! What else can you do?")
    box.press("Enter")
    free = replies.nth(asked + 2)
    expect(free).to_have_attribute("data-status", "STREAMING", timeout=15_000)
    page.evaluate("window.__botstreamConsole.dropChatSocket()")
    expect(chat.get_by_role("status")).to_contain_text("reconnecting")
    expect(free).to_have_attribute("data-status", "COMPLETE", timeout=20_000)
    conversation = page.evaluate("window.__botstreamConsole.chatConversation()")
    stored = app_server.graphql(
        MESSAGES, {"id": conversation["id"]}, chat_token=conversation["chatToken"]
    )["conversation"]["messages"]["edges"][-1]["node"]
    assert stored["status"] == "COMPLETE"
    expect(free.locator(".msg__text")).to_have_text(stored["content"])

    assert page_record.errors == []
    assert page_record.csp == []
    assert page_record.external == []


def test_login_refusal_is_shown_and_logout_ends_the_session(page):
    page.goto("/console/")
    page.get_by_label("Username").fill("owner")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid username or password")

    Console(page).login()
    expect(page.get_by_role("link", name="Support", exact=True)).to_be_visible()  # seeded
    expect(page.get_by_role("link", name="Dormant", exact=True)).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_bot_field_errors_edit_activate_and_delete_with_confirmation(page):
    console = Console(page)
    console.login()

    # a field error from the API lands next to its field
    page.get_by_label("Name", exact=True).fill("Scratch")
    page.get_by_label("Temperature").fill("5")
    page.get_by_role("button", name="Create bot").click()
    temperature = page.get_by_label("Temperature")
    expect(temperature).to_have_attribute("aria-invalid", "true")
    error_id = temperature.get_attribute("aria-describedby").split()[0]
    expect(page.locator(f"#{error_id}")).to_contain_text("2")
    temperature.fill("0.4")
    page.get_by_role("button", name="Create bot").click()
    expect(page.get_by_role("heading", name="Scratch", level=1)).to_be_visible()

    # edit, deactivate
    page.get_by_label("Max tokens").fill("999999")
    page.get_by_role("button", name="Save bot").click()
    expect(page.get_by_label("Max tokens")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Max tokens").fill("300")
    page.get_by_label("Description").fill("Only a test.")
    page.get_by_role("button", name="Save bot").click()
    console.notice("Bot saved.")
    page.get_by_role("button", name="Deactivate bot").click()
    expect(page.get_by_role("button", name="Activate bot")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Description")).to_have_value("Only a test.")
    expect(page.get_by_label("Max tokens")).to_have_value("300")

    # delete: cancel keeps it, confirm removes it
    page.get_by_role("button", name="Delete bot").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Scratch", level=1)).to_be_visible()
    page.get_by_role("button", name="Delete bot").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    console.notice('Bot "Scratch" deleted.')
    expect(page.get_by_role("heading", name="Bots")).to_be_visible()
    expect(page.get_by_role("link", name="Scratch")).to_have_count(0)


@pytest.mark.parametrize(
    "viewport", [{"width": 820, "height": 1180}, {"width": 360, "height": 780}]
)
def test_tablet_and_phone_keyboard_reorder_and_raw_json(page, page_record, viewport):
    console = Console(page)
    console.login()
    page.get_by_role("link", name="Dormant", exact=True).click()
    new_scenario = page.locator("form", has=page.get_by_role("button", name="Create scenario"))
    new_scenario.get_by_label("Name").fill("Tablet")
    new_scenario.get_by_role("button", name="Create scenario").click()
    console.add_step("first", "Message", _message("One"))
    console.add_step("second", "LLM reply", lambda form: form.get_by_label("Prompt").fill("Hi"))

    # reorder with the buttons: second goes first; the graph follows
    page.get_by_role("button", name="Move second up").click()
    console.notice("Steps reordered.")
    expect(page.locator(".steps .steps__item").first).to_contain_text("second")
    edge = page.locator('.graph__edge[data-from="second"][data-to="first"]')
    expect(edge).to_have_attribute("data-label", "next")

    # the graph by keyboard: focus a node, Enter opens its form
    console.node("first").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#step-title")).to_have_text("Step: first")

    # the raw JSON view edits the content as the API stores it
    form = console.step_form()
    form.get_by_text("Advanced: raw JSON").click()
    raw = form.get_by_label("Content as JSON")
    expect(raw).to_have_value(re.compile('"text": "One"'))
    raw.fill('{"text": "Uno", "end": true}')
    form.get_by_role("button", name="Save step").click()
    console.notice('Step "first" saved.')
    expect(console.step_form().get_by_label("Text", exact=True)).to_have_value("Uno")
    expect(console.step_form().get_by_label("End the scenario after this step")).to_be_checked()
    expect(page.locator('.graph__edge[data-from="first"]')).to_have_attribute("data-label", "end")

    # bad JSON is refused in the form, before any request
    console.step_form().get_by_text("Advanced: raw JSON").click()
    console.step_form().get_by_label("Content as JSON").fill("{not json")
    console.step_form().get_by_role("button", name="Save step").click()
    raw = console.step_form().get_by_label("Content as JSON")
    expect(raw).to_have_attribute("aria-invalid", "true")
    expect(console.step_form().get_by_label("Text", exact=True)).to_be_hidden()
    expect(console.step_form()).to_contain_text("Not valid JSON")

    # the test chat runs this inactive bot's inactive scenario
    chat = page.locator("section.chat")
    chat.get_by_label("Test message").fill("hi")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator("li[data-role=ASSISTANT]").first).to_contain_text("Uno")
    expect(chat.get_by_role("status")).to_contain_text("The scenario has ended")

    # usable at tablet and phone width: nothing wider than the window
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"]
    assert page_record.errors == [] and page_record.csp == []


START = """
mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}"""
SEND = """
mutation($input: SendMessageInput!) { sendMessage(input: $input) { userMessage { id } } }
"""
MESSAGES = """
query($id: ID!) {
  conversation(id: $id) { messages(last: 1) { edges { node { content status } } } }
}
"""
CONVERSATION_QUERY = """
query($id: ID!) { conversation(id: $id) { messages { edges { node { status } } } } }
"""


def test_conversations_filters_and_transcript_with_usage(page, app_server):
    # a visitor's conversation with the seeded public bot
    start = app_server.graphql(
        START, {"input": {"botId": app_server.bot_id, "userSession": "visitor-7"}}
    )
    token = start["startConversation"]["chatToken"]
    conversation_id = start["startConversation"]["conversation"]["id"]
    sent = {"input": {"conversationId": conversation_id, "text": "Hi"}}
    app_server.graphql(SEND, sent, chat_token=token)
    for _ in range(200):  # until the reply is finished (no timing asserted)
        data = app_server.graphql(CONVERSATION_QUERY, {"id": conversation_id}, chat_token=token)
        statuses = [e["node"]["status"] for e in data["conversation"]["messages"]["edges"]]
        if statuses == ["COMPLETE", "COMPLETE"]:
            break
        page.wait_for_timeout(100)

    console = Console(page)
    console.login()
    page.get_by_role("row", name=re.compile("^Support Active")).get_by_role(
        "link", name="Conversations"
    ).click()
    row = page.get_by_role("row", name=re.compile("visitor-7"))
    expect(row).to_be_visible()
    row.get_by_role("button").click()
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("Hi")
    expect(transcript).to_contain_text("completion tokens")
    expect(transcript).to_contain_text(re.compile(r"Usage: \d+ prompt \+ \d+ completion tokens"))

    page.get_by_label("Failures").select_option(label="With a failed reply")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row", name=re.compile("visitor-7"))).to_have_count(0)
    page.get_by_label("Failures").select_option(label="No failed reply")
    page.get_by_label("From").fill("2001-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row", name=re.compile("visitor-7"))).to_be_visible()
    page.get_by_label("To (included)").fill("2001-01-02")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row", name=re.compile("visitor-7"))).to_have_count(0)
