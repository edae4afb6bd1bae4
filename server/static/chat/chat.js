/* The demo chat page: mounts the shared chat view (view.js over client.js) in #chat.
 * The conversation is kept per tab (sessionStorage); the widget keeps it per site. */
(function () {
  "use strict";

  const root = document.getElementById("chat");
  if (!root) return;

  const view = BotstreamChatView.mount(document.getElementById("chat-body"), {
    httpUrl: new URL(root.dataset.graphqlUrl, window.location.href).toString(),
    botId: root.dataset.botId,
    features: (root.dataset.features || "").split(" ").filter(Boolean),
    storage: window.sessionStorage,
    storageKey: "botstream.chat." + root.dataset.botId,
    userSession: "demo-chat",
    title: root.dataset.botName,
    maxLength: Number(root.dataset.maxLength) || undefined,
  });

  // For the browser tests (tests/browser): simulate a network drop, look at the state.
  window.__botstream = view.session.testHooks();
  view.focus();
})();
