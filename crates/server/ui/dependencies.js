// The service graph of a time window, from /api/v2/dependencies: services
// in columns by call depth, an arrow per caller → callee with its counts.
import { fetchJson, h, plural, query, svg } from "./dom.js";

const WINDOWS = [["1h", 3600e3], ["6h", 6 * 3600e3], ["1d", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3]];

/** The dependencies page (`#/dependencies?lookback=MS`). */
export async function dependenciesView(params) {
  const lookback = params.get("lookback") || String(86400e3);
  const links = await fetchJson(`/api/v2/dependencies${query({ endTs: Date.now(), lookback })}`);
  const picker = h("div", { class: "toolbar" }, "Window:",
    WINDOWS.map(([label, ms]) => h("a", { href: `#/dependencies?lookback=${ms}`, class: String(ms) === lookback ? "badge" : "" }, label)));
  if (links.length === 0) {
    return h("section", {}, h("h1", {}, "Dependencies"), picker, h("p", { class: "muted", id: "no-dependencies" }, "No calls between services in this window."));
  }
  return h("section", {}, h("h1", {}, "Dependencies"), picker, graph(links),
    h("table", { id: "dependency-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Caller"), h("th", {}, "Callee"), h("th", { class: "num" }, "Calls"), h("th", { class: "num" }, "Errors"))),
      h("tbody", {}, links.map((link) => h("tr", {},
        h("td", {}, link.parent), h("td", {}, link.child), h("td", { class: "num" }, link.callCount || 0),
        h("td", { class: "num" }, link.errorCount ? h("span", { class: "badge error" }, link.errorCount) : 0))))));
}

/** Columns by longest call path from a service nobody calls (cycles cut). */
function layout(links) {
  const services = [...new Set(links.flatMap((link) => [link.parent, link.child]))].sort();
  const depth = new Map(services.map((service) => [service, 0]));
  // Bellman-Ford style relaxation, capped so a cycle cannot run forever.
  for (let round = 0; round < services.length; round += 1) {
    let changed = false;
    for (const link of links) {
      if (link.parent === link.child) continue;
      const next = depth.get(link.parent) + 1;
      if (next > depth.get(link.child) && next < services.length) {
        depth.set(link.child, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const service of services) {
    const column = depth.get(service);
    (columns[column] ||= []).push(service);
  }
  return columns.filter(Boolean);
}

function graph(links) {
  const columns = layout(links);
  const nodeWidth = 170;
  const nodeHeight = 30;
  const columnGap = 110;
  const rowGap = 26;
  const height = Math.max(...columns.map((column) => column.length)) * (nodeHeight + rowGap) + rowGap;
  const width = columns.length * (nodeWidth + columnGap) - columnGap + 40;
  const place = new Map();
  columns.forEach((column, x) => column.forEach((service, y) => {
    const offset = (height - column.length * (nodeHeight + rowGap) + rowGap) / 2;
    place.set(service, { x: 20 + x * (nodeWidth + columnGap), y: offset + y * (nodeHeight + rowGap) });
  }));
  const marker = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#94a3b8" })));
  const edges = links.map((link) => {
    const from = place.get(link.parent);
    const to = place.get(link.child);
    const x1 = from.x + nodeWidth;
    const y1 = from.y + nodeHeight / 2;
    const x2 = to.x;
    const y2 = to.y + nodeHeight / 2;
    const path = link.parent === link.child
      ? `M ${x1 - 20} ${from.y} C ${x1 + 30} ${from.y - 40}, ${x1 + 30} ${y1 + 10}, ${x1} ${y1}`
      : `M ${x1} ${y1} C ${(x1 + x2) / 2} ${y1}, ${(x1 + x2) / 2} ${y2}, ${x2} ${y2}`;
    const label = `${plural(link.callCount || 0, "call")}${link.errorCount ? `, ${plural(link.errorCount, "error")}` : ""}`;
    return svg("g", {},
      svg("path", { d: path, class: `edge${link.errorCount ? " error" : ""}`, "marker-end": "url(#arrow)" }),
      svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", class: "edge-label" }, label));
  });
  const nodes = [...place.entries()].map(([service, { x, y }]) => svg("g", { class: "node" },
    svg("rect", { x, y, width: nodeWidth, height: nodeHeight, rx: 6 }),
    svg("text", { x: x + nodeWidth / 2, y: y + nodeHeight / 2 + 4, "text-anchor": "middle" },
      service.length > 22 ? `${service.slice(0, 21)}…` : service, svg("title", {}, service))));
  return svg("svg", { class: "graph", id: "dependency-graph", width, height, viewBox: `0 0 ${width} ${height}` }, marker, edges, nodes);
}
