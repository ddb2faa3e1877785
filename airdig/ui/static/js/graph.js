// SVG graph drawing with two small layouts written for this UI: force-directed (neighbourhoods) and
// layered left-to-right (call graphs). Deterministic: the same data always gives the same picture.

import { s } from "./dom.js";

const W = 1000;

export function drawGraph({ nodes, edges, layout = "force", onClick, height = 420, rootId }) {
  const H = height;
  const pos = layout === "layered" ? layered(nodes, edges, H) : force(nodes, edges, H, rootId);
  const svg = s("svg", { class: "graph", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet",
    role: "img", "aria-label": `graph of ${nodes.length} nodes and ${edges.length} edges`, style: `height:${H}px` });
  const defs = s("defs", {});
  for (const [id, color] of [["arr", "var(--muted)"], ["arr-calls", "var(--info)"], ["arr-err", "var(--crit)"]]) {
    defs.append(s("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" },
      s("path", { d: "M0,1 L10,5 L0,9 z", fill: color })));
  }
  svg.append(defs);
  const gEdges = s("g", {}), gLabels = s("g", {}), gNodes = s("g", {});
  const radius = (n) => (n.id === rootId ? 12 : 9);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const e of edges) {
    const a = pos.get(e.src), b = pos.get(e.dst);
    if (!a || !b) continue;
    const cls = ["edge", e.type || "", e.err ? "err" : "", e.stale ? "stale" : ""].join(" ").trim();
    const marker = e.err ? "arr-err" : e.type === "calls" ? "arr-calls" : "arr";
    let d, mx, my;
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
    const ra = radius(byId.get(e.src) || {}), rb = radius(byId.get(e.dst) || {}) + 3;
    if (e.src === e.dst) {
      d = `M${a.x},${a.y - ra} c 30,-40 50,0 ${ra},${ra}`; mx = a.x + 30; my = a.y - 30;
    } else if (layout === "layered") {
      const x1 = a.x + ra, x2 = b.x - rb, c = Math.max(40, Math.abs(x2 - x1) / 2);
      d = `M${x1},${a.y} C${x1 + c},${a.y} ${x2 - c},${b.y} ${x2},${b.y}`;
      mx = (x1 + x2) / 2; my = (a.y + b.y) / 2 - 4;
    } else {
      const x1 = a.x + (dx / len) * ra, y1 = a.y + (dy / len) * ra, x2 = b.x - (dx / len) * rb, y2 = b.y - (dy / len) * rb;
      d = `M${x1},${y1} L${x2},${y2}`; mx = (x1 + x2) / 2; my = (y1 + y2) / 2 - 4;
    }
    const width = e.weight ? 1.2 + Math.min(4, e.weight) : 1.2;
    gEdges.append(s("path", { class: cls, d, "stroke-width": width, "marker-end": `url(#${marker})`,
      "data-src": e.src, "data-dst": e.dst, "data-type": e.type || "" }, s("title", {}, e.title || `${e.src} -${e.type}-> ${e.dst}`)));
    if (e.label) gLabels.append(s("text", { class: `elabel${e.err ? " err" : ""}`, x: mx, y: my, "text-anchor": "middle" }, e.label));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const cls = ["node", n.drifted ? "drifted" : "", n.id === rootId ? "root" : ""].join(" ").trim();
    const g = s("g", { class: cls, transform: `translate(${p.x},${p.y})`, "data-id": n.id, tabindex: 0,
      onclick: () => onClick && onClick(n.id),
      onkeydown: (ev) => { if (ev.key === "Enter" && onClick) onClick(n.id); } },
    s("title", {}, `${n.label}\n${n.kind}\n${n.id}\nhealth: ${n.status || "unknown"}${n.drifted ? "\ndrifted" : ""}`),
    s("rect", { class: "hit", x: -62, y: -radius(n) - 2, width: 124, height: radius(n) * 2 + 30, fill: "transparent" }),
    s("circle", { r: radius(n), class: `h-${n.status || "unknown"}` }),
    s("text", { y: radius(n) + 12, "text-anchor": "middle" }, trunc(n.label, 24)),
    s("text", { class: "kind", y: radius(n) + 23, "text-anchor": "middle" }, trunc(n.kind, 26)));
    gNodes.append(g);
  }
  svg.append(gEdges, gLabels, gNodes);
  return svg;
}

function trunc(t, n) { t = String(t || ""); return t.length > n ? t.slice(0, n - 1) + "…" : t; }

function force(nodes, edges, H, rootId) {
  const n = nodes.length, pos = new Map(), cx = W / 2, cy = H / 2;
  const idx = new Map(nodes.map((nd, i) => [nd.id, i]));
  const P = nodes.map((nd, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, n);
    return nd.id === rootId ? { x: cx, y: cy } : { x: cx + Math.cos(a) * W * 0.3, y: cy + Math.sin(a) * H * 0.35 };
  });
  const E = edges.map((e) => [idx.get(e.src), idx.get(e.dst)]).filter(([a, b]) => a !== undefined && b !== undefined && a !== b);
  const k = Math.sqrt((W * H) / Math.max(1, n)) * 0.6;
  let temp = W / 8;
  const iters = n > 60 ? 200 : 300;
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
      // weak gravity keeps disconnected parts on screen
      D[i].x += (cx - P[i].x) * 0.02 * k / 10; D[i].y += (cy - P[i].y) * 0.04 * k / 10;
      if (nodes[i].id === rootId) continue;
      const d = Math.hypot(D[i].x, D[i].y) || 1, step = Math.min(d, temp);
      P[i].x += (D[i].x / d) * step; P[i].y += (D[i].y / d) * step;
    }
    temp *= 0.985;
  }
  fit(P, H);
  nodes.forEach((nd, i) => pos.set(nd.id, P[i]));
  return pos;
}

function fit(P, H) {
  if (!P.length) return;
  const pad = 80;
  const xs = P.map((p) => p.x), ys = P.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = x1 - x0 < 1 ? 0 : (W - 2 * pad) / (x1 - x0), sy = y1 - y0 < 1 ? 0 : (H - 2 * pad - 20) / (y1 - y0);
  for (const p of P) {
    p.x = sx ? pad + (p.x - x0) * sx : W / 2;
    p.y = sy ? pad + (p.y - y0) * sy : H / 2;
  }
}

function layered(nodes, edges, H) {
  const ids = nodes.map((n) => n.id), layer = new Map(ids.map((id) => [id, 0]));
  const E = edges.filter((e) => layer.has(e.src) && layer.has(e.dst) && e.src !== e.dst);
  // longest path from the sources; bounded passes so cycles cannot loop forever
  for (let pass = 0; pass < ids.length; pass++) {
    let changed = false;
    for (const e of E) {
      const want = layer.get(e.src) + 1;
      if (want > layer.get(e.dst) && want < ids.length) { layer.set(e.dst, want); changed = true; }
    }
    if (!changed) break;
  }
  const layers = [];
  for (const id of ids) (layers[layer.get(id)] ||= []).push(id);
  const filled = layers.filter(Boolean);
  const order = new Map();
  filled.forEach((ls) => ls.forEach((id, i) => order.set(id, i)));
  for (let sweep = 0; sweep < 2; sweep++) {  // barycentre ordering reduces crossings
    for (const ls of filled) {
      const bc = (id) => {
        const preds = E.filter((e) => e.dst === id).map((e) => order.get(e.src));
        return preds.length ? preds.reduce((a, b) => a + b, 0) / preds.length : order.get(id);
      };
      ls.sort((a, b) => bc(a) - bc(b) || a.localeCompare(b));
      ls.forEach((id, i) => order.set(id, i));
    }
  }
  const pos = new Map(), padX = 90, padY = 40;
  const dx = filled.length > 1 ? (W - 2 * padX) / (filled.length - 1) : 0;
  filled.forEach((ls, li) => {
    const dy = (H - 2 * padY - 20) / Math.max(1, ls.length);
    ls.forEach((id, i) => pos.set(id, { x: filled.length > 1 ? padX + li * dx : W / 2, y: padY + dy * (i + 0.5) }));
  });
  return pos;
}
