// Chat: streams POST /chat over SSE; beside each reply the memories injected and its token counts.

import { call, events, getJson } from "./api.js";
import { link, message, path } from "./conversations.js";
import { clear, errorBox, h, when } from "./dom.js";

const LAST = "mnemo.chatConversation";
const TURNS = "mnemo.recentTurns"; // this tab's recent turns' token counts, for the dashboard
const EARLIER = 20;

export function recentTurns() {
  try {
    return JSON.parse(sessionStorage.getItem(TURNS) || "[]");
  } catch {
    return [];
  }
}

function remember(conversationId, usage) {
  const turns = [...recentTurns(), { conversation_id: conversationId, at: new Date().toISOString(), ...usage }];
  sessionStorage.setItem(TURNS, JSON.stringify(turns.slice(-30)));
}

function newId() {
  return `web-${crypto.getRandomValues(new Uint32Array(1))[0].toString(36)}`;
}

export async function render(root, id) {
  const conversationId = id || sessionStorage.getItem(LAST) || newId();
  sessionStorage.setItem(LAST, conversationId);
  const idInput = h("input", { name: "conversation_id", value: conversationId, "aria-label": "Conversation id", required: true });
  const project = h("input", { name: "project", placeholder: "project (optional)", "aria-label": "Project" });
  const transcript = h("div", { class: "transcript", "aria-live": "polite" });
  const text = h("textarea", { name: "message", rows: 2, placeholder: "Say something…", required: true, "aria-label": "Message" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const form = h("form", { class: "composer" }, text, send);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const words = text.value;
    if (!words.trim()) return;
    text.value = "";
    send.disabled = true;
    try {
      await turn(transcript, conversationId, words, project.value.trim() || null);
    } finally {
      send.disabled = false;
      text.focus();
    }
  });
  root.append(
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Chat"),
      h(
        "form",
        {
          class: "row",
          onsubmit: (event) => {
            event.preventDefault();
            location.hash = link("chat", idInput.value.trim());
          },
        },
        idInput,
        h("button", { type: "submit" }, "Switch"),
        h("button", { type: "button", onclick: () => (location.hash = link("chat", newId())) }, "New"),
      ),
      h("div", { class: "actions" }, project, h("a", { class: "button", href: link("why", conversationId) }, "Why it knows")),
    ),
    transcript,
    form,
  );
  await earlier(transcript, conversationId);
}

/** The conversation's last stored turns, so a reopened chat shows where it was. */
async function earlier(transcript, conversationId) {
  try {
    const head = await getJson(`${path(conversationId)}/messages`, { limit: 1 });
    if (!head.total) return;
    const offset = Math.max(0, head.total - EARLIER);
    const page = await getJson(`${path(conversationId)}/messages`, { offset, limit: EARLIER });
    transcript.append(
      h(
        "details",
        { class: "earlier", open: true },
        h("summary", {}, `${page.total} stored turns${offset ? ` (the last ${page.messages.length} here)` : ""}`),
        h("ol", { class: "messages" }, page.messages.map(message)),
      ),
    );
  } catch (error) {
    transcript.append(errorBox(error));
  }
}

async function turn(transcript, conversationId, words, project) {
  const reply = h("div", { class: "text reply", "aria-busy": "true" });
  const side = h("aside", { class: "injected" }, h("p", { class: "muted" }, "Waiting for the memories…"));
  const usage = h("div", { class: "usage muted" });
  const box = h(
    "article",
    { class: "turn" },
    h(
      "div",
      { class: "exchange" },
      h("div", { class: "message role-user" }, h("div", { class: "meta muted" }, h("strong", {}, "you")), h("div", { class: "text" }, words)),
      h("div", { class: "message role-assistant" }, h("div", { class: "meta muted" }, h("strong", {}, "assistant")), reply, usage),
    ),
    side,
  );
  transcript.append(box);
  box.scrollIntoView({ block: "end" });
  const body = { conversation_id: conversationId, message: words, stream: true };
  if (project) body.project = project;
  try {
    const response = await call("/chat", { method: "POST", json: body });
    for await (const { event, data } of events(response)) {
      if (event === "memory") clear(side, injected(data));
      else if (event === "token") reply.append(data.delta);
      else if (event === "done") {
        clear(usage, usageLine(data));
        remember(conversationId, { ...data.usage, turn_index: data.turn_index });
      } else if (event === "error") reply.after(errorBox(data.error || data));
    }
  } catch (error) {
    reply.after(errorBox(error));
    clear(side);
  } finally {
    reply.removeAttribute("aria-busy");
    box.classList.add("done");
  }
}

function injected(data) {
  const recalled = data.memories || [];
  const longTerm = data.long_term_memories || [];
  return [
    h("h3", {}, `Memories injected (${recalled.length + longTerm.length})`),
    !recalled.length && !longTerm.length ? h("p", { class: "muted" }, "None this turn.") : null,
    h(
      "ul",
      { class: "cards" },
      longTerm.map((m) =>
        h(
          "li",
          { class: "card longterm", dataset: { id: m.id } },
          h("div", { class: "meta muted" }, h("span", { class: "badge" }, "long-term"), m.score === null || m.score === undefined ? (m.pinned ? "pinned" : "") : `score ${m.score.toFixed(2)}`),
          h("strong", {}, m.title),
          h("p", {}, m.content),
        ),
      ),
      recalled.map((m) =>
        h(
          "li",
          { class: "card recalled", dataset: { turn: m.turn_index } },
          h("div", { class: "meta muted" }, h("span", { class: "badge" }, "recalled"), `score ${m.score.toFixed(2)} · #${m.turn_index} ${m.name || m.role} · ${when(m.created_at)}`),
          h("p", {}, m.content),
        ),
      ),
    ),
  ];
}

function usageLine(done) {
  const u = done.usage;
  const share = u.cached_tokens + u.evaluated_tokens ? Math.round((100 * u.cached_tokens) / (u.cached_tokens + u.evaluated_tokens)) : 0;
  return [
    h("span", { class: "cached" }, `${u.cached_tokens} cached`),
    " · ",
    h("span", { class: "evaluated" }, `${u.evaluated_tokens} evaluated`),
    ` (${share}% from cache) · prompt ${done.prompt.tokens}/${done.prompt.budget} · reply ${u.completion_tokens} tokens`,
    done.finish_reason && done.finish_reason !== "stop" ? ` · ${done.finish_reason}` : "",
  ];
}
