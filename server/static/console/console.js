/* Botstream owner console (/console/): bots, scenarios and steps, the scenario graph, a
 * test chat and conversations, all through the public GraphQL API (api.js). Hash routes:
 *   #/            bots          #/bot/<id>            a bot and its scenarios
 *   #/scenario/<id>  the editor (steps, graph, test chat)
 *   #/bot/<id>/conversations  conversations, filters, transcripts with usage
 *   #/bot/<id>/stats  analytics: charts and table of botStats, transcript downloads (stats.js)
 */

import { ApiError, graphql, payload } from "./api.js";
import { TestChat } from "./chat.js";
import { checkbox, clearFieldErrors, field, h, select, showFieldErrors } from "./dom.js";
import { renderGraph } from "./graph.js";
import { statsView } from "./stats.js";
import { contentEditor } from "./steps.js";

const root = document.getElementById("console");
const main = document.getElementById("main");
const userBox = document.getElementById("user");
const notice = document.getElementById("notice");

const PROBLEM = "... on OperationInfo { messages { field message code } }";
const BOT_FIELDS = "id name description botType model temperature maxTokens systemPrompt isActive isPublic scenarioCount";
const STEP_FIELDS = "id name stepType content order nextStep { id name }";
const STEP_TYPES = [["MESSAGE", "Message"], ["QUESTION", "Question"], ["CONDITION", "Condition"], ["API_CALL", "API call"], ["LLM", "LLM reply"], ["HANDOFF", "Hand off to a human"]];

const Q = {
  me: "query { me { username isStaff } }",
  login: `mutation($input: LoginInput!) { login(input: $input) { __typename ... on User { username isStaff } ${PROBLEM} } }`,
  logout: "mutation { logout }",
  bots: `query { bots(first: 100, ordering: [{name: ASC}]) { totalCount edges { node { ${BOT_FIELDS} } } } }`,
  bot: `query($id: ID!) { bot(id: $id) { ${BOT_FIELDS}
    scenarios(first: 100, ordering: [{name: ASC}]) { edges { node { id name description isActive validation { errors } } } } } }`,
  createBot: `mutation($input: BotInput!) { createBot(input: $input) { __typename ... on Bot { id } ${PROBLEM} } }`,
  updateBot: `mutation($input: BotPartialInput!) { updateBot(input: $input) { __typename ... on Bot { ${BOT_FIELDS} } ${PROBLEM} } }`,
  deleteBot: `mutation($input: DeleteInput!) { deleteBot(input: $input) { __typename ... on Bot { id } ${PROBLEM} } }`,
  scenario: `query($id: ID!) { scenario(id: $id) { id name description isActive initialStep { id name } bot { id name isActive }
    steps(first: 100, ordering: [{order: ASC}]) { edges { node { ${STEP_FIELDS} } } }
    validation { errors warnings issues { severity code message steps } } } }`,
  createScenario: `mutation($input: ScenarioInput!) { createScenario(input: $input) { __typename ... on Scenario { id } ${PROBLEM} } }`,
  updateScenario: `mutation($input: ScenarioPartialInput!) { updateScenario(input: $input) { __typename ... on Scenario { id } ${PROBLEM} } }`,
  deleteScenario: `mutation($input: DeleteInput!) { deleteScenario(input: $input) { __typename ... on Scenario { id } ${PROBLEM} } }`,
  createStep: `mutation($input: StepInput!) { createStep(input: $input) { __typename ... on Step { id name } ${PROBLEM} } }`,
  updateStep: `mutation($input: StepPartialInput!) { updateStep(input: $input) { __typename ... on Step { id name } ${PROBLEM} } }`,
  deleteStep: `mutation($input: DeleteInput!) { deleteStep(input: $input) { __typename ... on Step { id } ${PROBLEM} } }`,
  reorder: `mutation($input: ReorderStepsInput!) { reorderSteps(input: $input) { __typename ... on Scenario { id } ${PROBLEM} } }`,
  conversations: `query($filters: ConversationFilter) { conversations(first: 50, filters: $filters, ordering: [{createdAt: DESC}]) {
    totalCount edges { node { id userSession createdAt isCompleted scenarioName } } } }`,
  conversation: `query($id: ID!) { conversation(id: $id) { id userSession createdAt isCompleted scenarioName variables privateVariables
    messages(first: 100) { totalCount edges { node { id role content status errorCode error promptTokens completionTokens createdAt } } } } }`,
};

// --- shell ---

function say(text, kind = "info") {
  notice.textContent = text;
  notice.dataset.kind = kind;
  notice.hidden = !text;
}

function page(title, ...children) {
  document.title = `${title} · Botstream console`;
  const heading = h("h1", { tabindex: "-1" }, title);
  main.replaceChildren(heading, ...children);
  heading.focus();
}

function alertBox() {
  return h("p", { class: "form__alert", role: "alert", hidden: true });
}

function confirmDialog(question) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, question),
      h("form", { method: "dialog", class: "row" },
        h("button", { value: "yes", class: "button--danger" }, "Delete"),
        h("button", { value: "no", autofocus: true }, "Cancel")));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Run a mutation from a form: field errors next to the fields, the rest in `alert`. */
async function submitting(form, alert, action) {
  say(""); // the last action's notice is not this one's
  clearFieldErrors(form, alert);
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    if (err instanceof ApiError && err.fields.length) showFieldErrors(form, err.fields, alert);
    else showFieldErrors(form, [{ message: err.message }], alert);
    return null;
  } finally {
    if (button) button.disabled = false;
  }
}

// --- login ---

function loginView(next) {
  const username = field("Username", h("input", { type: "text", autocomplete: "username", required: true }), { name: "username" });
  const password = field("Password", h("input", { type: "password", autocomplete: "current-password", required: true }), { name: "password" });
  const alert = alertBox();
  const form = h("form", { novalidate: true, class: "panel form form--narrow" }, alert, username.wrap, password.wrap, h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = await submitting(form, alert, async () => {
      const data = await graphql(Q.login, { input: { username: username.input.value, password: password.input.value } });
      return payload(data.login);
    });
    if (user) {
      showUser(user);
      route(next);
    }
  });
  userBox.replaceChildren();
  page("Log in", h("p", {}, "Bot owners log in here with their account (the demo data's is demo / demo)."), form);
}

function showUser(user) {
  const logout = h("button", { type: "button", class: "button--quiet" }, "Log out");
  logout.addEventListener("click", async () => {
    await graphql(Q.logout).catch(() => null);
    say("You are logged out.");
    window.location.hash = "#/";
    loginView("#/");
  });
  userBox.replaceChildren(h("span", {}, `Logged in as ${user.username}`), logout);
}

// --- bots ---

function botFields(bot) {
  const f = {
    name: field("Name", h("input", { type: "text", required: true, value: bot.name || "" }), { name: "name" }),
    description: field("Description", h("textarea", { rows: 2 }, bot.description || ""), { name: "description" }),
    botType: field("Type", select([["CHAT", "Chat (multi-turn, with history)"], ["COMPLETION", "Completion (single turn)"]], bot.botType || "CHAT"), { name: "botType" }),
    model: field("Model", h("input", { type: "text", value: bot.model || "" }), { name: "model", hint: "Empty on a new bot: the server's default model." }),
    temperature: field("Temperature", h("input", { type: "number", step: "0.1", min: 0, max: 2, value: bot.temperature ?? 0.7 }), { name: "temperature", hint: "0 to 2." }),
    maxTokens: field("Max tokens", h("input", { type: "number", step: 1, min: 1, value: bot.maxTokens ?? "" }), { name: "maxTokens" }),
    systemPrompt: field("System prompt", h("textarea", { rows: 4 }, bot.systemPrompt || ""), { name: "systemPrompt" }),
    isPublic: checkbox("Public: listed on the landing page and the demo chat", bot.isPublic, "isPublic"),
  };
  const read = () => {
    const input = {
      name: f.name.input.value,
      description: f.description.input.value,
      botType: f.botType.input.value,
      model: f.model.input.value.trim() || undefined,
      temperature: f.temperature.input.value === "" ? undefined : Number(f.temperature.input.value),
      systemPrompt: f.systemPrompt.input.value,
      isPublic: f.isPublic.input.checked,
    };
    if (f.maxTokens.input.value !== "") input.maxTokens = Number(f.maxTokens.input.value);
    return input;
  };
  return { nodes: Object.values(f).map((x) => x.wrap), read };
}

async function botsView() {
  const data = await graphql(Q.bots);
  const rows = data.bots.edges.map(({ node }) => h("tr", {},
    h("td", {}, h("a", { href: `#/bot/${node.id}` }, node.name)),
    h("td", {}, node.isActive ? "Active" : "Inactive"),
    h("td", {}, String(node.scenarioCount)),
    h("td", {}, h("a", { href: `#/bot/${node.id}/conversations` }, "Conversations"), " · ", h("a", { href: `#/bot/${node.id}/stats` }, "Analytics"))));
  const table = rows.length
    ? h("table", { class: "table" }, h("caption", {}, `Your bots (${data.bots.totalCount})`),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Scenarios"), h("th", { scope: "col" }, ""))),
      h("tbody", {}, ...rows))
    : h("p", {}, "No bot yet: create your first one below.");
  const { nodes, read } = botFields({});
  const alert = alertBox();
  const form = h("form", { novalidate: true, class: "panel form", "aria-labelledby": "new-bot" }, h("h2", { id: "new-bot" }, "New bot"), alert, ...nodes, h("button", { type: "submit" }, "Create bot"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const bot = await submitting(form, alert, async () => payload((await graphql(Q.createBot, { input: read() })).createBot));
    if (bot) {
      say("Bot created.");
      window.location.hash = `#/bot/${bot.id}`;
    }
  });
  page("Bots", table, form);
}

async function botView(id) {
  const { bot } = await graphql(Q.bot, { id });
  if (!bot) return page("Bot not found", h("p", {}, h("a", { href: "#/" }, "Back to your bots")));
  const { nodes, read } = botFields(bot);
  const alert = alertBox();
  const form = h("form", { novalidate: true, class: "panel form", "aria-labelledby": "bot-settings" }, h("h2", { id: "bot-settings" }, "Settings"), alert, ...nodes, h("button", { type: "submit" }, "Save bot"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await submitting(form, alert, async () => payload((await graphql(Q.updateBot, { input: { id, ...read() } })).updateBot));
    if (saved) say("Bot saved.");
  });
  const toggle = h("button", { type: "button" }, bot.isActive ? "Deactivate bot" : "Activate bot");
  toggle.addEventListener("click", async () => {
    try {
      payload((await graphql(Q.updateBot, { input: { id, isActive: !bot.isActive } })).updateBot);
      say(bot.isActive ? "Bot deactivated." : "Bot activated: visitors can chat with it.");
      botView(id);
    } catch (err) {
      say(err.message, "error");
    }
  });
  const remove = h("button", { type: "button", class: "button--danger" }, "Delete bot");
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(`Delete the bot "${bot.name}" with its scenarios and conversations?`))) return;
    try {
      payload((await graphql(Q.deleteBot, { input: { id } })).deleteBot);
      say(`Bot "${bot.name}" deleted.`);
      window.location.hash = "#/";
    } catch (err) {
      say(err.message, "error");
    }
  });
  const scenarios = bot.scenarios.edges.map(({ node }) => h("li", {},
    h("a", { href: `#/scenario/${node.id}` }, node.name), ` — ${node.isActive ? "active" : "inactive"}`,
    node.validation.errors.length ? ` (${node.validation.errors.length} error${node.validation.errors.length > 1 ? "s" : ""})` : ""));
  const scenarioName = field("Name", h("input", { type: "text", required: true }), { name: "name" });
  const scenarioAlert = alertBox();
  const newScenario = h("form", { novalidate: true, class: "form form--inline" }, scenarioAlert, scenarioName.wrap, h("button", { type: "submit" }, "Create scenario"));
  newScenario.addEventListener("submit", async (event) => {
    event.preventDefault();
    const made = await submitting(newScenario, scenarioAlert, async () => payload((await graphql(Q.createScenario, { input: { botId: id, name: scenarioName.input.value } })).createScenario));
    if (made) window.location.hash = `#/scenario/${made.id}`;
  });
  page(bot.name,
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/" }, "Bots"), " / ", bot.name, " · ", h("a", { href: `#/bot/${id}/conversations` }, "Conversations"), " · ", h("a", { href: `#/bot/${id}/stats` }, "Analytics")),
    h("p", { class: "row" }, h("span", { class: "badge", dataset: { active: String(bot.isActive) } }, bot.isActive ? "Active" : "Inactive"), toggle, remove),
    form,
    h("section", { class: "panel", "aria-labelledby": "scenarios" }, h("h2", { id: "scenarios" }, "Scenarios"),
      scenarios.length ? h("ul", {}, ...scenarios) : h("p", {}, "No scenario yet."), newScenario));
}

// --- scenario editor ---

const editor = { scenario: null, steps: [], selected: null, chat: null };

async function scenarioView(id, selected) {
  const { scenario } = await graphql(Q.scenario, { id });
  if (!scenario) return page("Scenario not found", h("p", {}, h("a", { href: "#/" }, "Back to your bots")));
  const sameScenario = editor.scenario && editor.scenario.id === id;
  editor.scenario = scenario;
  editor.steps = scenario.steps.edges.map((e) => e.node);
  editor.selected = selected !== undefined ? selected : sameScenario ? editor.selected : null;
  if (!sameScenario || !editor.chat) editor.chat = new TestChat(() => ({ botId: editor.scenario.bot.id, scenarioId: editor.scenario.id }));
  const layout = h("div", { class: "editor" },
    h("div", { class: "editor__main" }, scenarioSettings(), validationPanel(), stepsPanel(), stepPanel()),
    h("div", { class: "editor__side" }, graphPanel(), editor.chat.node));
  page(`Scenario: ${scenario.name}`,
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/" }, "Bots"), " / ", h("a", { href: `#/bot/${scenario.bot.id}` }, scenario.bot.name), " / ", scenario.name),
    layout);
}

function refresh(selected) {
  return scenarioView(editor.scenario.id, selected);
}

function scenarioSettings() {
  const s = editor.scenario;
  const name = field("Name", h("input", { type: "text", value: s.name, required: true }), { name: "name" });
  const description = field("Description", h("textarea", { rows: 2 }, s.description), { name: "description" });
  const initial = field("Initial step", select([["", "— none —"], ...editor.steps.map((st) => [st.id, st.name])], s.initialStep ? s.initialStep.id : ""), { name: "initialStep" });
  const alert = alertBox();
  const form = h("form", { novalidate: true, class: "panel form", "aria-labelledby": "scenario-settings" }, h("h2", { id: "scenario-settings" }, "Scenario"), alert, name.wrap, description.wrap, initial.wrap,
    h("div", { class: "field", dataset: { field: "isActive" } }, h("p", {}, s.isActive ? "Active: visitors of an active bot run it." : "Inactive: only the test chat runs it."), h("p", { class: "field__error", hidden: true })),
    h("div", { class: "row" }, h("button", { type: "submit" }, "Save scenario"),
      h("button", { type: "button", onclick: () => setActive(form, alert, !s.isActive) }, s.isActive ? "Deactivate scenario" : "Activate scenario"),
      h("button", { type: "button", class: "button--danger", onclick: deleteScenario }, "Delete scenario")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = { id: s.id, name: name.input.value, description: description.input.value, initialStepId: initial.input.value || null };
    const saved = await submitting(form, alert, async () => payload((await graphql(Q.updateScenario, { input })).updateScenario));
    if (saved) {
      await refresh();
      say("Scenario saved.");
    }
  });
  return form;
}

async function setActive(form, alert, active) {
  const done = await submitting(form, alert, async () => payload((await graphql(Q.updateScenario, { input: { id: editor.scenario.id, isActive: active } })).updateScenario));
  if (done) {
    await refresh();
    say(active ? "Scenario activated." : "Scenario deactivated.");
  }
}

async function deleteScenario() {
  const s = editor.scenario;
  if (!(await confirmDialog(`Delete the scenario "${s.name}" and its steps?`))) return;
  try {
    payload((await graphql(Q.deleteScenario, { input: { id: s.id } })).deleteScenario);
    say(`Scenario "${s.name}" deleted.`);
    window.location.hash = `#/bot/${s.bot.id}`;
  } catch (err) {
    say(err.message, "error");
  }
}

function validationPanel() {
  const { issues } = editor.scenario.validation;
  const items = issues.map((issue) => h("li", { class: `issue issue--${issue.severity.toLowerCase()}` },
    h("strong", {}, issue.severity === "ERROR" ? "Error: " : "Warning: "), issue.message,
    ...issue.steps.filter((n) => editor.steps.some((st) => st.name === n)).map((n) => [" ", h("button", { type: "button", class: "button--link", onclick: () => openStep(n) }, `Edit ${n}`)])));
  return h("section", { class: "panel validation", "aria-labelledby": "validation-title", id: "validation" },
    h("h2", { id: "validation-title" }, "Checks"),
    items.length ? h("ul", {}, ...items) : h("p", { class: "ok" }, "No problems: the scenario can be activated."));
}

function openStep(name) {
  editor.selected = name;
  refresh(name).then(() => {
    const heading = document.getElementById("step-title");
    if (heading) heading.focus();
  });
}

function stepsPanel() {
  const items = editor.steps.map((step, index) => h("li", { class: step.name === editor.selected ? "steps__item steps__item--selected" : "steps__item" },
    h("button", { type: "button", class: "button--link", "aria-current": step.name === editor.selected ? "true" : null, onclick: () => openStep(step.name) },
      `${step.name}`), h("span", { class: "steps__type" }, ` ${step.stepType.toLowerCase().replace("_", " ")}`),
    editor.scenario.initialStep && editor.scenario.initialStep.id === step.id ? h("span", { class: "badge" }, "initial") : null,
    h("span", { class: "steps__move" },
      h("button", { type: "button", class: "button--small", "aria-label": `Move ${step.name} up`, disabled: index === 0, onclick: () => move(index, -1) }, "↑"),
      h("button", { type: "button", class: "button--small", "aria-label": `Move ${step.name} down`, disabled: index === editor.steps.length - 1, onclick: () => move(index, 1) }, "↓"))));
  return h("section", { class: "panel", "aria-labelledby": "steps-title" }, h("h2", { id: "steps-title" }, "Steps"),
    items.length ? h("ol", { class: "steps" }, ...items) : h("p", {}, "No step yet."),
    h("button", { type: "button", onclick: () => openStep("") }, "Add step"));
}

async function move(index, delta) {
  const ids = editor.steps.map((s) => s.id);
  [ids[index], ids[index + delta]] = [ids[index + delta], ids[index]];
  try {
    payload((await graphql(Q.reorder, { input: { scenarioId: editor.scenario.id, stepIds: ids } })).reorderSteps);
    await refresh();
    say("Steps reordered.");
  } catch (err) {
    say(err.message, "error");
  }
}

function stepPanel() {
  if (editor.selected === null) return h("section", { class: "panel", "aria-labelledby": "step-title" }, h("h2", { id: "step-title", tabindex: "-1" }, "Step"), h("p", {}, "Pick a step in the list or the graph, or add one."));
  const step = editor.steps.find((s) => s.name === editor.selected) || null;
  const others = editor.steps.filter((s) => s !== step);
  const name = field("Step name", h("input", { type: "text", required: true, value: step ? step.name : "" }), { name: "name", hint: "Unique in the scenario; other steps target it by name." });
  const type = field("Step type", select(STEP_TYPES, step ? step.stepType : "MESSAGE"), { name: "stepType" });
  const next = field("Next step", select([["", "— the next one by order —"], ...others.map((s) => [s.id, s.name])], step && step.nextStep ? step.nextStep.id : ""), { name: "nextStep" });
  const slot = h("div");
  let content = null;
  const mount = (keep) => {
    content = contentEditor(type.input.value, keep ? step.content : {}, editor.steps.map((s) => s.name));
    slot.replaceChildren(content.node);
  };
  mount(Boolean(step));
  type.input.addEventListener("change", () => mount(step && type.input.value === step.stepType));
  const alert = alertBox();
  const buttons = h("div", { class: "row" }, h("button", { type: "submit" }, step ? "Save step" : "Create step"));
  if (step) {
    buttons.append(
      h("button", { type: "button", onclick: () => makeInitial(step) }, "Make initial step"),
      h("button", { type: "button", class: "button--danger", onclick: () => deleteStep(step) }, "Delete step"));
  }
  const form = h("form", { novalidate: true, class: "panel form", "aria-labelledby": "step-title" },
    h("h2", { id: "step-title", tabindex: "-1" }, step ? `Step: ${step.name}` : "New step"), alert, name.wrap, type.wrap, next.wrap, slot, buttons);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await submitting(form, alert, async () => {
      let body;
      try {
        body = content.read();
      } catch (err) {
        throw new ApiError(`Content is not valid JSON: ${err.message}`, "INVALID", [{ field: "content", message: `Not valid JSON: ${err.message}` }]);
      }
      const input = { name: name.input.value.trim(), stepType: type.input.value, content: body, nextStepId: next.input.value || null };
      if (step) return payload((await graphql(Q.updateStep, { input: { id: step.id, ...input } })).updateStep);
      return payload((await graphql(Q.createStep, { input: { scenarioId: editor.scenario.id, ...input } })).createStep);
    });
    if (!saved) return;
    const initial = !step && !editor.scenario.initialStep;
    if (initial) await graphql(Q.updateScenario, { input: { id: editor.scenario.id, initialStepId: saved.id } });
    // The notice comes once the page shows the saved step: a visitor (or a test) that acts
    // on the notice must not have the re-render replace what it is typing.
    await refresh(saved.name);
    if (initial) say(`Step "${saved.name}" created and made the initial step.`);
    else say(step ? `Step "${saved.name}" saved.` : `Step "${saved.name}" created.`);
  });
  return form;
}

async function makeInitial(step) {
  try {
    payload((await graphql(Q.updateScenario, { input: { id: editor.scenario.id, initialStepId: step.id } })).updateScenario);
    await refresh();
    say(`"${step.name}" is now the initial step.`);
  } catch (err) {
    say(err.message, "error");
  }
}

async function deleteStep(step) {
  if (!(await confirmDialog(`Delete the step "${step.name}"?`))) return;
  try {
    payload((await graphql(Q.deleteStep, { input: { id: step.id } })).deleteStep);
    await refresh(null);
    say(`Step "${step.name}" deleted.`);
  } catch (err) {
    say(err.message, "error");
  }
}

function graphPanel() {
  const canvas = h("div", { class: "graph-canvas" });
  renderGraph(canvas, {
    steps: editor.steps,
    initialName: editor.scenario.initialStep && editor.scenario.initialStep.name,
    issues: editor.scenario.validation.issues,
    selected: editor.selected,
    onSelect: openStep,
  });
  return h("section", { class: "panel", "aria-labelledby": "graph-title" }, h("h2", { id: "graph-title" }, "Flow"),
    h("p", { class: "legend" }, "Click a step to edit it. ", h("span", { class: "legend__error" }, "Red: error"), " · ", h("span", { class: "legend__warning" }, "amber: warning")), canvas);
}

// --- conversations ---

async function conversationsView(botId, params) {
  const { bot } = await graphql(Q.bot, { id: botId });
  if (!bot) return page("Bot not found", h("p", {}, h("a", { href: "#/" }, "Back to your bots")));
  const from = field("From", h("input", { type: "date", value: params.get("from") || "" }), { name: "from" });
  const to = field("To (included)", h("input", { type: "date", value: params.get("to") || "" }), { name: "to" });
  const completed = field("Completed", select([["", "Any"], ["yes", "Completed"], ["no", "Not completed"]], params.get("completed") || ""), { name: "completed" });
  const failed = field("Failures", select([["", "Any"], ["yes", "With a failed reply"], ["no", "No failed reply"]], params.get("failed") || ""), { name: "failed" });
  const filterForm = h("form", { novalidate: true, class: "panel form form--inline", role: "search", "aria-label": "Filter conversations" }, from.wrap, to.wrap, completed.wrap, failed.wrap, h("button", { type: "submit" }, "Filter"));
  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [key, f] of Object.entries({ from, to, completed, failed })) if (f.input.value) next.set(key, f.input.value);
    window.location.hash = `#/bot/${botId}/conversations?${next}`;
  });
  const filters = { bot: botId };
  if (params.get("from")) filters.createdAfter = new Date(params.get("from") + "T00:00:00").toISOString();
  if (params.get("to")) {
    const end = new Date(params.get("to") + "T00:00:00");
    end.setDate(end.getDate() + 1);
    filters.createdBefore = end.toISOString();
  }
  if (params.get("completed")) filters.isCompleted = params.get("completed") === "yes";
  if (params.get("failed")) filters.hasFailed = params.get("failed") === "yes";
  const { conversations } = await graphql(Q.conversations, { filters });
  const transcript = h("section", { class: "panel", "aria-labelledby": "transcript-title", id: "transcript" }, h("h2", { id: "transcript-title" }, "Transcript"), h("p", {}, "Pick a conversation."));
  const rows = conversations.edges.map(({ node }) => h("tr", {},
    h("td", {}, h("button", { type: "button", class: "button--link", onclick: () => showTranscript(node.id, transcript) }, new Date(node.createdAt).toLocaleString())),
    h("td", {}, node.userSession || "—"), h("td", {}, node.scenarioName || "—"), h("td", {}, node.isCompleted ? "Yes" : "No")));
  const table = h("table", { class: "table" }, h("caption", {}, `${conversations.totalCount} conversation${conversations.totalCount === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ...["Started", "Client label", "Scenario", "Completed"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...rows));
  page(`Conversations: ${bot.name}`,
    h("p", { class: "breadcrumbs" }, h("a", { href: "#/" }, "Bots"), " / ", h("a", { href: `#/bot/${botId}` }, bot.name), " / Conversations"),
    filterForm, h("div", { class: "split" }, h("div", { class: "panel" }, table), transcript));
}

async function showTranscript(id, container) {
  const { conversation } = await graphql(Q.conversation, { id });
  const messages = conversation.messages.edges.map((e) => e.node);
  const totals = messages.reduce((sum, m) => [sum[0] + m.promptTokens, sum[1] + m.completionTokens], [0, 0]);
  const items = messages.map((m) => h("li", { class: `msg msg--${m.role.toLowerCase()}`, dataset: { status: m.status } },
    h("p", { class: "msg__meta" }, `${m.role.toLowerCase()} · ${new Date(m.createdAt).toLocaleTimeString()} · ${m.status.toLowerCase()}`,
      m.role === "ASSISTANT" ? ` · ${m.promptTokens} prompt + ${m.completionTokens} completion tokens` : "",
      m.errorCode ? ` · ${m.errorCode}: ${m.error}` : ""),
    h("p", { class: "msg__text" }, m.content)));
  container.replaceChildren(
    h("h2", { id: "transcript-title", tabindex: "-1" }, `Transcript (${conversation.userSession || "no label"})`),
    h("p", {}, `Usage: ${totals[0]} prompt + ${totals[1]} completion tokens in ${messages.length} messages.`),
    h("ol", { class: "chat__log transcript" }, ...items),
    h("h3", {}, "Variables"), h("pre", { class: "code" }, JSON.stringify(conversation.variables, null, 2)),
    h("h3", {}, "Private variables (API responses, failures)"), h("pre", { class: "code" }, JSON.stringify(conversation.privateVariables, null, 2)));
  container.querySelector("h2").focus();
}

// --- analytics (stats.js) ---

function statsCrumbs(botId, name) {
  return h("p", { class: "breadcrumbs" }, h("a", { href: "#/" }, "Bots"), " / ", h("a", { href: `#/bot/${botId}` }, name || "Bot"), " / Analytics");
}

// --- routing ---

async function route(hash = window.location.hash) {
  const [path, query] = (hash.replace(/^#/, "") || "/").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  try {
    if (parts[0] === "bot" && parts[2] === "conversations") await conversationsView(parts[1], params);
    else if (parts[0] === "bot" && parts[2] === "stats") await statsView(parts[1], params, { page, crumbs: statsCrumbs });
    else if (parts[0] === "bot") await botView(parts[1]);
    else if (parts[0] === "scenario") await scenarioView(parts[1]);
    else await botsView();
  } catch (err) {
    if (err.code === "UNAUTHENTICATED") loginView(hash);
    else say(err.message, "error");
  }
}

async function start() {
  const { me } = await graphql(Q.me);
  if (!me) return loginView(window.location.hash || "#/");
  showUser(me);
  return route();
}

window.addEventListener("hashchange", () => route());
// For the browser tests (tests/browser/test_console.py): drop the test chat's socket as
// a network failure would, and read its conversation.
window.__botstreamConsole = {
  dropChatSocket: () => editor.chat && editor.chat.socket && editor.chat.socket.socket.close(4000, "Dropped"),
  chatConversation: () => editor.chat && editor.chat.conversation && { ...editor.chat.conversation },
};
start().catch((err) => say(err.message, "error"));
root.dataset.ready = "true";
