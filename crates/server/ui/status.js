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

/** The nodes of the cluster on the bucket, as this node reads them (nothing off a bucket). */
function clusterTable(cluster) {
  if (!cluster || !Array.isArray(cluster.nodes)) return [];
  const age = (ms) => (ms === null || ms === undefined ? "never" : ms < 1000 ? `${ms} ms ago` : `${uptime(Math.round(ms / 1000))} ago`);
  return [
    h("h2", {}, "Cluster"),
    h("table", { id: "status-cluster" },
      h("thead", {}, h("tr", {}, h("th", {}, "node"), h("th", {}, "last write"))),
      h("tbody", {}, cluster.nodes.map((node) => h("tr", {},
        h("td", {}, node.this_node ? `${node.node_id} (this node)` : node.node_id),
        h("td", { class: "num" }, age(node.last_write_age_ms)))))),
  ];
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
    clusterTable(stats.cluster),
    h("h2", {}, "Storage engine"),
    h("table", { id: "status-engine" }, h("tbody", {}, engine.map(([key, value]) => h("tr", {}, h("td", {}, key.replaceAll("_", " ")), h("td", { class: "num" }, String(value)))))),
    h("p", { class: "muted" }, "Format version ", String(stats.format_version), "."));
}
