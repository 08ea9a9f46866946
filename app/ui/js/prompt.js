// A prompt's messages split into parts by origin, from the markers of Mnemo's layout (app/prompt/layout.py
// and app/prompt/recall.py). Stored text inside a block is indented after its first line, so a marker at
// the start of a line is always the layout's own.

export const PARTS = {
  system: "System prompt",
  longterm: "Long-term memories",
  summaries: "Summaries",
  window: "Recent window",
  recalled: "Recalled turns",
  question: "The new message",
};

const LONG_TERM = /^Long-term memories \(facts saved from earlier conversations[^\n]*$/m;
const LONG_TERM_END = /^\(End of long-term memories\.\)$/m;
const SUMMARIES = /^Summary of the conversation so far:$/m;
const RECALLED = /^Memories recalled from earlier in this conversation[^\n]*:\n/;
const RECALLED_END = /^\(End of memories\.\)$\n*/m;

function textOf(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (p && p.type === "text" ? p.text : "")).join("");
  return content === null || content === undefined ? "" : JSON.stringify(content);
}

/** The system message as parts: its prompt, the long-term block, the summaries. */
function systemParts(text) {
  const parts = [];
  let rest = text;
  const cut = (regex) => {
    const found = regex.exec(rest);
    return found ? found.index : -1;
  };
  const starts = [cut(LONG_TERM), cut(SUMMARIES)].filter((i) => i >= 0);
  const first = starts.length ? Math.min(...starts) : rest.length;
  parts.push({ part: "system", text: rest.slice(0, first) });
  rest = rest.slice(first);
  if (LONG_TERM.exec(rest)?.index === 0) {
    const end = LONG_TERM_END.exec(rest);
    const stop = end ? end.index + end[0].length : rest.length;
    parts.push({ part: "longterm", text: rest.slice(0, stop) });
    rest = rest.slice(stop);
  }
  const summaries = cut(SUMMARIES);
  if (summaries >= 0) {
    if (summaries > 0) parts.push({ part: "system", text: rest.slice(0, summaries) });
    parts.push({ part: "summaries", text: rest.slice(summaries) });
  } else if (rest) {
    parts.push({ part: "system", text: rest });
  }
  return parts.filter((p) => p.text);
}

/** The newest user message as parts: the recalled block ahead of the user's own words. */
function lastParts(text) {
  const start = RECALLED.exec(text);
  if (!start || start.index !== 0) return [{ part: "question", text }];
  const end = RECALLED_END.exec(text);
  const stop = end ? end.index + end[0].length : text.length;
  return [
    { part: "recalled", text: text.slice(0, stop) },
    { part: "question", text: text.slice(stop) },
  ].filter((p) => p.text);
}

/** Each message with its parts: [{role, parts: [{part, text}]}]. */
export function split(messages) {
  const lastUser = messages.map((m) => m.role).lastIndexOf("user");
  return messages.map((m, n) => {
    const text = textOf(m.content);
    let parts;
    if (m.role === "system" && n === 0) parts = systemParts(text);
    else if (n === lastUser) parts = lastParts(text);
    else parts = [{ part: "window", text }];
    return { role: m.role, parts };
  });
}

/**
 * Tokens by part: the prompt's exact total (Mnemo's count) shared out by characters, since the API
 * counts the whole prompt only. Returns [{part, label, tokens}] in PARTS order.
 */
export function tokensByPart(split, total) {
  const chars = Object.fromEntries(Object.keys(PARTS).map((p) => [p, 0]));
  for (const message of split) for (const { part, text } of message.parts) chars[part] += text.length;
  const all = Object.values(chars).reduce((a, b) => a + b, 0) || 1;
  return Object.keys(PARTS).map((part) => ({ part, label: PARTS[part], tokens: Math.round((total * chars[part]) / all) }));
}
