// Graph drawing for neighbourhoods and the service map: sigma.js (WebGL) on a graphology graph, both
// vendored under /static/vendor (see docs/ui.md). One code path for 3 nodes and for 5,000.
//
// What this module adds on top of sigma:
// - deterministic layouts (force-directed for small neighbourhoods, a grid by kind for big ones,
//   layered left→right for call graphs), computed here in O(n + e) beyond a few hundred nodes;
// - nodes coloured by health, drifted nodes ringed, the root ringed, groups drawn bigger with a count;
// - labels that never overlap: sigma picks labels by a density grid as you zoom, and every label drawn
//   is checked against the ones already drawn in that frame (a colliding one is skipped; hover shows it);
// - keyboard: the canvas is focusable, arrows move between nodes, Enter opens/expands, +/- zoom, and a
//   table of the same nodes follows the canvas (screen readers, j/k rows) — the canvas is never the only way;
// - cleanup: a renderer whose view was left is killed (WebGL contexts are a scarce resource).

import { h } from "./dom.js";

const VENDOR = ["/static/vendor/graphology.umd.min.js", "/static/vendor/sigma.min.js"];
let vendorLoad = null;
const live = new Set();  // mounted renderers, killed once their element leaves the page

function sweep() {
  for (const r of [...live]) if (!r.getContainer().isConnected) { r.kill(); live.delete(r); }
}
// a view change (or a panel redraw) detaches the old canvas: free its WebGL context right away
window.addEventListener("hashchange", () => setTimeout(sweep, 0));

/** Load graphology + sigma once (classic UMD scripts: the CSP allows same-origin scripts only).
 *  Both download in parallel and run in order; called at start-up so the renderer is ready when data is. */
export function loadRenderer() {
  if (!vendorLoad) {
    const load = (src) => new Promise((resolve, reject) => {
      const el = document.createElement("script");
      el.src = src;
      el.async = false;  // keep execution order while downloading together
      el.onload = resolve;
      el.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(el);
    });
    vendorLoad = Promise.all(VENDOR.map(load)).then(() => ({ Graph: window.graphology.Graph, Sigma: window.Sigma }))
      .catch((e) => { vendorLoad = null; throw e; });
  }
  return vendorLoad;
}

export const BIG = 400; // beyond this many nodes: O(n) layout, no arrows, thinner edges
export const EDGE_LABELS = 30; // edge labels only on small graphs (the tables carry every number)

function palette() {
  const cs = getComputedStyle(document.documentElement), v = (n, d) => (cs.getPropertyValue(n).trim() || d);
  return { healthy: v("--ok", "#1e9e5a"), warning: v("--warn", "#c98a00"), critical: v("--crit", "#d6333a"),
    unknown: v("--unk", "#8a94a3"), drift: v("--drift", "#8e44ad"), accent: v("--accent", "#e8833a"),
    edge: v("--muted", "#5f6b7a"), calls: v("--info", "#2d7fd3"), text: v("--text", "#1d232b"),
    panel: v("--panel", "#ffffff"), font: cs.getPropertyValue("--sans").trim() || "sans-serif" };
}

/**
 * Draw a graph. Returns its element at once; the renderer mounts when the element is on the page.
 * nodes: { id, label, kind, status, drifted, group?: { count, label, by } }
 * edges: { src, dst, type, err, stale, weight, label }
 * onClick(id): open a node; onExpand(id): open a group in place (defaults to onClick).
 */
export function drawGraph({ nodes, edges, layout = "force", onClick, onExpand, height = 420, rootId, caption }) {
  const order = [...nodes].sort((a, b) => (a.id === rootId ? -1 : b.id === rootId ? 1 : 0)
    || (b.group ? 1 : 0) - (a.group ? 1 : 0) || String(a.label).localeCompare(String(b.label)));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const canvasHost = h("div", { class: "graph-canvas", style: `height:${height}px`, tabindex: 0, role: "application",
    "aria-roledescription": "graph", "aria-label": `${caption || "graph"}: ${nodes.length} nodes, ${edges.length} edges. `
      + "Arrow keys move between nodes, Enter opens, + and − zoom, 0 resets.",
    "data-nodes": nodes.length, "data-edges": edges.length });
  const overlay = h("canvas", { class: "graph-overlay", "aria-hidden": "true" });
  const announce = h("div", { class: "sr-only", "aria-live": "polite" });
  const status = h("div", { class: "graph-status small muted" }, "drawing…");
  const wrap = h("div", { class: "graph-wrap" }, h("div", { class: "graph-stage" }, canvasHost, overlay), status, announce,
    nodeTable(order, edges, byId, rootId, onClick, onExpand));
  const open = (id) => {
    const n = byId.get(id);
    if (!n) return;
    if (n.group) (onExpand || onClick)?.(id); else if (id !== rootId) onClick?.(id);
  };
  const started = performance.now();
  const tryMount = () => {
    if (!wrap.isConnected) { requestAnimationFrame(tryMount); return; }
    loadRenderer().then(({ Graph, Sigma }) => {
      if (!wrap.isConnected) return;
        const r = mount({ Graph, Sigma, host: canvasHost, overlay, nodes, edges, layout, rootId, order, open, announce, byId });
      wrap.graph = r;
      requestAnimationFrame(() => requestAnimationFrame(() => {
        const ms = Math.round(performance.now() - started);
        performance.mark("graph:frame");
        wrap.dataset.rendered = String(ms);
        status.textContent = `${nodes.length} nodes · ${edges.length} edges · scroll to zoom, drag to pan, hover or zoom in for labels`;
      }));
    }).catch((e) => {
      status.textContent = `graph renderer unavailable (${e.message}); the table below lists the same nodes`;
      wrap.dataset.rendered = "failed";
    });
  };
  requestAnimationFrame(tryMount);
  return wrap;
}

function mount({ Graph, Sigma, host, overlay, nodes, edges, layout, rootId, order, open, announce, byId }) {
  sweep();
  const pal = palette();
  const big = nodes.length > BIG;
  performance.mark("graph:mount");
  const pos = layout === "layered" ? layered(nodes, edges) : big ? gridByKind(nodes, rootId) : force(nodes, edges, rootId);
  performance.mark("graph:layout");
  // one bulk import (graphology checks and indexes it in one pass) rather than 25,000 add calls
  const gNodes = nodes.map((n) => {
    const p = pos.get(n.id);
    const size = n.id === rootId ? 11 : n.group ? 8 + Math.min(10, 2 * Math.log2(1 + n.group.count)) : big ? 3 : 7;
    return { key: n.id, attributes: { x: p.x, y: -p.y, size, label: n.group ? n.group.label : n.label,
      color: pal[n.status] || pal.unknown, forceLabel: n.id === rootId || !!n.group, zIndex: n.group ? 1 : 0 } };
  });
  const gEdges = [], labelled = edges.length <= EDGE_LABELS;
  for (const e of edges) {
    if (!byId.has(e.src) || !byId.has(e.dst)) continue;
    gEdges.push({ key: `e${gEdges.length}`, source: e.src, target: e.dst, attributes: {
      size: big ? 0.5 : 1 + Math.min(4, e.weight || 0), type: big || e.src === e.dst ? "line" : "arrow",
      color: e.err ? pal.critical : e.type === "calls" ? pal.calls : pal.edge,
      label: labelled ? e.label || null : null, forceLabel: labelled } });
  }
  const g = new Graph({ multi: true, type: "directed" });
  g.import({ nodes: gNodes, edges: gEdges });
  performance.mark("graph:built");
  const boxes = [];  // label boxes drawn this frame: the no-overlap check
  const obstacles = [];  // the discs of the big nodes (groups, the root): no label is drawn over them
  const hits = (box) => (b) => b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1;
  const free = (box) => !boxes.some(hits(box)) && !obstacles.some((o) => o.id !== box.id && hits(box)(o));
  const drawLabel = (ctx, d, settings) => {
    if (!d.label) return;
    ctx.font = `${settings.labelWeight} ${settings.labelSize}px ${settings.labelFont}`;
    const w = ctx.measureText(d.label).width, x = d.x + d.size + 3, y = d.y + settings.labelSize / 3;
    const box = { x0: x - 1, y0: y - settings.labelSize, x1: x + w + 1, y1: y + 3, id: d.key };
    if (!free(box)) return;
    boxes.push(box);
    ctx.fillStyle = pal.text;
    ctx.fillText(d.label, x, y);
  };
  // edge labels: horizontal at the middle of the edge, under the same no-overlap rule as node labels
  const drawEdgeLabel = (ctx, ed, src, dst, settings) => {
    if (!ed.label) return;
    ctx.font = `${settings.edgeLabelWeight} ${settings.edgeLabelSize}px ${settings.edgeLabelFont}`;
    const w = ctx.measureText(ed.label).width, mx = (src.x + dst.x) / 2, my = (src.y + dst.y) / 2 - 3;
    const box = { x0: mx - w / 2 - 1, y0: my - settings.edgeLabelSize, x1: mx + w / 2 + 1, y1: my + 3, id: ed.key };
    if (!free(box)) return;
    boxes.push(box);
    ctx.fillStyle = ed.color || pal.edge;
    ctx.fillText(ed.label, mx - w / 2, my);
  };
  const drawHover = (ctx, d, settings) => {
    const label = d.label || "";
    ctx.font = `${settings.labelWeight} ${settings.labelSize}px ${settings.labelFont}`;
    const w = ctx.measureText(label).width, x = d.x + d.size + 3, y = d.y + settings.labelSize / 3;
    ctx.fillStyle = pal.panel;
    ctx.strokeStyle = pal.edge;
    ctx.beginPath();
    ctx.rect(x - 3, y - settings.labelSize, w + 6, settings.labelSize + 5);
    ctx.fill(); ctx.stroke();
    ctx.fillStyle = pal.text;
    ctx.fillText(label, x, y);
  };
  const r = new Sigma(g, host, {
    renderEdgeLabels: edges.length <= EDGE_LABELS, hideEdgesOnMove: big, hideLabelsOnMove: big, zIndex: true,
    labelFont: pal.font, labelSize: 12, labelColor: { color: pal.text }, edgeLabelColor: { color: pal.edge },
    edgeLabelSize: 10, labelDensity: 0.7, labelGridCellSize: 120, labelRenderedSizeThreshold: big ? 9 : 5,
    defaultDrawNodeLabel: drawLabel, defaultDrawNodeHover: drawHover, defaultDrawEdgeLabel: drawEdgeLabel, stagePadding: 40, minCameraRatio: 0.02,
    maxCameraRatio: 4, enableCameraRotation: false, allowInvalidContainer: true,
    // big graphs: edges as 1-px GL lines (not the default quads, which at 0.5 px look the same) and
    // nodes as GL points (not quads with a disc shader). Without a GPU every vertex and covered pixel
    // is CPU work: measured in headless Chromium on SwiftShader, a camera frame of 5,000 nodes took
    // ~140 ms with quads and ~25 ms with points (docs/ui.md, "Scale")
    ...(big ? { edgeProgramClasses: { line: Sigma.rendering.EdgeLineProgram },
      nodeProgramClasses: { circle: Sigma.rendering.NodePointProgram } } : {}),
  });
  performance.mark("graph:sigma");
  const bigOnes = nodes.filter((n) => n.group || n.id === rootId).map((n) => n.id);
  r.on("beforeRender", () => {
    boxes.length = 0;
    obstacles.length = 0;
    for (const id of bigOnes) {
      const d = r.getNodeDisplayData(id);
      if (!d) continue;
      const p = r.framedGraphToViewport(d), rad = r.scaleSize(d.size);
      obstacles.push({ id, x0: p.x - rad, y0: p.y - rad, x1: p.x + rad, y1: p.y + rad });
    }
  });
  let focusIdx = -1;
  const ringed = nodes.filter((n) => n.drifted || n.id === rootId);
  const rings = () => drawRings(r, overlay, ringed, rootId, order[focusIdx], pal);
  r.on("afterRender", rings);
  // the constructor drew once before these listeners: draw the rings now, and draw again only when a
  // group's or the root's disc must keep labels off it (a second full frame of a 20,000-edge graph
  // costs as much as the first without a GPU)
  if (bigOnes.length) r.scheduleRender(); else rings();
  r.on("clickNode", ({ node }) => open(node));
  r.on("enterNode", () => { host.style.cursor = "pointer"; });
  r.on("leaveNode", () => { host.style.cursor = ""; });
  const focusNode = (k) => {
    if (!order.length) return;
    if (focusIdx >= 0 && g.hasNode(order[focusIdx].id)) g.setNodeAttribute(order[focusIdx].id, "highlighted", false);
    focusIdx = (k + order.length) % order.length;
    const n = order[focusIdx];
    g.setNodeAttribute(n.id, "highlighted", true);
    const d = r.getNodeDisplayData(n.id);
    if (d) r.getCamera().animate({ x: d.x, y: d.y }, { duration: 150 });
    host.dataset.focus = n.id;
    announce.textContent = `${n.group ? n.group.label : n.label}, ${n.kind}, health ${n.status || "unknown"}`
      + `${n.drifted ? ", drifted" : ""}${n.group ? ", a group: Enter opens it" : ""}. ${focusIdx + 1} of ${order.length}`;
  };
  host.addEventListener("keydown", (ev) => {
    const cam = r.getCamera();
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") focusNode(focusIdx + 1);
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") focusNode(focusIdx < 0 ? -1 : focusIdx - 1);
    else if (ev.key === "Home") focusNode(0);
    else if (ev.key === "End") focusNode(order.length - 1);
    else if (ev.key === "Enter" && focusIdx >= 0) open(order[focusIdx].id);
    else if (ev.key === "+" || ev.key === "=") cam.animatedZoom();
    else if (ev.key === "-") cam.animatedUnzoom();
    else if (ev.key === "0") cam.animatedReset();
    else return;
    ev.preventDefault();
    ev.stopPropagation();  // j/k/d… of the page stay out of the graph while it has focus
  });
  host.addEventListener("focus", () => { if (focusIdx < 0) focusNode(0); });
  live.add(r);
  // for tests and the bench: where a node is on screen, and what labels were drawn (never a global)
  return {
    renderer: r,
    labelBoxes: () => boxes.map((b) => ({ ...b })),
    nodeViewport: (id) => {
      const d = r.getNodeDisplayData(id);
      if (!d) return null;
      const p = r.framedGraphToViewport(d), rect = host.getBoundingClientRect();
      return { x: rect.left + p.x, y: rect.top + p.y };
    },
  };
}

// rings for drifted nodes (dashed, drift colour), the root (accent) and the keyboard focus
const inked = new WeakSet();  // overlays with rings on them
function drawRings(r, overlay, ringed, rootId, focused, pal) {
  const { width, height } = r.getDimensions(), dpr = window.devicePixelRatio || 1;
  if (overlay.width !== width * dpr || overlay.height !== height * dpr) {
    overlay.width = width * dpr; overlay.height = height * dpr;
    overlay.style.width = `${width}px`; overlay.style.height = `${height}px`;
  }
  // nothing ringed now nor on the layer: leave it untouched (a cleared canvas is a changed layer the
  // compositor takes again, every frame of a camera move)
  const anything = ringed.length > 0 || !!focused;
  if (!anything && !inked.has(overlay)) return;
  if (anything) inked.add(overlay); else inked.delete(overlay);
  const ctx = overlay.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const ring = (id, color, dash, extra) => {
    const d = r.getNodeDisplayData(id);
    if (!d || d.hidden) return;
    const p = r.framedGraphToViewport(d), rad = r.scaleSize(d.size) + extra;
    if (p.x < -rad || p.y < -rad || p.x > width + rad || p.y > height + rad) return;
    ctx.beginPath(); ctx.setLineDash(dash); ctx.strokeStyle = color; ctx.lineWidth = 2.5;
    ctx.arc(p.x, p.y, rad, 0, 2 * Math.PI); ctx.stroke();
  };
  for (const n of ringed) {
    if (n.drifted) ring(n.id, pal.drift, [4, 2], 3);
    if (n.id === rootId) ring(n.id, pal.accent, [], n.drifted ? 7 : 3);
  }
  if (focused) ring(focused.id, pal.text, [2, 2], 9);
}

// the same nodes as a table: keyboard (j/k, Enter) and screen readers reach every node without the canvas
function nodeTable(order, edges, byId, rootId, onClick, onExpand) {
  const degree = new Map();
  for (const e of edges) for (const id of [e.src, e.dst]) degree.set(id, (degree.get(id) || 0) + 1);
  const rel = new Map();  // how each node relates to the root (neighbourhoods): "network →", "← depends_on"
  if (rootId) for (const e of edges) {
    if (e.src === rootId) rel.set(e.dst, [...(rel.get(e.dst) || []), `→ ${e.type || "edge"}`]);
    if (e.dst === rootId) rel.set(e.src, [...(rel.get(e.src) || []), `${e.type || "edge"} →`]);
  }
  const MAX = 500, shown = order.slice(0, MAX);
  const rows = shown.map((n) => {
    const act = () => (n.group ? (onExpand || onClick)?.(n.id) : n.id !== rootId && onClick?.(n.id));
    return h("tr", { class: "nav-row", tabindex: 0, "data-id": n.id, "data-group": n.group ? "1" : null,
      onclick: act, onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); ev.stopPropagation(); act(); } } },
    h("td", {}, h("span", { class: `dot dot-${n.status || "unknown"}`, title: n.status || "unknown" })),
    h("td", { class: "ellipsis", title: n.id }, n.group ? h("b", {}, n.group.label) : n.label, n.id === rootId ? " (this)" : ""),
    h("td", {}, h("span", { class: "badge b-kind" }, n.kind || "?")),
    h("td", {}, n.status || "unknown", n.drifted ? h("span", { class: "badge b-drifted" }, n.group ? `${n.drifted} drifted` : "drifted") : null),
    h("td", { class: "small muted" }, rootId ? (rel.get(n.id) || []).join(", ") : `${degree.get(n.id) || 0} edges`),
    h("td", {}, n.group ? h("span", { class: "small" }, "Enter: expand") : null));
  });
  return h("details", { class: "graph-list" },
    h("summary", { class: "small muted" }, `the ${order.length} nodes as a table${order.length > MAX ? ` (first ${MAX})` : ""}`),
    h("table", { class: "t" }, h("thead", {}, h("tr", {}, ["", "name", "kind", "health", rootId ? "relation" : "edges", ""]
      .map((t) => h("th", {}, t)))), h("tbody", {}, rows)));
}

// ---------------------------------------------------------------- layouts (deterministic)

function force(nodes, edges, rootId) {
  const W = 1000, H = 600, n = nodes.length, cx = W / 2, cy = H / 2;
  const idx = new Map(nodes.map((nd, i) => [nd.id, i]));
  const P = nodes.map((nd, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, n);
    return nd.id === rootId ? { x: cx, y: cy } : { x: cx + Math.cos(a) * W * 0.3, y: cy + Math.sin(a) * H * 0.35 };
  });
  const E = edges.map((e) => [idx.get(e.src), idx.get(e.dst)]).filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  const k = Math.sqrt((W * H) / Math.max(1, n)) * 0.6;
  let temp = W / 8;
  const iters = n > 150 ? 120 : n > 60 ? 200 : 300;
  for (let it = 0; it < iters; it++) {
    const D = P.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
      let dx = P[i].x - P[j].x, dy = P[i].y - P[j].y;
      let d2 = dx * dx + dy * dy;
      if (d2 < 0.01) { dx = (i - j) * 0.1; dy = 0.1; d2 = dx * dx + dy * dy; }
      const f = (k * k) / d2;
      D[i].x += dx * f; D[i].y += dy * f; D[j].x -= dx * f; D[j].y -= dy * f;
    }
    for (const [a, b] of E) {
      const dx = P[a].x - P[b].x, dy = P[a].y - P[b].y, d = Math.hypot(dx, dy) || 0.01;
      const f = d / k;
      D[a].x -= dx * f; D[a].y -= dy * f; D[b].x += dx * f; D[b].y += dy * f;
    }
    for (let i = 0; i < n; i++) {
      D[i].x += (cx - P[i].x) * 0.02 * k / 10; D[i].y += (cy - P[i].y) * 0.04 * k / 10;
      if (nodes[i].id === rootId) continue;
      const d = Math.hypot(D[i].x, D[i].y) || 1, step = Math.min(d, temp);
      P[i].x += (D[i].x / d) * step; P[i].y += (D[i].y / d) * step;
    }
    temp *= 0.985;
  }
  return new Map(nodes.map((nd, i) => [nd.id, P[i]]));
}

// big neighbourhoods: one block per kind, nodes on a sunflower spiral inside it (O(n), no overlap)
function gridByKind(nodes, rootId) {
  const kinds = new Map();
  for (const n of nodes) if (n.id !== rootId) (kinds.get(n.kind) || kinds.set(n.kind, []).get(n.kind)).push(n);
  const blocks = [...kinds.entries()].sort((a, b) => b[1].length - a[1].length);
  const pos = new Map(), cols = Math.ceil(Math.sqrt(blocks.length));
  const cell = Math.max(...blocks.map(([, ns]) => 12 * Math.sqrt(ns.length)), 60) * 2.4;
  blocks.forEach(([, ns], b) => {
    const bx = (b % cols) * cell, by = Math.floor(b / cols) * cell;
    ns.forEach((n, i) => {
      const r = 12 * Math.sqrt(i + 0.5), a = i * 2.39996;
      pos.set(n.id, { x: bx + r * Math.cos(a), y: by + r * Math.sin(a) });
    });
  });
  if (rootId) pos.set(rootId, { x: -cell, y: -cell });
  return pos;
}

// call graphs: longest path from the sources on the graph without its back edges, then barycentre
// ordering inside each layer — O(n + e) per pass, fine at 5,000 nodes / 20,000 edges
function layered(nodes, edges) {
  const ids = nodes.map((n) => n.id), index = new Map(ids.map((id, i) => [id, i]));
  const out = ids.map(() => []), pred = ids.map(() => []);
  for (const e of edges) {
    const a = index.get(e.src), b = index.get(e.dst);
    if (a === undefined || b === undefined || a === b) continue;
    out[a].push(b);
  }
  // DFS (iterative) marks back edges so cycles cannot loop; forward edges give the DAG
  const state = new Uint8Array(ids.length), topo = [];
  const dag = ids.map(() => []);
  for (let s = 0; s < ids.length; s++) {
    if (state[s]) continue;
    const stack = [[s, 0]];
    state[s] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1], [v, k] = top;
      if (k < out[v].length) {
        top[1]++;
        const w = out[v][k];
        if (state[w] === 0) { state[w] = 1; dag[v].push(w); stack.push([w, 0]); } else if (state[w] === 2) dag[v].push(w);
      } else { state[v] = 2; topo.push(v); stack.pop(); }
    }
  }
  topo.reverse();
  const layer = new Int32Array(ids.length);
  for (const v of topo) for (const w of dag[v]) { if (layer[w] < layer[v] + 1) layer[w] = layer[v] + 1; pred[w].push(v); }
  const layers = [];
  for (let v = 0; v < ids.length; v++) (layers[layer[v]] ||= []).push(v);
  const filled = layers.filter(Boolean), order = new Float64Array(ids.length);
  filled.forEach((ls) => ls.forEach((v, i) => { order[v] = i; }));
  for (let sweep = 0; sweep < 2; sweep++) {
    for (const ls of filled) {
      const bc = new Map(ls.map((v) => [v, pred[v].length ? pred[v].reduce((s, u) => s + order[u], 0) / pred[v].length : order[v]]));
      ls.sort((a, b) => bc.get(a) - bc.get(b) || ids[a].localeCompare(ids[b]));
      ls.forEach((v, i) => { order[v] = i; });
    }
  }
  let tallest = 1;
  for (const ls of filled) tallest = Math.max(tallest, ls.length);
  const dx = Math.max(160, 40 * Math.sqrt(tallest)), dy = 60;
  // a deep call graph (thousands of layers, a few services each) would be a line thousands of times
  // wider than high: fold the layers into bands, left→right then right→left (consecutive layers stay
  // side by side), so the picture keeps the canvas's proportions
  const L = filled.length, ASPECT = 2.2;
  const bandsHigh = (per) => {  // the folded picture's height for `per` layers a band
    let sum = 0;
    for (let b0 = 0; b0 < L; b0 += per) {
      let high = 1;
      for (let k = b0; k < Math.min(L, b0 + per); k++) high = Math.max(high, filled[k].length);
      sum += (high + 2) * dy;
    }
    return sum;
  };
  let perBand = L;
  // a chain of a few dozen layers still reads best as one line; fold only deeper ones, and only when
  // far wider than the canvas's proportions. Try band widths (×1.25 apart): the one closest to ASPECT
  if (L > 40 && L * dx > 4 * ASPECT * tallest * dy) {
    let best = Infinity;
    for (let per = 2; per < L; per = Math.ceil(per * 1.25)) {
      const off = Math.abs(Math.log((per * dx) / bandsHigh(per) / ASPECT));
      if (off < best) { best = off; perBand = per; }
    }
  }
  const pos = new Map();
  let top = 0;
  for (let b0 = 0; b0 < L; b0 += perBand) {
    const band = filled.slice(b0, b0 + perBand), rev = (b0 / perBand) % 2 === 1;
    let high = 1;
    for (const ls of band) high = Math.max(high, ls.length);
    band.forEach((ls, k) => {
      const x = (rev ? perBand - 1 - k : k) * dx;
      ls.forEach((v, i) => pos.set(ids[v], { x, y: top + (i - (ls.length - 1) / 2) * dy }));
    });
    top += (high + 2) * dy;
  }
  return pos;
}
