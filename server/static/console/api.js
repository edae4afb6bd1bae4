/* The console's API client: GraphQL over HTTP with the owner's session, and
 * graphql-transport-ws for the test chat. Nothing else: the console is a client of the
 * public API like any other (README "GraphQL API").
 *
 * HTTP: same-origin fetch with the session cookie; every POST carries X-CSRFToken from
 * the csrftoken cookie (the API enforces CSRF for cookie-authenticated mutations; the
 * console page sets the cookie, and login rotates it, so it is read per request).
 */

export class ApiError extends Error {
  constructor(message, code, fields) {
    super(message);
    this.code = code;
    this.fields = fields || [];
  }
}

function cookie(name) {
  const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export function endpoint() {
  const root = document.querySelector("[data-graphql-url]"); // the console or the operator page
  return new URL(root.dataset.graphqlUrl, window.location.href).toString();
}

/** Run one operation; resolve with `data`, reject with ApiError (its `code` from
 * extensions.code, `fields` from extensions.errors). */
export async function graphql(query, variables = {}, { chatToken } = {}) {
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json",
    "X-CSRFToken": cookie("csrftoken"),
  };
  if (chatToken) headers["X-Chat-Token"] = chatToken;
  let response;
  try {
    response = await fetch(endpoint(), {
      method: "POST",
      headers,
      credentials: "same-origin",
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new ApiError("The server cannot be reached. Check your connection.", "NETWORK");
  }
  const body = await response.json().catch(() => null);
  if (body && body.errors && body.errors.length) {
    const first = body.errors[0];
    const ext = first.extensions || {};
    throw new ApiError(first.message, ext.code || "ERROR", ext.errors);
  }
  if (!response.ok || !body || !body.data) {
    throw new ApiError(`The server answered ${response.status}.`, "HTTP_" + response.status);
  }
  return body.data;
}

/** A create/update/delete payload: the object, or ApiError with the OperationInfo's
 * field messages (each {field, message, code}). */
export function payload(result) {
  if (result && result.__typename === "OperationInfo") {
    const messages = result.messages || [];
    const text = messages.map((m) => m.message).join(" ") || "The change was refused.";
    throw new ApiError(text, (messages[0] && messages[0].code) || "INVALID", messages);
  }
  return result;
}

/** A minimal graphql-transport-ws connection for one chat: connection_init with the
 * chat token, subscribe, next/error/complete, ping/pong. The test chat reconnects by
 * opening a new one with resumeFrom (see chat.js). */
export class WsConnection {
  constructor(connectionParams, { onClose } = {}) {
    this.sinks = new Map();
    this.onClose = onClose || (() => {});
    this.ready = new Promise((resolve, reject) => {
      const url = endpoint().replace(/^http/, "ws");
      const socket = new WebSocket(url, "graphql-transport-ws");
      this.socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ type: "connection_init", payload: connectionParams }));
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        const sink = this.sinks.get(message.id);
        if (message.type === "connection_ack") resolve(this);
        else if (message.type === "ping") socket.send(JSON.stringify({ type: "pong" }));
        else if (message.type === "next" && sink) sink.next(message.payload);
        else if (message.type === "error" && sink) {
          this.sinks.delete(message.id);
          sink.error(message.payload);
        } else if (message.type === "complete" && sink) {
          this.sinks.delete(message.id);
          if (sink.complete) sink.complete();
        }
      };
      socket.onclose = (event) => {
        reject(new ApiError(event.reason || `The socket closed (${event.code}).`, "SOCKET"));
        this.sinks.clear();
        this.onClose(event);
      };
    });
  }

  subscribe(id, query, variables, sink) {
    this.sinks.set(id, sink);
    this.socket.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
    return () => {
      if (this.sinks.delete(id) && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ id, type: "complete" }));
      }
    };
  }

  close() {
    this.onClose = () => {};
    if (this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000, "Normal closure");
  }
}
