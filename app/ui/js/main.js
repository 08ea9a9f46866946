// The page's router: #/view/argument, one module per view, each rendering into <main>.

import { keys } from "./api.js";
import * as chat from "./chat.js";
import * as conversations from "./conversations.js";
import * as dashboard from "./dashboard.js";
import { clear, errorBox } from "./dom.js";
import * as memories from "./memories.js";
import * as why from "./why.js";

const VIEWS = { memories, conversations, why, chat, dashboard };

function route() {
  const [name = "memories", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] ? name : "memories";
  const argument = rest.length ? decodeURIComponent(rest.join("/")) : "";
  return { view, argument };
}

async function show() {
  const { view, argument } = route();
  const main = document.getElementById("view");
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `Mnemo: ${document.querySelector(`#nav a[data-view="${view}"]`).textContent}`;
  clear(main);
  main.dataset.view = view;
  try {
    await VIEWS[view].render(main, argument);
  } catch (error) {
    main.append(errorBox(error));
  }
}

document.getElementById("forget-key").hidden = !keys.get();
document.getElementById("forget-key").addEventListener("click", () => {
  keys.forget();
  document.getElementById("forget-key").hidden = true;
  show();
});
window.addEventListener("hashchange", show);
show();
