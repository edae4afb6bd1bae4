/* The test chat beside the scenario editor: starts a conversation with the scenario
 * being edited (the API lets owners test inactive bots and scenarios), sends with the
 * chat token, and follows `conversationEvents` over graphql-transport-ws: a reply is
 * rebuilt from MessageCreated's content plus each MessageDelta at its offset, and
 * ConversationUpdated carries the variables collected so far. On a dropped socket it
 * resubscribes with resumeFrom (README "Streaming contract").
 *
 * Written against the API directly (not server/static/chat/chat.js) so the console and
 * the demo chat can evolve apart; the protocol code is small (api.js WsConnection). */

import { WsConnection, graphql } from "./api.js";
import { h } from "./dom.js";

const MESSAGE = "id role content status error errorCode promptTokens completionTokens";
const START = `mutation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id variables isCompleted } }
}`;
const SEND = `mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { ${MESSAGE} } reply { ${MESSAGE} } }
}`;
const EVENTS = `subscription($id: ID!, $resume: ResumeFromInput) {
  conversationEvents(conversationId: $id, resumeFrom: $resume) {
    __typename
    ... on MessageCreated { message { ${MESSAGE} } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { ${MESSAGE} } }
    ... on MessageFailed { message { ${MESSAGE} } code error }
    ... on ConversationUpdated { conversation { variables isCompleted } }
    ... on ConversationDeleted { conversationId }
  }
}`;
const ACTIVE = new Set(["PENDING", "STREAMING"]);
// Close codes after which reconnecting cannot help (protocol or credentials).
const FATAL_CLOSE = new Set([4400, 4401, 4403, 4406]);

const chars = (s) => Array.from(s).length;
const rank = (status) => ({ PENDING: 0, STREAMING: 1 })[status] ?? 2;

export class TestChat {
  /** `target()` gives {botId, scenarioId} of what is being edited. */
  constructor(target) {
    this.target = target;
    this.messages = new Map();
    this.conversation = null;
    this.socket = null;
    this.build();
  }

  build() {
    this.status = h("p", { class: "chat__status", role: "status" }, "Send a message to test this scenario (it need not be active).");
    this.log = h("ol", { class: "chat__log", role: "log", "aria-live": "polite", "aria-label": "Test conversation" });
    this.variables = h("dl", { class: "chat__variables", "aria-label": "Variables collected" });
    this.error = h("p", { class: "form__alert", role: "alert", hidden: true });
    this.input = h("textarea", { id: "test-chat-message", rows: 2, maxlength: 4000 });
    this.send = h("button", { type: "submit" }, "Send");
    const restart = h("button", { type: "button", class: "button--quiet", onclick: () => this.reset() }, "Restart");
    const form = h("form", { class: "chat__composer", onsubmit: (e) => this.submit(e) },
      h("label", { for: "test-chat-message" }, "Test message"), this.input, h("div", { class: "row" }, this.send, restart));
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.node = h("section", { class: "panel chat", "aria-labelledby": "test-chat-title" },
      h("h2", { id: "test-chat-title" }, "Test chat"), this.status, this.log, this.error, form,
      h("h3", {}, "Variables"), this.variables);
    this.showVariables({});
  }

  reset() {
    if (this.socket) this.socket.close();
    this.socket = null;
    this.conversation = null;
    this.messages.clear();
    this.log.replaceChildren();
    this.showVariables({});
    this.status.textContent = "New test conversation: the next message starts the scenario again.";
  }

  showError(text) {
    this.error.textContent = text || "";
    this.error.hidden = !text;
  }

  showVariables(variables) {
    const entries = Object.entries(variables || {});
    this.variables.replaceChildren(
      ...(entries.length ? entries.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { variable: k } }, typeof v === "string" ? v : JSON.stringify(v))]) : [h("dd", {}, "None yet.")]),
    );
  }

  async submit(event) {
    event.preventDefault();
    const text = this.input.value.trim();
    if (!text) return;
    this.send.disabled = true;
    this.showError("");
    try {
      if (!this.conversation) await this.start();
      const data = await graphql(SEND, { input: { conversationId: this.conversation.id, text } }, { chatToken: this.conversation.chatToken });
      this.input.value = "";
      this.upsert(data.sendMessage.userMessage);
      if (data.sendMessage.reply) this.upsert(data.sendMessage.reply);
    } catch (err) {
      this.showError(err.message);
    } finally {
      this.send.disabled = false;
      this.input.focus();
    }
  }

  async start() {
    const { botId, scenarioId } = this.target();
    const data = await graphql(START, { input: { botId, scenarioId, userSession: "console-test" } });
    const started = data.startConversation;
    this.conversation = { id: started.conversation.id, chatToken: started.chatToken };
    this.showVariables(started.conversation.variables);
    await this.connect();
  }

  async connect() {
    const conversation = this.conversation;
    const socket = new WsConnection({ chatToken: conversation.chatToken }, {
      onClose: (event) => {
        if (this.conversation !== conversation) return;
        if (FATAL_CLOSE.has(event.code)) {
          this.showError(`The server refused the connection: ${event.reason || event.code}. Restart the test chat.`);
          return;
        }
        this.status.textContent = "Connection lost: reconnecting…";
        setTimeout(() => this.conversation === conversation && this.connect().catch((err) => this.showError(err.message)), 1000);
      },
    });
    this.socket = socket;
    await socket.ready;
    this.status.textContent = "Connected: replies stream live.";
    const last = [...this.messages.values()].pop();
    const resume = last ? { messageId: last.id, offset: last.length } : null;
    socket.subscribe("events", EVENTS, { id: conversation.id, resume }, {
      next: (payload) => payload.data ? this.onEvent(payload.data.conversationEvents) : this.showError((payload.errors || [{}])[0].message),
      error: (errors) => this.showError((errors[0] || {}).message || "The event stream failed."),
    });
  }

  onEvent(event) {
    switch (event.__typename) {
      case "MessageCreated":
        this.upsert(event.message);
        break;
      case "MessageDelta": {
        const m = this.messages.get(event.messageId);
        if (!m || event.offset > m.length) break; // a gap: the final event brings the text
        const end = event.offset + chars(event.text);
        if (end > m.length) {
          m.content += Array.from(event.text).slice(m.length - event.offset).join("");
          m.length = end;
          m.status = "STREAMING";
          this.render(m);
        }
        break;
      }
      case "MessageCompleted":
      case "MessageFailed":
        this.upsert(event.message, true);
        break;
      case "ConversationUpdated":
        this.showVariables(event.conversation.variables);
        if (event.conversation.isCompleted) this.status.textContent = "The scenario has ended; a chat bot goes on as free chat.";
        break;
      case "ConversationDeleted":
        this.reset();
        break;
      default:
        break;
    }
  }

  upsert(data, final = false) {
    let m = this.messages.get(data.id);
    if (!m) {
      m = { id: data.id, role: data.role, content: "", length: 0, status: data.status };
      this.messages.set(data.id, m);
    }
    if (final || chars(data.content) > m.length) {
      m.content = data.content;
      m.length = chars(data.content);
    }
    if (final || rank(data.status) >= rank(m.status)) m.status = data.status;
    m.error = data.error;
    this.render(m);
  }

  render(m) {
    let item = this.log.querySelector(`[data-message-id="${CSS.escape(m.id)}"]`);
    if (!item) {
      item = h("li", { class: `msg msg--${m.role.toLowerCase()}`, dataset: { messageId: m.id, role: m.role } },
        h("span", { class: "visually-hidden" }, m.role === "USER" ? "You: " : "Bot: "), h("p", { class: "msg__text" }), h("p", { class: "msg__status" }));
      this.log.append(item);
    }
    item.dataset.status = m.status;
    item.querySelector(".msg__text").textContent = m.content;
    item.querySelector(".msg__status").textContent = m.status === "FAILED" ? `Failed: ${m.error}` : ACTIVE.has(m.status) ? "Typing…" : "";
    this.log.setAttribute("aria-busy", [...this.messages.values()].some((x) => ACTIVE.has(x.status)) ? "true" : "false");
    this.log.scrollTop = this.log.scrollHeight;
  }
}
