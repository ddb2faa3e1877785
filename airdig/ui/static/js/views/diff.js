// Diff between two times: what appeared, vanished and changed (with who / when from the timeline),
// for the whole estate or around one resource (`scope`). Route: #/diff?from=&to=&scope=&depth=

import { gql } from "../api.js";
import { h, panel, fill, emptyBox, badge, kindBadge, resHref, shortId, fmtTime, timeEl, jsonText, principalEl } from "../dom.js";
import { toLocalInput } from "../timectl.js";
import { navRow } from "./common.js";

const RES = "id kind name health { status } drift { status }";
const DIFF = `query($from: String!, $to: String!, $scope: ID, $depth: Int!) {
  graphDiff(from: $from, to: $to, scope: $scope, depth: $depth, first: 100) {
    from to truncated counts { appeared vanished changed appearedEdges vanishedEdges }
    appeared { ${RES} firstSeen } vanished { ${RES} deletedAt }
    changed { resource { ${RES} } attributes { name before after } exact health { before after } drift { before after }
      who when source changes { id time kind actor summary source } }
    appearedEdges { src dst type count } vanishedEdges { src dst type count } } }`;

export function renderDiff({ root, params, navigate, signal, at }) {
  const to = parse(params.get("to")) || at || new Date().toISOString();
  const from = parse(params.get("from")) || new Date(Date.parse(to) - 3600e3).toISOString();
  const scope = params.get("scope") || "", depth = Math.max(1, Math.min(3, Number(params.get("depth")) || 2));
  const fromIn = h("input", { type: "datetime-local", step: 1, id: "diff-from", value: toLocalInput(from), "aria-label": "from" });
  const toIn = h("input", { type: "datetime-local", step: 1, id: "diff-to", value: toLocalInput(to), "aria-label": "to" });
  const scopeIn = h("input", { type: "text", id: "diff-scope", value: scope, size: 40, placeholder: "whole estate (or a resource id)",
    "aria-label": "scope: a resource id (its neighbourhood) or empty for the whole estate" });
  const go = () => {
    const q = new URLSearchParams({ from: new Date(fromIn.value).toISOString(), to: new Date(toIn.value).toISOString() });
    if (scopeIn.value.trim()) { q.set("scope", scopeIn.value.trim()); q.set("depth", String(depth)); }
    navigate(`#/diff?${q}`);
  };
  const body = h("div", {});
  root.append(h("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); go(); } },
    h("label", { for: "diff-from" }, "from"), fromIn, h("label", { for: "diff-to" }, "to"), toIn,
    h("label", { for: "diff-scope" }, "around"), scopeIn, h("button", { class: "btn btn-primary", type: "submit" }, "Compare")),
  panel(`What changed between ${fmtTime(from)} and ${fmtTime(to)}${scope ? ` within ${depth} hops of ${shortId(scope)}` : ""}`,
    { flush: true, id: "diff" }, body));

  fill(body, "Diff", async () => {
    const d = (await gql(DIFF, { from, to, scope: scope || null, depth }, { signal })).graphDiff;
    const c = d.counts;
    const tiles = h("div", { class: "tiles pad", id: "diff-counts" },
      [["appeared", c.appeared], ["vanished", c.vanished], ["changed", c.changed], ["edges appeared", c.appearedEdges],
        ["edges vanished", c.vanishedEdges]].map(([l, n]) => h("div", { class: "tile", "data-tile": l }, h("div", { class: "lbl" }, l), h("div", { class: "num" }, n))));
    if (!c.appeared && !c.vanished && !c.changed && !c.appearedEdges && !c.vanishedEdges) {
      return h("div", {}, tiles, emptyBox("nothing appeared, vanished or changed in this window"));
    }
    const resRows = (rows, when) => h("table", { class: "t" },
      h("thead", {}, h("tr", {}, ["resource", "kind", "health", "drift", when].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((r) => navRow(resHref(r.id), navigate,
        h("td", { class: "ellipsis", title: r.id }, r.name || shortId(r.id)), h("td", {}, kindBadge(r.kind)),
        h("td", {}, badge(r.health.status)), h("td", {}, badge(r.drift.status)),
        h("td", { class: "nowrap" }, timeEl(r.firstSeen || r.deletedAt))))));
    const edgeRows = (rows) => h("table", { class: "t" }, h("thead", {}, h("tr", {}, ["from", "type", "to"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((e) => h("tr", {}, h("td", { title: e.src }, h("a", { href: resHref(e.src) }, shortId(e.src))),
        h("td", {}, e.type, e.count > 1 ? ` ×${e.count}` : ""), h("td", { title: e.dst }, h("a", { href: resHref(e.dst) }, shortId(e.dst)))))));
    return h("div", {}, tiles,
      d.truncated ? h("div", { class: "msg msg-na" }, "some lists are cut at 100 rows; narrow the window or the scope") : null,
      section("Appeared", c.appeared, d.appeared.length ? resRows(d.appeared, "first seen") : null, "diff-appeared"),
      section("Vanished", c.vanished, d.vanished.length ? resRows(d.vanished, "deleted") : null, "diff-vanished"),
      section("Changed", c.changed, d.changed.length ? changedTable(d.changed, navigate) : null, "diff-changed"),
      section("Edges appeared", c.appearedEdges, d.appearedEdges.length ? edgeRows(d.appearedEdges) : null, "diff-edges-appeared"),
      section("Edges vanished", c.vanishedEdges, d.vanishedEdges.length ? edgeRows(d.vanishedEdges) : null, "diff-edges-vanished"));
  });
}

function section(title, count, body, id) {
  if (!count) return null;
  return h("div", { id, class: "diff-section" }, h("h3", { class: "pad-x" }, `${title} (${count})`), body);
}

function changedTable(rows, navigate) {
  return h("table", { class: "t" },
    h("thead", {}, h("tr", {}, ["resource", "what changed", "who", "when", "via"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((x) => navRow(resHref(x.resource.id), navigate,
      h("td", { class: "ellipsis", title: x.resource.id }, x.resource.name || shortId(x.resource.id), " ", kindBadge(x.resource.kind)),
      h("td", {},
        x.health ? h("div", {}, "health ", badge(x.health.before), " → ", badge(x.health.after)) : null,
        x.drift ? h("div", {}, "drift ", badge(x.drift.before), " → ", badge(x.drift.after)) : null,
        x.attributes.length ? h("ul", { class: "attr-changes" }, x.attributes.map((a) => h("li", {}, h("code", {}, a.name), ": ",
          x.exact ? [h("span", { class: "exp" }, short(a.before)), " → ", h("span", { class: "act" }, short(a.after))]
            : h("span", { class: "muted" }, "changed (values not on record)")))) : null,
        !x.health && !x.drift && !x.attributes.length ? h("div", { class: "muted" }, x.changes.map((c) => c.summary).join("; ")) : null),
      h("td", {}, x.who ? principalEl(x.who) : h("span", { class: "muted" }, "not on record")),
      h("td", { class: "nowrap" }, timeEl(x.when)), h("td", {}, x.source)))));
}

function short(v) {
  const t = v === null || v === undefined ? "(absent)" : jsonText(v);
  return t.length > 80 ? t.slice(0, 79) + "…" : t;
}

function parse(v) {
  if (!v) return null;
  const t = Date.parse(v);
  return isNaN(t) ? null : new Date(t).toISOString();
}
