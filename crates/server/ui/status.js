// The server's version and the store's figures, from /status and
// /api/tracekeep/stats.
import { fetchJson, formatBytes, formatTso, h } from "./dom.js";

function uptime(seconds) {
  const d = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [d && `${d}d`, (d || hours) && `${hours}h`, (d || hours || m) && `${m}m`, `${s}s`].filter(Boolean).join(" ");
}

function card(label, value, id) {
  return h("div", { class: "card", id }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

/** The status page (`#/status`). */
export async function statusView() {
  const [status, stats] = await Promise.all([fetchJson("/status"), fetchJson("/api/tracekeep/stats")]);
  const events = Object.entries(stats.events || {});
  const engine = Object.entries(stats.engine || {});
  return h("section", {},
    h("h1", {}, "Status"),
    h("div", { class: "cards" },
      card("version", `${status.version} (${status.git_hash})`, "status-version"),
      card("uptime", uptime(stats.uptime_seconds || 0), "status-uptime"),
      card("traces", stats.traces, "status-traces"),
      card("bytes on disk", formatBytes(stats.bytes_on_disk), "status-bytes"),
      card("TSO mark", formatTso(stats.tso_mark), "status-tso"),
      events.map(([kind, count]) => card(`${kind} events`, count, `status-events-${kind}`))),
    h("h2", {}, "Storage engine"),
    h("table", { id: "status-engine" }, h("tbody", {}, engine.map(([key, value]) => h("tr", {}, h("td", {}, key.replaceAll("_", " ")), h("td", { class: "num" }, String(value)))))),
    h("p", { class: "muted" }, "Format version ", String(stats.format_version), "."));
}
