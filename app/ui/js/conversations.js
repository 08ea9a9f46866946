// Conversations: the list (sizes, last activity), one conversation's turns and summaries, forget.

import { getJson, sendJson } from "./api.js";
import { clear, confirmDialog, errorBox, guarded, h, pager, toast, when } from "./dom.js";

const LIST_LIMIT = 20;
const TURNS_LIMIT = 50;

export const path = (id) => `/conversations/${encodeURIComponent(id)}`;
export const link = (view, id) => `#/${view}/${encodeURIComponent(id)}`;

export async function render(root, id) {
  if (id) await renderOne(root, id);
  else await renderList(root);
}

/** A form that opens a conversation by its id, in `view`. */
export function openById(view, label = "Open") {
  const input = h("input", { name: "conversation_id", placeholder: "conversation id", required: true, "aria-label": "Conversation id" });
  return h(
    "form",
    {
      class: "row open-by-id",
      onsubmit: (event) => {
        event.preventDefault();
        if (input.value.trim()) location.hash = link(view, input.value.trim());
      },
    },
    input,
    h("button", { type: "submit" }, label),
  );
}

/** The most recently listed conversations as links into `view`, or nothing when this Mnemo lists none. */
export async function recentLinks(view, limit = 10) {
  try {
    const page = await getJson("/conversations", { limit, offset: 0 });
    if (!page.conversations.length) return null;
    return h(
      "ul",
      { class: "recent" },
      page.conversations.map((c) =>
        h("li", {}, h("a", { href: link(view, c.conversation_id) }, c.conversation_id), h("span", { class: "muted" }, ` ${c.turns} turns · ${when(c.last_activity)}`)),
      ),
    );
  } catch {
    return null; // the form above still opens any conversation by id
  }
}

async function renderList(root, offset = 0) {
  const status = h("div", { class: "status" });
  const table = h("div", { class: "table-wrap" });
  const pagerSlot = h("div");
  clear(root, h("div", { class: "view-head" }, h("h1", {}, "Conversations"), openById("conversations")), status, table, pagerSlot);
  let page;
  try {
    page = await getJson("/conversations", { limit: LIST_LIMIT, offset });
  } catch (error) {
    if (error.status === 404 || error.status === 405) {
      clear(status, h("p", { class: "notice" }, "This Mnemo cannot list its conversations (", error.message, "). Open one by its id above."));
    } else {
      clear(status, errorBox(error));
    }
    return;
  }
  if (!page.conversations.length && page.total === 0) {
    clear(status, h("p", { class: "muted" }, "No conversation yet: start one in Chat."));
    return;
  }
  clear(
    table,
    h(
      "table",
      { class: "conversations" },
      h("thead", {}, h("tr", {}, ["Conversation", "Turns", "Summaries", "First", "Last activity"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        page.conversations.map((c) =>
          h(
            "tr",
            { dataset: { id: c.conversation_id } },
            h("td", {}, h("a", { href: link("conversations", c.conversation_id) }, c.conversation_id)),
            h("td", { class: "num" }, c.turns),
            h("td", { class: "num" }, c.summaries),
            h("td", {}, when(c.first_activity)),
            h("td", {}, when(c.last_activity)),
          ),
        ),
      ),
    ),
  );
  clear(pagerSlot, pager(page, (next) => renderList(root, next), "conversations"));
}

async function renderOne(root, id) {
  const status = h("div", { class: "status" });
  const turns = h("section", { class: "turns", "aria-label": "Turns" });
  const summaries = h("section", { class: "summaries", "aria-label": "Summaries" });
  root.append(
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, h("a", { href: "#/conversations" }, "Conversations"), " / ", h("span", { class: "conversation-id" }, id)),
      h(
        "div",
        { class: "actions" },
        h("a", { class: "button", href: link("why", id) }, "Why it knows"),
        h("a", { class: "button", href: link("chat", id) }, "Chat here"),
        h("button", { type: "button", class: "danger", onclick: () => forget(id, status) }, "Forget…"),
      ),
    ),
    status,
    h("div", { class: "split" }, turns, summaries),
  );
  await Promise.all([showTurns(id, turns, 0), showSummaries(id, summaries)]);
}

async function showTurns(id, slot, offset) {
  const page = await guarded(slot, () =>
    getJson(`${path(id)}/messages`, { offset, limit: TURNS_LIMIT, include_abandoned: "true" }),
  );
  if (!page) return;
  clear(
    slot,
    h("h2", {}, `Turns (${page.total})`),
    page.messages.length ? null : h("p", { class: "muted" }, "No stored turn."),
    h("ol", { class: "messages" }, page.messages.map(message)),
    pager(page, (next) => showTurns(id, slot, next), "turns"),
  );
}

export function message(m) {
  const marks = [
    m.incomplete ? h("span", { class: "badge warn", title: "The reply broke off before it finished" }, "incomplete") : null,
    m.abandoned ? h("span", { class: "badge muted-badge", title: "Left by a regenerate or edit; never injected" }, "abandoned") : null,
  ];
  return h(
    "li",
    { class: `message role-${m.role}${m.abandoned ? " abandoned" : ""}${m.incomplete ? " incomplete" : ""}`, dataset: { turn: m.turn_index } },
    h("div", { class: "meta muted" }, h("span", {}, `#${m.turn_index}`), h("strong", {}, m.name || m.role), h("span", {}, when(m.created_at)), marks),
    h("div", { class: "text" }, m.content),
  );
}

async function showSummaries(id, slot) {
  const found = await guarded(slot, () => getJson(`${path(id)}/summaries`));
  if (!found) return;
  const levels = new Map();
  for (const s of found.summaries) levels.set(s.level, [...(levels.get(s.level) || []), s]);
  clear(
    slot,
    h("h2", {}, `Summaries (${found.summaries.length})`),
    found.summaries.length ? null : h("p", { class: "muted" }, "None yet: summaries are written as the conversation grows."),
    [...levels.keys()].sort((a, b) => b - a).map((level) =>
      h(
        "div",
        { class: "level" },
        h("h3", {}, `Level ${level}`),
        h(
          "ol",
          { class: "cards" },
          levels
            .get(level)
            .sort((a, b) => a.turn_from - b.turn_from)
            .map((s) =>
              h(
                "li",
                { class: "card summary" },
                h("div", { class: "meta muted" }, `turns ${s.turn_from}–${s.turn_to} · ${when(s.covers_from)} to ${when(s.covers_to)}`),
                h("p", {}, s.content),
              ),
            ),
        ),
      ),
    ),
  );
}

async function forget(id, status) {
  const sure = await confirmDialog(
    "Forget this conversation?",
    `Every turn, summary and vector of “${id}” will be deleted. This cannot be undone.`,
    "Forget",
  );
  if (!sure) return;
  const done = await guarded(status, () => sendJson("DELETE", path(id)));
  if (!done) return;
  toast(`Forgot “${id}”: ${done.deleted} records deleted.`);
  location.hash = "#/conversations";
}
