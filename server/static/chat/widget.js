/* The embeddable widget: <script src="https://<host>/widget.js" data-bot="<bot id>">.
 *
 * Served by server/widget.py inside one function together with client.js and view.js,
 * with FEATURES, STYLES (view.css + widget.css) and GRAPHQL_PATH defined before it, so
 * the host page gets no global and no stylesheet: everything lives in a shadow root.
 * The API origin is the script's own origin; nothing else is requested.
 *
 * Optional attributes: data-title (the panel's heading), data-variables (JSON: start
 * inputs passed to startConversation). The chat token is kept in the host page's
 * localStorage, keyed by API origin and bot, so a reload (or another tab) resumes.
 */
(function () {
  // currentScript is null only if run later than loaded (a tag manager's callback…).
  const script = document.currentScript || document.querySelector('script[src*="widget.js"][data-bot]');
  const botId = script && script.dataset.bot;
  if (!botId) {
    console.error("Botstream widget: the script tag needs data-bot=\"<bot id>\".");
    return;
  }
  const apiOrigin = new URL(script.src).origin;
  const key = `botstream.widget.${apiOrigin}.${botId}`;
  if (document.querySelector(`[data-botstream-widget="${CSS.escape(key)}"]`)) return; // included twice
  const title = script.dataset.title || "Chat";
  let variables = null;
  try {
    variables = script.dataset.variables ? JSON.parse(script.dataset.variables) : null;
  } catch (err) {
    console.error("Botstream widget: data-variables is not JSON; ignored.");
  }

  function storage() {
    try {
      localStorage.setItem(key + ".probe", "1");
      localStorage.removeItem(key + ".probe");
      return localStorage;
    } catch (err) {
      const memory = new Map(); // storage refused: the chat lasts as long as the page
      return {
        getItem: (k) => (memory.has(k) ? memory.get(k) : null),
        setItem: (k, v) => memory.set(k, String(v)),
        removeItem: (k) => memory.delete(k),
      };
    }
  }

  function start() {
    const host = document.createElement("div");
    host.dataset.botstreamWidget = key;
    const shadow = host.attachShadow({ mode: "open" });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES); // a constructed sheet: no <style>, no host CSP 'unsafe-inline'
    shadow.adoptedStyleSheets = [sheet];

    const launcher = document.createElement("button");
    launcher.type = "button";
    launcher.id = "launcher";
    launcher.className = "launcher";
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", "panel");
    launcher.setAttribute("aria-label", `Chat: ${title}`); // a toggle: aria-expanded says open
    // An inline icon, not an emoji: a system without an emoji font showed a blank box.
    const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("width", "26");
    icon.setAttribute("height", "26");
    icon.setAttribute("aria-hidden", "true");
    const bubble = document.createElementNS("http://www.w3.org/2000/svg", "path");
    bubble.setAttribute("fill", "currentColor");
    bubble.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    icon.append(bubble);
    launcher.append(icon);

    const panel = document.createElement("section");
    panel.id = "panel";
    panel.className = "panel";
    panel.hidden = true;
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-labelledby", "panel-title");
    const header = document.createElement("header");
    header.className = "panel__header";
    const heading = document.createElement("h2");
    heading.id = "panel-title";
    heading.textContent = title;
    const close = document.createElement("button");
    close.type = "button";
    close.id = "close";
    close.setAttribute("aria-label", "Close chat");
    close.textContent = "✕";
    header.append(heading, close);
    const body = document.createElement("div");
    body.className = "chat__body";
    panel.append(header, body);
    shadow.append(panel, launcher);
    document.body.append(host);

    const store = storage();
    const view = BotstreamChatView.mount(body, {
      httpUrl: new URL(GRAPHQL_PATH, apiOrigin).toString(),
      botId,
      features: FEATURES,
      storage: store,
      storageKey: key,
      userSession: "widget:" + location.host,
      variables,
      title,
      maxLength: MAX_LENGTH,
    });

    function setOpen(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      store.setItem(key + ".open", open ? "1" : "");
      if (open) view.focus();
    }

    launcher.addEventListener("click", () => setOpen(panel.hidden));
    close.addEventListener("click", () => {
      setOpen(false);
      launcher.focus();
    });
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        setOpen(false);
        launcher.focus();
      }
    });
    if (store.getItem(key + ".open")) setOpen(true); // as it was before the reload
    host.botstream = view.session.testHooks(); // for the browser tests
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
