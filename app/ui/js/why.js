// Why it knows: the last prompt sent for a conversation, or a preview for any question, each part
// highlighted by its origin, and the token budget as a bar split by part.

import { getJson, sendJson } from "./api.js";
import { stacked } from "./charts.js";
import { link, openById, path, recentLinks } from "./conversations.js";
import { clear, errorBox, guarded, h, when } from "./dom.js";
import { PARTS, split, tokensByPart } from "./prompt.js";

export async function render(root, id) {
  if (!id) {
    root.append(
      h("div", { class: "view-head" }, h("h1", {}, "Why it knows")),
      h("p", {}, "Pick a conversation to see the last prompt Mnemo sent for it, or to preview the prompt for any question."),
      openById("why", "Show"),
    );
    const recent = await recentLinks("why");
    if (recent) root.append(h("h2", {}, "Recent conversations"), recent);
    return;
  }
  const result = h("div", { class: "context-result" });
  const question = h("textarea", { name: "query", rows: 2, required: true, placeholder: "A question to preview", "aria-label": "Question" });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: 1, placeholder: "default", "aria-label": "Max prompt tokens" });
  const project = h("input", { name: "project", placeholder: "none", "aria-label": "Project" });
  const preview = h(
    "form",
    {
      class: "preview",
      onsubmit: async (event) => {
        event.preventDefault();
        const body = { query: question.value };
        if (maxTokens.value) body.max_tokens = Number(maxTokens.value);
        if (project.value.trim()) body.project = project.value.trim();
        const context = await guarded(result, () => sendJson("POST", `${path(id)}/context`, body));
        if (context) show(result, context, `Preview for “${body.query}” (nothing sent, nothing stored)`);
      },
    },
    question,
    h("div", { class: "row" }, h("label", { class: "field" }, h("span", {}, "Max tokens"), maxTokens), h("label", { class: "field" }, h("span", {}, "Project"), project)),
    h(
      "div",
      { class: "row" },
      h("button", { type: "submit", class: "primary" }, "Preview"),
      h("button", { type: "button", onclick: () => lastPrompt(id, result) }, "Last prompt sent"),
    ),
  );
  root.append(
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Why it knows: ", h("a", { href: link("conversations", id), class: "conversation-id" }, id)),
      h("div", { class: "actions" }, h("a", { class: "button", href: link("chat", id) }, "Chat here")),
    ),
    preview,
    result,
  );
  await lastPrompt(id, result);
}

async function lastPrompt(id, slot) {
  clear(slot, h("p", { class: "muted" }, "Loading the last prompt…"));
  try {
    const context = await getJson(`${path(id)}/context`);
    show(slot, context, "The last prompt sent");
  } catch (error) {
    clear(slot, errorBox(error), error.status === 404 ? h("p", { class: "muted" }, "Preview a question above to see what would be sent.") : null);
  }
}

function show(slot, context, heading) {
  const messages = split(context.messages);
  const byPart = tokensByPart(messages, context.prompt_tokens);
  clear(
    slot,
    h("h2", {}, heading),
    h(
      "p",
      { class: "budget-line" },
      h("strong", { class: "prompt-tokens" }, String(context.prompt_tokens)),
      ` of ${context.budget} tokens · ${context.window_turns} window turns · ${context.memories.length} recalled turns · `,
      `${context.long_term_memories.length} long-term memories · ${context.summaries.length} summaries`,
    ),
    budgetBar(byPart, context),
    h(
      "div",
      { class: "split" },
      h("section", { class: "prompt", "aria-label": "Prompt" }, h("h3", {}, "The exact prompt"), messages.map(messageBlock)),
      h("aside", { class: "origins" }, recalledList(context.memories), longTermList(context.long_term_memories), summaryList(context.summaries)),
    ),
  );
}

function budgetBar(byPart, context) {
  const parts = byPart.map((p) => ({ label: p.label, value: p.tokens, cls: `part-${p.part}` }));
  const free = Math.max(0, context.budget - context.prompt_tokens);
  return h(
    "figure",
    { class: "budget" },
    stacked(parts, context.prompt_tokens, { label: "The prompt's tokens by part" }),
    stacked([{ label: "prompt", value: context.prompt_tokens, cls: "used" }], Math.max(context.budget, context.prompt_tokens), {
      label: "The prompt within its budget",
    }),
    h(
      "figcaption",
      { class: "legend" },
      byPart
        .filter((p) => p.tokens > 0)
        .map((p) => h("span", { class: "key", dataset: { part: p.part } }, h("i", { class: `swatch part-${p.part}` }), `${p.label} ~${p.tokens}`)),
      h("small", { class: "muted" }, "(the total is counted exactly, its split by characters)"),
      h("span", { class: "key" }, h("i", { class: "swatch used" }), `prompt ${context.prompt_tokens} of the budget ${context.budget}`),
      h("span", { class: "key" }, h("i", { class: "swatch free" }), `free ${free}`),
    ),
  );
}

function messageBlock(message) {
  return h(
    "div",
    { class: `prompt-message role-${message.role}` },
    h("div", { class: "role" }, message.role),
    h("pre", {}, message.parts.map(({ part, text }) => h("span", { class: `part part-${part}`, title: PARTS[part], dataset: { part } }, text))),
  );
}

function recalledList(memories) {
  return h(
    "section",
    { class: "recalled" },
    h("h3", {}, h("i", { class: "swatch part-recalled" }), `Recalled turns (${memories.length})`),
    memories.length ? null : h("p", { class: "muted" }, "None."),
    h(
      "ol",
      { class: "cards" },
      [...memories]
        .sort((a, b) => b.score - a.score)
        .map((m) =>
          h(
            "li",
            { class: "card", dataset: { turn: m.turn_index } },
            h(
              "div",
              { class: "meta muted" },
              h("span", { class: "score" }, `score ${m.score.toFixed(3)}`),
              h("span", {}, `#${m.turn_index} ${m.name || m.role}`),
              h("span", {}, when(m.created_at)),
              m.neighbour_of !== null && m.neighbour_of !== undefined ? h("span", {}, `next to #${m.neighbour_of}`) : null,
            ),
            h("p", {}, m.content),
          ),
        ),
    ),
  );
}

function longTermList(memories) {
  return h(
    "section",
    { class: "longterm" },
    h("h3", {}, h("i", { class: "swatch part-longterm" }), `Long-term memories (${memories.length})`),
    memories.length ? null : h("p", { class: "muted" }, "None."),
    h(
      "ol",
      { class: "cards" },
      memories.map((m) =>
        h(
          "li",
          { class: "card", dataset: { id: m.id } },
          h(
            "div",
            { class: "meta muted" },
            h("span", { class: "score" }, m.score === null || m.score === undefined ? (m.pinned ? "pinned" : "") : `score ${m.score.toFixed(3)}`),
            h("span", {}, `${m.type.replace(/_/g, " ")}, ${m.source}`),
          ),
          h("strong", {}, m.title),
          h("p", {}, m.content),
        ),
      ),
    ),
  );
}

function summaryList(summaries) {
  return h(
    "section",
    { class: "summaries" },
    h("h3", {}, h("i", { class: "swatch part-summaries" }), `Summaries (${summaries.length})`),
    summaries.length ? null : h("p", { class: "muted" }, "None."),
    h(
      "ol",
      { class: "cards" },
      summaries.map((s) =>
        h("li", { class: "card" }, h("div", { class: "meta muted" }, `level ${s.level} · turns ${s.turn_from}–${s.turn_to}`), h("p", {}, s.content)),
      ),
    ),
  );
}
