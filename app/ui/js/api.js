// Mnemo's HTTP API as the page calls it: one error shape, a key asked for on 401, SSE read from fetch.

const KEY = "mnemo.apiKey";
// The page is served at <root>/ui/, the API at <root>/.
const ROOT = new URL("../", document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function apiUrl(path, query = {}) {
  const url = new URL(path.replace(/^\//, ""), ROOT);
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null || item === "") continue;
      url.searchParams.append(name, String(item));
    }
  }
  return url;
}

export const keys = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  forget: () => sessionStorage.removeItem(KEY),
};

let asking = null;

/** Asks for a key (one dialog however many calls were refused); resolves with it, or null if cancelled. */
function askKey(reason) {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason || "";
  input.value = "";
  asking = new Promise((resolve) => {
    const done = (key) => {
      dialog.removeEventListener("close", onClose);
      asking = null;
      if (dialog.open) dialog.close();
      resolve(key);
    };
    const onClose = () => {
      const key = dialog.returnValue === "ok" ? input.value.trim() : "";
      if (key) keys.set(key);
      document.getElementById("forget-key").hidden = !keys.get();
      done(key || null);
    };
    document.getElementById("key-cancel").onclick = () => {
      dialog.returnValue = "cancel";
      dialog.close();
    };
    dialog.addEventListener("close", onClose);
    dialog.returnValue = "";
    dialog.showModal();
  });
  return asking;
}

async function problemOf(response) {
  let code = `http_${response.status}`;
  let message = `Mnemo answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // not JSON: the status says it
  }
  return new ApiError(response.status, code, message);
}

/**
 * A fetch against the API that resolves to a 2xx Response (or a status in `accept`), else throws ApiError
 * with the API's message. A 401 asks for a key and tries again, unless `ask` is false.
 */
export async function call(path, { method = "GET", query, json, body, type, signal, accept = [], ask = true } = {}) {
  for (;;) {
    const headers = {};
    const key = keys.get();
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method, headers, signal };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      headers["Content-Type"] = "application/json";
    } else if (body !== undefined) {
      init.body = body;
      if (type) headers["Content-Type"] = type;
    }
    let response;
    try {
      response = await fetch(apiUrl(path, query), init);
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "unreachable", `Mnemo could not be reached: ${error.message}`);
    }
    if (response.status === 401 && ask) {
      const refused = await problemOf(response);
      if (key) keys.forget();
      if (await askKey(refused.message)) continue;
      throw refused;
    }
    if (!response.ok && !accept.includes(response.status)) throw await problemOf(response);
    return response;
  }
}

export async function getJson(path, query) {
  return (await call(path, { query })).json();
}

export async function sendJson(method, path, json, query) {
  return (await call(path, { method, json, query })).json();
}

/** The server-sent events of a streamed response, as {event, data} with data parsed from JSON. */
export async function* events(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    // A "\r" at the end may be the first half of "\r\n": keep it until the next piece.
    const held = buffer.endsWith("\r") ? "\r" : "";
    const text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
    const blocks = text.split("\n\n");
    buffer = blocks.pop() + held;
    for (const block of blocks) {
      const parsed = parseEvent(block);
      if (parsed) yield parsed;
    }
  }
  const last = parseEvent(buffer.replace(/\r\n?/g, "\n").trim());
  if (last) yield last;
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { event, data: JSON.parse(text) };
  } catch {
    return { event, data: text };
  }
}
