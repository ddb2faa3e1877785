// Tiny DOM helpers: elements are built from data with text nodes only (no innerHTML of engine data).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

export const esc = encodeURIComponent;
export function resHref(id) { return `#/r/${encodeURIComponent(id)}`; }

export function badge(value, title) {
  const v = value == null || value === "" ? "unknown" : String(value);
  return h("span", { class: `badge b-${v.replace(/[^a-z_]/gi, "")}`, title }, v.replace(/_/g, " "));
}
export function kindBadge(kind) { return h("span", { class: "badge b-kind" }, kind || "?"); }
export function dot(status) { return h("span", { class: `dot dot-${status || "unknown"}`, title: status || "unknown" }); }

export function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function relTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  const s = (Date.now() - d.getTime()) / 1000;
  const a = Math.abs(s), suffix = s >= 0 ? " ago" : " ahead";
  if (a < 45) return `${Math.round(a)}s${suffix}`;
  if (a < 5400) return `${Math.round(a / 60)}m${suffix}`;
  if (a < 129600) return `${Math.round(a / 3600)}h${suffix}`;
  return `${Math.round(a / 86400)}d${suffix}`;
}
export function timeEl(t) { return h("time", { datetime: t || "", title: fmtTime(t) }, relTime(t)); }

// one formatter for the page: Number#toLocaleString("en-US") sets one up per call (Chromium 156:
// 60,000 calls 0.4 s, against 0.02 s with this one)
const THOUSANDS = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
export function fmtNum(v, digits = 1) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (Math.abs(v) >= 1000) return THOUSANDS.format(Math.round(v));
  return Number(v).toFixed(digits).replace(/\.0+$/, "");
}
export function fmtPct(v) { return v === null || v === undefined ? "—" : `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)}%`; }
export function fmtMs(v) { return v === null || v === undefined ? "—" : `${fmtNum(v, v < 10 ? 1 : 0)} ms`; }

/** "arn:aws:iam::123:user/alice" → "user/alice" (the full ARN stays in the title attribute). */
export function shortPrincipal(p) {
  if (!p) return "";
  const m = /^arn:[^:]*:(?:iam|sts)::\d*:(.+)$/.exec(p);
  return m ? m[1] : p;
}
export function principalEl(p) { return h("span", { title: p || "" }, shortPrincipal(p) || "unknown principal"); }

export function shortId(id) {
  if (!id) return "";
  // the last path segment (keeps "host:5432" of a database node); ARNs without a path: the last field
  const seg = id.includes("/") ? id.slice(id.lastIndexOf("/") + 1) : id.slice(id.lastIndexOf(":") + 1);
  return seg || id;
}

/** Honest states: what is missing and why, in words an on-call engineer can act on. */
export function errorBox(what, err) {
  if (err && err.kind === "missing") {
    return h("div", { class: "msg msg-na", "data-state": "unavailable" },
      `${what}: not available from this engine: `, h("code", {}, err.message));
  }
  const label = err && err.kind === "auth" ? "not authorised" : err && err.kind === "unreachable" ? "engine unreachable" : "failed";
  return h("div", { class: "msg msg-error", "data-state": "error" }, `${what} ${label}: `,
    h("code", {}, err ? err.message : "unknown error"));
}
export function emptyBox(text) { return h("div", { class: "msg msg-empty", "data-state": "empty" }, text); }
export function loading() { return h("div", { class: "msg msg-empty" }, h("span", { class: "spin" }), " loading…"); }

export function panel(title, opts, ...body) {
  const { count, actions, flush, id } = opts || {};
  return h("section", { class: "panel", id },
    h("div", { class: "panel-head" }, h("h2", {}, title), count !== undefined ? h("span", { class: "count" }, count) : null,
      h("span", { class: "grow" }), actions || null),
    h("div", { class: `panel-body${flush ? " flush" : ""}` }, ...body));
}

/** Fill `slot` with the result of an async render; errors become an honest message for `what`. */
export async function fill(slot, what, render) {
  clear(slot).append(loading());
  try {
    const out = await render();
    clear(slot);
    append(slot, [out]);
  } catch (e) {
    if (e.name === "AbortError") return;
    clear(slot).append(errorBox(what, e));
  }
}

/** Collapsible JSON tree; objects deeper than `open` levels start closed. */
export function jsonTree(value, open = 1) {
  const root = h("div", { class: "jt" });
  root.append(jnode(null, value, 0, open));
  return root;
}
function jnode(key, v, depth, open) {
  const k = key === null ? null : h("span", { class: "k" }, `${key}`, ": ");
  if (v !== null && typeof v === "object") {
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    const label = Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`;
    if (!entries.length) return h("div", { class: "leaf" }, k, h("span", { class: "z" }, Array.isArray(v) ? "[]" : "{}"));
    const d = h("details", { open: depth < open }, h("summary", {}, k, h("span", { class: "z" }, label)));
    for (const [ck, cv] of entries) d.append(jnode(ck, cv, depth + 1, open));
    return d;
  }
  let cls = "z", text = String(v);
  if (typeof v === "string") { cls = "s"; text = JSON.stringify(v); }
  else if (typeof v === "number") cls = "n";
  else if (typeof v === "boolean") cls = "b";
  return h("div", { class: "leaf" }, k, h("span", { class: cls }, text));
}

export function jsonText(v) {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

export function toast(text, kind = "", onClick) {
  const host = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: "status", onclick: () => { el.remove(); if (onClick) onClick(); } }, text);
  host.append(el);
  while (host.children.length > 4) host.firstChild.remove();
  setTimeout(() => el.remove(), 8000);
}
