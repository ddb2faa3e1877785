// Pieces shared by several views: resource rows, timelines, drift rows.

import { h, badge, kindBadge, dot, resHref, timeEl, shortId, emptyBox, principalEl, fmtTime } from "../dom.js";

export const RES_FIELDS = "id kind name provider account region health { status reasons since } drift { status lastEvent }";
export const CHANGE_FIELDS = "id resourceId time kind source actor summary";

export function navRow(href, navigate, ...cells) {
  return h("tr", { class: "nav-row", tabindex: 0, dataset: { href }, onclick: () => navigate(href) }, ...cells);
}

export function reasonText(r) {
  if (!r || typeof r !== "object") return String(r);
  if (r.message) return r.message;
  const parts = [r.rule, r.value !== undefined ? `= ${r.value}` : "", r.threshold !== undefined ? `(threshold ${r.threshold})` : ""];
  return parts.filter(Boolean).join(" ");
}

export function resourceTable(rows, navigate, { showReason = true } = {}) {
  if (!rows.length) return null;
  return h("table", { class: "t" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "resource"), h("th", {}, "kind"),
      showReason ? h("th", {}, "reason") : null, h("th", {}, "since"))),
    h("tbody", {}, rows.map((r) => navRow(resHref(r.id), navigate,
      h("td", {}, dot(r.health.status)),
      h("td", { class: "ellipsis", title: r.id }, h("a", { href: resHref(r.id) }, r.name || shortId(r.id)),
        r.drift.status === "drifted" ? [" ", badge("drifted")] : null),
      h("td", {}, kindBadge(r.kind)),
      showReason ? h("td", { class: "ellipsis" }, (r.health.reasons || []).map(reasonText).join("; ") || "—") : null,
      h("td", { class: "nowrap" }, timeEl(r.health.since))))));
}

const KIND_CLASS = { drift: "drift", drift_resolved: "resolved", health: "warning", cloudtrail: "changed", deploy: "changed",
  scaling: "changed", config: "changed", created: "healthy", updated: "changed", deleted: "missing", security: "critical" };

export function timelineList(changes, { showResource = false } = {}) {
  if (!changes.length) return emptyBox("no changes recorded in this window");
  const sorted = [...changes].sort((a, b) => String(b.time).localeCompare(String(a.time)));
  return h("ul", { class: "tl" }, sorted.map((c) => h("li", { "data-change": c.id },
    h("span", { class: "when" }, timeEl(c.time)),
    h("span", {}, h("span", { class: `badge b-${KIND_CLASS[c.kind] || "kind"}` }, c.kind)),
    h("span", { class: "what" },
      showResource ? [h("a", { href: resHref(c.resourceId), title: c.resourceId }, shortId(c.resourceId)), " · "] : null,
      c.summary || "(no summary)",
      h("div", { class: "who" }, c.actor ? `by ${c.actor}` : "actor unknown", c.source ? ` · via ${c.source}` : ""),
      changeWriters(c.writers)))));
}

// a scan diff's changed attributes, each with the CloudTrail write that set it (null: none on record did)
export const WRITER_FIELDS = "writers { path writer { eventId eventName time principal channel sourceIp } }";

export function changeWriters(writers) {
  if (!writers || !writers.length) return null;
  return h("ul", { class: "writers" }, writers.map((p) => h("li", { "data-path": p.path },
    h("code", {}, p.path), " ",
    p.writer
      ? h("span", { class: "who", title: [p.writer.eventName, p.writer.time, p.writer.channel, p.writer.sourceIp].filter(Boolean).join(" · ") },
        "set by ", h("b", {}, principalEl(p.writer.principal)),
        ` · ${p.writer.eventName || "?"} · ${p.writer.channel || "?"}${p.writer.sourceIp ? ` · ${p.writer.sourceIp}` : ""} · ${fmtTime(p.writer.time)}`)
      : h("span", { class: "muted", title: "no CloudTrail write on record touched this attribute" }, "writer not on record"))));
}
