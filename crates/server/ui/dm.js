// DM's traces: the first-seen list (from /api/tracekeep/traces) and one
// trace's events as a timeline (from dm-tracer's /events/query), with delete.
import { ApiError, fetchJson, formatTso, h, query, replace } from "./dom.js";
import { BINLOG_EVENT_TYPES, OP_TYPES, named } from "./dm-names.js";

const PAGE = 50;
const KINDS = { 1: "binlog", 2: "job", 3: "span" };
const JOB_STATES = ["init", "queued", "success", "error"];
const TOKEN_KEY = "tracekeep.token";

/** The list page (`#/dm?order=newest&kind=dm&cursor=C&prefix=P`). */
export async function dmListView(params) {
  const order = params.get("order") === "oldest" ? "oldest" : "newest";
  // DM traces by default: span traces (Zipkin, OTLP) share first-seen order
  // but have their own pages (search, trace).
  const kind = params.get("kind") === "all" ? "all" : "dm";
  const cursor = params.get("cursor") || "";
  const prefix = params.get("prefix") || "";
  const page = await fetchJson(`/api/tracekeep/traces${query({ order, kind, cursor, prefix, limit: PAGE })}`);
  const link = (extra) => `#/dm?${new URLSearchParams({ order, kind, ...(prefix ? { prefix } : {}), ...extra })}`;
  const switchTo = (extra) => `#/dm?${new URLSearchParams({ order, kind, ...extra })}`;

  const openForm = h("form", { class: "toolbar", id: "open-trace" },
    h("input", { name: "traceId", id: "open-trace-id", placeholder: "trace ID", size: 40 }),
    h("button", { type: "submit" }, "Open trace"));
  openForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = openForm.elements.traceId.value.trim();
    if (id) window.location.hash = `#/dm/${encodeURIComponent(id)}`;
  });

  const filter = h("input", { type: "search", id: "dm-filter", placeholder: "filter this page" });
  const rows = page.traces.map((trace) => h("tr", { dataset: { traceId: trace.trace_id } },
    h("td", {}, h("a", { href: `#/dm/${encodeURIComponent(trace.trace_id)}`, class: "mono" }, trace.trace_id)),
    h("td", { class: "num" }, trace.events),
    h("td", { class: "kinds" }, kindCounts(trace.kinds)),
    h("td", {}, formatTso(trace.first_tso)),
    h("td", {}, formatTso(trace.last_tso)),
    h("td", { class: "num mono muted" }, trace.cursor)));
  const shown = h("span", { class: "muted", id: "dm-count" });
  const applyFilter = () => {
    const needle = filter.value.trim().toLowerCase();
    let count = 0;
    for (const row of rows) {
      const visible = !needle || row.textContent.toLowerCase().includes(needle);
      row.hidden = !visible;
      if (visible) count += 1;
    }
    shown.textContent = `${count} of ${rows.length} traces on this page`;
  };
  filter.addEventListener("input", applyFilter);
  applyFilter();

  let empty = cursor ? "No more traces." : kind === "dm" ? "No DM traces stored yet." : "No traces stored yet.";
  if (page.next) empty = "No matching traces among the traces walked for this page; the next page goes on.";
  return h("section", {},
    h("h1", {}, kind === "dm" ? "DM traces" : "All traces"),
    openForm,
    h("div", { class: "toolbar" },
      h("a", { href: switchTo({ kind: "dm" }), id: "kind-dm", class: kind === "dm" ? "badge" : "" }, "DM traces"),
      h("a", { href: switchTo({ kind: "all" }), id: "kind-all", class: kind === "all" ? "badge" : "" }, "All traces (spans too)"),
      h("span", { class: "muted" }, "·"),
      h("a", { href: switchTo({ order: "newest" }), id: "order-newest", class: order === "newest" ? "badge" : "" }, "Newest first"),
      h("a", { href: switchTo({ order: "oldest" }), id: "order-oldest", class: order === "oldest" ? "badge" : "" }, "Oldest first"),
      filter, shown),
    rows.length
      ? h("table", { class: "dm-list", id: "dm-list" },
        h("thead", {}, h("tr", {}, h("th", {}, "Trace ID"), h("th", { class: "num" }, "Events"), h("th", {}, "Kinds"),
          h("th", {}, "First event"), h("th", {}, "Last event"), h("th", { class: "num" }, "Cursor"))),
        h("tbody", {}, rows))
      : h("p", { class: "muted", id: "dm-empty" }, empty),
    h("div", { class: "toolbar" },
      cursor ? h("a", { href: link({}), id: "first-page" }, "First page") : null,
      page.next ? h("a", { href: link({ cursor: page.next }), id: "next-page" }, "Next page") : null));
}

/** One trace's events in arrival order (`#/dm/ID`). */
export async function dmTraceView(traceId) {
  let events;
  try {
    events = await fetchJson(`/events/query${query({ trace_id: traceId })}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return h("section", {}, h("h1", {}, traceId), h("p", { class: "alert", id: "dm-not-found" }, `No trace with ID ${traceId} is stored.`),
        h("a", { href: "#/dm" }, "Back to the list"));
    }
    throw error;
  }
  const tsos = events.map((e) => Number((e.event.base || {}).tso || 0)).filter((tso) => tso > 0);
  const first = tsos.length ? Math.min(...tsos) : 0;

  const dialog = h("dialog", { id: "confirm-delete" },
    h("p", {}, "Delete every event of trace ", h("strong", { class: "mono" }, traceId), "? This cannot be undone."),
    h("form", { method: "dialog", class: "toolbar" },
      h("button", { value: "cancel", id: "cancel-delete" }, "Cancel"),
      h("button", { value: "delete", class: "danger", id: "really-delete" }, "Delete")));
  const status = h("div", { id: "delete-status" });
  const remove = async () => {
    // A server with auth-token-file asks for a bearer token; it is kept for
    // this tab only (sessionStorage), never in the URL.
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    try {
      await fetchJson(`/events/delete${query({ trace_id: traceId })}`, { method: "POST", headers });
      window.location.hash = "#/dm";
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        const input = h("input", { type: "password", id: "delete-token", placeholder: "bearer token", autocomplete: "off" });
        const form = h("form", { class: "toolbar" }, input, h("button", { type: "submit", class: "danger", id: "delete-with-token" }, "Delete with this token"));
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          remove();
        });
        replace(status, h("p", { class: "alert" }, token ? "That token was refused." : "This server needs a token to delete traces."), form);
      } else {
        replace(status, h("p", { class: "alert" }, `Delete failed: ${error.message}`));
      }
    }
  };
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "delete") remove();
  });

  return h("section", { id: "dm-trace", dataset: { traceId } },
    h("h1", {}, traceId),
    h("div", { class: "toolbar" },
      h("span", { class: "badge" }, `${events.length} events`),
      h("span", { class: "badge" }, `first ${formatTso(first)}`),
      h("a", { href: "#/dm" }, "Back to the list"),
      h("button", { type: "button", class: "danger", id: "delete-trace", onclick: () => dialog.showModal() }, "Delete trace")),
    status, dialog,
    h("ol", { class: "timeline", id: "timeline" }, events.map((event) => timelineItem(event, first))));
}

function kindCounts(kinds) {
  const parts = Object.entries(kinds || {}).filter(([, count]) => count > 0).map(([name, count]) => `${count} ${name}`);
  return parts.join(", ");
}

function position(pos) {
  return pos ? `${pos.name || ""}:${pos.pos || 0}` : undefined;
}

function timelineItem(event, first) {
  const kind = KINDS[event.type] || `type ${event.type}`;
  const body = event.event || {};
  const base = body.base || {};
  const tso = Number(base.tso || 0);
  const fields = [];
  const add = (label, value) => { if (value !== undefined && value !== "" && value !== null) fields.push([label, value]); };
  if (kind === "job") {
    add("state", JOB_STATES[body.state || 0] || String(body.state));
    add("op type", named(OP_TYPES, body.opType));
    add("position", position(body.pos));
    add("current position", position(body.currentPos));
    add("SQL", body.sql);
    for (const ddl of body.ddls || []) add("DDL", ddl);
    if (body.ddlInfo) add("DDL lock", `${body.ddlInfo.lockID || ""}${body.ddlInfo.exec ? " (exec)" : ""}`);
    add("queue bucket", body.queueBucket);
    if (body.argsChecksum) add("args checksum", body.argsChecksum);
  } else if (kind === "binlog") {
    const state = body.state || {};
    add("event type", named(BINLOG_EVENT_TYPES, body.eventType));
    add("op type", named(OP_TYPES, body.opType));
    add("safe mode", state.safeMode ? "on" : "off");
    if (state.tryReSync) add("try re-sync", "yes");
    add("last position", position(state.lastPos));
    add("current position", position(state.currentPos));
  } else if (kind === "span") {
    add("operation", body.operation);
    add("span ID", body.spanID);
    add("parent span ID", body.parentSpanID);
    add("duration", body.duration ? `${(Number(body.duration) / 1e6).toFixed(3)}ms` : undefined);
    for (const [key, value] of Object.entries(body.tags || {})) add(`tag ${key}`, value);
  }
  if (base.groupID) add("group", base.groupID);
  return h("li", { dataset: { kind } },
    h("div", {}, h("div", {}, formatTso(tso)), h("div", { class: "muted" }, tso && first ? `+${((tso - first) / 1e6).toFixed(3)}ms` : "")),
    h("div", {}, h("div", { class: `kind ${kind}` }, kind), h("div", { class: "muted mono" }, base.filename ? `${base.filename}:${base.line || 0}` : "")),
    h("dl", {}, fields.map(([label, value]) => [h("dt", {}, label), h("dd", {}, String(value))])));
}
