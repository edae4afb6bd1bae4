/* The scenario drawn as a graph, in SVG, with no library.
 *
 * Edges follow the engine's next-step rule (bots/flow.py): a step goes to its nextStep,
 * else to the next by order; a message or llm step with `end` ends the scenario; a
 * condition goes to its branches' targets and its default target (without one, it falls
 * through to the next step); an api_call to its error_target on failure. A target that
 * names no step is drawn to a dashed "missing" node.
 *
 * Layout: a small layered layout of our own. Each step's layer is its breadth-first
 * distance from the initial step (steps not reached start their own search, in order);
 * within a layer, steps are ordered by the mean position of their parents (one
 * barycentric pass), then by order. Back edges curve round the side.
 */

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170;
const NODE_H = 50;
const GAP_X = 40;
const GAP_Y = 80;
const END = "\u0000end";
const TYPE_LABEL = { MESSAGE: "message", QUESTION: "question", CONDITION: "condition", API_CALL: "API call", LLM: "LLM" };

function describeBranch(branch) {
  if (branch.operator === "exists") return `${branch.variable} exists`;
  return `${branch.variable} ${branch.operator} ${JSON.stringify(branch.value)}`;
}

/** Edges {from, to, label, kind} of the steps (sorted by order). */
export function scenarioEdges(steps) {
  const names = new Set(steps.map((s) => s.name));
  const edges = [];
  steps.forEach((step, index) => {
    const content = step.content || {};
    const following = step.nextStep ? step.nextStep.name : (steps[index + 1] || {}).name;
    const add = (to, label, kind) => edges.push({ from: step.name, to: to || END, label, kind: to && !names.has(to) ? "missing" : kind });
    if (content.end) {
      add(null, "end", "end");
      return;
    }
    if (step.stepType === "CONDITION") {
      (content.branches || []).forEach((b) => add(b.target, describeBranch(b), "branch"));
      if (content.default_target) add(content.default_target, "default", "branch");
      else add(following, "otherwise", "next");
    } else if (step.stepType === "API_CALL") {
      if (content.error_target) add(content.error_target, "on error", "error");
      add(following, "next", "next");
    } else {
      add(following, following ? "next" : "end", following ? "next" : "end");
    }
  });
  return edges;
}

/** Layers and positions: {nodes: Map name → {x, y, rank}, width, height}. */
export function layout(steps, initialName, edges) {
  const children = new Map(steps.map((s) => [s.name, []]));
  edges.forEach((e) => children.has(e.from) && children.get(e.from).push(e.to));
  const rank = new Map();
  const visit = (start, base) => {
    if (rank.has(start)) return;
    rank.set(start, base);
    const queue = [start];
    while (queue.length) {
      const name = queue.shift();
      for (const child of children.get(name) || []) {
        if (child === END || !children.has(child) || rank.has(child)) continue;
        rank.set(child, rank.get(name) + 1);
        queue.push(child);
      }
    }
  };
  if (initialName && children.has(initialName)) visit(initialName, 0);
  steps.forEach((s) => visit(s.name, 0));
  const deepest = Math.max(0, ...rank.values());
  const extra = [];
  edges.forEach((e) => {
    if (e.to === END) rank.set(END, deepest + 1);
    else if (!children.has(e.to) && !rank.has(e.to)) {
      rank.set(e.to, rank.get(e.from) + 1);
      extra.push(e.to);
    }
  });
  const order = new Map(steps.map((s, i) => [s.name, i]));
  [...extra, END].forEach((name, i) => order.set(name, steps.length + i));
  const layers = [];
  for (const [name, r] of rank) (layers[r] = layers[r] || []).push(name);
  const position = new Map();
  const parents = new Map();
  edges.forEach((e) => parents.set(e.to, [...(parents.get(e.to) || []), e.from]));
  layers.forEach((layer) => {
    const weight = (name) => {
      const placed = (parents.get(name) || []).filter((p) => position.has(p) && rank.get(p) < rank.get(name));
      return placed.length ? placed.reduce((sum, p) => sum + position.get(p), 0) / placed.length : order.get(name);
    };
    layer.sort((a, b) => weight(a) - weight(b) || order.get(a) - order.get(b));
    layer.forEach((name, i) => position.set(name, i));
  });
  const widest = Math.max(1, ...layers.map((l) => (l ? l.length : 0)));
  const width = widest * (NODE_W + GAP_X) + GAP_X * 2;
  const nodes = new Map();
  layers.forEach((layer, r) => {
    const offset = (width - layer.length * (NODE_W + GAP_X) + GAP_X) / 2;
    layer.forEach((name, i) => {
      nodes.set(name, { x: offset + i * (NODE_W + GAP_X), y: GAP_Y / 2 + r * (NODE_H + GAP_Y), rank: r });
    });
  });
  return { nodes, width: width + GAP_X, height: layers.length * (NODE_H + GAP_Y) + GAP_Y / 2 };
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function edgePath(a, b, index) {
  const x1 = a.x + NODE_W / 2;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2;
  const y2 = b.y;
  if (b.rank > a.rank) {
    const mid = (y1 + y2) / 2;
    return { d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`, lx: (x1 + x2) / 2, ly: mid };
  }
  // A back edge (a loop): out of the right side, round, into the target's right side.
  const side = Math.max(a.x, b.x) + NODE_W + 30 + index * 8;
  const ya = a.y + NODE_H / 2;
  const yb = b.y + NODE_H / 2;
  return { d: `M${a.x + NODE_W},${ya} C${side},${ya} ${side},${yb} ${b.x + NODE_W},${yb}`, lx: side - 10, ly: (ya + yb) / 2 };
}

/** Issues by step name: {severity: "ERROR"|"WARNING", messages: [...]}. */
function issuesByStep(issues) {
  const marks = new Map();
  for (const issue of issues || []) {
    for (const name of issue.steps) {
      const mark = marks.get(name) || { severity: "WARNING", messages: [] };
      if (issue.severity === "ERROR") mark.severity = "ERROR";
      mark.messages.push(issue.message);
      marks.set(name, mark);
    }
  }
  return marks;
}

/** Draw `steps` (sorted by order) into `container`; `onSelect(name)` on click or Enter. */
export function renderGraph(container, { steps, initialName, issues, selected, onSelect }) {
  const edges = scenarioEdges(steps);
  const { nodes, width, height } = layout(steps, initialName, edges);
  const marks = issuesByStep(issues);
  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: String(width),
    height: String(height),
    role: "group",
    "aria-label": `Scenario graph: ${steps.length} steps`,
    class: "graph",
  });
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: "graph__arrowhead" }));
  defs.append(marker);
  svg.append(defs);

  const edgeLayer = el("g", { class: "graph__edges", "aria-hidden": "true" });
  edges.forEach((edge, index) => {
    const a = nodes.get(edge.from);
    const b = nodes.get(edge.to);
    if (!a || !b) return;
    const { d, lx, ly } = edgePath(a, b, index % 4);
    const group = el("g", { class: `graph__edge graph__edge--${edge.kind}`, "data-from": edge.from, "data-to": edge.to === END ? "" : edge.to, "data-label": edge.label });
    group.append(el("path", { d, "marker-end": "url(#arrow)" }));
    const label = edge.label.length > 26 ? edge.label.slice(0, 25) + "…" : edge.label;
    group.append(el("text", { x: String(lx), y: String(ly - 4), "text-anchor": "middle", class: "graph__label" }, label));
    edgeLayer.append(group);
  });
  svg.append(edgeLayer);

  const nodeLayer = el("g", { class: "graph__nodes" });
  const byName = new Map(steps.map((s) => [s.name, s]));
  for (const [name, pos] of nodes) {
    const step = byName.get(name);
    const mark = marks.get(name);
    const group = el("g", { transform: `translate(${pos.x},${pos.y})`, class: "graph__node" });
    if (name === END) {
      group.classList.add("graph__node--end");
      group.append(el("rect", { width: String(NODE_W), height: String(NODE_H), rx: "25" }));
      group.append(el("text", { x: String(NODE_W / 2), y: "30", "text-anchor": "middle" }, "End"));
      group.setAttribute("aria-hidden", "true");
    } else if (!step) {
      group.classList.add("graph__node--missing");
      group.setAttribute("data-step", name);
      group.append(el("rect", { width: String(NODE_W), height: String(NODE_H), rx: "6" }));
      group.append(el("text", { x: String(NODE_W / 2), y: "22", "text-anchor": "middle" }, name.slice(0, 22)));
      group.append(el("text", { x: String(NODE_W / 2), y: "40", "text-anchor": "middle", class: "graph__type" }, "no such step"));
      group.append(el("title", {}, `"${name}" names no step of this scenario`));
    } else {
      group.classList.add(`graph__node--${step.stepType.toLowerCase()}`);
      if (mark) group.classList.add(`graph__node--${mark.severity.toLowerCase()}`);
      if (name === selected) group.classList.add("graph__node--selected");
      group.setAttribute("data-step", name);
      group.setAttribute("data-issue", mark ? mark.severity : "");
      group.setAttribute("role", "button");
      group.setAttribute("tabindex", "0");
      const problems = mark ? ` ${mark.severity === "ERROR" ? "Error" : "Warning"}: ${mark.messages.join(" ")}` : "";
      const start = name === initialName ? " Initial step." : "";
      group.setAttribute("aria-label", `Step ${name}, ${TYPE_LABEL[step.stepType]}.${start}${problems}`);
      group.append(el("rect", { width: String(NODE_W), height: String(NODE_H), rx: "6" }));
      group.append(el("text", { x: String(NODE_W / 2), y: "22", "text-anchor": "middle" }, (name === initialName ? "▶ " : "") + name.slice(0, 22)));
      group.append(el("text", { x: String(NODE_W / 2), y: "40", "text-anchor": "middle", class: "graph__type" }, TYPE_LABEL[step.stepType]));
      if (mark) {
        group.append(el("circle", { cx: String(NODE_W - 4), cy: "4", r: "9", class: "graph__badge" }));
        group.append(el("text", { x: String(NODE_W - 4), y: "8", "text-anchor": "middle", class: "graph__badge-text" }, mark.severity === "ERROR" ? "!" : "?"));
        group.append(el("title", {}, mark.messages.join("\n")));
      }
      group.addEventListener("click", () => onSelect(name));
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          onSelect(name);
        }
      });
    }
    nodeLayer.append(group);
  }
  svg.append(nodeLayer);
  container.replaceChildren(svg);
}
