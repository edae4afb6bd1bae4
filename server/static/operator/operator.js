/* The operator page (/operator/): a client of the public GraphQL API, like the console
 * (whose api.js and dom.js it reuses). An operator logs in (session cookie), keeps one
 * websocket with the `operatorInbox` subscription (the whole inbox, sent again on every
 * change) and, for the open conversation, a `conversationEvents` subscription that
 * replays its history then streams it live. Claim, answer (sendOperatorMessage) and hand
 * back are mutations over HTTP; their effects come back through the two streams.
 */
import { ApiError, WsConnection, graphql, payload } from "../console/api.js";
import { h } from "../console/dom.js";

const PROBLEM = "... on OperationInfo { messages { field message code } }";
const Q = {
  me: "query { me { username } }",
  login: `mutation($input: LoginInput!) { login(input: $input) { __typename ... on User { username } ${PROBLEM} } }`,
  logout: "mutation { logout }",
  inbox: `subscription { operatorInbox { entries {
    mode botName assignedToMe waitingSince lastVisitorMessage conversation { id }
  } } }`,
  events: `subscription($id: ID!) { conversationEvents(conversationId: $id) {
    __typename
    ... on MessageCreated { message { id role content status authorName } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { id role content status authorName } }
    ... on MessageFailed { message { id role content status authorName } }
    ... on HandoffChanged { mode operatorName conversation { id } }
    ... on ConversationExpired { conversation { id } }
    ... on ConversationDeleted { conversationId }
  } }`,
  claim: `mutation($input: HandoffInput!) { claimConversation(input: $input) { __typename ... on Conversation { id mode } ${PROBLEM} } }`,
  say: `mutation($input: SendOperatorMessageInput!) { sendOperatorMessage(input: $input) { __typename ... on Message { id } ${PROBLEM} } }`,
  handBack: `mutation($input: HandoffInput!) { handBack(input: $input) { __typename ... on Conversation { id mode } ${PROBLEM} } }`,
};
const RECONNECT_MS = 2000;
const ROLE_NAMES = { USER: "Visitor", ASSISTANT: "Bot", SYSTEM: "" };

const main = document.getElementById("main");
const userBox = document.getElementById("user");
const notice = document.getElementById("notice");

let socket = null;
let open = null; // the conversation shown: {id, mode, assigned, messages, stop}
let entries = [];

function say(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

async function act(query, input) {
  say("");
  try {
    const data = await graphql(query, { input });
    return payload(Object.values(data)[0]);
  } catch (err) {
    say(err instanceof ApiError ? err.message : String(err));
    return null;
  }
}

// --- login ---

function loginView() {
  const username = h("input", { id: "username", type: "text", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "panel form form--narrow", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), username),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), password),
    h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = await act(Q.login, { username: username.value, password: password.value });
    if (user) start(user);
  });
  userBox.replaceChildren();
  main.replaceChildren(h("h1", {}, "Log in"),
    h("p", {}, "Operators log in with the account the bot's owner added to the bot."), form);
}

// --- the inbox ---

const inboxList = h("ul", { id: "inbox", class: "inbox", "aria-label": "Conversations" });
const chatPanel = h("section", { id: "conversation", class: "panel", "aria-label": "Conversation" });

function start(user) {
  const logout = h("button", { type: "button", class: "button--quiet" }, "Log out");
  logout.addEventListener("click", async () => {
    await graphql(Q.logout).catch(() => null);
    if (socket) socket.close();
    socket = null;
    loginView();
  });
  userBox.replaceChildren(h("span", {}, `Logged in as ${user.username}`), logout);
  main.replaceChildren(h("h1", {}, "Inbox"),
    h("div", { class: "operator__layout" },
      h("section", { class: "panel", "aria-label": "Inbox" }, inboxList),
      chatPanel));
  showConversation(null);
  connect();
}

function connect() {
  const connection = new WsConnection({}, {
    onClose: () => {
      if (socket !== connection) return;
      socket = null;
      say("Connection lost: reconnecting…");
      setTimeout(connect, RECONNECT_MS);
    },
  });
  socket = connection;
  connection.ready.then(() => {
    say("");
    connection.subscribe("inbox", Q.inbox, {}, {
      next: (result) => {
        if (result.data) renderInbox(result.data.operatorInbox.entries);
        else say(result.errors[0].message);
      },
      error: (errors) => say(errors[0].message),
    });
    if (open) subscribeConversation(open.id);
  }, () => {});
}

function renderInbox(list) {
  entries = list;
  if (!list.length) {
    inboxList.replaceChildren(h("li", { class: "inbox__meta" }, "No conversation is waiting for you."));
  } else {
    inboxList.replaceChildren(...list.map((entry) => {
      const id = entry.conversation.id;
      const since = entry.waitingSince ? new Date(entry.waitingSince).toLocaleTimeString() : "";
      const label = entry.mode === "WAITING" ? "Claim" : "Open";
      const button = h("button", { type: "button", dataset: { conversation: id } }, label);
      button.addEventListener("click", () => (entry.mode === "WAITING" ? claim(id) : showConversation(id)));
      return h("li", { class: "inbox__entry", dataset: { mode: entry.mode, conversation: id } },
        h("strong", {}, entry.botName),
        h("p", { class: "inbox__meta" }, entry.mode === "WAITING" ? `Waiting since ${since}` : "You are answering"),
        entry.lastVisitorMessage ? h("p", {}, `“${entry.lastVisitorMessage}”`) : null,
        button);
    }));
  }
  if (open) {
    const entry = list.find((e) => e.conversation.id === open.id);
    open.assigned = Boolean(entry && entry.assignedToMe);
    renderControls();
  }
}

async function claim(id) {
  if (await act(Q.claim, { conversationId: id })) showConversation(id, true);
}

// --- the open conversation ---

const transcript = h("ol", { id: "transcript", class: "transcript", "aria-live": "polite", "aria-label": "Transcript" });
const modeLine = h("p", { id: "mode", class: "inbox__meta", role: "status" });
const input = h("textarea", { id: "reply", rows: 2, maxlength: 4000, "aria-label": "Your reply" });
const send = h("button", { type: "submit", id: "send" }, "Send");
const handBack = h("button", { type: "button", id: "hand-back", class: "button--quiet" }, "Hand back to the bot");
const composer = h("form", { id: "composer", class: "form", novalidate: true }, input, h("div", {}, send, handBack));

composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || !open) return;
  send.disabled = true;
  const sent = await act(Q.say, { conversationId: open.id, text });
  send.disabled = false;
  if (sent) input.value = "";
  input.focus();
});
handBack.addEventListener("click", async () => {
  if (open && (await act(Q.handBack, { conversationId: open.id }))) renderControls();
});

function showConversation(id, assigned = false) {
  if (open && open.stop) open.stop();
  if (!id) {
    open = null;
    chatPanel.replaceChildren(h("p", {}, "Claim a waiting conversation to answer it."));
    return;
  }
  const entry = entries.find((e) => e.conversation.id === id);
  open = { id, mode: entry ? entry.mode : "WAITING", assigned: assigned || Boolean(entry && entry.assignedToMe), messages: new Map(), stop: null };
  transcript.replaceChildren();
  chatPanel.replaceChildren(h("h2", {}, entry ? entry.botName : "Conversation"), modeLine, transcript, composer);
  renderControls();
  subscribeConversation(id);
  input.focus();
}

function subscribeConversation(id) {
  if (!socket || !open) return;
  open.messages.clear();
  transcript.replaceChildren(); // the subscription replays the whole history
  const unsubscribe = socket.subscribe("conversation", Q.events, { id }, {
    next: (result) => {
      if (result.data && open && open.id === id) onEvent(result.data.conversationEvents);
      else if (result.errors) say(result.errors[0].message);
    },
    error: (errors) => say(errors[0].message),
  });
  open.stop = unsubscribe;
}

function onEvent(event) {
  switch (event.__typename) {
    case "MessageCreated":
    case "MessageCompleted":
    case "MessageFailed":
      upsert(event.message);
      break;
    case "MessageDelta": {
      const held = open.messages.get(event.messageId);
      if (held && event.offset <= held.content.length) {
        held.content = held.content.slice(0, event.offset) + event.text;
        render(held);
      }
      break;
    }
    case "HandoffChanged":
      open.mode = event.mode;
      renderControls();
      break;
    case "ConversationExpired":
    case "ConversationDeleted":
      open.mode = "CLOSED";
      renderControls();
      break;
    default:
      break;
  }
}

function upsert(message) {
  const held = open.messages.get(message.id);
  if (held && held.content.length > message.content.length) return;
  open.messages.set(message.id, { ...message });
  render(open.messages.get(message.id));
}

function render(message) {
  let item = transcript.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
  if (!item) {
    item = h("li", { class: "transcript__message", dataset: { messageId: message.id, role: message.role } });
    transcript.append(item);
  }
  const who = message.role === "OPERATOR" ? message.authorName || "Operator" : ROLE_NAMES[message.role];
  item.replaceChildren(who ? h("span", { class: "transcript__who" }, who) : "", message.content);
  transcript.scrollTop = transcript.scrollHeight;
}

function renderControls() {
  if (!open) return;
  const answering = open.mode === "HUMAN" && open.assigned;
  const text = {
    WAITING: "Waiting for an operator.",
    HUMAN: open.assigned ? "You are answering this visitor." : "Another operator is answering.",
    BOT: "The bot is answering.",
    CLOSED: "This conversation has ended.",
  };
  modeLine.textContent = text[open.mode] || "";
  modeLine.dataset.mode = open.mode;
  input.disabled = !answering;
  send.disabled = !answering;
  handBack.hidden = !answering;
}

// --- start ---

graphql(Q.me).then((data) => (data.me ? start(data.me) : loginView()), () => loginView());
