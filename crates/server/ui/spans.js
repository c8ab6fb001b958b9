// What the search results and the trace view compute from Zipkin v2 spans.

/** Whether Zipkin would mark the span as an error (an "error" tag). */
export function isError(span) {
  return Boolean(span.tags && Object.prototype.hasOwnProperty.call(span.tags, "error"));
}

export function serviceOf(span) {
  return (span.localEndpoint && span.localEndpoint.serviceName) || "unknown";
}

/** A search result's row: root, start, duration, counts. */
export function summarize(spans) {
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  const services = new Map();
  for (const span of spans) {
    if (span.timestamp) {
      start = Math.min(start, span.timestamp);
      end = Math.max(end, span.timestamp + (span.duration || 0));
    }
    if (isError(span)) errors += 1;
    const service = serviceOf(span);
    services.set(service, (services.get(service) || 0) + 1);
  }
  const root = spans.find((span) => !span.parentId) || spans[0] || {};
  return {
    traceId: root.traceId || "",
    rootService: root.localEndpoint ? serviceOf(root) : "unknown",
    rootName: root.name || "(unnamed)",
    start: Number.isFinite(start) ? start : 0,
    duration: Number.isFinite(start) ? end - start : 0,
    spans: spans.length,
    errors,
    services: [...services.entries()].sort((a, b) => b[1] - a[1]),
  };
}

/**
 * The spans as a tree, in display order: each row has its span, depth and
 * the index just past its subtree (for collapsing). A span whose parent is
 * missing becomes a root; a shared (server) span sits under the client span
 * with its ID. Iterative, so a 10 000-deep chain does not overflow the stack.
 */
export function spanRows(spans) {
  const nodes = spans.map((span, index) => ({ span, index, children: [] }));
  const byId = new Map();
  for (const node of nodes) {
    if (!node.span.shared || !byId.has(node.span.id)) byId.set(node.span.id, node);
  }
  const roots = [];
  for (const node of nodes) {
    const { span } = node;
    let parent;
    if (span.shared && byId.get(span.id) !== node) parent = byId.get(span.id);
    else if (span.parentId) parent = byId.get(span.parentId);
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  const byStart = (a, b) => (a.span.timestamp || 0) - (b.span.timestamp || 0) || a.index - b.index;
  roots.sort(byStart);
  const rows = [];
  const seen = new Set();
  const stack = roots.slice().reverse().map((node) => ({ node, depth: 0 }));
  while (stack.length > 0) {
    const { node, depth, closes } = stack.pop();
    if (closes !== undefined) {
      rows[closes].end = rows.length;
      continue;
    }
    // A parent cycle in bad data must not loop forever.
    if (seen.has(node)) continue;
    seen.add(node);
    const row = { span: node.span, depth, hasChildren: node.children.length > 0, end: 0 };
    rows.push(row);
    stack.push({ closes: rows.length - 1 });
    node.children.sort(byStart);
    for (let i = node.children.length - 1; i >= 0; i -= 1) stack.push({ node: node.children[i], depth: depth + 1 });
  }
  // Spans only reachable through a cycle are shown as roots.
  for (const node of nodes) {
    if (!seen.has(node)) rows.push({ span: node.span, depth: 0, hasChildren: false, end: rows.length + 1 });
  }
  return rows;
}

/**
 * The critical path of the trace under `rows[0]` (Jaeger's definition): the
 * chain of work that decided the trace's end. From the root's end, walk back
 * through the child that finished last before that point, into it, and out
 * again at its start, until the root's start. Children are clipped to their
 * parent's time. Returns, per row index on the path, its [start, end]
 * sections in microseconds. Each child is taken at most once (children are
 * sorted by end and a pointer only moves on), so a 10 000-span trace costs
 * O(n log n).
 */
export function criticalPath(rows) {
  const path = new Map();
  if (rows.length === 0) return path;
  const parent = new Array(rows.length).fill(-1);
  const kids = rows.map(() => []);
  for (let i = 0; i < rows.length; i += 1) {
    for (let j = i + 1; j < Math.min(rows[i].end, rows.length); j = Math.max(rows[j].end, j + 1)) {
      kids[i].push(j);
      parent[j] = i;
    }
  }
  // Bounds clipped to the parent's, top-down (a parent's row comes first).
  const bounds = rows.map(() => null);
  for (let i = 0; i < rows.length; i += 1) {
    const { span } = rows[i];
    let start = span.timestamp || 0;
    let end = start + (span.duration || 0);
    if (parent[i] >= 0 && bounds[parent[i]]) {
      const [ps, pe] = bounds[parent[i]];
      if (!span.timestamp) start = ps;
      start = Math.min(Math.max(start, ps), pe);
      end = Math.min(Math.max(end, start), pe);
    }
    bounds[i] = [start, end];
  }
  for (const list of kids) list.sort((a, b) => bounds[b][1] - bounds[a][1] || bounds[b][0] - bounds[a][0]);
  const next = new Array(rows.length).fill(0);
  const add = (index, start, end) => {
    if (!path.has(index)) path.set(index, []);
    path.get(index).push([start, end]);
  };
  let current = 0;
  let until = bounds[0][1];
  for (;;) {
    const list = kids[current];
    while (next[current] < list.length && bounds[list[next[current]]][1] > until) next[current] += 1;
    if (next[current] < list.length) {
      const child = list[next[current]];
      next[current] += 1;
      const childEnd = bounds[child][1];
      if (childEnd < until) add(current, childEnd, until);
      current = child;
      until = childEnd;
      continue;
    }
    add(current, Math.min(bounds[current][0], until), until);
    if (parent[current] < 0) break;
    until = bounds[current][0];
    current = parent[current];
  }
  return path;
}

/** The value at quantile `q` (0..1) of sorted numbers (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Per service, over the given traces (each a list of spans): the traces it
 * appears in, its spans, the share of them with an error, and the p50 and
 * p99 of their durations (µs). Busiest service first.
 */
export function serviceSummary(traces) {
  const byService = new Map();
  traces.forEach((spans, traceIndex) => {
    for (const span of spans) {
      const name = serviceOf(span);
      if (!byService.has(name)) byService.set(name, { service: name, traces: new Set(), spans: 0, errors: 0, durations: [] });
      const entry = byService.get(name);
      entry.traces.add(traceIndex);
      entry.spans += 1;
      if (isError(span)) entry.errors += 1;
      entry.durations.push(span.duration || 0);
    }
  });
  return [...byService.values()].map((entry) => {
    entry.durations.sort((a, b) => a - b);
    return {
      service: entry.service,
      traces: entry.traces.size,
      spans: entry.spans,
      errorRate: entry.spans ? entry.errors / entry.spans : 0,
      p50: quantile(entry.durations, 0.5),
      p99: quantile(entry.durations, 0.99),
    };
  }).sort((a, b) => b.spans - a.spans || a.service.localeCompare(b.service));
}
