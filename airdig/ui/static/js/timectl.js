// Time travel: `at=` in the hash query of every view (shareable URL state) and the bar that sets it.
// The time stays while you move between views (links keep it); "now" drops it.

import { h, clear, append, fmtTime, relTime } from "./dom.js";

let onset = null;       // the symptom onset of the last Dig panel: offers "before the incident"
let bar = null, lastCtx = null;

/** The `at` of a hash query, as an RFC 3339 string, or null (absent or not a time). */
export function atOf(params) {
  const v = params && params.get("at");
  if (!v) return null;
  const t = Date.parse(v);
  return isNaN(t) ? null : new Date(t).toISOString();
}

/** `hash` with its `at` set to `iso` (or removed when null). */
export function withAt(hash, iso) {
  const [path, qs] = hash.replace(/^#?/, "#").split("?");
  const p = new URLSearchParams(qs || "");
  if (iso) p.set("at", iso); else p.delete("at");
  const q = p.toString();
  return q ? `${path}?${q}` : path;
}

/** Called by the Dig panel: the onset it found (null to forget it). */
export function setOnset(iso) {
  onset = iso;
  if (bar && lastCtx) renderTimebar(bar, lastCtx);
}

export function toLocalInput(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The bar under the top bar: as-of input, −1 h / −1 d / now, before the incident, and the diff link. */
export function renderTimebar(el, ctx) {
  bar = el; lastCtx = ctx;
  const { at, go, view } = ctx;
  const base = at ? Date.parse(at) : Date.now();
  const input = h("input", { type: "datetime-local", id: "at-input", step: 1, "aria-label": "view the estate as of",
    value: at ? toLocalInput(at) : "" });
  const set = (t) => go(t === null ? null : new Date(t).toISOString());
  input.addEventListener("change", () => { if (input.value) set(Date.parse(input.value)); });
  const btn = (label, title, act, extra = {}) => h("button", { class: "btn btn-small", type: "button", title, onclick: act, ...extra }, label);
  const diffFrom = new Date(base - 3600e3).toISOString(), diffTo = new Date(base).toISOString();
  append(clear(el), [
    h("label", { for: "at-input", class: "muted small" }, "as of"), input,
    btn("−1 h", "one hour earlier", () => set(base - 3600e3), { "data-step": "-1h" }),
    btn("−1 d", "one day earlier", () => set(base - 86400e3), { "data-step": "-1d" }),
    btn("now", "back to the live estate", () => set(null), { "data-step": "now", disabled: !at }),
    onset ? btn("before the incident", `the estate one minute before the onset (${fmtTime(onset)})`,
      () => set(Date.parse(onset) - 60e3), { id: "at-before-incident" }) : null,
    h("a", { class: "small", id: "diff-link", href: `#/diff?from=${encodeURIComponent(diffFrom)}&to=${encodeURIComponent(diffTo)}` },
      "what changed in the hour before →"),
    h("span", { class: "grow" }),
    at ? h("span", { class: "asof-banner", id: "asof-banner", role: "status" },
      `${view === "diff" ? "" : "viewing the estate "}as of ${fmtTime(at)} (${relTime(at)}) — live updates don't apply here`)
      : h("span", { class: "muted small", id: "asof-banner" }, "live: the estate now")]);
}
