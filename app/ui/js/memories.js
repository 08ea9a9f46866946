// Memories: search and filter, add, edit (with its history), pin, delete with undo, export/import, cleanup.

import { call, getJson, sendJson } from "./api.js";
import { clear, confirmDialog, errorBox, guarded, h, pager, toast, when } from "./dom.js";

export const TYPES = [
  "user_preference",
  "conversation_context",
  "project_knowledge",
  "code_snippet",
  "solution",
  "general",
];
// MemoryOut's fields that an export line (and so an import, or an undo) does not take.
const NOT_EXPORTED = ["current", "score", "semantic", "keyword"];

const filters = {
  q: "",
  mode: "hybrid",
  types: [],
  tags: "",
  project: "",
  include_global: false,
  source: "",
  pinned: "",
  after: "",
  before: "",
  include_superseded: false,
  include_archived: false,
  offset: 0,
  limit: 20,
};

export function tagList(text) {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

function query() {
  return {
    q: filters.q.trim(),
    mode: filters.q.trim() ? filters.mode : undefined,
    type: filters.types,
    tag: tagList(filters.tags),
    project: filters.project.trim(),
    include_global: filters.project.trim() && filters.include_global ? "true" : undefined,
    source: filters.source,
    pinned: filters.pinned,
    created_after: filters.after ? `${filters.after}T00:00:00Z` : undefined,
    created_before: filters.before ? `${filters.before}T23:59:59Z` : undefined,
    include_superseded: filters.include_superseded ? "true" : undefined,
    include_archived: filters.include_archived ? "true" : undefined,
    offset: filters.offset,
    limit: filters.limit,
  };
}

let listSlot;
let statusSlot;
let pagerSlot;

export async function render(root) {
  listSlot = h("ul", { class: "cards memory-list", "aria-label": "Memories" });
  statusSlot = h("div", { class: "status" });
  pagerSlot = h("div");
  root.append(
    h(
      "div",
      { class: "view-head" },
      h("h1", {}, "Memories"),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => editDialog(null) }, "Add memory"),
        h("button", { type: "button", onclick: exportFile }, "Export JSONL"),
      ),
    ),
    searchForm(),
    h("div", { class: "tools" }, importPanel(), cleanupPanel()),
    statusSlot,
    listSlot,
    pagerSlot,
  );
  await load();
}

function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

function bind(control, name, kind = "value") {
  const keep = () => {
    filters[name] = control[kind];
  };
  control.addEventListener("input", keep);
  control.addEventListener("change", keep);
  return control;
}

function searchForm() {
  const typeBoxes = TYPES.map((t) =>
    h(
      "label",
      { class: "check" },
      h("input", {
        type: "checkbox",
        name: "type",
        value: t,
        checked: filters.types.includes(t),
        onchange: (e) => {
          filters.types = e.target.checked ? [...filters.types, t] : filters.types.filter((x) => x !== t);
        },
      }),
      t.replace(/_/g, " "),
    ),
  );
  const select = (name, options) =>
    bind(
      h("select", { name }, options.map(([v, label]) => h("option", { value: v, selected: filters[name] === v }, label))),
      name,
    );
  return h(
    "form",
    {
      class: "search",
      role: "search",
      onsubmit: (e) => {
        e.preventDefault();
        filters.offset = 0;
        load();
      },
    },
    h(
      "div",
      { class: "row" },
      bind(h("input", { type: "search", name: "q", placeholder: "Search memories", value: filters.q, "aria-label": "Search" }), "q"),
      select("mode", [
        ["hybrid", "hybrid"],
        ["semantic", "semantic"],
        ["keyword", "keyword"],
      ]),
      h("button", { type: "submit", class: "primary" }, "Search"),
    ),
    h(
      "details",
      { class: "filters" },
      h("summary", {}, "Filters"),
      h("fieldset", { class: "types" }, h("legend", {}, "Type"), typeBoxes),
      h(
        "div",
        { class: "grid" },
        field("Tags (comma-separated)", bind(h("input", { name: "tags", value: filters.tags }), "tags")),
        field("Project", bind(h("input", { name: "project", value: filters.project }), "project")),
        h(
          "label",
          { class: "check" },
          bind(h("input", { type: "checkbox", name: "include_global", checked: filters.include_global }), "include_global", "checked"),
          "with global ones",
        ),
        field("Source", select("source", [["", "any"], ["user", "user"], ["extracted", "extracted"]])),
        field("Pinned", select("pinned", [["", "any"], ["true", "pinned"], ["false", "not pinned"]])),
        field("Created from", bind(h("input", { type: "date", name: "after", value: filters.after }), "after")),
        field("Created until", bind(h("input", { type: "date", name: "before", value: filters.before }), "before")),
        h(
          "label",
          { class: "check" },
          bind(h("input", { type: "checkbox", name: "include_superseded", checked: filters.include_superseded }), "include_superseded", "checked"),
          "superseded too",
        ),
        h(
          "label",
          { class: "check" },
          bind(h("input", { type: "checkbox", name: "include_archived", checked: filters.include_archived }), "include_archived", "checked"),
          "archived too",
        ),
      ),
    ),
  );
}

async function load() {
  const page = await guarded(statusSlot, () => getJson("/memories", query()));
  if (!page) return;
  clear(listSlot, page.memories.map(card));
  if (!page.memories.length) listSlot.append(h("li", { class: "empty muted" }, "No memory matches."));
  clear(
    pagerSlot,
    pager(page, (offset) => {
      filters.offset = offset;
      load();
    }, "memories"),
  );
}

function card(memory) {
  const states = [
    memory.archived ? h("span", { class: "badge warn" }, "archived") : null,
    memory.superseded_by ? h("span", { class: "badge warn" }, "superseded") : null,
  ];
  return h(
    "li",
    { class: "card memory", dataset: { id: memory.id } },
    h(
      "div",
      { class: "head" },
      h("span", { class: `badge type-${memory.type}` }, memory.type.replace(/_/g, " ")),
      h("strong", { class: "title" }, memory.title),
      memory.pinned ? h("span", { class: "pin", title: "Pinned: always injected" }, "📌") : null,
      states,
      memory.score !== null && memory.score !== undefined
        ? h("span", { class: "score", title: "Relevance" }, `score ${memory.score.toFixed(2)}`)
        : null,
    ),
    h("p", { class: "content" }, memory.content),
    h(
      "div",
      { class: "meta muted" },
      memory.tags.map((t) => h("span", { class: "tag" }, `#${t}`)),
      h("span", {}, memory.project ? `project ${memory.project}` : "global"),
      h("span", {}, `by ${memory.source}`),
      h("span", {}, when(memory.created_at)),
      memory.use_count ? h("span", {}, `used ${memory.use_count}×`) : null,
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: () => editDialog(memory) }, "Edit"),
      h("button", { type: "button", onclick: () => pin(memory) }, memory.pinned ? "Unpin" : "Pin"),
      h("button", { type: "button", class: "danger", onclick: () => remove(memory) }, "Delete"),
    ),
  );
}

async function pin(memory) {
  const done = await guarded(statusSlot, () => sendJson("PATCH", `/memories/${encodeURIComponent(memory.id)}`, { pinned: !memory.pinned }));
  if (done) await load();
}

/** The memory as an export line: what an import takes to put it back with its id and times. */
export function exportLine(memory) {
  const record = { ...memory };
  for (const name of NOT_EXPORTED) delete record[name];
  return JSON.stringify(record);
}

async function remove(memory) {
  const done = await guarded(statusSlot, () => sendJson("DELETE", `/memories/${encodeURIComponent(memory.id)}`));
  if (!done) return;
  await load();
  toast(`Deleted “${memory.title}”.`, { label: "Undo", run: () => restore(memory) });
}

async function restore(memory) {
  const report = await guarded(statusSlot, async () =>
    (await call("/memories/import", { method: "POST", body: exportLine(memory) + "\n", type: "application/x-ndjson", query: { mode: "skip" } })).json(),
  );
  if (!report) return;
  if (report.errors.length) {
    clear(statusSlot, errorBox({ message: report.errors.map((e) => e.message).join("; ") }));
    return;
  }
  toast(`Restored “${memory.title}”.`);
  await load();
}

function editDialog(memory) {
  const isNew = memory === null;
  const m = memory || { type: "general", title: "", content: "", tags: [], project: null, pinned: false, archived: false };
  const errors = h("div");
  const history = h("div", { class: "history" });
  const form = h(
    "form",
    { method: "dialog", class: "memory-form" },
    h("h2", {}, isNew ? "Add a memory" : "Edit memory"),
    field("Type", h("select", { name: "type" }, TYPES.map((t) => h("option", { value: t, selected: t === m.type }, t.replace(/_/g, " "))))),
    field("Title", h("input", { name: "title", value: m.title, required: true, maxlength: 500 })),
    field("Content", h("textarea", { name: "content", rows: 5, required: true }, m.content)),
    field("Tags (comma-separated)", h("input", { name: "tags", value: m.tags.join(", ") })),
    field("Project (empty: global)", h("input", { name: "project", value: m.project || "" })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "pinned", checked: m.pinned }), "pinned (always injected)"),
    isNew ? null : h("label", { class: "check" }, h("input", { type: "checkbox", name: "archived", checked: m.archived }), "archived"),
    errors,
    h(
      "menu",
      {},
      h("button", { type: "submit", class: "primary", value: "save" }, isNew ? "Add" : "Save"),
      h("button", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"),
    ),
    isNew ? null : history,
  );
  const dialog = h("dialog", { class: "wide" }, form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(form);
    const saved = await guarded(errors, () => save(memory, values));
    if (!saved) return;
    dialog.close();
    toast(saved);
    await load();
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  if (!isNew) showHistory(memory.id, history);
}

function formValues(form) {
  const data = new FormData(form);
  return {
    type: data.get("type"),
    title: data.get("title"),
    content: data.get("content"),
    tags: tagList(data.get("tags") || ""),
    project: (data.get("project") || "").trim() || null,
    pinned: data.get("pinned") === "on",
    archived: data.get("archived") === "on",
  };
}

async function save(memory, values) {
  if (memory === null) {
    const { archived, ...body } = values;
    const stored = await sendJson("POST", "/memories", body);
    return `Memory ${stored.outcome}: “${stored.memory.title}”.`;
  }
  const changes = {};
  for (const [name, value] of Object.entries(values)) {
    if (JSON.stringify(value) !== JSON.stringify(memory[name])) changes[name] = value;
  }
  if (!Object.keys(changes).length) return "Nothing changed.";
  const saved = await sendJson("PATCH", `/memories/${encodeURIComponent(memory.id)}`, changes);
  return `Saved “${saved.title}”.`;
}

async function showHistory(id, slot) {
  const found = await guarded(slot, () => getJson(`/memories/${encodeURIComponent(id)}/history`));
  if (!found) return;
  clear(
    slot,
    h("h3", {}, "History"),
    found.versions.length <= 1
      ? h("p", { class: "muted" }, "No other version: this fact was never superseded.")
      : null,
    h(
      "ol",
      { class: "versions" },
      found.versions.map((v) =>
        h(
          "li",
          { class: v.id === id ? "this" : "" },
          h("strong", {}, v.title),
          " ",
          h("span", { class: "muted" }, `${when(v.created_at)}${v.valid_to ? ` – ${when(v.valid_to)}` : ""}`),
          v.current ? h("span", { class: "badge" }, "current") : h("span", { class: "badge warn" }, "closed"),
          h("p", {}, v.content),
        ),
      ),
    ),
  );
}

async function exportFile() {
  const response = await guarded(statusSlot, () => call("/memories/export"));
  if (!response) return;
  const blob = await response.blob();
  const link = h("a", { href: URL.createObjectURL(blob), download: "mnemo-memories.jsonl" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function importPanel() {
  const file = h("input", { type: "file", name: "file", accept: ".jsonl,.ndjson,application/x-ndjson,text/plain", required: true });
  const mode = h("select", { name: "mode" }, h("option", { value: "skip" }, "skip ids that exist"), h("option", { value: "overwrite" }, "overwrite ids that exist"));
  const result = h("div", { class: "result" });
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        if (!file.files.length) return;
        const text = await file.files[0].text();
        const report = await guarded(result, async () =>
          (await call("/memories/import", { method: "POST", body: text, type: "application/x-ndjson", query: { mode: mode.value } })).json(),
        );
        if (!report) return;
        clear(
          result,
          h("p", {}, `Imported ${report.imported}, overwritten ${report.overwritten}, skipped ${report.skipped}, re-embedded ${report.reembedded}.`),
          report.errors.length
            ? h("ul", { class: "error" }, report.errors.map((e) => h("li", {}, `line ${e.line}: ${e.message}`)))
            : null,
        );
        await load();
      },
    },
    field("JSONL file", file),
    field("Mode", mode),
    h("button", { type: "submit" }, "Import"),
    result,
  );
  return h("details", { class: "panel import" }, h("summary", {}, "Import JSONL"), form);
}

function cleanupPanel() {
  const number = (name) => h("input", { type: "number", min: 0, name, inputmode: "numeric" });
  const form = h(
    "form",
    { class: "grid" },
    field("Older than (days)", number("older_than_days")),
    field("Unused for (days)", number("unused_days")),
    field("Keep at most", number("max_memories")),
    field("Action", h("select", { name: "action" }, h("option", { value: "archive" }, "archive"), h("option", { value: "delete" }, "delete"))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "consolidate_duplicates" }), "merge duplicates"),
  );
  const report = h("div", { class: "result" });
  const apply = h("button", { type: "button", class: "danger", hidden: true }, "Apply");
  let planned = null;
  const policy = () => {
    const data = new FormData(form);
    const body = { action: data.get("action"), consolidate_duplicates: data.get("consolidate_duplicates") === "on" };
    for (const name of ["older_than_days", "unused_days", "max_memories"]) {
      if (data.get(name) !== "") body[name] = Number(data.get(name));
    }
    return body;
  };
  form.addEventListener("input", () => {
    apply.hidden = true; // a changed policy needs a new dry run before it is applied
    planned = null;
  });
  const dryRun = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        const body = policy();
        const found = await guarded(report, () => sendJson("POST", "/memories/cleanup", { ...body, dry_run: true }));
        if (!found) return;
        clear(report, cleanupReport(found, "Dry run: nothing changed yet. Would"));
        const count = found.archived.length + found.deleted.length + found.merged.length;
        planned = count ? body : null;
        apply.hidden = !count;
        apply.textContent = `Apply: ${cleanupCounts(found)}`;
      },
    },
    "Dry run",
  );
  apply.addEventListener("click", async () => {
    if (!planned) return;
    if (!(await confirmDialog("Apply the cleanup?", `This will ${apply.textContent.replace("Apply: ", "")}.`, "Apply"))) return;
    const done = await guarded(report, () => sendJson("POST", "/memories/cleanup", { ...planned, dry_run: false }));
    apply.hidden = true;
    planned = null;
    if (!done) return;
    clear(report, cleanupReport(done, "Done:"));
    await load();
  });
  return h("details", { class: "panel cleanup" }, h("summary", {}, "Cleanup"), form, h("div", { class: "actions" }, dryRun, apply), report);
}

function cleanupCounts(found) {
  return `archive ${found.archived.length}, delete ${found.deleted.length}, merge ${found.merged.length}`;
}

function cleanupReport(found, lead) {
  const ids = (list) => (list.length ? list.join(", ") : "none");
  return h(
    "div",
    {},
    h("p", {}, `${lead} ${cleanupCounts(found)}.`),
    h(
      "ul",
      { class: "muted" },
      h("li", {}, `archive: ${ids(found.archived)}`),
      h("li", {}, `delete: ${ids(found.deleted)}`),
      h("li", {}, `merge: ${found.merged.length ? found.merged.map((m) => `${m.removed} → ${m.kept}`).join(", ") : "none"}`),
    ),
  );
}
