// Service map: services and their call edges (request rate, error rate, p95) over a time range.

import { gql, ApiError } from "../api.js";
import { h, panel, fill, emptyBox, badge, kindBadge, resHref, shortId, fmtPct, fmtMs, fmtNum } from "../dom.js";
import { drawGraph, EDGE_LABELS } from "../graph.js";
import { navRow } from "./common.js";

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };
const MAP = `query($since: String, $until: String) { serviceMap(since: $since, until: $until) {
  nodes { id kind name health { status } } edges { src dst requestCount errorCount errorRate p50 p95 p99 } } }`;
// the whole map as parallel arrays (serviceMap.columns): a third of the bytes, no object per edge on the
// wire; an engine without the field gets MAP instead
const COLUMNS = `query($since: String, $until: String) { serviceMap(since: $since, until: $until) {
  columns { ids kinds names health src dst requestCount errorCount errorRate p50 p95 p99 } } }`;
// summarised (group=1): the engine groups services by namespace, then account, beyond the budget
const GROUPED = `query($since: String, $until: String, $expand: [ID!]) { serviceMap(since: $since, until: $until, budget: 60, expand: $expand) {
  nodes { id kind name health { status } } edges { src dst requestCount errorCount errorRate p50 p95 p99 }
  groups { id label kind by count worstHealth drifted } grouped } }`;

export function renderServiceMap({ root, params, navigate, signal, at }) {
  const range = RANGES[params.get("range")] ? params.get("range") : "1h";
  const grouped = params.get("group") === "1";
  const href = (r, g) => `#/map?range=${r}${g ? "&group=1" : ""}`;
  const seg = h("div", { class: "seg", role: "group", "aria-label": "time range" },
    Object.keys(RANGES).map((k) => h("button", { type: "button", class: k === range ? "on" : "", "data-range": k,
      onclick: () => navigate(href(k, grouped)) }, k)));
  const groupBtn = h("button", { type: "button", class: "btn btn-small", id: "map-group", "aria-pressed": grouped ? "true" : "false",
    title: "group services by namespace beyond 60 items (the engine summarises); click a group to open it",
    onclick: () => navigate(href(range, !grouped)) }, grouped ? "show every service" : "summarise by namespace");
  const graphSlot = h("div", {}), tableSlot = h("div", {});
  root.append(h("div", { class: "grid" },
    panel("Service map", { flush: true, id: "service-map", actions: h("div", { class: "row" },
      groupBtn, h("span", { class: "muted small" }, at ? "the window ending at the as-of time:" : "last"), seg) }, graphSlot),
    panel("Call edges", { flush: true, id: "call-edges" }, tableSlot)));

  const seconds = RANGES[range];
  const until = at ? new Date(at) : new Date(), since = new Date(until.getTime() - seconds * 1000);
  let data = null;  // one request shared by the graph and the table
  const expand = [];
  const load = () => {
    const vars = { since: since.toISOString(), until: until.toISOString() };
    if (!data) {
      data = grouped ? gql(GROUPED, { ...vars, expand }, { signal }).then((d) => d.serviceMap)
        : gql(COLUMNS, vars, { signal }).then((d) => fromColumns(d.serviceMap.columns)).catch((e) => {
          if (e instanceof ApiError && e.kind === "missing") return gql(MAP, vars, { signal }).then((d) => d.serviceMap);
          throw e;
        });
    }
    return data;
  };
  const names = new WeakMap();  // id → name per answer (a Map, not a scan per edge: thousands of edges)
  const name = (m, id) => {
    if (!names.has(m)) names.set(m, new Map([...m.nodes.map((n) => [n.id, n.name]), ...(m.groups || []).map((g) => [g.id, g.label])]));
    return names.get(m).get(id) || shortId(id);
  };
  const draw = () => { data = null; drawMap(); drawTable(); };

  const drawMap = () => fill(graphSlot, "Service map", async () => {
    const m = await load();
    performance.mark("map:data");
    if (!m.nodes.length && !(m.groups || []).length) return emptyBox(`no services seen in the last ${range}: TraceCore has received no OTLP spans for this window`);
    const nodes = m.nodes.map((n) => ({ id: n.id, label: n.name || shortId(n.id), kind: n.kind, status: n.health ? n.health.status : "unknown" }));
    for (const g of m.groups || []) {
      nodes.push({ id: g.id, label: g.label, kind: g.kind, status: g.worstHealth, drifted: g.drifted,
        group: { count: g.count, label: g.label, by: g.by } });
    }
    let maxRate = 1e-9;
    for (const e of m.edges) if (e.requestCount > maxRate) maxRate = e.requestCount;
    // edge labels are drawn on small maps only (graph.js, EDGE_LABELS): 20,000 formatted labels and
    // titles nobody saw were 1.6 s of the first render; the table below carries every number
    const labelled = m.edges.length <= EDGE_LABELS;
    const edges = m.edges.map((e) => ({ src: e.src, dst: e.dst, type: "calls", err: e.errorRate >= 0.05,
      weight: (3 * e.requestCount) / maxRate,
      label: labelled ? `${fmtNum(e.requestCount / seconds, 2)}/s · ${fmtPct(e.errorRate)} · p95 ${fmtMs(e.p95)}` : null }));
    const height = Math.min(640, Math.max(260, 70 * Math.ceil(nodes.length / 2) + 100));  // few services, short map
    return h("div", {}, drawGraph({ nodes, edges, layout: "layered", height, caption: "service map", onClick: (id) => navigate(resHref(id)),
      onExpand: (gid) => { if (!expand.includes(gid)) expand.push(gid); draw(); } }),
      h("div", { class: "legend pad" }, `${labelled ? "edge label: request rate · error rate · p95 latency; " : "numbers per edge: the table below; "}`
        + "red = error rate ≥ 5%; width ∝ traffic; node colour = health"));
  });

  const drawTable = () => fill(tableSlot, "Call edges", async () => {
    const m = await load();
    if (!m.edges.length) return emptyBox(`no calls between services in the last ${range}`);
    const all = [...m.edges].sort((a, b) => b.errorRate - a.errorRate || (b.p95 || 0) - (a.p95 || 0));
    const byId = new Map(m.nodes.map((n) => [n.id, n]));
    const nm = (id) => name(m, id);
    const row = (e) => {
      const dst = byId.get(e.dst);
      return navRow(resHref(e.src), navigate,
        h("td", { title: e.src }, nm(e.src)), h("td", { title: e.dst }, h("a", { href: resHref(e.dst) }, nm(e.dst))),
        h("td", {}, dst ? kindBadge(dst.kind) : "—"),
        h("td", { class: "num" }, fmtNum(e.requestCount / seconds, 2)), h("td", { class: "num" }, e.requestCount),
        h("td", { class: "num" }, e.errorCount),
        h("td", { class: "num" }, e.errorRate >= 0.05 ? h("span", { class: "worse" }, fmtPct(e.errorRate)) : fmtPct(e.errorRate)),
        h("td", { class: "num" }, fmtMs(e.p50)), h("td", { class: "num" }, fmtMs(e.p95)), h("td", { class: "num" }, fmtMs(e.p99)));
    };
    // thousands of rows would cost seconds of layout: the worst first, the rest on demand
    const FIRST = 200;
    const tbody = h("tbody", {}, all.slice(0, FIRST).map(row));
    const more = all.length > FIRST ? h("div", { class: "pad small muted", id: "call-edges-more" },
      `the ${FIRST} worst of ${all.length} call edges (by error rate, then p95) `,
      h("button", { class: "btn btn-small", type: "button", onclick: () => { tbody.append(...all.slice(FIRST).map(row)); more.remove(); } },
        "show all")) : null;
    return h("div", {}, h("table", { class: "t" },
      h("thead", {}, h("tr", {}, ["caller", "callee", "kind", "req/s", "requests", "errors", "error rate", "p50", "p95", "p99"]
        .map((t, i) => h("th", { class: i > 2 ? "num" : "" }, t)))), tbody), more);
  });
  draw();
}

/** serviceMap.columns → the shape of MAP's answer ({ nodes, edges }) the graph and the table read. */
function fromColumns(c) {
  const nodes = new Array(c.ids.length), edges = new Array(c.src.length);
  for (let i = 0; i < c.ids.length; i++) {
    nodes[i] = { id: c.ids[i], kind: c.kinds[i], name: c.names[i], health: c.health[i] ? { status: c.health[i] } : null };
  }
  for (let j = 0; j < c.src.length; j++) {
    edges[j] = { src: c.ids[c.src[j]], dst: c.ids[c.dst[j]], requestCount: c.requestCount[j], errorCount: c.errorCount[j],
      errorRate: c.errorRate[j], p50: c.p50[j], p95: c.p95[j], p99: c.p99[j] };
  }
  return { nodes, edges };
}
