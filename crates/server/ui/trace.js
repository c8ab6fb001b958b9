// One trace: its spans as a waterfall on a shared time axis, with
// collapsible subtrees, errors marked, and the selected span's details.
import { fetchJson, formatMicros, formatTimeMicros, h, plural, replace } from "./dom.js";
import { criticalPath, isError, serviceOf, spanRows } from "./spans.js";

const MAX_INDENT = 16;

/** The trace page (`#/trace/ID`), from `/api/v2/trace/ID`. */
export async function traceView(traceId) {
  const started = performance.now();
  const spans = await fetchJson(`/api/v2/trace/${encodeURIComponent(traceId)}`);
  const fetched = performance.now();
  const rows = spanRows(spans);
  let start = Infinity;
  let end = -Infinity;
  for (const span of spans) {
    if (!span.timestamp) continue;
    start = Math.min(start, span.timestamp);
    end = Math.max(end, span.timestamp + (span.duration || 0));
  }
  if (!Number.isFinite(start)) { start = 0; end = 1; }
  const total = Math.max(end - start, 1);
  const errors = spans.filter(isError).length;
  const services = new Set(spans.map(serviceOf));
  const critical = criticalPath(rows);

  const detail = h("aside", { class: "detail", id: "span-detail" }, h("p", { class: "muted" }, "Select a span to see its tags, annotations and endpoints."));
  const waterfall = h("div", { class: "waterfall", id: "waterfall" }, axis(total));
  const rowEls = new Array(rows.length);
  const collapsed = new Set();
  let selected = null;

  // One template row cloned per span and one click listener for them all:
  // a 10 000-span trace builds 10 000 rows, so per-row work is kept small.
  const template = h("div", { class: "row" },
    h("div", { class: "label" }, h("span", { class: "toggle" }), h("span", { class: "service" }), h("span", { class: "name" })),
    h("div", { class: "lane" }, h("span", { class: "bar" }), h("em", {})));
  const fragment = document.createDocumentFragment();
  rows.forEach((row, index) => {
    const { span } = row;
    const el = template.cloneNode(true);
    const [label, lane] = el.children;
    const [toggle, service, name] = label.children;
    const [bar, note] = lane.children;
    if (isError(span)) el.classList.add("error");
    // The critical path: a dark line over the parts of the bar on it.
    const sections = critical.get(index);
    if (sections) {
      el.classList.add("critical");
      for (const [from, to] of sections) {
        const mark = document.createElement("i");
        mark.className = "cp";
        mark.style.left = `${(100 * (from - start)) / total}%`;
        mark.style.width = `${(100 * (to - from)) / total}%`;
        lane.appendChild(mark);
      }
    }
    el.dataset.spanId = span.id || "";
    el.dataset.index = index;
    toggle.textContent = row.hasChildren ? "▾" : "";
    service.textContent = serviceOf(span);
    name.textContent = span.name || "(unnamed)";
    name.title = span.name || "";
    // Indented up to 16 levels; deeper spans say their depth instead, so a
    // long chain does not push its names out of the column.
    label.style.paddingLeft = `${Math.min(row.depth, MAX_INDENT) * 12}px`;
    if (row.depth > MAX_INDENT) service.textContent = `${row.depth}› ${service.textContent}`;
    const offset = span.timestamp ? span.timestamp - start : 0;
    const left = (100 * offset) / total;
    const width = (100 * (span.duration || 0)) / total;
    bar.style.left = `${left}%`;
    bar.style.width = `${width}%`;
    note.textContent = formatMicros(span.duration || 0);
    // The duration beside its bar, or before it when the bar ends near the edge.
    if (left + width < 85) note.style.left = `${left + width}%`;
    else if (left > 15) note.style.right = `${100 - left}%`;
    else note.classList.add("inside");
    rowEls[index] = el;
    fragment.appendChild(el);
  });
  waterfall.appendChild(fragment);
  waterfall.addEventListener("click", (event) => {
    const el = event.target.closest(".row");
    if (!el) return;
    const index = Number(el.dataset.index);
    if (event.target.classList.contains("toggle") && rows[index].hasChildren) {
      if (collapsed.has(index)) collapsed.delete(index); else collapsed.add(index);
      event.target.textContent = collapsed.has(index) ? "▸" : "▾";
      el.classList.toggle("collapsed", collapsed.has(index));
      applyCollapsed();
      return;
    }
    if (selected !== null) rowEls[selected].classList.remove("selected");
    selected = index;
    el.classList.add("selected");
    replace(detail, spanDetail(rows[index].span, start));
  });

  function applyCollapsed() {
    let i = 0;
    while (i < rows.length) {
      rowEls[i].hidden = false;
      if (collapsed.has(i)) {
        for (let j = i + 1; j < rows[i].end; j += 1) rowEls[j].hidden = true;
        i = Math.max(rows[i].end, i + 1);
      } else {
        i += 1;
      }
    }
  }

  const root = rows[0] ? rows[0].span : {};
  const page = h("section", { id: "trace-page", dataset: { traceId } },
    h("h1", {}, `${serviceOf(root)}: ${root.name || "(unnamed)"}`),
    h("div", { class: "toolbar" },
      h("span", { class: "mono" }, traceId),
      h("span", { class: "badge" }, plural(spans.length, "span")),
      h("span", { class: "badge" }, plural(services.size, "service")),
      h("span", { class: "badge" }, `duration ${formatMicros(end - start)}`),
      h("span", { class: "badge" }, `started ${formatTimeMicros(start)}`),
      errors ? h("span", { class: "badge error", id: "trace-errors" }, plural(errors, "error")) : null,
      h("span", { class: "badge critical-legend", id: "critical-legend", title: "The chain of spans that decided when the trace ended" },
        `critical path: ${plural(critical.size, "span")}`),
      h("button", { type: "button", id: "expand-all", onclick: () => {
        collapsed.clear();
        rows.forEach((row, index) => { if (row.hasChildren) { rowEls[index].querySelector(".toggle").textContent = "▾"; rowEls[index].classList.remove("collapsed"); } });
        applyCollapsed();
      } }, "Expand all")),
    h("div", { class: "trace-layout" }, waterfall, detail));
  // How long the page took from asking for the trace to painting it, and
  // how much of that was the request (read by the browser test).
  page.afterMount = () => requestAnimationFrame(() => setTimeout(() => {
    page.dataset.fetchMs = (fetched - started).toFixed(1);
    page.dataset.renderMs = (performance.now() - started).toFixed(1);
  }, 0));
  return page;
}

function axis(total) {
  const ticks = h("div", { class: "ticks" });
  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const tick = h("span", {}, formatMicros(Math.round(total * fraction)));
    // The end labels sit inside the axis: the first starts at its tick, the
    // last ends at it; the others are centred on theirs.
    if (fraction === 0) tick.classList.add("first");
    else if (fraction === 1) tick.classList.add("last");
    else tick.style.left = `${fraction * 100}%`;
    ticks.appendChild(tick);
  }
  return h("div", { class: "axis" }, h("div", {}, "service: span"), ticks);
}

function table(rows) {
  return h("table", {}, h("tbody", {}, rows.map(([key, value]) => h("tr", {}, h("td", {}, key), h("td", {}, value)))));
}

function endpoint(ep) {
  if (!ep) return "";
  const address = ep.ipv4 || ep.ipv6 || "";
  return [ep.serviceName, address && (ep.port ? `${address}:${ep.port}` : address)].filter(Boolean).join(" @ ");
}

function spanDetail(span, traceStart) {
  const begin = span.timestamp || 0;
  const tags = Object.entries(span.tags || {}).sort(([a], [b]) => a.localeCompare(b));
  const annotations = (span.annotations || []).slice().sort((a, b) => a.timestamp - b.timestamp);
  return h("div", { dataset: { spanId: span.id || "" } },
    h("h2", {}, `${serviceOf(span)}: ${span.name || "(unnamed)"}`),
    table([
      ["Span ID", span.id || ""],
      ["Parent ID", span.parentId || "(root)"],
      ["Trace ID", span.traceId || ""],
      ["Kind", span.kind || ""],
      ["Start", `${formatTimeMicros(begin)} (+${formatMicros(begin - traceStart)})`],
      ["Duration", formatMicros(span.duration || 0)],
      ["Local endpoint", endpoint(span.localEndpoint)],
      ["Remote endpoint", endpoint(span.remoteEndpoint)],
      ...(span.shared ? [["Shared", "true"]] : []),
      ...(span.debug ? [["Debug", "true"]] : []),
    ]),
    h("h2", {}, `Tags (${tags.length})`),
    tags.length ? h("div", { id: "span-tags" }, table(tags)) : h("p", { class: "muted" }, "none"),
    h("h2", {}, `Annotations (${annotations.length})`),
    annotations.length
      ? h("div", { id: "span-annotations" }, table(annotations.map((a) => [`+${formatMicros(a.timestamp - begin)}`, `${a.value}  (${formatTimeMicros(a.timestamp)})`])))
      : h("p", { class: "muted" }, "none"));
}
