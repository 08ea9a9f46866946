// A small element builder, and the shared bits of the page's chrome (errors, toasts, dialogs).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "value" || name === "checked" || name === "selected") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** An API error as the API said it: its message, its code beside it. */
export function errorBox(error) {
  const code = error && error.code ? h("code", { class: "code" }, error.code) : null;
  const message = error && error.message ? error.message : String(error);
  return h("p", { class: "error", role: "alert" }, message, code ? " " : null, code);
}

/** Runs `work`, showing its error (if any) in `slot`; returns the result or undefined. */
export async function guarded(slot, work) {
  clear(slot);
  try {
    return await work();
  } catch (error) {
    if (error && error.name === "AbortError") return undefined;
    clear(slot, errorBox(error));
    return undefined;
  }
}

export function toast(message, action) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: "toast", role: "status" }, h("span", {}, message));
  const close = () => item.remove();
  if (action) {
    item.append(
      h("button", { type: "button", class: "primary", onclick: async () => { close(); await action.run(); } }, action.label),
    );
  }
  item.append(h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: close }, "×"));
  box.append(item);
  setTimeout(close, action ? 15000 : 6000);
  return item;
}

/** A modal asking to confirm; resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm" },
      h(
        "form",
        { method: "dialog" },
        h("h2", {}, title),
        h("p", {}, text),
        h(
          "menu",
          {},
          h("button", { type: "submit", value: "yes", class: "danger" }, confirmLabel),
          h("button", { type: "submit", value: "no" }, "Cancel"),
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "yes");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A time as "YYYY-MM-DD HH:MM UTC", from ISO-8601 text or epoch seconds. */
export function when(moment) {
  if (moment === null || moment === undefined || moment === "") return "";
  const date = new Date(typeof moment === "number" ? moment * 1000 : moment);
  return Number.isNaN(date.getTime()) ? String(moment) : date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Previous/next buttons for an API page `{total, offset, limit}`. */
export function pager(page, go, label = "items") {
  const { total, offset, limit } = page;
  const last = Math.min(offset + limit, total);
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)) }, "← Previous"),
    h("span", { class: "muted" }, total ? `${offset + 1}–${last} of ${total} ${label}` : `no ${label}`),
    h("button", { type: "button", disabled: last >= total, onclick: () => go(offset + limit) }, "Next →"),
  );
}
