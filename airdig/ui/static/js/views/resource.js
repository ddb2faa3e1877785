// Resource page: who/what/where, health + drift with reasons, attributes, timeline, neighbours,
// blast radius, and "Dig" (root cause ranked with its evidence chain).

import { gql, engineFields } from "../api.js";
import { h, panel, fill, emptyBox, errorBox, badge, kindBadge, resHref, shortId, timeEl, fmtTime, jsonTree,
  loading, clear, fmtPct, fmtMs, fmtNum, jsonText, principalEl, relTime } from "../dom.js";
import { drawGraph } from "../graph.js";
import { CHANGE_FIELDS, WRITER_FIELDS, changeWriters, reasonText, timelineList, navRow } from "./common.js";
import { setOnset } from "../timectl.js";

// `at` (time travel) is sent only when set, so the live view still works on an engine without it
const RESOURCE = (at) => `query($id: ID!${at ? ", $at: String" : ""}) { resource(id: $id${at ? ", at: $at" : ""}) {
  id kind name provider account region attrs tags managedBy
  health { status reasons since } drift { status lastEvent } firstSeen lastSeen deletedAt
  confirmedAt confirmInterval confirmStale${at ? " asOf asOfExact asOfGaps" : ""} } }`;
const NEIGHBORHOOD = `query($id: ID!, $depth: Int!, $expand: [ID!], $at: String) {
  neighborhood(id: $id, depth: $depth, budget: 60, expand: $expand, at: $at) {
    nodes { id kind name health { status } drift { status } }
    groups { id label kind by value valueName count worstHealth drifted }
    edges { src dst type count } total truncated } }`;
const NEIGHBORS = `query($id: ID!) { neighbors(id: $id, depth: 1, first: 100) {
  nodes { id kind name health { status } drift { status } } edges { src dst type stale } } }`;
const TIMELINE = `query($id: ID!, $until: String) { timeline(id: $id, until: $until, first: 50) { ${CHANGE_FIELDS} ${WRITER_FIELDS} } }`;
const IMPACT = (at) => `query($id: ID!${at ? ", $at: String" : ""}) { impact(id: $id, hops: 3${at ? ", at: $at" : ""}) { root nodes { id distance path
  resource { kind name health { status } } } } }`;
const DRIFTS = (at) => `query($id: ID!${at ? ", $at: String" : ""}) { driftEvents(first: 20, filter: { resourceId: $id }${at ? ", at: $at" : ""}) { totalCount edges { node {
  id kind severity status detectedAt diffs { path expected actual cause { principal eventName eventTime channel sourceIp } } cause { principal eventName eventTime channel } } } } }`;
const ROOT_CAUSE = `query($id: ID!, $at: String, $w: Int) { rootCause(id: $id, at: $at, windowMinutes: $w) {
  symptom at summary onset { time source detail } verdict margin
  candidates { score distance path evidence deciding afterOnset changeTime { earliest latest basis }
    change { ${CHANGE_FIELDS} details ${WRITER_FIELDS} }
    beforeAfter { src dst before { rate errorRatio p95 } after { rate errorRatio p95 } } }
  setAside { reason change { id kind resourceId summary } }
  impact { id distance } } }`;

export async function renderResource({ root, navigate, signal, at }, id) {
  root.append(loading());
  let r;
  try {
    r = (await gql(RESOURCE(at), at ? { id, at } : { id }, { signal })).resource;
  } catch (e) {
    if (e.name === "AbortError") return;
    clear(root).append(errorBox(`Resource ${id}`, e));
    return;
  }
  clear(root);
  if (!r) {
    root.append(h("div", { class: "msg msg-error", "data-state": "not-found" },
      "No resource with id or native id ", h("code", {}, id),
      at ? ` in the graph as of ${fmtTime(at)} (it may not have existed then).` : " in the graph. It may not be scanned yet (SkyGraph), or the native id matches several resources — try the search box."));
    return;
  }
  const reasons = Array.isArray(r.health.reasons) ? r.health.reasons : [];
  root.append(h("div", { class: "res-head panel pad", id: "res-head" },
    h("div", { class: "title" },
      h("div", { class: "row" }, kindBadge(r.kind), h("h1", {}, r.name || shortId(r.id)),
        h("span", { class: "muted small" }, "health"), badge(r.health.status, "health"),
        h("span", { class: "muted small" }, "drift"), badge(r.drift.status, "drift (IaC vs live)"),
        r.deletedAt ? h("span", { class: "badge b-missing" }, `deleted ${fmtTime(r.deletedAt)}`) : null),
      h("div", { class: "id" }, r.id),
      h("div", { class: "meta" },
        h("span", {}, "provider ", h("b", {}, r.provider || "—")), h("span", {}, "region ", h("b", {}, r.region || "—")),
        h("span", {}, "account ", h("b", {}, r.account || "—")),
        r.managedBy ? h("span", {}, "terraform ", h("b", { class: "mono" }, r.managedBy)) : h("span", {}, "unmanaged by IaC"),
        h("span", {}, "first seen ", h("b", {}, fmtTime(r.firstSeen))), h("span", {}, "last seen ", h("b", {}, fmtTime(r.lastSeen))),
        confirmedEl(r)),
      reasons.length ? h("ul", { class: "reasons", id: "health-reasons" }, reasons.map((x) => h("li", {},
        badge(r.health.status), h("span", {}, reasonText(x)),
        x.since ? h("span", { class: "muted small" }, "since ", timeEl(x.since)) : null)))
        : h("div", { class: "muted small", id: "health-reasons" },
          r.health.status === "unknown" ? "health unknown: no PulseSight signal maps to this resource" : `health ${r.health.status}, no reasons given`),
      r.drift.status !== "in_sync" && r.drift.status !== "unknown"
        ? h("div", { class: "small", style: "margin-top:4px" }, badge(r.drift.status), " last drift event ", lastEvent(r.drift.lastEvent)) : null),
    h("div", {}, h("button", { class: "btn btn-primary", id: "dig-btn", type: "button", title: "Rank the changes that may have caused this (d)",
      onclick: () => dig() }, "Dig ", h("kbd", {}, "d")))));

  root.append(asOfBar(r, at));
  const digSlot = h("div", { id: "dig" });
  root.append(digSlot);

  const neigh = h("div", {}), attrs = h("div", {}), tl = h("div", {}), impact = h("div", {}), drifts = h("div", {});
  const tags = r.tags && Object.keys(r.tags).length
    ? h("dl", { class: "kv" }, Object.entries(r.tags).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))
    : emptyBox("no tags");
  root.append(h("div", { class: "grid grid-3" },
    h("div", { class: "grid" },
      panel("Neighbours", { flush: true, id: "neighbors" }, neigh),
      panel("Drift on this resource", { flush: true, id: "res-drifts" }, drifts),
      panel("Attributes", { id: "attrs" }, attrs)),
    h("div", { class: "grid" },
      panel("Timeline", { flush: true, id: "timeline" }, h("div", { class: "scroll" }, tl)),
      panel("Blast radius (3 hops)", { flush: true, id: "impact" }, h("div", { class: "scroll" }, impact)),
      panel("Tags", { id: "tags" }, tags))));

  attrs.append(r.attrs && Object.keys(r.attrs).length ? jsonTree(r.attrs, 1) : emptyBox("no attributes recorded"));

  neighbours(neigh, r, { navigate, signal, at });

  fill(tl, "Timeline", async () => timelineList((await gql(TIMELINE, { id: r.id, until: at }, { signal })).timeline));

  fill(impact, "Blast radius", async () => {
    const im = (await gql(IMPACT(at), at ? { id: r.id, at } : { id: r.id }, { signal })).impact;
    const rows = im.nodes.filter((n) => n.id !== r.id).sort((a, b) => a.distance - b.distance);
    if (!rows.length) return emptyBox(at ? "nothing depended on this resource within 3 hops then" : "nothing depends on this resource within 3 hops");
    const note = at ? h("div", { class: "pad small muted" }, `the graph as of ${fmtTime(at)}`) : null;
    return h("div", {}, note, h("table", { class: "t" },
      h("thead", {}, h("tr", {}, ["hops", "resource", "kind", "health", "path"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows.map((n) => navRow(resHref(n.id), navigate,
        h("td", { class: "num" }, n.distance),
        h("td", { class: "ellipsis", title: n.id }, n.resource ? n.resource.name : shortId(n.id)),
        h("td", {}, n.resource ? kindBadge(n.resource.kind) : "—"),
        h("td", {}, badge(n.resource ? n.resource.health.status : "unknown")),
        h("td", { class: "small muted ellipsis", title: n.path.join(" → ") }, n.path.map(shortId).join(" → ")))))));
  });

  fill(drifts, "Drift events", async () => {
    const d = (await gql(DRIFTS(at), at ? { id: r.id, at } : { id: r.id }, { signal })).driftEvents;
    if (!d.edges.length) return emptyBox("no drift recorded for this resource");
    return h("div", {}, d.edges.map(({ node: x }) => h("div", { class: "cand" },
      h("div", { class: "row" }, badge(x.severity), badge(x.status), kindBadge(x.kind), h("span", { class: "muted" }, timeEl(x.detectedAt)),
        h("span", { class: "grow" }),
        x.cause ? h("span", {}, "by ", h("b", {}, x.cause.principal || "?"), ` · ${x.cause.eventName || ""} · ${x.cause.channel || ""}`)
          : h("span", { class: "muted" }, "cause not attributed (no matching CloudTrail record)")),
      diffTable(x.diffs))));
  });

  async function dig() {
    const unhealthySince = r.health.status !== "healthy" && r.health.since ? r.health.since : null;
    const atInput = h("input", { type: "datetime-local", step: 1, "aria-label": "symptom at",
      value: toLocalInput(unhealthySince || at || new Date().toISOString()) });
    const win = h("select", {}, [15, 30, 60, 180, 720].map((m) => h("option", { value: m, selected: m === 30 }, `${m} min before`)));
    const out = h("div", {});
    const run = () => fill(out, "Root cause", async () => {
      const rc = (await gql(ROOT_CAUSE, { id: r.id, at: new Date(atInput.value).toISOString(), w: Number(win.value) }, { signal })).rootCause;
      setOnset(rc.onset ? rc.onset.time : null);  // the time bar offers "before the incident"
      return candidates(rc, r, navigate);
    });
    clear(digSlot).append(panel("Dig: what changed before this broke?", {
      id: "dig-panel", flush: true,
      actions: h("div", { class: "row" }, h("label", { class: "muted small" }, "symptom at"), atInput, win,
        h("button", { class: "btn", type: "button", onclick: run }, "Run"),
        h("button", { class: "btn btn-ghost", type: "button", "aria-label": "close the Dig panel", onclick: () => clear(digSlot) }, "✕")),
    }, out));
    run();
  }
}

/** "confirmed 3m ago" (absolute time on hover): the last read of the cloud that saw this resource;
 * a warning once that is older than two scan intervals of its scope or a day (confirmStale). */
function confirmedEl(r) {
  if (!r.confirmedAt) {
    return h("span", { id: "res-confirmed", class: "muted", "data-state": "never",
      title: "no scan or CloudTrail follow has confirmed this resource (services from traces are never confirmed)" },
      "never confirmed by a scan");
  }
  const cadence = r.confirmInterval ? `; its scope is read every ~${relTime(new Date(Date.now() - r.confirmInterval * 1000).toISOString()).replace(" ago", "")}` : "";
  const title = `last confirmed by the cloud at ${fmtTime(r.confirmedAt)}${cadence}`;
  if (r.confirmStale) {
    return h("span", { id: "res-confirmed", class: "badge b-warning", "data-state": "stale",
      title: `${title} — stale: older than two scan intervals or 24 h; the resource may have changed or gone` },
      `⚠ confirmed ${relTime(r.confirmedAt)} (stale)`);
  }
  return h("span", { id: "res-confirmed", "data-state": "fresh", title },
    "confirmed ", h("b", {}, h("time", { datetime: r.confirmedAt }, relTime(r.confirmedAt))));
}

function legend(grouped) {
  return h("div", { class: "legend pad" },
    h("span", {}, h("span", { class: "dot dot-healthy" }), "healthy"), h("span", {}, h("span", { class: "dot dot-warning" }), "warning"),
    h("span", {}, h("span", { class: "dot dot-critical" }), "critical"), h("span", {}, h("span", { class: "dot dot-unknown" }), "unknown"),
    h("span", {}, "dashed purple ring = drifted"), h("span", {}, "orange ring = this resource"),
    grouped ? h("span", {}, "big node = a group (colour = its worst health): click or Enter expands it") : null,
    h("span", {}, "click a node to open it"));
}

// the time-travel line under the header: as-of state (and what could not be reconstructed), the diff link
function asOfBar(r, at) {
  const to = at || new Date().toISOString(), from = new Date(Date.parse(to) - 3600e3).toISOString();
  const diff = `#/diff?scope=${encodeURIComponent(r.id)}&depth=2&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;
  return h("div", { class: "asof-line small", id: "res-asof" },
    at ? h("span", {}, "as of ", h("b", {}, fmtTime(at)),
      r.asOfExact === false ? h("span", { class: "badge b-warning", title: "reconstructed from the recorded history; "
        + `not on record: ${(r.asOfGaps || []).join(", ")}` }, `inexact: ${(r.asOfGaps || []).join(", ") || "partial"}`) : null)
      : h("span", { class: "muted" }, "current state"),
    h("a", { href: diff, id: "res-diff-link" }, "what changed around this resource in the hour before →"));
}

// neighbours: the engine's summarised neighbourhood (groups beyond a budget, expandable in place), or
// the plain 1-hop `neighbors` on an engine without it
function neighbours(slot, r, { navigate, signal, at }) {
  const expand = [];
  let depth = 1;
  const draw = () => fill(slot, "Neighbours", async () => {
    const fields = await engineFields().catch(() => null);
    const open = (nid) => nid !== r.id && navigate(resHref(nid));
    const toNode = (n) => ({ id: n.id, label: n.name || shortId(n.id), kind: n.kind, status: n.health.status,
      drifted: n.drift.status === "drifted" });
    if (!fields || !fields.query.has("neighborhood")) {
      if (at) throw new Error("this engine has no `neighborhood` field, so it cannot show the neighbours as of a time");
      const g = (await gql(NEIGHBORS, { id: r.id }, { signal })).neighbors;
      if (!g.edges.length) return emptyBox("no edges to or from this resource");
      const nodes = g.nodes.map(toNode);
      if (!nodes.some((n) => n.id === r.id)) nodes.push(toNode(r));
      const edges = g.edges.map((e) => ({ src: e.src, dst: e.dst, type: e.type, stale: e.stale, label: e.type }));
      return h("div", {}, drawGraph({ nodes, edges, rootId: r.id, onClick: open, caption: `neighbours of ${r.name}` }), legend(false));
    }
    const g = (await gql(NEIGHBORHOOD, { id: r.id, depth, expand, at }, { signal })).neighborhood;
    const nodes = g.nodes.map(toNode);
    if (!nodes.some((n) => n.id === r.id)) nodes.push(toNode(r));
    for (const x of g.groups) {
      nodes.push({ id: x.id, label: x.label, kind: x.kind, status: x.worstHealth, drifted: x.drifted,
        group: { count: x.count, label: x.label, by: x.by } });
    }
    const edges = g.edges.map((e) => ({ src: e.src, dst: e.dst, type: e.type,
      label: e.count > 1 ? `${e.type} ×${e.count}` : e.type }));
    const depthSel = h("select", { id: "nb-depth", "aria-label": "hops", onchange: () => { depth = Number(depthSel.value); expand.length = 0; draw(); } },
      [1, 2, 3].map((d) => h("option", { value: d, selected: d === depth }, `${d} hop${d > 1 ? "s" : ""}`)));
    const head = h("div", { class: "row pad small", id: "nb-summary" }, depthSel,
      h("span", { class: "muted" }, `${g.total} resource${g.total === 1 ? "" : "s"} within ${depth} hop${depth > 1 ? "s" : ""}`
        + `${g.groups.length ? `, ${g.groups.length} group${g.groups.length > 1 ? "s" : ""} shown summarised` : ""}`
        + `${g.truncated ? " (the walk stopped at its cap: counts are lower bounds)" : ""}`),
      expand.length ? h("button", { class: "btn btn-small", type: "button", onclick: () => { expand.length = 0; draw(); } }, "collapse all") : null);
    if (!g.edges.length && !g.groups.length) return h("div", {}, head, emptyBox("no edges to or from this resource"));
    return h("div", {}, head,
      drawGraph({ nodes, edges, rootId: r.id, onClick: open, caption: `neighbours of ${r.name}`,
        onExpand: (gid) => { if (!expand.includes(gid)) expand.push(gid); draw(); } }),
      legend(g.groups.length > 0));
  });
  draw();
}

function toLocalInput(iso) {
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function diffTable(diffs) {
  if (!diffs || !diffs.length) return emptyBox("no attribute diffs (resource missing or unmanaged)");
  return h("table", { class: "diff" }, h("thead", {}, h("tr", {}, h("th", {}, "attribute"), h("th", {}, "expected (IaC)"), h("th", {}, "actual (live)"), h("th", {}, "set by (CloudTrail)"))),
    h("tbody", {}, diffs.map((d) => h("tr", {}, h("td", {}, d.path), h("td", { class: "exp" }, diffValue(d.expected)),
      h("td", { class: "act" }, diffValue(d.actual)), h("td", { class: "writer" }, writerEl(d.cause))))));
}

// who set this attribute's live value: the latest CloudTrail write that touched it (per-path attribution)
function writerEl(c) {
  if (!c) return h("span", { class: "muted", title: "no CloudTrail write on record touched this attribute" }, "not on record");
  return h("span", { title: [c.eventName, c.eventTime, c.channel, c.sourceIp].filter(Boolean).join(" · ") },
    principalEl(c.principal), h("div", { class: "muted small" }, `${c.eventName || "?"} · ${fmtTime(c.eventTime)}`));
}

// the engine may report the last drift event as an epoch-seconds string, an RFC 3339 time or an event id
function lastEvent(v) {
  if (!v) return "—";
  if (/^\d+(\.\d+)?$/.test(v)) return timeEl(new Date(Number(v) * 1000).toISOString());
  if (!isNaN(Date.parse(v))) return timeEl(v);
  return h("code", {}, v);
}

function diffValue(v) {
  return v === null || v === undefined ? h("span", { class: "absent" }, "(absent)") : jsonText(v);
}

function candidates(rc, r, navigate) {
  const posture = (rc.setAside || []).filter((x) => !x.reason.startsWith("discovery"));
  const discovered = (rc.setAside || []).length - posture.length;
  const head = h("div", { class: "pad small" },
    rc.summary ? h("div", { id: "dig-summary" }, rc.summary) : null,
    rc.onset ? h("div", { id: "dig-onset" }, h("b", {}, "onset "), `${fmtTime(rc.onset.time)} (`, timeEl(rc.onset.time),
      `) · from ${rc.onset.source}: ${rc.onset.detail}`) : null,
    rc.verdict ? h("div", { id: "dig-verdict" }, h("b", {}, "why #1 "), rc.verdict) : null);
  if (!rc.candidates.length) {
    return h("div", {}, head, emptyBox(`no change recorded within the window on resources near ${r.name} — widen the window, or the cause is outside the graph`));
  }
  // one before/after table per distinct set of edges (candidates on the same part of the graph share it)
  const groups = new Map();
  rc.candidates.forEach((c, i) => {
    if (!c.beforeAfter || !c.beforeAfter.length) return;
    const key = c.beforeAfter.map((x) => `${x.src}>${x.dst}`).sort().join("|");
    if (!groups.has(key)) groups.set(key, { rows: c.beforeAfter, ranks: [] });
    groups.get(key).ranks.push(i + 1);
  });
  const list = rc.candidates.map((c, i) => {
    const ch = c.change;
    const chain = h("div", { class: "chain" },
      h("span", { class: "step change", title: ch.resourceId }, `${ch.kind}: ${shortId(ch.resourceId)}`),
      ...c.path.slice(1, -1).flatMap((p) => [h("span", { class: "arrow" }, "→"), h("a", { class: "step", href: resHref(p), title: p }, shortId(p))]),
      h("span", { class: "arrow" }, "→"), h("span", { class: "step symptom", title: rc.symptom }, `symptom: ${shortId(rc.symptom)}`));
    const ct = c.changeTime;
    const when = !ct ? "" : ct.earliest && ct.earliest === ct.latest ? `changed at ${fmtTime(ct.latest)} (${ct.basis})`
      : `changed between ${ct.earliest ? fmtTime(ct.earliest) : "an unknown time"} and ${fmtTime(ct.latest)} (${ct.basis})`;
    return h("div", { class: `cand${c.afterOnset ? " after-onset" : ""}`, "data-candidate": i, "data-after-onset": c.afterOnset ? "1" : "0" },
      h("div", { class: "row" }, h("span", { class: "score", title: "score: kind × distance × time before the onset × traffic evidence" }, `#${i + 1} `, fmtNum(c.score, 2)),
        h("div", { class: "grow" },
          h("div", {}, h("b", {}, ch.summary || "(no summary)"), c.afterOnset ? h("span", { class: "badge" }, " after the onset") : null),
          h("div", { class: "muted small" }, `${ch.actor ? "by " + ch.actor : "actor unknown"} · ${when} · ${c.distance} hop${c.distance === 1 ? "" : "s"} away · via ${ch.source || "?"}`),
          c.deciding ? h("div", { class: "deciding small" }, c.deciding) : null,
          changeWriters(ch.writers)),
        h("a", { class: "btn btn-small", href: resHref(ch.resourceId) }, "open")),
      chain,
      c.evidence && c.evidence.length ? h("details", { class: "evidence-box", open: i === 0 }, h("summary", { class: "small muted" }, "evidence chain"),
        h("ul", { class: "evidence" }, c.evidence.map((e) => h("li", {}, e)))) : null);
  });
  const tables = [...groups.values()].map((g) => h("div", { class: "ba-group", "data-ranks": g.ranks.join(",") },
    h("div", { class: "pad small muted" }, `call edges around candidate${g.ranks.length > 1 ? "s" : ""} ${g.ranks.map((n) => "#" + n).join(", ")}, before → after the onset`),
    beforeAfter(g.rows)));
  const aside = posture.length || discovered ? h("div", { class: "pad small muted", id: "dig-aside" },
    posture.length ? h("div", {}, `not changes (${posture.length}): `, posture.map((x) => `${x.change.summary} on ${shortId(x.change.resourceId)}`).join("; ")) : null,
    discovered ? h("div", {}, `${discovered} resource${discovered === 1 ? "" : "s"} discovered by a first scan (not changes) hidden`) : null) : null;
  return h("div", {}, head, list, tables, aside);
}

function beforeAfter(rows) {
  const get = (side, k) => (side ? side[k] : null);
  const cell = (b, a, key, fmt, higherIsWorse = true) => {
    const vb = get(b, key), va = get(a, key);
    const worse = va != null && vb != null && (higherIsWorse ? va > vb * 1.1 : va < vb * 0.9);
    return h("td", { class: worse ? "worse" : "" }, `${vb == null ? "no traffic" : fmt(vb)} → ${va == null ? "no traffic" : fmt(va)}`);
  };
  return h("table", { class: "ba t" }, h("thead", {}, h("tr", {}, ["edge (before → after)", "req/s", "errors", "p95"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((x) => h("tr", {},
      h("td", { class: "small", title: `${x.src} → ${x.dst}` }, `${shortId(x.src)} → ${shortId(x.dst)}`),
      cell(x.before, x.after, "rate", (v) => fmtNum(v, 2), false),
      cell(x.before, x.after, "errorRatio", fmtPct),
      cell(x.before, x.after, "p95", fmtMs)))));
}
