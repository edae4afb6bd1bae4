/* Tiny DOM helpers shared by the console's modules. */

let uid = 0;

/** h("label", {for: "x", class: "y"}, "text", child…): an element; `on*` attrs are listeners. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled control with a slot for its field error: {wrap, input, error}. */
export function field(label, control, { hint, name } = {}) {
  const id = control.id || nextId("f");
  control.id = id;
  if (name) control.name = name;
  const error = h("p", { class: "field__error", id: id + "-error", hidden: true });
  const describedBy = [id + "-error"];
  let hintNode = null;
  if (hint) {
    hintNode = h("p", { class: "field__hint", id: id + "-hint" }, hint);
    describedBy.push(id + "-hint");
  }
  control.setAttribute("aria-describedby", describedBy.join(" "));
  const wrap = h("div", { class: "field", dataset: { field: name || "" } }, h("label", { for: id }, label), control, hintNode, error);
  return { wrap, input: control, error };
}

export function checkbox(label, checked, name) {
  const id = nextId("c");
  const input = h("input", { type: "checkbox", id, name, checked: Boolean(checked) });
  const error = h("p", { class: "field__error", id: id + "-error", hidden: true });
  input.setAttribute("aria-describedby", id + "-error");
  return { wrap: h("div", { class: "field field--check", dataset: { field: name } }, input, h("label", { for: id }, label), error), input, error };
}

export function select(options, value) {
  const node = h("select");
  for (const option of options) {
    const [val, text] = Array.isArray(option) ? option : [option, option];
    node.append(h("option", { value: val, selected: val === value }, text));
  }
  if (value !== undefined && value !== null) node.value = value;
  return node;
}

/** Show the API's field errors ({field, message}) next to the form's fields; the rest
 * (no field, or one the form does not show) in the form's alert. */
export function showFieldErrors(form, messages, alert) {
  clearFieldErrors(form, alert);
  const rest = [];
  for (const m of messages) {
    const key = (m.field || "").split(".")[0];
    const camel = key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    const wrap = key && (form.querySelector(`[data-field="${CSS.escape(camel)}"]`) || form.querySelector(`[data-field="${CSS.escape(key)}"]`));
    const slot = wrap && wrap.querySelector(".field__error");
    if (slot) {
      slot.textContent = (slot.textContent ? slot.textContent + " " : "") + m.message;
      slot.hidden = false;
      const controls = [...wrap.querySelectorAll("input, select, textarea")];
      const control = controls.find((c) => c.getClientRects().length) || controls[0];
      if (control) control.setAttribute("aria-invalid", "true");
    } else rest.push(m.message);
  }
  if (alert) {
    alert.textContent = rest.join(" ") || (messages.length ? "Please correct the fields marked below." : "");
    alert.hidden = !alert.textContent;
  }
  const firstInvalid = form.querySelector("[aria-invalid=true]");
  if (firstInvalid) firstInvalid.focus();
}

export function clearFieldErrors(form, alert) {
  form.querySelectorAll(".field__error").forEach((slot) => {
    slot.textContent = "";
    slot.hidden = true;
  });
  form.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
  if (alert) {
    alert.textContent = "";
    alert.hidden = true;
  }
}
