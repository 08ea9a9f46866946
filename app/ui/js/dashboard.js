// Dashboard: counts by type, tag, source and project, storage sizes, extraction and summary activity,
// the summary queue, and the prompt-cache share of recent turns, as inline SVG charts.

import { call, getJson } from "./api.js";
import { bars, columns } from "./charts.js";
import { recentTurns } from "./chat.js";
import { bytes, errorBox, h, when } from "./dom.js";

const TOP_TAGS = 12;

export async function render(root) {
  root.append(h("div", { class: "view-head" }, h("h1", {}, "Dashboard"), h("button", { type: "button", onclick: () => rerender(root) }, "Refresh")));
  const [stats, ready, cache, listed] = await Promise.allSettled([
    getJson("/memories/stats"),
    readiness(),
    cacheTotals(),
    getJson("/conversations", { limit: 1, offset: 0 }),
  ]);
  const grid = h("div", { class: "dashboard" });
  root.append(grid);
  const conversations = listed.status === "fulfilled" ? listed.value.total : null;
  if (ready.status === "fulfilled") grid.append(readyCard(ready.value, conversations));
  else grid.append(panel("Service", errorBox(ready.reason)));
  if (stats.status === "rejected") {
    grid.append(panel("Memories", errorBox(stats.reason)));
  } else {
    const s = stats.value;
    grid.append(
      countsCard(s),
      panel("By type", bars(Object.entries(s.by_type), { label: "Current memories by type" })),
      panel("By tag", tagChart(s.tags)),
      panel("By source", bars(Object.entries(s.by_source), { label: "Current memories by source" })),
      panel("By project", bars(Object.entries(s.by_project).map(([p, n]) => [p || "(global)", n]).slice(0, TOP_TAGS), { label: "By project" })),
      panel("Storage", bars(Object.entries(s.storage).map(([k, v]) => [k.replace(/_bytes$/, "").replace(/_/g, " "), v]), { label: "Storage sizes", format: bytes })),
      extractionCard(s.extraction),
      summariesCard(s.summaries, s.summary_queue),
    );
  }
  grid.append(cacheCard(cache.status === "fulfilled" ? cache.value : null));
}

function rerender(root) {
  root.replaceChildren();
  render(root);
}

function panel(title, ...children) {
  return h("section", { class: "card panel-card" }, h("h2", {}, title), children);
}

async function readiness() {
  // 503 still says what is down, in the same body.
  return (await call("/ready", { accept: [503] })).json();
}

/** Prompt tokens cached and evaluated since start-up, from /metrics; null when it is not readable. */
async function cacheTotals() {
  const response = await call("/metrics", { ask: false, accept: [401, 403, 404] });
  if (!response.ok) return null;
  const text = await response.text();
  const sum = (kind) => {
    const found = new RegExp(`^mnemo_turn_prompt_tokens_sum\\{kind="${kind}"\\} (\\S+)$`, "m").exec(text);
    return found ? Number(found[1]) : 0;
  };
  const count = /^mnemo_turn_prompt_tokens_count\{kind="cached"\} (\S+)$/m.exec(text);
  return { cached: sum("cached"), evaluated: sum("evaluated"), turns: count ? Number(count[1]) : 0 };
}

function stat(label, value, cls = "") {
  return h("div", { class: `stat ${cls}` }, h("span", { class: "value" }, String(value)), h("span", { class: "label muted" }, label));
}

function readyCard(ready, conversations) {
  const queue = ready.summary_queue || {};
  return panel(
    "Service",
    h(
      "div",
      { class: "stats" },
      stat("status", ready.status, ready.status === "ready" ? "ok" : "bad"),
      stat("llama.cpp", ready.llm, ready.llm === "ok" ? "ok" : "bad"),
      stat("store", ready.store, ready.store === "ok" ? "ok" : "bad"),
      ready.context_tokens !== undefined ? stat("context tokens", ready.context_tokens) : null,
      ready.token_counts ? stat("token counts", ready.token_counts) : null,
      conversations === null ? null : stat("conversations", conversations),
      stat("summaries queued", queue.queued ?? 0),
      stat("summaries running", queue.running ?? 0),
      stat("dropped (cap)", queue.dropped ?? 0),
    ),
  );
}

function countsCard(s) {
  return panel(
    "Memories",
    h(
      "div",
      { class: "stats" },
      stat("current", s.current),
      stat("total stored", s.total),
      stat("pinned", s.pinned),
      stat("superseded", s.superseded),
      stat("archived", s.archived),
    ),
    h("p", { class: "muted" }, `Embeddings: ${s.embedding_model}`),
  );
}

function tagChart(tags) {
  const entries = Object.entries(tags).sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, TOP_TAGS).map(([t, n]) => [`#${t}`, n]);
  return [bars(shown, { label: "Current memories by tag" }), entries.length > TOP_TAGS ? h("p", { class: "muted" }, `and ${entries.length - TOP_TAGS} more tags`) : null];
}

function jobs(recent) {
  if (!recent || !recent.length) return h("p", { class: "muted" }, "No job since start-up.");
  return h(
    "ol",
    { class: "jobs" },
    recent.slice(0, 5).map((j) =>
      h("li", { class: j.ok ? "" : "failed" }, h("span", { class: "muted" }, when(j.at)), ` ${j.subject}: `, j.ok ? j.detail : `failed (${j.reason}): ${j.detail}`, h("span", { class: "muted" }, ` ${j.seconds} s`)),
    ),
  );
}

function extractionCard(e) {
  if (!e.enabled) return panel("Extraction", h("p", { class: "muted" }, "Extraction is off."));
  const counts = ["runs", "succeeded", "failed", "proposed", "ungrounded", "created", "merged", "superseded"].map((k) => [k, e[k] ?? 0]);
  return panel("Extraction since start-up", bars(counts, { label: "Extraction counters" }), failures(e.failures), jobs(e.recent));
}

function summariesCard(s, queue) {
  return panel(
    "Summaries since start-up",
    bars(
      [
        ["written", s.written],
        ["failed", s.failed],
        ["running", s.running],
        ["queued", queue.queued],
        ["dropped", queue.dropped],
      ],
      { label: "Summary activity" },
    ),
    failures(s.failures),
    jobs(s.recent),
  );
}

function failures(byReason) {
  const entries = Object.entries(byReason || {});
  if (!entries.length) return null;
  return h("p", { class: "error" }, "Failures: ", entries.map(([r, n]) => `${r} ${n}`).join(", "));
}

function cacheCard(totals) {
  const turns = recentTurns();
  const share = (c, e) => (c + e ? c / (c + e) : 0);
  return panel(
    "Prompt cache",
    totals && totals.cached + totals.evaluated
      ? h("p", {}, h("strong", {}, `${Math.round(100 * share(totals.cached, totals.evaluated))}%`), ` of prompt tokens came from llama.cpp's cache over ${totals.turns} turns since start-up (${totals.cached} cached, ${totals.evaluated} evaluated).`)
      : h("p", { class: "muted" }, totals ? "No turn since start-up." : "Totals need /metrics, which this key may not read."),
    turns.length
      ? [
          h("p", { class: "muted" }, `The last ${turns.length} turns sent from this tab:`),
          columns(
            turns.map((t, n) => [String(n + 1), share(t.cached_tokens, t.evaluated_tokens), `${t.cached_tokens} cached, ${t.evaluated_tokens} evaluated, ${t.conversation_id}`]),
            { label: "Cached share of recent turns" },
          ),
        ]
      : h("p", { class: "muted" }, "Turns sent from Chat in this tab show here, one column each."),
  );
}
