/* The console's analytics page (#/bot/<id>/stats): one botStats query (the public API),
 * drawn as charts with the vendored uPlot and as a table (the same figures, readable by
 * screen readers and tests), with links to download the range's transcripts
 * (/export/bots/<id>/transcripts.jsonl|.csv, authenticated by the session cookie).
 *
 * Days and hours are the browser's: the query sends its IANA time zone.
 */

import uPlot from "../vendor/uplot-1.6.32/uPlot.esm.js";
import { graphql } from "./api.js";
import { field, h, select } from "./dom.js";

const BUCKET = "start conversations messages visitors tokensIn tokensOut feedbackUp feedbackDown handoffs firstTokenP50Ms firstTokenP95Ms failures { code count }";
const STATS = `query($input: BotStatsInput!) { botStats(input: $input) {
  bot { id name } from to granularity timeZone buckets { ${BUCKET} } totals { ${BUCKET} } } }`;

const DAY_MS = 86400000;

function isoDay(date) {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 10);
}

function defaults(params) {
  const today = new Date();
  return {
    from: params.get("from") || isoDay(new Date(today.getTime() - 6 * DAY_MS)),
    to: params.get("to") || isoDay(today),
    granularity: params.get("granularity") || "DAY",
  };
}

/** The day after `day` (YYYY-MM-DD): the form's "to" is included, the API's excluded. */
function dayAfter(day) {
  const [y, m, d] = day.split("-").map(Number);
  return isoDay(new Date(y, m - 1, d + 1));
}

const SERIES_COLORS = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df"];

function chart(title, buckets, series) {
  const figure = h("figure", { class: "stats__chart", dataset: { chart: title } }, h("figcaption", {}, title));
  const xs = buckets.map((b) => new Date(b.start).getTime() / 1000);
  const data = [xs, ...series.map(([, pick]) => buckets.map(pick))];
  const opts = {
    width: 600,
    height: 220,
    series: [{}, ...series.map(([label], i) => ({ label, stroke: SERIES_COLORS[i % SERIES_COLORS.length], width: 2, spanGaps: false }))],
    axes: [{}, { size: 60 }],
    scales: { x: { time: true } },
  };
  // Drawn once the figure is in the page (uPlot measures it); resized with it.
  queueMicrotask(() => {
    const plot = new uPlot({ ...opts, width: Math.max(300, figure.clientWidth - 16) }, data, figure);
    new ResizeObserver(() => plot.setSize({ width: Math.max(300, figure.clientWidth - 16), height: 220 })).observe(figure);
  });
  return figure;
}

function ms(value) {
  return value === null || value === undefined ? "—" : `${value} ms`;
}

function failures(bucket) {
  return bucket.failures.map((f) => `${f.code}: ${f.count}`).join(", ") || "—";
}

function tiles(totals) {
  const items = [
    ["Conversations", totals.conversations], ["Visitors", totals.visitors], ["Messages", totals.messages],
    ["Tokens in", totals.tokensIn], ["Tokens out", totals.tokensOut],
    ["Feedback up", totals.feedbackUp], ["Feedback down", totals.feedbackDown],
    ["Handoffs", totals.handoffs],
    ["First token p50", ms(totals.firstTokenP50Ms)], ["First token p95", ms(totals.firstTokenP95Ms)],
    ["Failures", totals.failures.reduce((n, f) => n + f.count, 0)],
  ];
  return h("dl", { class: "stats__totals", "aria-label": "Totals" },
    ...items.map(([label, value]) => h("div", { class: "stats__tile", dataset: { total: label } }, h("dt", {}, label), h("dd", {}, String(value)))));
}

function table(stats) {
  const label = stats.granularity === "HOUR"
    ? (b) => new Date(b.start).toLocaleString([], { dateStyle: "short", timeStyle: "short" })
    : (b) => new Date(b.start).toLocaleDateString();
  const columns = ["Start", "Conversations", "Visitors", "Messages", "Tokens in", "Tokens out", "Up", "Down", "Handoffs", "p50", "p95", "Failures"];
  const rows = stats.buckets.map((b) => h("tr", {},
    h("th", { scope: "row" }, label(b)),
    ...[b.conversations, b.visitors, b.messages, b.tokensIn, b.tokensOut, b.feedbackUp, b.feedbackDown, b.handoffs, ms(b.firstTokenP50Ms), ms(b.firstTokenP95Ms), failures(b)]
      .map((v) => h("td", {}, String(v)))));
  return h("div", { class: "table-wrap" }, h("table", { class: "table stats__table" },
    h("caption", {}, stats.granularity === "HOUR" ? "Per hour" : "Per day"),
    h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, ...rows)));
}

function exportLinks(botId, from, to) {
  const range = new URLSearchParams({ from: new Date(from + "T00:00:00").toISOString(), to: new Date(dayAfter(to) + "T00:00:00").toISOString() });
  const base = new URL(`/export/bots/${encodeURIComponent(botId)}/transcripts`, window.location.href);
  return h("span", { class: "stats__export" }, "Transcripts of this range: ",
    h("a", { href: `${base}.jsonl?${range}`, download: "" }, "Download JSONL"), " · ",
    h("a", { href: `${base}.csv?${range}`, download: "" }, "Download CSV"));
}

/** Render the page into `shell.page(title, ...nodes)`; errors propagate to the router. */
export async function statsView(botId, params, shell) {
  const wanted = defaults(params);
  const from = field("From", h("input", { type: "date", value: wanted.from, required: true }), { name: "from" });
  const to = field("To (included)", h("input", { type: "date", value: wanted.to, required: true }), { name: "to" });
  const granularity = field("Per", select([["DAY", "Day"], ["HOUR", "Hour"]], wanted.granularity), { name: "granularity" });
  const form = h("form", { novalidate: true, class: "panel form form--inline", role: "search", "aria-label": "Analytics range" },
    from.wrap, to.wrap, granularity.wrap, h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams({ from: from.input.value, to: to.input.value, granularity: granularity.input.value });
    window.location.hash = `#/bot/${botId}/stats?${next}`;
  });
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const input = { botId, from: `${wanted.from}T00:00:00`, to: `${dayAfter(wanted.to)}T00:00:00`, granularity: wanted.granularity, timeZone };
  let stats;
  try {
    ({ botStats: stats } = await graphql(STATS, { input }));
  } catch (err) {
    if (err.code === "UNAUTHENTICATED") throw err;
    const alert = h("p", { class: "form__alert", role: "alert" }, err.message);
    return shell.page("Analytics", shell.crumbs(botId, null), form, alert);
  }
  const b = stats.buckets;
  shell.page(`Analytics: ${stats.bot.name}`, shell.crumbs(botId, stats.bot.name), form,
    h("p", {}, `Times in ${stats.timeZone}. `, exportLinks(botId, wanted.from, wanted.to)),
    tiles(stats.totals),
    h("div", { class: "stats__charts" },
      chart("Activity", b, [["Conversations", (x) => x.conversations], ["Visitors", (x) => x.visitors], ["Messages", (x) => x.messages]]),
      chart("Tokens", b, [["In", (x) => x.tokensIn], ["Out", (x) => x.tokensOut]]),
      chart("First-token latency (ms)", b, [["p50", (x) => x.firstTokenP50Ms], ["p95", (x) => x.firstTokenP95Ms]]),
      chart("Feedback and failures", b, [["Up", (x) => x.feedbackUp], ["Down", (x) => x.feedbackDown], ["Failures", (x) => x.failures.reduce((n, f) => n + f.count, 0)]])),
    table(stats));
}
