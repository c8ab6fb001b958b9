// The web UI's router: the URL's hash names the view ("#/trace/ID"), so a
// view can be bookmarked and reloaded, and the server serves one page.
import { errorBox, replace } from "./dom.js";
import { searchView } from "./search.js";
import { traceView } from "./trace.js";
import { dmListView, dmTraceView } from "./dm.js";
import { dependenciesView } from "./dependencies.js";
import { statusView } from "./status.js";

const routes = [
  [/^\/trace\/(.+)$/, (match) => traceView(decodeURIComponent(match[1])), "search"],
  [/^\/dm\/(.+)$/, (match, params) => dmTraceView(decodeURIComponent(match[1]), params), "dm"],
  [/^\/dm$/, (match, params) => dmListView(params), "dm"],
  [/^\/dependencies$/, (match, params) => dependenciesView(params), "dependencies"],
  [/^\/status$/, () => statusView(), "status"],
  [/^\/(search)?$/, (match, params) => searchView(params), "search"],
];

/** Navigates to a hash route, e.g. go("/dm", {order: "oldest"}). */
export function go(path, params) {
  const search = params ? new URLSearchParams(params).toString() : "";
  window.location.hash = `#${path}${search ? `?${search}` : ""}`;
}

let generation = 0;

async function render() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split(/\?(.*)/s);
  const params = new URLSearchParams(search);
  const view = document.getElementById("view");
  const current = ++generation;
  for (const [pattern, build, section] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    for (const link of document.querySelectorAll("nav a")) {
      link.classList.toggle("active", link.dataset.route === section);
    }
    try {
      const content = await build(match, params);
      // A slower, older navigation must not overwrite a newer one.
      if (current === generation) {
        replace(view, content);
        if (typeof content.afterMount === "function") content.afterMount();
      }
    } catch (error) {
      if (current === generation) replace(view, errorBox(error));
    }
    return;
  }
  replace(view, errorBox(new Error(`no such page: ${path}`)));
}

window.addEventListener("hashchange", render);
render();
