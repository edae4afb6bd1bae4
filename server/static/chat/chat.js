/* Botstream demo chat: a visitor client of the public GraphQL API, with no library.
 *
 * HTTP (fetch, no cookies, so no CSRF): startConversation, sendMessage, stopGeneration,
 * the latter two with the X-Chat-Token header. Websocket: `graphql-transport-ws` spoken
 * by hand (TransportWsClient), `connection_init` payload {chatToken}, one
 * `conversationEvents` subscription.
 *
 * Streaming contract (README "Streaming contract"): a message is rebuilt from
 * MessageCreated.message.content, then each MessageDelta's text at its offset;
 * MessageCompleted/MessageFailed carry the final message. Offsets count characters as
 * the server does (Unicode code points, not UTF-16 units). After any disconnect the
 * client reconnects with backoff and resubscribes with resumeFrom = the last message it
 * holds and how many characters of it it has, so no text is lost or repeated.
 *
 * The conversation (id + chat token) is kept for the tab in sessionStorage: a reload
 * subscribes without resumeFrom and the server replays the whole conversation.
 */
(function () {
  "use strict";

  const root = document.getElementById("chat");
  if (!root) return;

  const BOT_ID = root.dataset.botId;
  const HTTP_URL = new URL(root.dataset.graphqlUrl, window.location.href).toString();
  const WS_URL = HTTP_URL.replace(/^http/, "ws"); // http: -> ws:, https: -> wss:
  const STORAGE_KEY = "botstream.chat." + BOT_ID;
  const ACTIVE = new Set(["PENDING", "STREAMING"]);
  const RANK = { PENDING: 0, STREAMING: 1 }; // any other status is terminal: rank 2
  // Codes meaning the stored conversation cannot be used any more.
  const GONE = new Set(["NOT_FOUND", "UNAUTHENTICATED", "FORBIDDEN"]);

  const MESSAGE = "id role content status error errorCode";
  const START = `mutation StartConversation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}`;
  const SEND = `mutation SendMessage($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { ${MESSAGE} } reply { ${MESSAGE} } }
}`;
  const STOP = `mutation StopGeneration($input: StopGenerationInput!) {
  stopGeneration(input: $input) {
    __typename
    ... on Message { ${MESSAGE} }
    ... on OperationInfo { messages { message code } }
  }
}`;
  const EVENTS = `subscription ConversationEvents($id: ID!, $resume: ResumeFromInput) {
  conversationEvents(conversationId: $id, resumeFrom: $resume) {
    __typename
    ... on MessageCreated { message { ${MESSAGE} } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { ${MESSAGE} } }
    ... on MessageFailed { message { ${MESSAGE} } code error }
    ... on ConversationDeleted { conversationId }
  }
}`;

  // --- text measured in code points, like the server's offsets ---

  function codePoints(text) {
    return Array.from(text).length;
  }

  function fromCodePoint(text, start) {
    return start <= 0 ? text : Array.from(text).slice(start).join("");
  }

  // --- GraphQL over HTTP ---

  class ApiError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  async function graphql(query, variables, chatToken) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (chatToken) headers["X-Chat-Token"] = chatToken;
    let response;
    try {
      response = await fetch(HTTP_URL, {
        method: "POST",
        headers,
        credentials: "omit", // a visitor: no session cookie, so no CSRF token needed
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new ApiError("The server cannot be reached. Check your connection.", "NETWORK");
    }
    const body = await response.json().catch(() => null);
    if (body && body.errors && body.errors.length) {
      const first = body.errors[0];
      throw new ApiError(first.message, (first.extensions && first.extensions.code) || "ERROR");
    }
    if (!response.ok || !body || !body.data) {
      throw new ApiError(`The server answered ${response.status}.`, "HTTP_" + response.status);
    }
    return body.data;
  }

  // --- graphql-transport-ws, by hand ---

  // Close codes after which retrying cannot help (protocol or authentication errors).
  const FATAL_CLOSE = new Set([4400, 4401, 4403, 4406]);
  const ACK_TIMEOUT_MS = 10000;
  const PING_EVERY_MS = 15000;
  const PONG_TIMEOUT_MS = 10000;
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
  const MAX_BACKOFF_MS = 10000;

  class TransportWsClient {
    constructor({ url, connectionParams, onReady, onState, onFatal }) {
      Object.assign(this, { url, connectionParams, onReady, onState, onFatal });
      this.socket = null;
      this.sinks = new Map();
      this.attempt = 0;
      this.connections = 0;
      this.stopped = true;
      this.timers = {};
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    stop() {
      this.stopped = true;
      this.clearTimers();
      this.sinks.clear();
      if (this.socket) this.socket.close(1000, "Normal closure");
      this.socket = null;
    }

    /** Reconnect now if waiting for the next attempt (the browser came back online…). */
    retryNow() {
      if (!this.stopped && !this.socket) {
        this.clearTimers();
        this.connect();
      }
    }

    connect() {
      this.onState("connecting");
      const socket = new WebSocket(this.url, "graphql-transport-ws");
      this.socket = socket;
      socket.onopen = () => {
        this.send({ type: "connection_init", payload: this.connectionParams() });
        this.timers.ack = setTimeout(() => socket.close(4408, "No connection_ack"), ACK_TIMEOUT_MS);
      };
      socket.onmessage = (event) => this.receive(socket, event.data);
      socket.onclose = (event) => this.closed(socket, event);
    }

    send(message) {
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify(message));
      }
    }

    subscribe(id, query, variables, sink) {
      this.sinks.set(id, sink);
      this.send({ id, type: "subscribe", payload: { query, variables } });
      return () => {
        if (this.sinks.delete(id)) this.send({ id, type: "complete" });
      };
    }

    receive(socket, data) {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(data);
      } catch (err) {
        socket.close(4400, "Invalid message");
        return;
      }
      const sink = this.sinks.get(message.id);
      switch (message.type) {
        case "connection_ack":
          clearTimeout(this.timers.ack);
          this.attempt = 0;
          this.connections += 1;
          this.keepAlive(socket);
          this.onState("connected");
          this.onReady();
          break;
        case "ping":
          this.send({ type: "pong" });
          break;
        case "pong":
          clearTimeout(this.timers.pong);
          break;
        case "next":
          if (sink) sink.next(message.payload);
          break;
        case "error":
          this.sinks.delete(message.id);
          if (sink) sink.error(message.payload);
          break;
        case "complete":
          this.sinks.delete(message.id);
          if (sink) sink.complete();
          break;
        default:
          break;
      }
    }

    keepAlive(socket) {
      // A ping the server must answer: detects sockets that died silently (network change).
      clearInterval(this.timers.ping);
      this.timers.ping = setInterval(() => {
        this.send({ type: "ping" });
        clearTimeout(this.timers.pong);
        this.timers.pong = setTimeout(() => socket.close(4000, "No pong"), PONG_TIMEOUT_MS);
      }, PING_EVERY_MS);
    }

    clearTimers() {
      clearTimeout(this.timers.ack);
      clearTimeout(this.timers.pong);
      clearTimeout(this.timers.retry);
      clearInterval(this.timers.ping);
    }

    closed(socket, event) {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearTimers();
      this.sinks.clear(); // subscriptions end with their socket; onReady subscribes again
      if (this.stopped) return;
      if (FATAL_CLOSE.has(event.code)) {
        this.stopped = true;
        this.onFatal(event.reason || `The server closed the connection (${event.code}).`);
        return;
      }
      const base = this.attempt < BACKOFF_MS.length ? BACKOFF_MS[this.attempt] : MAX_BACKOFF_MS;
      const delay = Math.round(base * (0.75 + Math.random() / 2)); // jitter: no thundering herd
      this.attempt += 1;
      this.onState("reconnecting", delay);
      this.timers.retry = setTimeout(() => this.connect(), delay);
    }

    /** Test hook: drop the socket as a network failure would (the client then resumes). */
    drop() {
      if (this.socket) this.socket.close(4000, "Dropped");
    }
  }

  // --- the transcript: messages rebuilt from events ---

  class Transcript {
    constructor(onChange) {
      this.onChange = onChange;
      this.clear();
    }

    clear() {
      this.messages = new Map();
      this.order = [];
    }

    active() {
      return this.order.map((id) => this.messages.get(id)).find((m) => ACTIVE.has(m.status));
    }

    /** Where to resume: the last message held and how many characters of it we have. */
    resumePoint() {
      const last = this.messages.get(this.order[this.order.length - 1]);
      return last ? { messageId: last.id, offset: last.length } : null;
    }

    /** A message as the server sent it: new, or a newer state of one we hold. */
    upsert(data, final) {
      let message = this.messages.get(data.id);
      if (!message) {
        message = { id: data.id, role: data.role, content: "", length: 0, status: data.status };
        this.messages.set(data.id, message);
        this.order.push(data.id);
      }
      const length = codePoints(data.content);
      if (final || length > message.length) {
        message.content = data.content;
        message.length = length;
      }
      if (final || (RANK[data.status] ?? 2) >= (RANK[message.status] ?? 2)) {
        message.status = data.status;
        message.error = data.error;
      }
      this.onChange(message);
    }

    /** Apply a delta at its offset; false on a gap (text missing before it). */
    delta(id, offset, text) {
      const message = this.messages.get(id);
      if (!message || offset > message.length) return false;
      const end = offset + codePoints(text);
      if (!ACTIVE.has(message.status) || end <= message.length) return true; // already held
      message.content += fromCodePoint(text, message.length - offset);
      message.length = end;
      message.status = "STREAMING";
      this.onChange(message);
      return true;
    }
  }

  // --- the page ---

  const ui = {
    status: document.getElementById("status"),
    log: document.getElementById("log"),
    error: document.getElementById("error"),
    form: document.getElementById("composer"),
    input: document.getElementById("message"),
    send: document.getElementById("send"),
    stop: document.getElementById("stop"),
    reset: document.getElementById("reset"),
  };

  const STATUS_TEXT = {
    PENDING: "Thinking…",
    STREAMING: "Typing…",
    STOPPED: "Stopped",
    FAILED: "Failed",
    INTERRUPTED: "Interrupted",
  };

  let conversation = loadConversation();
  let client = null;
  let unsubscribe = null;
  let subscriptionSeq = 0;
  let sending = false;
  const transcript = new Transcript(render);

  function loadConversation() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      return saved && saved.id && saved.chatToken ? saved : null;
    } catch (err) {
      return null;
    }
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function showError(text) {
    ui.error.textContent = text || "";
    ui.error.hidden = !text;
  }

  function render(message) {
    const log = ui.log;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
    let item = ui.log.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
    if (!item) {
      item = document.createElement("li");
      item.className = "msg msg--" + message.role.toLowerCase();
      item.dataset.messageId = message.id;
      item.dataset.role = message.role;
      const who = document.createElement("span");
      who.className = "visually-hidden";
      who.textContent = message.role === "USER" ? "You: " : "Bot: ";
      const text = document.createElement("p");
      text.className = "msg__text";
      const note = document.createElement("p");
      note.className = "msg__status";
      item.append(who, text, note);
      ui.log.append(item);
    }
    item.dataset.status = message.status;
    item.querySelector(".msg__text").textContent = message.content;
    const note = STATUS_TEXT[message.status] || "";
    const detail = message.status === "FAILED" && message.error ? `: ${message.error}` : "";
    item.querySelector(".msg__status").textContent = note + detail;
    if (atBottom) log.scrollTop = log.scrollHeight; // follow the reply unless reading back
    updateControls();
  }

  function updateControls() {
    const active = transcript.active();
    // Screen readers announce the reply once, when it is complete, not word by word.
    ui.log.setAttribute("aria-busy", active ? "true" : "false");
    ui.stop.disabled = !active;
    ui.send.disabled = sending || Boolean(active);
  }

  function onEvent(event) {
    switch (event.__typename) {
      case "MessageCreated":
        transcript.upsert(event.message, false);
        break;
      case "MessageDelta":
        if (!transcript.delta(event.messageId, event.offset, event.text)) subscribe();
        break;
      case "MessageCompleted":
      case "MessageFailed": {
        const held = transcript.messages.get(event.message.id);
        const wasActive = !held || ACTIVE.has(held.status);
        transcript.upsert(event.message, true);
        if (wasActive && event.message.role === "ASSISTANT") announceEnd(event);
        break;
      }
      case "ConversationDeleted": // the last event: the server ends the stream after it
        reset();
        showError("This conversation was deleted: your next message starts a new one.");
        break;
      default:
        break;
    }
  }

  function announceEnd(event) {
    const status = event.message.status;
    if (status === "COMPLETE") setStatus("connected", "Reply received.");
    else if (status === "STOPPED") setStatus("connected", "Reply stopped.");
    else setStatus("connected", `Reply ${status.toLowerCase()}: ${event.error || "no detail"}.`);
  }

  function forget(reason) {
    if (client) client.stop();
    client = null;
    unsubscribe = null;
    conversation = null;
    sessionStorage.removeItem(STORAGE_KEY);
    if (reason) showError(reason);
    updateControls();
  }

  /** (Re)subscribe from what the transcript holds: no gap, no duplicate. */
  function subscribe() {
    if (unsubscribe) unsubscribe();
    subscriptionSeq += 1;
    const id = "events-" + subscriptionSeq;
    const variables = { id: conversation.id, resume: transcript.resumePoint() };
    const failed = (errors) => {
      const first = (errors && errors[0]) || {};
      const code = first.extensions && first.extensions.code;
      if (GONE.has(code)) {
        forget("This conversation is no longer available: your next message starts a new one.");
      } else {
        showError(first.message || "The event stream failed.");
      }
    };
    unsubscribe = client.subscribe(id, EVENTS, variables, {
      next(payload) {
        if (payload.data && payload.data.conversationEvents) onEvent(payload.data.conversationEvents);
        else if (payload.errors) failed(payload.errors);
      },
      error: failed,
      complete() {},
    });
  }

  function connect() {
    if (client) return;
    client = new TransportWsClient({
      url: WS_URL,
      connectionParams: () => ({ chatToken: conversation.chatToken }),
      onReady: subscribe,
      onState(state, delay) {
        if (state === "connecting") setStatus(state, "Connecting…");
        else if (state === "connected") setStatus(state, "Connected: replies stream live.");
        else setStatus(state, `Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
      },
      onFatal(reason) {
        setStatus("offline", "Disconnected.");
        forget(`The server refused the connection: ${reason}`);
      },
    });
    client.start();
  }

  async function startConversation() {
    const data = await graphql(START, { input: { botId: BOT_ID, userSession: "demo-chat" } });
    const started = data.startConversation;
    conversation = { id: started.conversation.id, chatToken: started.chatToken };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(conversation));
    connect();
  }

  async function send(text) {
    sending = true;
    updateControls();
    showError("");
    try {
      if (!conversation) await startConversation();
      const input = { conversationId: conversation.id, text };
      const data = await graphql(SEND, { input }, conversation.chatToken);
      ui.input.value = "";
      // The events bring the same messages; whichever comes first shows them.
      transcript.upsert(data.sendMessage.userMessage, false);
      if (data.sendMessage.reply) transcript.upsert(data.sendMessage.reply, false);
    } catch (err) {
      if (GONE.has(err.code)) forget();
      showError(err.message);
    } finally {
      sending = false;
      updateControls();
      ui.input.focus();
    }
  }

  async function stop() {
    const active = transcript.active();
    if (!active) return;
    ui.stop.disabled = true;
    try {
      const data = await graphql(STOP, { input: { messageId: active.id } }, conversation.chatToken);
      const result = data.stopGeneration;
      if (result.__typename === "Message") {
        transcript.upsert(result, true);
        setStatus(ui.status.dataset.state, "Reply stopped.");
      } else {
        showError(result.messages.map((m) => m.message).join(" "));
      }
    } catch (err) {
      showError(err.message);
    } finally {
      updateControls();
      ui.input.focus();
    }
  }

  function reset() {
    forget();
    transcript.clear();
    ui.log.replaceChildren();
    showError("");
    setStatus("idle", "New conversation: say hello to start.");
    updateControls();
    ui.input.focus();
  }

  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.input.value.trim();
    if (!text) {
      showError("Type a message first.");
      ui.input.focus();
      return;
    }
    if (!ui.send.disabled) send(text);
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.form.requestSubmit();
    }
  });
  ui.stop.addEventListener("click", stop);
  ui.reset.addEventListener("click", reset);
  window.addEventListener("online", () => client && client.retryNow());

  // For the browser tests (tests/browser): simulate a network drop, look at the state.
  window.__botstream = {
    dropSocket: () => client && client.drop(),
    connections: () => (client ? client.connections : 0),
    conversation: () => conversation && { ...conversation },
    messages: () => transcript.order.map((id) => ({ ...transcript.messages.get(id) })),
  };

  if (conversation) connect(); // a reload: the subscription replays the conversation
  updateControls();
  ui.input.focus();
})();
