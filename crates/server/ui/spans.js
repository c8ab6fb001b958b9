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
