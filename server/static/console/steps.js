/* A form per step type: the fields of a step's `content` (README "Scenarios"), read back
 * into the JSON the API validates. Targets are picked by step name from a list (an
 * input with a datalist, so a step can name one not created yet; the graph then marks
 * it). The raw JSON stays available as an advanced view. */

import { checkbox, field, h, nextId, select } from "./dom.js";

const OPERATORS = ["eq", "ne", "contains", "gt", "gte", "lt", "lte", "in", "regex", "exists"];
const VALIDATION_TYPES = ["text", "number", "email", "choice", "regex"];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

function text(value) {
  return value === undefined || value === null ? "" : String(value);
}

function optionalNumber(input) {
  const raw = input.value.trim();
  return raw === "" ? undefined : Number(raw);
}

function optionalText(input) {
  const raw = input.value.trim();
  return raw === "" ? undefined : input.value;
}

/** A branch value or API body: JSON when it parses (numbers, lists…), else the text. */
function looseJson(raw) {
  const trimmed = raw.trim();
  if (trimmed === "") return undefined;
  try {
    return JSON.parse(trimmed);
  } catch (err) {
    return raw;
  }
}

function showLoose(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function prune(object) {
  for (const key of Object.keys(object)) if (object[key] === undefined) delete object[key];
  return object;
}

function targetInput(value, listId) {
  return h("input", { type: "text", list: listId, value: text(value), autocomplete: "off" });
}

function messageFields(content) {
  const body = field("Text", h("textarea", { rows: 3 }, text(content.text)), { name: "text", hint: "A template: {{ name }} prints a variable." });
  const end = checkbox("End the scenario after this step", content.end, "end");
  return { nodes: [body.wrap, end.wrap], read: () => prune({ text: body.input.value, end: end.input.checked || undefined }) };
}

function llmFields(content) {
  const prompt = field("Prompt", h("textarea", { rows: 4 }, text(content.prompt)), { name: "prompt" });
  const variable = field("Store the reply in variable (optional)", h("input", { type: "text", value: text(content.variable) }), { name: "variable" });
  const end = checkbox("End the scenario after this step", content.end, "end");
  return {
    nodes: [prompt.wrap, variable.wrap, end.wrap],
    read: () => prune({ prompt: prompt.input.value, variable: optionalText(variable.input), end: end.input.checked || undefined }),
  };
}

function questionFields(content) {
  const rules = content.validation || {};
  const question = field("Question", h("textarea", { rows: 2 }, text(content.text)), { name: "text" });
  const variable = field("Store the answer in variable", h("input", { type: "text", value: text(content.variable) }), { name: "variable" });
  const kind = field("Answer type", select(VALIDATION_TYPES, rules.type || "text"), { name: "validation" });
  const options = field("Options, one per line", h("textarea", { rows: 3 }, (rules.options || []).join("\n")));
  const pattern = field("Pattern (RE2)", h("input", { type: "text", value: text(rules.pattern) }));
  const minLength = field("Minimum length", h("input", { type: "number", min: 0, value: text(rules.min_length) }));
  const maxLength = field("Maximum length", h("input", { type: "number", min: 1, value: text(rules.max_length) }));
  const min = field("Minimum", h("input", { type: "number", step: "any", value: text(rules.min) }));
  const max = field("Maximum", h("input", { type: "number", step: "any", value: text(rules.max) }));
  const reask = field("Re-ask text (optional)", h("textarea", { rows: 2 }, text(content.reask_text)), { name: "reask_text" });
  const shown = { text: [minLength, maxLength], number: [min, max], email: [], choice: [options], regex: [pattern, minLength, maxLength] };
  const all = [options, pattern, minLength, maxLength, min, max];
  const sync = () => all.forEach((f) => (f.wrap.hidden = !shown[kind.input.value].includes(f)));
  kind.input.addEventListener("change", sync);
  sync();
  const read = () => {
    const type = kind.input.value;
    const validation = { type };
    if (type === "choice") validation.options = options.input.value.split("\n").map((o) => o.trim()).filter(Boolean);
    if (type === "regex") validation.pattern = pattern.input.value;
    if (type === "text" || type === "regex") Object.assign(validation, { min_length: optionalNumber(minLength.input), max_length: optionalNumber(maxLength.input) });
    if (type === "number") Object.assign(validation, { min: optionalNumber(min.input), max: optionalNumber(max.input) });
    return prune({ text: question.input.value, variable: variable.input.value, validation: prune(validation), reask_text: optionalText(reask.input) });
  };
  return { nodes: [question.wrap, variable.wrap, h("fieldset", { class: "subform" }, h("legend", {}, "Validation"), kind.wrap, ...all.map((f) => f.wrap)), reask.wrap], read };
}

function branchRow(branch, listId, onRemove) {
  const variable = field("Variable", h("input", { type: "text", value: text(branch.variable) }));
  const operator = field("Operator", select(OPERATORS, branch.operator || "eq"));
  const value = field("Value", h("input", { type: "text", value: showLoose(branch.value) }), { hint: "JSON for numbers and lists (100, [\"a\",\"b\"])." });
  const target = field("Go to step", targetInput(branch.target, listId));
  const row = h("fieldset", { class: "branch" }, h("legend", {}, "Branch"), variable.wrap, operator.wrap, value.wrap, target.wrap);
  row.append(h("button", { type: "button", class: "button--small button--quiet", onclick: () => onRemove(row) }, "Remove branch"));
  const sync = () => (value.wrap.hidden = operator.input.value === "exists");
  operator.input.addEventListener("change", sync);
  sync();
  row.readBranch = () => {
    const out = { variable: variable.input.value.trim(), operator: operator.input.value, target: target.input.value.trim() };
    if (out.operator !== "exists") out.value = looseJson(value.input.value) ?? "";
    return out;
  };
  return row;
}

function conditionFields(content, listId) {
  const list = h("div", { class: "branches", role: "group", "aria-label": "Branches", dataset: { field: "branches" } }, h("p", { class: "field__error", hidden: true }));
  const remove = (row) => row.remove();
  const addRow = (branch) => list.append(branchRow(branch, listId, remove));
  (content.branches || []).forEach(addRow);
  const add = h("button", { type: "button", class: "button--small", onclick: () => addRow({ operator: "eq" }) }, "Add branch");
  const fallback = field("Otherwise go to step (optional)", targetInput(content.default_target, listId), { name: "default_target" });
  const read = () => prune({
    branches: [...list.querySelectorAll(".branch")].map((row) => row.readBranch()),
    default_target: fallback.input.value.trim() || undefined,
  });
  return { nodes: [list, add, fallback.wrap], read };
}

function headersText(headers) {
  return Object.entries(headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n");
}

function apiCallFields(content, listId) {
  const method = field("Method", select(METHODS, content.method || "GET"), { name: "method" });
  const url = field("URL", h("input", { type: "text", value: text(content.url), inputmode: "url" }), { name: "url", hint: "Variables are percent-encoded: https://api.example.com/orders/{{ order_id }}" });
  const headers = field("Headers, one \"Name: value\" per line", h("textarea", { rows: 2 }, headersText(content.headers)), { name: "headers" });
  const body = field("Body (JSON or text, optional)", h("textarea", { rows: 2 }, showLoose(content.body)), { name: "body" });
  const timeout = field("Timeout, seconds", h("input", { type: "number", min: 1, max: 30, step: "any", value: text(content.timeout) }), { name: "timeout" });
  const maxBytes = field("Largest response, bytes", h("input", { type: "number", min: 1, value: text(content.max_bytes) }), { name: "max_bytes" });
  const pick = field("Select (dot path into the JSON, optional)", h("input", { type: "text", value: text(content.select) }), { name: "select" });
  const variable = field("Store the result in variable", h("input", { type: "text", value: text(content.variable) }), { name: "variable" });
  const onError = field("On error go to step (optional)", targetInput(content.error_target, listId), { name: "error_target" });
  const read = () => {
    const parsed = {};
    for (const line of headers.input.value.split("\n")) {
      const at = line.indexOf(":");
      if (at > 0) parsed[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return prune({
      method: method.input.value,
      url: url.input.value.trim(),
      headers: Object.keys(parsed).length ? parsed : undefined,
      body: looseJson(body.input.value),
      timeout: optionalNumber(timeout.input),
      max_bytes: optionalNumber(maxBytes.input),
      select: optionalText(pick.input),
      variable: variable.input.value.trim(),
      error_target: onError.input.value.trim() || undefined,
    });
  };
  return { nodes: [method.wrap, url.wrap, headers.wrap, body.wrap, timeout.wrap, maxBytes.wrap, pick.wrap, variable.wrap, onError.wrap], read };
}

/** A handoff: the conversation waits for a human operator (/operator/); once handed
 * back, the scenario goes on with the next step. */
function handoffFields(content) {
  const body = field("Text (optional)", h("textarea", { rows: 2 }, text(content.text)), { name: "text", hint: "Said before the handoff; empty: a built-in line." });
  return { nodes: [body.wrap], read: () => prune({ text: optionalText(body.input) }) };
}

const BUILDERS = { MESSAGE: messageFields, QUESTION: questionFields, CONDITION: conditionFields, API_CALL: apiCallFields, LLM: llmFields, HANDOFF: handoffFields };

/** The content editor of one step type: {node, read()}; read() returns the content
 * (from the raw JSON view when it is open; throws SyntaxError on bad JSON there). */
export function contentEditor(stepType, content, stepNames) {
  const listId = nextId("step-names");
  const datalist = h("datalist", { id: listId }, ...stepNames.map((name) => h("option", { value: name })));
  const form = BUILDERS[stepType](content || {}, listId);
  const fields = h("div", { class: "content-fields" }, ...form.nodes);
  const raw = field("Content as JSON", h("textarea", { rows: 10, class: "code", spellcheck: "false" }), { name: "content" });
  // The JSON is written when the summary is activated (click, Enter or Space), not on the
  // "toggle" event: that one is dispatched later, and would overwrite what was typed since.
  const summary = h("summary", {}, "Advanced: raw JSON");
  summary.addEventListener("click", () => {
    if (!advanced.open) raw.input.value = JSON.stringify(form.read(), null, 2);
  });
  const advanced = h("details", { class: "advanced" }, summary, raw.wrap);
  advanced.addEventListener("toggle", () => {
    fields.hidden = advanced.open;
  });
  const node = h("div", { class: "content-editor", dataset: { field: "content" } }, datalist, fields, advanced);
  node.prepend(h("p", { class: "field__error", hidden: true, role: "alert" }));
  return { node, read: () => (advanced.open ? JSON.parse(raw.input.value) : form.read()) };
}
