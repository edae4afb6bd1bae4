/* Botstream chat view, shared by the demo chat page and the widget: builds the chat's
 * markup in a container (a page element or the widget's shadow root) and drives a
 * BotstreamClient.ChatSession from it.
 *
 * Accessibility: the log is role=log with aria-live=polite and aria-busy while a reply
 * streams, so screen readers read a reply once, complete, not word by word; the status
 * line is role=status, errors and expiry role=alert; every control has a visible label
 * or an aria-label, toggles carry aria-pressed, and focus goes back to the composer (or
 * to the control that replaces the one that vanished).
 *
 * A classic script declaring one global, BotstreamChatView (wrapped in a function by the
 * widget). It needs BotstreamClient.
 */
const BotstreamChatView = (function () {
  "use strict";

  const { ChatSession, StartInputsNeeded, ACTIVE } = BotstreamClient;
  const STATUS_TEXT = {
    PENDING: "Thinking…",
    STREAMING: "Typing…",
    STOPPED: "Stopped",
    FAILED: "Failed",
    INTERRUPTED: "Interrupted",
  };
  const RATED = new Set(["COMPLETE", "STOPPED"]);

  /** A DOM element: h("p", {className: "x", hidden: true}, "text", child…). */
  function h(tag, props, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for") {
        element.setAttribute(key, value);
      } else {
        element[key] = value;
      }
    }
    element.append(...children);
    return element;
  }

  function mount(container, options) {
    const title = options.title || "the bot";
    const ui = {
      status: h("p", { id: "status", className: "chat__status", role: "status", "data-state": "idle" },
        "Say hello to start a conversation."),
      log: h("ol", { id: "log", className: "chat__log", role: "log", "aria-live": "polite",
        "aria-label": `Conversation with ${title}` }),
      expired: h("div", { id: "expired", className: "chat__expired", role: "alert", hidden: true }),
      restart: h("button", { type: "button", id: "restart" }, "Start a new conversation"),
      error: h("p", { id: "error", className: "chat__error", role: "alert", hidden: true }),
      startForm: h("form", { id: "start-form", className: "chat__start", hidden: true, noValidate: true,
        "aria-label": "Before we start" }),
      chips: h("div", { id: "suggestions", className: "chat__chips", role: "group",
        "aria-label": "Suggested questions", hidden: true }),
      form: h("form", { id: "composer", className: "chat__composer", noValidate: true }),
      input: h("textarea", { id: "message", name: "message", rows: 2, required: true,
        maxLength: options.maxLength || 4000, autocomplete: "off", "aria-describedby": "message-hint" }),
      send: h("button", { type: "submit", id: "send" }, "Send"),
      stop: h("button", { type: "button", id: "stop", disabled: true }, "Stop"),
      reset: h("button", { type: "button", id: "reset", className: "chat__secondary" }, "New conversation"),
      human: h("button", { type: "button", id: "handoff", className: "chat__secondary", hidden: true },
        "Talk to a human"),
    };
    ui.expired.append(h("p", {}, "This conversation has expired."), ui.restart);
    ui.form.append(
      h("label", { for: "message", className: "chat__label" }, "Your message"),
      ui.input,
      h("p", { id: "message-hint", className: "chat__hint" }, "Enter sends, Shift+Enter starts a new line."),
      h("div", { className: "chat__actions" }, ui.send, ui.stop, ui.human, ui.reset),
    );
    container.append(ui.status, ui.log, ui.expired, ui.error, ui.startForm, ui.chips, ui.form);

    let sending = false;
    let handoffEnabled = false; // the bot's profile says visitors may ask for a human
    let pendingText = null; // a message waiting for the start form

    const session = new ChatSession({
      ...options,
      view: {
        message: render,
        removed(oldId, newId) {
          // A regenerated reply takes the place of the version it supersedes.
          const item = findItem(oldId);
          if (item) item.dataset.messageId = newId;
        },
        state(state, delay) {
          if (state === "connecting") setStatus(state, "Connecting…");
          else if (state === "connected") setStatus(state, "Connected: replies stream live.");
          else if (state === "offline") setStatus(state, "Disconnected.");
          else setStatus(state, `Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
        },
        ended(event) {
          const status = event.message.status;
          if (status === "COMPLETE") setStatus("connected", "Reply received.");
          else if (status === "STOPPED") setStatus("connected", "Reply stopped.");
          else setStatus("connected", `Reply ${status.toLowerCase()}: ${event.error || "no detail"}.`);
        },
        error: showError,
        handoff(mode, operatorName) {
          if (mode === "WAITING") setStatus("waiting", "Waiting for an operator…");
          else if (mode === "HUMAN") setStatus("human", `${operatorName || "An operator"} is answering.`);
          else setStatus("connected", "The bot is answering again.");
          updateControls();
        },
        expired() {
          ui.expired.hidden = false;
          setStatus("expired", "This conversation has expired.");
          updateControls();
          ui.restart.focus();
        },
        cleared() {
          ui.log.replaceChildren();
          ui.expired.hidden = true;
          updateControls();
        },
      },
    });

    function setStatus(state, text) {
      ui.status.dataset.state = state;
      ui.status.textContent = text;
    }

    function showError(text) {
      ui.error.textContent = text || "";
      ui.error.hidden = !text;
    }

    function findItem(id) {
      return ui.log.querySelector(`[data-message-id="${CSS.escape(id)}"]`);
    }

    function speaker(message) {
      if (message.role === "USER") return "You: ";
      if (message.role === "OPERATOR") return `${message.authorName || "Operator"}: `;
      return message.role === "SYSTEM" ? "Notice: " : "Bot: ";
    }

    function newItem(message) {
      const notice = message.handoffMode ? " msg--notice" : "";
      const item = h("li", { className: "msg msg--" + message.role.toLowerCase() + notice,
        "data-message-id": message.id, "data-role": message.role },
        h("span", { className: "visually-hidden" }, speaker(message)));
      if (message.role === "OPERATOR") {
        item.append(h("p", { className: "msg__author", "aria-hidden": "true" }, message.authorName || "Operator"));
      }
      item.append(h("p", { className: "msg__text" }),
        h("ol", { className: "msg__sources", "aria-label": "Sources", hidden: true }),
        h("p", { className: "msg__status" }));
      if (message.role === "ASSISTANT") item.append(replyTools());
      ui.log.append(item);
      return item;
    }

    /** Feedback and regenerate controls of a reply; shown by updateControls. */
    function replyTools() {
      const tools = h("div", { className: "msg__tools" });
      if (session.has("feedback")) {
        const up = h("button", { type: "button", className: "msg__rate", "aria-label": "Good answer",
          "aria-pressed": "false", "data-rating": "UP" }, "👍");
        const down = h("button", { type: "button", className: "msg__rate", "aria-label": "Bad answer",
          "aria-pressed": "false", "data-rating": "DOWN" }, "👎");
        const comment = h("button", { type: "button", className: "msg__comment-toggle",
          "aria-expanded": "false", hidden: true }, "Comment");
        const input = h("input", { type: "text", className: "msg__comment-input", maxLength: 1000,
          "aria-label": "Comment on this answer" });
        const form = h("form", { className: "msg__comment", hidden: true }, input,
          h("button", { type: "submit" }, "Save comment"));
        tools.append(up, down, comment, form);
      }
      if (session.has("regenerate")) {
        tools.append(h("button", { type: "button", className: "msg__regenerate", hidden: true }, "Regenerate"));
      }
      return tools;
    }

    function render(message) {
      const log = ui.log;
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
      const item = findItem(message.id) || newItem(message);
      item.dataset.status = message.status;
      item.querySelector(".msg__text").textContent = message.content;
      const note = STATUS_TEXT[message.status] || "";
      const detail = message.status === "FAILED" && message.error ? `: ${message.error}` : "";
      const version = message.version > 1 ? ` (version ${message.version})` : "";
      item.querySelector(".msg__status").textContent = note + detail + (note ? version : version.trim());
      renderSources(item, message.citations || []);
      renderFeedback(item, message);
      if (atBottom) log.scrollTop = log.scrollHeight; // follow the reply unless reading back
      updateControls();
    }

    /** The document passages a reply cites as [n]: a link when the document has a URL. */
    function renderSources(item, citations) {
      const list = item.querySelector(".msg__sources");
      if (list.childElementCount === citations.length) return;
      list.replaceChildren(...citations.map((c) => {
        const label = `[${c.number}] ${c.title}`;
        const web = /^https?:\/\//i.test(c.url || "");
        const source = web ? h("a", { href: c.url, target: "_blank", rel: "noopener noreferrer" }, label)
          : h("span", {}, label);
        return h("li", { className: "msg__source", title: c.snippet }, source);
      }));
      list.hidden = citations.length === 0;
    }

    function renderFeedback(item, message) {
      const rating = message.feedback ? message.feedback.rating : null;
      item.dataset.rating = rating || "";
      for (const button of item.querySelectorAll(".msg__rate")) {
        button.hidden = !RATED.has(message.status);
        button.setAttribute("aria-pressed", String(button.dataset.rating === rating));
      }
      const toggle = item.querySelector(".msg__comment-toggle");
      if (toggle) {
        toggle.hidden = !rating;
        if (!rating) hideComment(item);
        const input = item.querySelector(".msg__comment-input");
        if (document.activeElement !== input && input.getRootNode().activeElement !== input) {
          input.value = message.feedback ? message.feedback.comment : "";
        }
      }
    }

    function hideComment(item) {
      item.querySelector(".msg__comment").hidden = true;
      item.querySelector(".msg__comment-toggle").setAttribute("aria-expanded", "false");
    }

    function updateControls() {
      const active = session.transcript.active();
      // Screen readers announce the reply once, when it is complete, not word by word.
      ui.log.setAttribute("aria-busy", active ? "true" : "false");
      ui.stop.disabled = !active;
      ui.send.disabled = sending || Boolean(active) || session.expired;
      ui.human.hidden = !handoffEnabled || session.mode !== "BOT" || session.expired;
      const last = session.transcript.last();
      for (const button of ui.log.querySelectorAll(".msg__regenerate")) {
        const item = button.closest("li");
        button.hidden = !(last && item.dataset.messageId === last.id && !active && !session.expired
          && last.role === "ASSISTANT" && !ACTIVE.has(last.status));
      }
      renderChips(active ? null : last);
    }

    function renderChips(last) {
      const suggestions = (last && last.role === "ASSISTANT" && !session.expired && last.suggestions) || [];
      const same = ui.chips.dataset.for === (last && last.id) && ui.chips.childElementCount === suggestions.length;
      if (!same) {
        ui.chips.replaceChildren(...suggestions.map((text) =>
          h("button", { type: "button", className: "chat__chip" }, text)));
        ui.chips.dataset.for = last ? last.id : "";
      }
      ui.chips.hidden = suggestions.length === 0;
    }

    async function send(text) {
      sending = true;
      updateControls();
      showError("");
      try {
        await session.send(text);
        ui.input.value = "";
      } catch (err) {
        if (err instanceof StartInputsNeeded) {
          pendingText = text;
          showStartForm(err.inputs, err.message);
          return;
        }
        if (!session.expired) showError(err.message);
      } finally {
        sending = false;
        updateControls();
        if (ui.startForm.hidden && !session.expired) ui.input.focus();
      }
    }

    /** The bot's start inputs, as the refused startConversation named them. */
    function showStartForm(inputs, message) {
      const fields = inputs.map((input, index) => {
        const id = `start-${index}`;
        const previous = ui.startForm.querySelector(`[name="${CSS.escape(input.name)}"]`);
        return h("div", { className: "chat__field" },
          h("label", { for: id }, input.name),
          h("input", { id, name: input.name, type: "text", required: true,
            value: previous ? previous.value : "", "aria-describedby": id + "-hint", "aria-invalid": "true" }),
          h("p", { id: id + "-hint", className: "chat__hint" }, input.message));
      });
      ui.startForm.replaceChildren(
        h("p", {}, message ? "Please fill in these fields first." : ""),
        ...fields,
        h("button", { type: "submit" }, "Start"),
      );
      ui.startForm.hidden = false;
      ui.startForm.querySelector("input").focus();
    }

    ui.startForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const variables = {};
      for (const input of ui.startForm.querySelectorAll("input")) variables[input.name] = input.value.trim();
      showError("");
      try {
        await session.start(variables);
      } catch (err) {
        if (err instanceof StartInputsNeeded) showStartForm(err.inputs, err.message);
        else showError(err.message);
        return;
      }
      ui.startForm.hidden = true;
      ui.startForm.replaceChildren();
      const text = pendingText;
      pendingText = null;
      if (text) send(text);
      else ui.input.focus();
    });

    ui.log.addEventListener("click", async (event) => {
      const button = event.target.closest("button");
      const item = button && button.closest("li");
      if (!item) return;
      const id = item.dataset.messageId;
      showError("");
      try {
        if (button.classList.contains("msg__rate")) {
          // Pressing the pressed rating again revokes it.
          const rating = button.getAttribute("aria-pressed") === "true" ? null : button.dataset.rating;
          await session.rate(id, rating);
          button.focus();
        } else if (button.classList.contains("msg__comment-toggle")) {
          const form = item.querySelector(".msg__comment");
          form.hidden = !form.hidden;
          button.setAttribute("aria-expanded", String(!form.hidden));
          if (!form.hidden) form.querySelector("input").focus();
        } else if (button.classList.contains("msg__regenerate")) {
          button.disabled = true;
          ui.input.focus(); // the button goes away while the new version streams
          await session.regenerate(id);
          button.disabled = false;
        }
      } catch (err) {
        button.disabled = false;
        if (!session.expired) showError(err.message);
      }
    });

    ui.log.addEventListener("submit", async (event) => {
      event.preventDefault();
      const item = event.target.closest("li");
      const message = session.transcript.messages.get(item.dataset.messageId);
      const comment = event.target.querySelector("input").value.trim();
      try {
        await session.rate(message.id, message.feedback.rating, comment);
        hideComment(item);
        setStatus(ui.status.dataset.state, "Thank you for your feedback.");
        item.querySelector(".msg__comment-toggle").focus();
      } catch (err) {
        if (!session.expired) showError(err.message);
      }
    });

    ui.chips.addEventListener("click", (event) => {
      const chip = event.target.closest("button");
      if (chip && !ui.send.disabled) send(chip.textContent);
    });

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
    ui.stop.addEventListener("click", async () => {
      ui.stop.disabled = true;
      try {
        if (await session.stop()) setStatus(ui.status.dataset.state, "Reply stopped.");
      } catch (err) {
        showError(err.message);
      } finally {
        updateControls();
        ui.input.focus();
      }
    });
    ui.human.addEventListener("click", async () => {
      ui.human.disabled = true;
      showError("");
      try {
        await session.requestHandoff();
      } catch (err) {
        if (!session.expired) showError(err.message);
      } finally {
        ui.human.disabled = false;
        updateControls();
        ui.input.focus();
      }
    });
    ui.reset.addEventListener("click", () => {
      session.clear();
      pendingText = null;
      ui.startForm.hidden = true;
      showError("");
      setStatus("idle", "New conversation: say hello to start.");
      ui.input.focus();
    });
    ui.restart.addEventListener("click", async () => {
      ui.restart.disabled = true;
      showError("");
      try {
        await session.reset();
        setStatus("idle", "New conversation: say hello to start.");
      } catch (err) {
        if (err instanceof StartInputsNeeded) showStartForm(err.inputs, err.message);
        else showError(err.message);
      } finally {
        ui.restart.disabled = false;
        updateControls();
        if (ui.startForm.hidden) ui.input.focus();
      }
    });
    window.addEventListener("online", () => session.client && session.client.retryNow());

    session.resume(); // a reload: the subscription replays the conversation
    session.handoffEnabled().then((enabled) => {
      handoffEnabled = enabled;
      updateControls();
    }, () => {}); // no button when the profile cannot be read
    updateControls();
    return { session, focus: () => ui.input.focus() };
  }

  return { mount };
})();
