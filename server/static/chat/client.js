/* Botstream visitor client, shared by the demo chat page and the widget (no library).
 *
 * HTTP (fetch, no cookies, so no CSRF): the visitor mutations, with the X-Chat-Token
 * header. Websocket: `graphql-transport-ws` spoken by hand (TransportWsClient),
 * `connection_init` payload {chatToken}, one `conversationEvents` subscription.
 *
 * Streaming contract (docs/CLIENTS.md): a message is rebuilt from
 * MessageCreated.message.content, then each MessageDelta's text at its offset;
 * MessageCompleted/MessageFailed carry the final message. Offsets count characters as
 * the server does (Unicode code points, not UTF-16 units). After any disconnect the
 * client reconnects with backoff and resubscribes with resumeFrom = the last message it
 * holds and how many characters of it it has, so no text is lost or repeated. A
 * regenerated reply arrives as MessageCreated with `replacesId`: it takes the place of
 * the message it supersedes.
 *
 * Human handoff: requestHandoff asks for an operator; HandoffChanged (replayed like any
 * event) says who answers now (BOT, WAITING, HUMAN with the operator's display name);
 * OPERATOR messages carry `authorName`, handoff notices are SYSTEM messages.
 *
 * The conversation (id + chat token) is kept in the storage the caller gives
 * (sessionStorage for the demo page, localStorage for the widget): a reload subscribes
 * without resumeFrom and the server replays the conversation (latest versions only).
 *
 * `features` (from the server: server/chat_page.py client_features) says which parts of
 * the API this server has, so the documents ask only for fields that exist.
 *
 * A classic script: it declares one global, BotstreamClient (the widget wraps it in a
 * function, so a host page sees nothing).
 */
const BotstreamClient = (function () {
  "use strict";

  const ACTIVE = new Set(["PENDING", "STREAMING"]);
  const RANK = { PENDING: 0, STREAMING: 1 }; // any other status is terminal: rank 2
  // Codes meaning the stored conversation cannot be used any more.
  const GONE = new Set(["NOT_FOUND", "UNAUTHENTICATED", "FORBIDDEN"]);
  const EXPIRED = "CONVERSATION_EXPIRED";
  // StartConversationInput fields that are not start inputs (their errors are not a form).
  const START_FIELDS = new Set(["botId", "scenarioId", "userSession"]);

  function documents(features) {
    const has = (name) => features.includes(name);
    const message = [
      "id role content status error errorCode",
      has("feedback") ? "feedback { rating comment }" : "",
      has("suggestions") ? "suggestions" : "",
      has("regenerate") ? "version replacesId" : "",
      has("citations") ? "citations { number title url heading snippet }" : "",
      has("handoff") ? "authorName handoffMode" : "",
    ].join(" ");
    const startVariables = has("startInputs") ? ", $variables: JSON" : "";
    return {
      START: `mutation StartConversation($input: StartConversationInput!) {
  startConversation(input: $input) { chatToken conversation { id } }
}`,
      SEND: `mutation SendMessage($input: SendMessageInput!) {
  sendMessage(input: $input) { userMessage { ${message} } reply { ${message} } }
}`,
      STOP: `mutation StopGeneration($input: StopGenerationInput!) {
  stopGeneration(input: $input) {
    __typename
    ... on Message { ${message} }
    ... on OperationInfo { messages { message code } }
  }
}`,
      RATE: `mutation RateMessage($input: RateMessageInput!) {
  rateMessage(input: $input) { message { ${message} } }
}`,
      REGENERATE: `mutation RegenerateReply($input: RegenerateReplyInput!) {
  regenerateReply(input: $input) { reply { ${message} } }
}`,
      HANDOFF: `mutation RequestHandoff($input: HandoffInput!) {
  requestHandoff(input: $input) {
    __typename
    ... on Conversation { id mode }
    ... on OperationInfo { messages { message code } }
  }
}`,
      PROFILE: `query BotProfile($id: ID!) { botProfile(id: $id) { handoffEnabled } }`,
      RESET: `mutation ResetConversation($input: ResetConversationInput!) {
  resetConversation(input: $input) { chatToken conversation { id } }
}`,
      EVENTS: `subscription ConversationEvents($id: ID!, $resume: ResumeFromInput) {
  conversationEvents(conversationId: $id, resumeFrom: $resume) {
    __typename
    ... on MessageCreated { message { ${message} } }
    ... on MessageDelta { messageId offset text }
    ... on MessageCompleted { message { ${message} } }
    ... on MessageFailed { message { ${message} } code error }
    ... on ConversationDeleted { conversationId }
    ${has("suggestions") ? "... on SuggestionsReady { messageId suggestions }" : ""}
    ${has("expiry") ? "... on ConversationExpired { conversation { id } }" : ""}
    ${has("handoff") ? "... on HandoffChanged { mode operatorName }" : ""}
  }
}`,
      startVariables,
    };
  }

  // --- text measured in code points, like the server's offsets ---

  function codePoints(text) {
    return Array.from(text).length;
  }

  function fromCodePoint(text, start) {
    return start <= 0 ? text : Array.from(text).slice(start).join("");
  }

  // --- GraphQL over HTTP ---

  class ApiError extends Error {
    constructor(message, code, fieldErrors) {
      super(message);
      this.code = code;
      this.fieldErrors = fieldErrors || [];
    }
  }

  async function graphql(url, query, variables, chatToken) {
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (chatToken) headers["X-Chat-Token"] = chatToken;
    let response;
    try {
      response = await fetch(url, {
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
      const extensions = first.extensions || {};
      throw new ApiError(first.message, extensions.code || "ERROR", extensions.errors);
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
    constructor(onChange, onRemove) {
      this.onChange = onChange;
      this.onRemove = onRemove;
      this.clear();
    }

    clear() {
      this.messages = new Map();
      this.order = [];
    }

    list() {
      return this.order.map((id) => this.messages.get(id));
    }

    active() {
      return this.list().find((m) => ACTIVE.has(m.status));
    }

    last() {
      return this.messages.get(this.order[this.order.length - 1]);
    }

    /** Where to resume: the last message held and how many characters of it we have. */
    resumePoint() {
      const last = this.last();
      return last ? { messageId: last.id, offset: last.length } : null;
    }

    /** A message as the server sent it: new, or a newer state of one we hold. */
    upsert(data, final) {
      let message = this.messages.get(data.id);
      if (!message) {
        message = { id: data.id, role: data.role, content: "", length: 0, status: data.status };
        this.messages.set(data.id, message);
        this.place(message.id, data.replacesId);
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
      for (const key of ["feedback", "version", "replacesId", "authorName", "handoffMode"]) {
        if (key in data) message[key] = data[key];
      }
      if (data.suggestions && data.suggestions.length) message.suggestions = data.suggestions;
      if (data.citations && data.citations.length) message.citations = data.citations;
      this.onChange(message);
    }

    /** A new message goes last, or in the place of the version it supersedes. */
    place(id, replacesId) {
      const at = replacesId ? this.order.indexOf(replacesId) : -1;
      if (at < 0) {
        this.order.push(id);
        return;
      }
      this.order[at] = id;
      this.messages.delete(replacesId);
      this.onRemove(replacesId, id);
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

    suggest(id, suggestions) {
      const message = this.messages.get(id);
      if (!message) return;
      message.suggestions = suggestions;
      this.onChange(message);
    }
  }

  // --- one visitor's conversation with one bot ---

  /** The start inputs a refused startConversation asks for ([] if it failed otherwise). */
  function startInputErrors(err) {
    return err.fieldErrors
      .filter((e) => e.field && !START_FIELDS.has(e.field))
      .map((e) => ({ name: e.field.replace(/^variables\.?/, ""), message: e.message, code: e.code }))
      .filter((e) => e.name);
  }

  class StartInputsNeeded extends Error {
    constructor(inputs, message) {
      super(message);
      this.inputs = inputs;
    }
  }

  /**
   * The conversation, its socket and its transcript. `view` receives: message(m),
   * removed(oldId, newId), state(name, delayMs), error(text), expired(), cleared().
   */
  class ChatSession {
    constructor({ httpUrl, botId, storage, storageKey, features, userSession, variables, view }) {
      Object.assign(this, { httpUrl, botId, storage, storageKey, features, userSession, view });
      this.wsUrl = httpUrl.replace(/^http/, "ws"); // http: -> ws:, https: -> wss:
      this.variables = variables || null;
      this.docs = documents(features);
      this.client = null;
      this.unsubscribe = null;
      this.subscriptionSeq = 0;
      this.expired = false;
      this.mode = "BOT"; // who answers: BOT, WAITING (for an operator) or HUMAN
      this.transcript = new Transcript(
        (m) => view.message(m),
        (oldId, newId) => view.removed(oldId, newId),
      );
      this.conversation = this.load();
    }

    has(feature) {
      return this.features.includes(feature);
    }

    load() {
      try {
        const saved = JSON.parse(this.storage.getItem(this.storageKey) || "null");
        return saved && saved.id && saved.chatToken ? saved : null;
      } catch (err) {
        return null;
      }
    }

    save(started) {
      this.conversation = { id: started.conversation.id, chatToken: started.chatToken };
      this.storage.setItem(this.storageKey, JSON.stringify(this.conversation));
    }

    request(query, variables) {
      const token = this.conversation && this.conversation.chatToken;
      return graphql(this.httpUrl, query, variables, token).catch((err) => {
        if (err.code === EXPIRED) this.markExpired();
        else if (GONE.has(err.code) && this.conversation) this.forget();
        throw err;
      });
    }

    resume() {
      if (this.conversation) this.connect();
    }

    /** Drop the conversation here (the server keeps it); the next message starts anew. */
    forget() {
      if (this.client) this.client.stop();
      this.client = null;
      this.unsubscribe = null;
      this.conversation = null;
      this.expired = false;
      this.storage.removeItem(this.storageKey);
    }

    clear() {
      this.forget();
      this.mode = "BOT";
      this.transcript.clear();
      this.view.cleared();
    }

    markExpired() {
      if (this.expired) return;
      this.expired = true;
      this.view.expired();
    }

    /** (Re)subscribe from what the transcript holds: no gap, no duplicate. */
    subscribe() {
      if (this.unsubscribe) this.unsubscribe();
      this.subscriptionSeq += 1;
      const id = "events-" + this.subscriptionSeq;
      const variables = { id: this.conversation.id, resume: this.transcript.resumePoint() };
      const failed = (errors) => {
        const first = (errors && errors[0]) || {};
        const code = first.extensions && first.extensions.code;
        if (code === EXPIRED) {
          this.markExpired();
        } else if (GONE.has(code)) {
          this.forget();
          this.view.error("This conversation is no longer available: your next message starts a new one.");
        } else {
          this.view.error(first.message || "The event stream failed.");
        }
      };
      this.unsubscribe = this.client.subscribe(id, this.docs.EVENTS, variables, {
        next: (payload) => {
          if (payload.data && payload.data.conversationEvents) this.onEvent(payload.data.conversationEvents);
          else if (payload.errors) failed(payload.errors);
        },
        error: failed,
        complete() {},
      });
    }

    onEvent(event) {
      const transcript = this.transcript;
      switch (event.__typename) {
        case "MessageCreated":
          transcript.upsert(event.message, false);
          break;
        case "MessageDelta":
          if (!transcript.delta(event.messageId, event.offset, event.text)) this.subscribe();
          break;
        case "MessageCompleted":
        case "MessageFailed": {
          const held = transcript.messages.get(event.message.id);
          const wasActive = !held || ACTIVE.has(held.status);
          transcript.upsert(event.message, true);
          if (wasActive && event.message.role === "ASSISTANT") this.view.ended(event);
          break;
        }
        case "SuggestionsReady":
          transcript.suggest(event.messageId, event.suggestions);
          break;
        case "ConversationExpired":
          this.markExpired();
          break;
        case "HandoffChanged":
          this.mode = event.mode;
          this.view.handoff(event.mode, event.operatorName);
          break;
        case "ConversationDeleted": // the last event: the server ends the stream after it
          this.clear();
          this.view.error("This conversation was deleted: your next message starts a new one.");
          break;
        default:
          break;
      }
    }

    connect() {
      if (this.client) return;
      const client = new TransportWsClient({
        url: this.wsUrl,
        connectionParams: () => ({ chatToken: this.conversation.chatToken }),
        onReady: () => this.subscribe(),
        onState: (state, delay) => this.view.state(state, delay),
        onFatal: (reason) => {
          this.view.state("offline");
          if (/expired/i.test(reason)) {
            this.client = null;
            this.markExpired();
            return;
          }
          this.forget();
          this.view.error(`The server refused the connection: ${reason}`);
        },
      });
      this.client = client;
      client.start();
    }

    /** Start a conversation; StartInputsNeeded when the bot needs start inputs first. */
    async start(variables) {
      const input = { botId: this.botId, userSession: this.userSession };
      const values = { ...(this.variables || {}), ...(variables || {}) };
      if (this.has("startInputs") && Object.keys(values).length) input.variables = values;
      let data;
      try {
        data = await graphql(this.httpUrl, this.docs.START, { input });
      } catch (err) {
        const inputs = this.has("startInputs") ? startInputErrors(err) : [];
        if (inputs.length) throw new StartInputsNeeded(inputs, err.message);
        throw err;
      }
      this.variables = values;
      this.save(data.startConversation);
      this.connect();
    }

    async send(text) {
      if (!this.conversation) await this.start();
      const input = { conversationId: this.conversation.id, text };
      const data = await this.request(this.docs.SEND, { input });
      // The events bring the same messages; whichever comes first shows them.
      this.transcript.upsert(data.sendMessage.userMessage, false);
      if (data.sendMessage.reply) this.transcript.upsert(data.sendMessage.reply, false);
    }

    /** Whether this bot hands conversations over to humans (its public profile says). */
    async handoffEnabled() {
      if (!this.has("handoff")) return false;
      const data = await graphql(this.httpUrl, this.docs.PROFILE, { id: this.botId });
      return Boolean(data.botProfile && data.botProfile.handoffEnabled);
    }

    /** Ask for a human operator (starting the conversation first if needed). */
    async requestHandoff() {
      if (!this.conversation) await this.start();
      const input = { conversationId: this.conversation.id };
      const result = (await this.request(this.docs.HANDOFF, { input })).requestHandoff;
      if (result.__typename !== "Conversation") {
        throw new ApiError(result.messages.map((m) => m.message).join(" "), result.messages[0].code);
      }
      this.mode = result.mode;
    }

    async stop() {
      const active = this.transcript.active();
      if (!active) return null;
      const data = await this.request(this.docs.STOP, { input: { messageId: active.id } });
      const result = data.stopGeneration;
      if (result.__typename !== "Message") {
        throw new ApiError(result.messages.map((m) => m.message).join(" "), "STOP_FAILED");
      }
      this.transcript.upsert(result, true);
      return result;
    }

    /** Rate a reply; rating null revokes. */
    async rate(messageId, rating, comment) {
      const input = { messageId, rating };
      if (comment !== undefined) input.comment = comment;
      const data = await this.request(this.docs.RATE, { input });
      this.transcript.upsert(data.rateMessage.message, true);
    }

    async regenerate(messageId) {
      const data = await this.request(this.docs.REGENERATE, { input: { messageId } });
      this.transcript.upsert(data.regenerateReply.reply, false);
    }

    /** A fresh conversation with the same bot after expiry: resetConversation, or a new start. */
    async reset() {
      const old = this.conversation;
      let started = null;
      if (old && this.has("expiry")) {
        try {
          const input = { conversationId: old.id };
          started = (await graphql(this.httpUrl, this.docs.RESET, { input }, old.chatToken)).resetConversation;
        } catch (err) {
          started = null; // the old token is gone altogether: start afresh below
        }
      }
      this.clear();
      if (started) {
        this.save(started);
        this.connect();
      } else {
        await this.start();
      }
    }

    /** For the browser tests: simulate a network drop, look at the state. */
    testHooks() {
      return {
        dropSocket: () => this.client && this.client.drop(),
        connections: () => (this.client ? this.client.connections : 0),
        conversation: () => this.conversation && { ...this.conversation },
        messages: () => this.transcript.list().map((m) => ({ ...m })),
        mode: () => this.mode,
      };
    }
  }

  return { ChatSession, StartInputsNeeded, ApiError, ACTIVE, EXPIRED };
})();
