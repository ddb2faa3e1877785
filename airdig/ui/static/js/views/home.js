// Incident view: what is broken right now, what changed recently, what drifted.

import { gql } from "../api.js";
import { h, panel, fill, emptyBox, errorBox, badge, kindBadge, resHref, shortId, timeEl, principalEl } from "../dom.js";
import { RES_FIELDS, CHANGE_FIELDS, resourceTable, timelineList, navRow } from "./common.js";

const COUNTS = `{
  critical: resources(first: 1, filter: { health: "critical" }) { totalCount }
  warning: resources(first: 1, filter: { health: "warning" }) { totalCount }
  drifted: resources(first: 1, filter: { drift: "drifted" }) { totalCount }
  total: resources(first: 1) { totalCount } }`;
const OPEN_DRIFTS = `{ driftEvents(first: 1, filter: { status: "open" }) { totalCount } }`;
const UNHEALTHY = `{
  critical: resources(first: 50, filter: { health: "critical" }) { totalCount edges { node { ${RES_FIELDS} } } }
  warning: resources(first: 50, filter: { health: "warning" }) { totalCount edges { node { ${RES_FIELDS} } } } }`;
const RECENT = `query($until: String) { timeline(first: 50, until: $until) { ${CHANGE_FIELDS} } }`;
// as of a time: health from the engine's history (healthAt), drift events with their status then
const HEALTH_AT = `query($at: String!) { healthAt(at: $at, status: ["critical", "warning"], first: 100) {
  counts { healthy warning critical unknown } resources { ${RES_FIELDS} } } }`;
const OPEN_DRIFTS_AT = `query($at: String) { driftEvents(first: 1, filter: { status: "open" }, at: $at) { totalCount } }`;
const BAD_DRIFTS = (at) => `${at ? "query($at: String)" : ""} {
  critical: driftEvents(first: 25, filter: { severity: "critical", status: "open" }${at ? ", at: $at" : ""}) { totalCount edges { node { ...D } } }
  high: driftEvents(first: 25, filter: { severity: "high", status: "open" }${at ? ", at: $at" : ""}) { totalCount edges { node { ...D } } } }
  fragment D on DriftEvent { id resourceId resourceType terraformAddress kind severity detectedAt
    cause { principal eventName eventTime } }`;

export function renderHome({ root, navigate, signal, at }) {
  const tiles = h("div", { class: "tiles", id: "tiles" });
  const unhealthy = h("div", {}), recent = h("div", {}), drifts = h("div", {});
  root.append(tiles,
    h("div", { class: "grid grid-3" },
      h("div", { class: "grid" },
        panel("Unhealthy resources", { flush: true, id: "unhealthy" }, unhealthy),
        panel("Open high / critical drift", { flush: true, id: "bad-drifts", actions: h("a", { href: "#/drift?status=open" }, "all drift →") }, drifts)),
      panel("Recent changes", { flush: true, id: "recent" }, h("div", { class: "scroll" }, recent))));

  // counters: each from its own query so a missing field degrades one tile only
  const tile = (cls, label, value, href, err) => h("a", { class: `tile ${cls}`, href, "data-tile": label },
    h("div", { class: "lbl" }, label), h("div", { class: "num" }, err ? "?" : value),
    err ? h("div", { class: "err", title: err.message }, err.kind === "missing" ? `not available from this engine: ${err.message}` : err.message) : null);
  if (at) { homeAt({ tiles, tile, unhealthy, recent, drifts, navigate, signal, at }); return; }
  Promise.allSettled([gql(COUNTS, {}, { signal }), gql(OPEN_DRIFTS, {}, { signal })]).then(([c, d]) => {
    tiles.replaceChildren(
      c.status === "fulfilled" ? tile("crit", "critical", c.value.critical.totalCount, "#/") : tile("crit", "critical", 0, "#/", c.reason),
      c.status === "fulfilled" ? tile("warn", "warning", c.value.warning.totalCount, "#/") : tile("warn", "warning", 0, "#/", c.reason),
      d.status === "fulfilled" ? tile("drift", "open drifts", d.value.driftEvents.totalCount, "#/drift?status=open")
        : tile("drift", "open drifts", 0, "#/drift", d.reason),
      c.status === "fulfilled" ? tile("drift", "drifted resources", c.value.drifted.totalCount, "#/drift") : null,
      c.status === "fulfilled" ? tile("ok", "resources", c.value.total.totalCount, "#/search?q=") : null);
  });

  fill(unhealthy, "Unhealthy resources", async () => {
    const d = await gql(UNHEALTHY, {}, { signal });
    const rows = [...d.critical.edges, ...d.warning.edges].map((e) => e.node);
    if (!rows.length) return emptyBox("no resource is critical or warning (health comes from PulseSight)");
    return resourceTable(rows, navigate);
  });

  fill(recent, "Recent changes", async () => timelineList((await gql(RECENT, {}, { signal })).timeline, { showResource: true }));
  badDrifts(drifts, navigate, signal);
}

// the incident view as of a time: counts and unhealthy resources from healthAt, open drift then, the
// changes up to that time
function homeAt({ tiles, tile, unhealthy, recent, drifts, navigate, signal, at }) {
  const health = gql(HEALTH_AT, { at }, { signal });
  Promise.allSettled([health, gql(OPEN_DRIFTS_AT, { at }, { signal })]).then(([c, d]) => {
    const n = c.status === "fulfilled" ? c.value.healthAt.counts : null;
    tiles.replaceChildren(
      n ? tile("crit", "critical", n.critical, "#/") : tile("crit", "critical", 0, "#/", c.reason),
      n ? tile("warn", "warning", n.warning, "#/") : tile("warn", "warning", 0, "#/", c.reason),
      d.status === "fulfilled" ? tile("drift", "open drifts", d.value.driftEvents.totalCount, "#/drift?status=open")
        : tile("drift", "open drifts", 0, "#/drift", d.reason),
      n ? tile("ok", "resources", n.healthy + n.warning + n.critical + n.unknown, "#/search?q=") : null);
  });
  fill(unhealthy, "Unhealthy resources", async () => {
    const rows = (await health).healthAt.resources;
    if (!rows.length) return emptyBox("no resource was critical or warning at that time");
    return resourceTable(rows, navigate);
  });
  fill(recent, "Changes", async () => timelineList((await gql(RECENT, { until: at }, { signal })).timeline, { showResource: true }));
  badDrifts(drifts, navigate, signal, at);
}

function badDrifts(drifts, navigate, signal, at) {
  fill(drifts, "Drift", async () => {
    const d = await gql(BAD_DRIFTS(at), at ? { at } : {}, { signal });
    const rows = [...d.critical.edges, ...d.high.edges].map((e) => e.node);
    if (!rows.length) return emptyBox("no open high or critical drift");
    return h("table", { class: "t" },
      h("thead", {}, h("tr", {}, ["sev", "resource", "kind", "who", "detected"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((r) => navRow(resHref(r.resourceId), navigate,
        h("td", {}, badge(r.severity)),
        h("td", { class: "ellipsis", title: r.resourceId }, r.terraformAddress || shortId(r.resourceId)),
        h("td", {}, kindBadge(r.kind)),
        h("td", { class: "ellipsis" }, r.cause ? [principalEl(r.cause.principal), ` · ${r.cause.eventName || ""}`] : h("span", { class: "muted" }, "no CloudTrail cause")),
        h("td", { class: "nowrap" }, timeEl(r.detectedAt))))));
  });
}

