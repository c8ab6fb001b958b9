// Small helpers shared by every view. User data only ever reaches the page
// through text nodes and attributes set one by one (never parsed as markup), so a
// "<script>" in a tag value or trace ID is shown as text.

/** Builds an element: h("a", {href: "#/x", class: "y"}, "text", child, ...). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** An SVG element, attributes set the same way. */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** An HTTP error with the server's text. */
export class ApiError extends Error {
  constructor(status, text) {
    super(`${status}: ${text}`);
    this.status = status;
  }
}

/** GETs (or POSTs) a JSON endpoint; a non-2xx answer throws its text. */
export async function fetchJson(url, options) {
  const response = await fetch(url, options);
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, text.trim());
  return text ? JSON.parse(text) : null;
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** Microseconds as Zipkin's UI shows them: 850μs, 12.345ms, 3.2s. */
export function formatMicros(us) {
  if (us === undefined || us === null) return "";
  if (us < 1000) return `${us}μs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(3)}ms`;
  return `${(us / 1_000_000).toFixed(3)}s`;
}

/** A wall-clock time from epoch microseconds, with milliseconds. */
export function formatTimeMicros(us) {
  if (!us) return "";
  return formatDate(new Date(Math.floor(us / 1000)));
}

/** A DM TSO (epoch nanoseconds) as a time; 0 is "unset". */
export function formatTso(tso) {
  if (!tso) return "unset";
  return formatDate(new Date(Math.floor(Number(tso) / 1e6)));
}

function formatDate(date) {
  if (Number.isNaN(date.getTime())) return "invalid time";
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Bytes with a binary unit. */
/** "1 span", "2 spans". */
export function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

export function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = Number(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A view's error box. */
export function errorBox(error) {
  return h("div", { class: "alert", role: "alert" }, String(error.message || error));
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
