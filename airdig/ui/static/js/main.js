// AirDig SPA entry: hash router, global search, keyboard shortcuts, theme, token and live updates.

import { gql, getToken, setToken } from "./api.js";
import { h, clear, kindBadge, dot, resHref, toast, shortId } from "./dom.js";
import { Live } from "./live.js";
import { renderHome } from "./views/home.js";
import { renderResource } from "./views/resource.js";
import { renderServiceMap } from "./views/servicemap.js";
import { renderDrift } from "./views/drift.js";
import { renderSearch } from "./views/search.js";
import { renderDiff } from "./views/diff.js";
import { atOf, withAt, renderTimebar } from "./timectl.js";
import { loadRenderer, BIG } from "./graph.js";

const view = document.getElementById("view");
let current = null;     // { name, refresh() }
let abort = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  const params = new URLSearchParams(qs || "");
  const parts = path.split("/");
  return { name: parts[0] || "home", arg: parts.slice(1).join("/"), params };
}

// time travel is sticky: while `at` is set, every navigation (links included) keeps it; "now" drops it
let stickyAt = null;
export function navigate(hash) {
  if (stickyAt && !/[?&]at=/.test(hash)) hash = withAt(hash, stickyAt);
  if (location.hash === hash) route(); else location.hash = hash;
}
function goAt(iso) {
  stickyAt = iso;
  navigate(withAt(location.hash || "#/", iso));
}

function route(keepScroll = false) {
  if (abort) abort.abort();
  abort = new AbortController();
  const { name, arg, params } = parseHash();
  const at = atOf(params);
  if (!at && stickyAt && !params.has("at")) { location.replace(withAt(location.hash || "#/", stickyAt)); return; }
  stickyAt = at;
  renderTimebar(document.getElementById("timebar"), { at, go: goAt, view: name });
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", a.dataset.nav === name));
  const y = window.scrollY;
  clear(view);
  const ctx = { root: view, params, signal: abort.signal, navigate, at };
  if (name === "r") renderResource(ctx, decodeURIComponent(arg));
  else if (name === "map") renderServiceMap(ctx);
  else if (name === "drift") renderDrift(ctx);
  else if (name === "search") renderSearch(ctx);
  else if (name === "diff") renderDiff(ctx);
  else renderHome(ctx);
  // a refresh (r, live update, token change) re-renders in place; navigation starts at the top
  current = { name, refresh: () => route(true) };
  if (keepScroll) { window.scrollTo(0, y); return; }
  view.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// ---------------------------------------------------------------- search (top bar)
const input = document.getElementById("search");
const list = document.getElementById("search-results");
let searchTimer = null, searchSeq = 0, sel = -1, hits = [];

const SEARCH_Q = `query($q: String!) { search(query: $q, first: 12) { id kind name region health { status } drift { status } } }`;

async function runSearch(q) {
  const seq = ++searchSeq;
  if (!q.trim()) { list.hidden = true; return; }
  try {
    const d = await gql(SEARCH_Q, { q: q.trim() });
    if (seq !== searchSeq) return;
    hits = d.search; sel = hits.length ? 0 : -1;
    drawHits(q);
  } catch (e) {
    if (seq !== searchSeq) return;
    hits = []; sel = -1;
    clear(list).append(h("li", { class: "muted" }, `search failed: ${e.message}`));
    list.hidden = false;
  }
}

function drawHits(q) {
  clear(list);
  if (!hits.length) list.append(h("li", { class: "muted" }, `no resource matches "${q}" (id, native id, IP, DNS or name)`));
  hits.forEach((r, i) => list.append(h("li", { role: "option", class: i === sel ? "sel" : "", "data-id": r.id,
    onmousedown: (ev) => { ev.preventDefault(); open(r.id); } },
  dot(r.health.status), h("b", {}, r.name || shortId(r.id)), kindBadge(r.kind),
  r.drift.status === "drifted" ? h("span", { class: "badge b-drifted" }, "drifted") : null,
  h("span", { class: "sr-id" }, r.id))));
  if (hits.length) list.append(h("li", { class: "muted small", onmousedown: (ev) => { ev.preventDefault(); allResults(); } },
    "Enter: open selected · Shift+Enter: all results"));
  list.hidden = false;
}

function open(id) { list.hidden = true; input.blur(); navigate(resHref(id)); }
function allResults() { list.hidden = true; input.blur(); navigate(`#/search?q=${encodeURIComponent(input.value.trim())}`); }

input.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => runSearch(input.value), 120); });
input.addEventListener("focus", () => { if (input.value.trim() && hits.length) list.hidden = false; });
input.addEventListener("blur", () => setTimeout(() => { list.hidden = true; }, 100));
input.addEventListener("keydown", async (ev) => {
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    if (!hits.length) return;
    sel = (sel + (ev.key === "ArrowDown" ? 1 : -1) + hits.length) % hits.length;
    drawHits(input.value);
  } else if (ev.key === "Enter") {
    ev.preventDefault();
    clearTimeout(searchTimer);
    if (ev.shiftKey) { allResults(); return; }
    if (!hits.length || list.hidden) await runSearch(input.value);
    if (hits.length && sel >= 0) open(hits[sel].id);
  } else if (ev.key === "Escape") {
    list.hidden = true; input.blur();
  }
});

// ---------------------------------------------------------------- keyboard
let pendingG = 0;
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  if (document.querySelector("dialog[open]")) return;
  const k = ev.key;
  if (pendingG && Date.now() - pendingG < 1200) {
    pendingG = 0;
    const dest = { h: "#/", s: "#/map", d: "#/drift" }[k];
    if (dest) { ev.preventDefault(); navigate(dest); }
    return;
  }
  if (k === "/") { ev.preventDefault(); input.focus(); input.select(); }
  else if (k === "g") pendingG = Date.now();
  else if (k === "?") document.getElementById("help-dialog").showModal();
  else if (k === "t") openToken();
  else if (k === "r" && current) current.refresh();
  else if (k === "j" || k === "k") { ev.preventDefault(); moveRow(k === "j" ? 1 : -1); }
  else if (k === "Enter" && t instanceof HTMLElement && t.classList.contains("nav-row")) t.click();
  else if (k === "d") { const b = document.getElementById("dig-btn"); if (b) { ev.preventDefault(); b.click(); } }
});

function moveRow(step) {
  const rows = [...view.querySelectorAll(".nav-row")];
  if (!rows.length) return;
  const i = rows.indexOf(document.activeElement);
  const next = rows[Math.max(0, Math.min(rows.length - 1, i < 0 ? 0 : i + step))];
  next.focus();
  next.scrollIntoView({ block: "nearest" });
}

// ---------------------------------------------------------------- token, theme, help
const tokenDialog = document.getElementById("token-dialog");
const tokenInput = document.getElementById("token-input");
function openToken() { tokenInput.value = getToken(); tokenDialog.showModal(); tokenInput.focus(); }
document.getElementById("token-btn").addEventListener("click", openToken);
tokenDialog.addEventListener("close", () => {
  if (tokenDialog.returnValue === "save") setToken(tokenInput.value.trim());
  else if (tokenDialog.returnValue === "clear") setToken("");
  else return;
  updateTokenBtn();
  live.restart();
  if (current) current.refresh();
});
function updateTokenBtn() { document.getElementById("token-btn").textContent = getToken() ? "token ✓" : "token"; }
document.getElementById("help-btn").addEventListener("click", () => document.getElementById("help-dialog").showModal());

const THEMES = ["auto", "dark", "light"];
function applyTheme(t) {
  if (t === "auto") delete document.documentElement.dataset.theme; else document.documentElement.dataset.theme = t;
  document.getElementById("theme-btn").title = `Theme: ${t} (click to change)`;
}
let theme = localStorage.getItem("airdig.theme") || "auto";
applyTheme(theme);
document.getElementById("theme-btn").addEventListener("click", () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem("airdig.theme", theme);
  applyTheme(theme);
  if (current && current.name === "map") current.refresh();
});

// ---------------------------------------------------------------- live updates
const liveEl = document.getElementById("live");
let refreshTimer = null;
function softRefresh() {  // coalesce bursts of events into one refresh of the incident/drift views
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if (!current || stickyAt || !["home", "drift", "map"].includes(current.name)) return;
    // a big service map is not redrawn under the user's hands (seconds of work, and the camera would
    // jump back): the panel offers the refresh instead
    const drawn = document.querySelector("#service-map .graph-canvas");
    if (current.name === "map" && drawn && Number(drawn.dataset.nodes) > BIG) offerRefresh(current);
    else current.refresh();
  }, 1500);
}
function offerRefresh(view) {
  const body = document.querySelector("#service-map .panel-body");
  if (!body || body.querySelector("#map-stale")) return;
  body.prepend(h("div", { id: "map-stale", class: "pad small", role: "status" }, "The map has changed since it was drawn. ",
    h("button", { type: "button", class: "btn btn-small", onclick: () => view.refresh() }, "redraw (r)")));
}
const live = new Live((field, v) => {
  if (field === "alertFired") {
    toast(`● ${v.status}: ${shortId(v.nodeId)} ${Array.isArray(v.reasons) && v.reasons[0] ? "— " + (v.reasons[0].message || v.reasons[0].rule) : ""}`,
      "crit", () => navigate(resHref(v.nodeId)));
  } else if (field === "driftDetected") {
    toast(`drift (${v.severity}, ${v.kind}) on ${shortId(v.resourceId)}`, "drift", () => navigate(resHref(v.resourceId)));
  } else if (field === "resourceUpdated" && current && current.name === "r" && !stickyAt && decodeURIComponent(parseHash().arg) === v.id) {
    toast(`this resource was ${v.action}; refreshed`);
    current.refresh();
    return;
  }
  softRefresh();
}, (state, text) => {
  liveEl.className = `live live-${state}`;
  liveEl.textContent = state === "on" ? "● live" : state === "err" ? "● live: off" : `● live: ${text}`;
  liveEl.title = text;
  liveEl.dataset.state = state;
});

updateTokenBtn();
loadRenderer().catch(() => { /* each graph says so where it would be drawn */ });
window.addEventListener("hashchange", () => route());
route();
live.start();
