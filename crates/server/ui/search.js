// Span search: Zipkin's query form over /api/v2/traces, with the service,
// span-name and remote-service lists filled from the API.
import { errorBox, fetchJson, formatMicros, formatTimeMicros, h, plural, query, replace } from "./dom.js";
import { serviceSummary, summarize } from "./spans.js";

const LOOKBACKS = [
  ["15m", 15 * 60e3], ["1h", 3600e3], ["6h", 6 * 3600e3], ["1d", 86400e3], ["7d", 7 * 86400e3], ["30d", 30 * 86400e3],
];
const FIELDS = ["serviceName", "spanName", "remoteServiceName", "annotationQuery", "minDuration", "maxDuration", "lookback", "limit"];

function options(select, values, current) {
  replace(select, h("option", { value: "" }, "(any)"),
    values.map((value) => h("option", { value, selected: value === current }, value)));
  // A value from a bookmarked URL that the list no longer has stays selectable.
  if (current && !values.includes(current)) select.appendChild(h("option", { value: current, selected: true }, current));
}

async function fillServiceLists(form, params) {
  const service = form.elements.serviceName.value;
  const [spanNames, remotes] = service
    ? await Promise.all([
      fetchJson(`/api/v2/spans${query({ serviceName: service })}`),
      fetchJson(`/api/v2/remoteServices${query({ serviceName: service })}`),
    ])
    : [[], []];
  options(form.elements.spanName, spanNames, params.get("spanName") || "");
  options(form.elements.remoteServiceName, remotes, params.get("remoteServiceName") || "");
}

/** The search page; runs the query when the URL carries one. */
export async function searchView(params) {
  const services = await fetchJson("/api/v2/services");
  const input = (name, attrs) => h("input", { name, value: params.get(name) || "", ...attrs });
  const form = h("form", { class: "search", id: "search-form" },
    h("label", {}, "Service", h("select", { name: "serviceName", id: "serviceName" })),
    h("label", {}, "Span name", h("select", { name: "spanName", id: "spanName" })),
    h("label", {}, "Remote service", h("select", { name: "remoteServiceName", id: "remoteServiceName" })),
    h("label", {}, "Annotation query", input("annotationQuery", { placeholder: "error and http.method=GET", id: "annotationQuery" })),
    h("label", {}, "Min duration (μs)", input("minDuration", { type: "number", min: 0, id: "minDuration" })),
    h("label", {}, "Max duration (μs)", input("maxDuration", { type: "number", min: 0, id: "maxDuration" })),
    h("label", {}, "Lookback", h("select", { name: "lookback", id: "lookback" },
      LOOKBACKS.map(([label, ms]) => h("option", { value: ms, selected: String(ms) === (params.get("lookback") || String(3600e3)) }, label)))),
    h("label", {}, "Limit", input("limit", { type: "number", min: 1, max: 1000, id: "limit", value: params.get("limit") || "10" })),
    h("button", { type: "submit", class: "primary", id: "run-query" }, "Run query"));
  options(form.elements.serviceName, services, params.get("serviceName") || "");
  await fillServiceLists(form, params);
  form.elements.serviceName.addEventListener("change", () => fillServiceLists(form, new URLSearchParams()).catch(() => {}));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const field of FIELDS) {
      const value = form.elements[field].value.trim();
      if (value) next.set(field, value);
    }
    // endTs is taken at submit, so the URL reruns the same window.
    next.set("endTs", String(Date.now()));
    const hash = `#/search?${next}`;
    if (window.location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else window.location.hash = hash;
  });

  const results = h("div", { id: "results" });
  if (params.has("endTs")) {
    results.appendChild(h("p", { class: "muted" }, "Searching…"));
    runSearch(params, results);
  } else {
    results.appendChild(h("p", { class: "muted" }, "Choose what to look for and run the query."));
  }
  return h("section", {}, h("h1", {}, "Find traces"), form, results);
}

async function runSearch(params, results) {
  const request = {};
  for (const field of [...FIELDS, "endTs"]) request[field] = params.get(field) || "";
  try {
    const traces = await fetchJson(`/api/v2/traces${query(request)}`);
    const found = traces.filter((spans) => spans.length > 0);
    const rows = found.map(summarize);
    rows.sort((a, b) => b.start - a.start);
    replace(results, resultsTable(rows), rows.length ? servicesTable(serviceSummary(found)) : null);
  } catch (error) {
    replace(results, errorBox(error));
  }
}

function resultsTable(rows) {
  if (rows.length === 0) return h("p", { class: "muted", id: "no-results" }, "No traces match.");
  const longest = Math.max(...rows.map((row) => row.duration), 1);
  return h("div", {},
    h("p", { class: "muted" }, `${plural(rows.length, "trace")}, newest first`),
    h("table", { class: "results" },
      h("thead", {}, h("tr", {},
        h("th", {}, "Root"), h("th", {}, "Start"), h("th", { class: "duration-cell" }, "Duration"),
        h("th", { class: "num" }, "Spans"), h("th", {}, "Services"))),
      h("tbody", {}, rows.map((row) => {
        const bar = h("span", {});
        bar.style.width = `${Math.max(0.5, (100 * row.duration) / longest)}%`;
        return h("tr", { class: "result", dataset: { traceId: row.traceId }, onclick: () => { window.location.hash = `#/trace/${encodeURIComponent(row.traceId)}`; } },
          h("td", {},
            h("a", { href: `#/trace/${encodeURIComponent(row.traceId)}` }, `${row.rootService}: ${row.rootName}`),
            h("div", { class: "mono muted" }, row.traceId)),
          h("td", {}, formatTimeMicros(row.start)),
          h("td", { class: "duration-cell" }, h("div", { class: "duration-bar" }, bar, h("em", {}, formatMicros(row.duration)))),
          h("td", { class: "num" }, row.spans, row.errors ? h("span", { class: "badge error" }, plural(row.errors, "error")) : null),
          h("td", {}, row.services.map(([service, count]) => h("span", { class: "badge" }, `${service} ×${count}`))));
      }))));
}

/** Per service over the matching traces: how much, how often failing, how slow. */
function servicesTable(summary) {
  return h("div", {},
    h("h2", {}, "Services in these traces"),
    h("table", { class: "services", id: "service-summary" },
      h("thead", {}, h("tr", {},
        h("th", {}, "Service"), h("th", { class: "num" }, "Traces"), h("th", { class: "num" }, "Spans"),
        h("th", { class: "num" }, "Error rate"), h("th", { class: "num" }, "p50"), h("th", { class: "num" }, "p99"))),
      h("tbody", {}, summary.map((row) => h("tr", { dataset: { service: row.service } },
        h("td", {}, row.service),
        h("td", { class: "num" }, row.traces),
        h("td", { class: "num" }, row.spans),
        h("td", { class: "num" }, `${(100 * row.errorRate).toFixed(1)}%`),
        h("td", { class: "num" }, formatMicros(row.p50)),
        h("td", { class: "num" }, formatMicros(row.p99)))))));
}
