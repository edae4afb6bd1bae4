/* GraphiQL for Botstream: Strawberry's page, with auth that survives logging in.
 *
 * - HTTP: every request carries the *current* csrftoken cookie as X-CSRFToken (the
 *   `login` mutation rotates it, so a value read once at page load would go stale and
 *   the next cookie-authenticated mutation would fail the CSRF check).
 * - Websockets (subscriptions): ws(s)://<host>/graphql; the session cookie goes with the
 *   handshake, and the headers editor's values go in the connection_init payload, where
 *   the server reads `Authorization`, `authToken` and `chatToken`. `X-Chat-Token` is
 *   copied to `chatToken` so one headers object works for HTTP and websockets.
 */
(function () {
  "use strict";

  const EXAMPLE_QUERY = `# Botstream GraphiQL
#
# Run with Ctrl-Enter or the Run button. Subscriptions stream live over
# ws(s)://<this host>/graphql.
#
# Who you are:
# - Owner, session: run the login mutation below; this page sends the CSRF
#   header by itself.
# - Owner, API token: Headers tab: {"Authorization": "Bearer <secret>"}
# - Visitor: run startConversation, then Headers tab: {"X-Chat-Token": "<chatToken>"}
#   and subscribe to conversationEvents / chat.
#
# mutation { login(input: {username: "demo", password: "demo"}) {
#   ... on User { username } ... on OperationInfo { messages { message } } } }

query ApiInfo {
  apiInfo { name version llmProvider subscriptionProtocols }
  me { username }
}
`;

  const parameters = {};
  for (const entry of window.location.search.slice(1).split("&")) {
    const eq = entry.indexOf("=");
    if (eq >= 0) {
      parameters[decodeURIComponent(entry.slice(0, eq))] = decodeURIComponent(
        entry.slice(eq + 1).replace(/\+/g, " "),
      );
    }
  }

  // Headers never come from the URL: a link with ?headers={"Authorization": …} would
  // make a logged-in victim's queries run as someone else. They are typed in the
  // Headers editor (and kept in this browser's storage by GraphiQL).
  if ("headers" in parameters) {
    delete parameters.headers;
    updateURL({});
  }

  function updateURL(data) {
    Object.assign(parameters, data);
    const search = Object.keys(parameters)
      .filter((key) => Boolean(parameters[key]))
      .map((key) => encodeURIComponent(key) + "=" + encodeURIComponent(parameters[key]))
      .join("&");
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  const fetchURL = window.location.href.split(/[?#]/)[0];

  function toWebSocketUrl(url) {
    const parsed = new URL(url);
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    parsed.hash = "";
    return parsed.toString();
  }

  function headerValue(headers, name) {
    const wanted = name.toLowerCase();
    for (const key of Object.keys(headers || {})) {
      if (key.toLowerCase() === wanted) return headers[key];
    }
    return undefined;
  }

  function fetchWithCsrf(url, init) {
    const headers = Object.assign({}, init && init.headers);
    const token = Cookies.get("csrftoken");
    if (token && headerValue(headers, "x-csrftoken") === undefined) {
      headers["x-csrftoken"] = token;
    }
    return window.fetch(url, Object.assign({}, init, { headers, credentials: "same-origin" }));
  }

  function isSubscription(documentAST, operationName) {
    const operations = (documentAST ? documentAST.definitions : []).filter(
      (d) => d.kind === "OperationDefinition",
    );
    const operation = operationName
      ? operations.find((d) => d.name && d.name.value === operationName)
      : operations.length === 1 && operations[0];
    return Boolean(operation) && operation.operation === "subscription";
  }

  function connectionParams(headers) {
    const params = Object.assign({}, headers);
    const chatToken = headerValue(headers, "x-chat-token");
    if (chatToken && headerValue(headers, "chatToken") === undefined) {
      params.chatToken = chatToken;
    }
    return params;
  }

  const baseFetcher = GraphiQL.createFetcher({
    url: fetchURL,
    fetch: fetchWithCsrf,
    subscriptionUrl: toWebSocketUrl(fetchURL),
  });

  function fetcher(graphQLParams, options) {
    if (options && isSubscription(options.documentAST, graphQLParams.operationName)) {
      options = Object.assign({}, options, { headers: connectionParams(options.headers) });
    }
    return baseFetcher(graphQLParams, options);
  }

  function BotstreamGraphiQL() {
    // `q`, not `query`: a GET with ?query= is executed by the server, not shown here.
    const [query, setQuery] = React.useState(parameters.q || EXAMPLE_QUERY);
    const [variables, setVariables] = React.useState(parameters.variables);
    const explorer = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);

    return React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query,
      variables,
      onEditQuery(value) {
        setQuery(value);
        updateURL({ q: value });
      },
      onEditVariables(value) {
        setVariables(value);
        updateURL({ variables: value });
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(BotstreamGraphiQL),
  );
})();
