"""The UI's graph at estate scale, in headless Chromium against a real engine (issue 16).

A seeded engine (embedded backends) gets N services and M call edges through its bus, exactly as
TraceCore publishes them; the SPA's service map then draws them with the vendored renderer. Printed
as JSON: the engine's answer time for the same `serviceMap` query as objects and as `columns` (the
baseline of this run), the time from navigation to the first drawn frame, the page's own phases (from
its performance marks: boot, API answer and payload size, JSON parse, layout, graph build, renderer,
first frame), the frame gaps while a real mouse drags and zooms the graph (idle frames after it
included), and the frame gaps during a programmatic camera move (`camera`: every frame redraws;
`settle_ms` is the frame after it, where the hidden edges come back). The same is measured for a
3-service map (the small baseline).

    PYTHONPATH=. python -m bench.ui_scale                 # 5,000 services / 20,000 edges
    PYTHONPATH=. python -m bench.ui_scale --nodes 1000 --edges 4000

Aims (issue 16): first render < 2 s, a pan/zoom frame < 50 ms. Headless Chromium here has no GPU
(`--disable-gpu`: WebGL runs on SwiftShader, on a shared 2-core machine), so the numbers are an upper
bound of what a browser with a GPU does; docs/ui.md records the figures measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from airdig.engine.app import build_app
from airdig.engine.service import EngineService
from airdig.model.events import TOPIC_TRACES, CloudEvent
from airdig.model.graph import Node
from airdig.ui.app import build_ui_app
from tests.unit.ui.servers import embedded_engine, serve

CHROMIUM = os.environ.get("AIRDIG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def service_events(n: int, m: int, now: float, seed: int = 7) -> list[CloudEvent]:
    """n services in 20 namespaces and m distinct call edges between them, one closed window each."""
    rng = random.Random(seed)
    ids = [f"service://ns{i % 20}/svc{i:05d}" for i in range(n)]
    evs = []
    for sid in ids:
        node = Node(id=sid, kind="service", provider="otel", name=sid.rsplit("/", 1)[-1])
        evs.append(CloudEvent("airdig.trace.service", "tracecore", sid, {"node": node.to_dict()}, time=now - 600))
    # a chain through every service first (the service map lists services seen in calls), then random calls
    pairs: set[tuple[int, int]] = {(i, i + 1) for i in range(min(n - 1, m))}
    while len(pairs) < m:
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            pairs.add((a, b))
    for a, b in sorted(pairs):
        reqs = rng.randint(10, 2000)
        errs = reqs // 10 if rng.random() < 0.05 else 0
        stats = {"request_count": reqs, "error_count": errs,
                 "errors": {"5xx": errs, "4xx": 0, "429": 0, "status_error": 0, "grpc": 0},
                 "latency_ms": {"bounds": [10, 100, 1000], "counts": [reqs // 2, reqs // 4, reqs // 8, reqs - reqs // 2 - reqs // 4 - reqs // 8]},
                 "p50": 8.0, "p95": 90.0, "p99": 400.0}
        evs.append(CloudEvent("airdig.trace.edge", "tracecore", ids[a], {
            "src": ids[a], "dst": ids[b], "type": "calls", "window_start": now - 300, "window_seconds": 60,
            "stats": stats}, time=now - 240))
    return evs


@contextmanager
def seeded_engine(n: int, m: int, workdir: Path,
                  timeout: float = 600) -> Iterator[tuple[str, str, float, EngineService]]:
    """(engine_url, ui_url, seconds the engine took to apply the events, the engine service: its bus
    takes more events) for n services, m edges."""
    svc = embedded_engine(workdir, "ui-scale")
    svc.start()
    try:
        t0 = time.monotonic()
        evs = service_events(n, m, time.time())
        for ev in evs:
            svc.bus.publish(TOPIC_TRACES, ev.subject, ev.encode())
        svc.bus.flush()
        with serve(build_app(svc)) as engine_url, serve(build_ui_app(engine_url)) as ui_url:
            q = "{ serviceMap { nodes { id } edges { src } } }"
            while True:
                d = httpx.post(f"{engine_url}/graphql", json={"query": q}, timeout=60).json()["data"]["serviceMap"]
                if len(d["nodes"]) >= n and len(d["edges"]) >= m:
                    break
                if time.monotonic() - t0 > timeout:
                    raise TimeoutError(f"engine applied {len(d['nodes'])} services / {len(d['edges'])} edges of {n}/{m}")
                time.sleep(1)
            yield engine_url, ui_url, time.monotonic() - t0, svc
    finally:
        svc.stop()


# where the page's time went, from its performance marks (js/api.js, views/servicemap.js, js/graph.js)
PHASES_JS = """() => {
  const m = {}; for (const e of performance.getEntriesByType('mark')) m[e.name] = e.startTime;
  const req = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/graphql'))
    .find((r) => r.startTime <= (m['gql:response'] ?? 0) && r.responseEnd >= (m['gql:response'] ?? 0) - 50);
  const d = (a, b) => (a === undefined || b === undefined ? null : Math.round(b - a));
  return { boot_ms: req ? Math.round(req.startTime) : null,
    api_ms: req ? Math.round(req.responseEnd - req.startTime) : null, payload_bytes: req ? req.encodedBodySize : null,
    parse_ms: d(m['gql:response'], m['gql:parsed']), prepare_ms: d(m['map:data'], m['graph:mount']),
    layout_ms: d(m['graph:mount'], m['graph:layout']), graph_build_ms: d(m['graph:layout'], m['graph:built']),
    renderer_ms: d(m['graph:built'], m['graph:sigma']), to_frame_ms: d(m['graph:sigma'], m['graph:frame']),
    navigation_to_frame_ms: m['graph:frame'] === undefined ? null : Math.round(m['graph:frame']) };
}"""

# a programmatic camera move (zoom in towards a corner, then back), frame gaps by requestAnimationFrame:
# every frame of it redraws (sigma hides edges while the camera moves); `settle_ms` is the frame after
# it, where the edges come back
CAMERA_JS = """async (sel) => {
  const r = document.querySelector(`${sel} .graph-wrap`).graph.renderer, cam = r.getCamera();
  const gaps = []; let last = performance.now(), stop = false, end = 0;
  const tick = () => { const t = performance.now(); gaps.push(t - last); last = t; if (!stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  await cam.animate({ x: 0.3, y: 0.6, ratio: 0.4 }, { duration: 1200 });
  await cam.animate({ x: 0.5, y: 0.5, ratio: 1 }, { duration: 1200 });
  end = gaps.length;
  await new Promise((res) => setTimeout(res, 1500));
  stop = true;
  const moving = gaps.slice(1, end), after = gaps.slice(end);
  return { moving, settle: after.length ? Math.max(...after) : null };
}"""


def _gaps(gaps: list[float]) -> dict[str, Any]:
    g = sorted(gaps) or [0.0]
    return {"frames": len(gaps), "frame_median_ms": round(statistics.median(g), 1),
            "frame_p95_ms": round(g[int(0.95 * (len(g) - 1))], 1), "frame_max_ms": round(g[-1], 1)}


def measure_map(page: Any, ui_url: str) -> dict[str, Any]:
    """Open the service map, wait for the first drawn frame, then drag and wheel-zoom with the mouse, then
    move the camera programmatically; the page's own phases come from its performance marks."""
    t0 = time.monotonic()
    page.goto(f"{ui_url}/#/map?range=1h")
    # polled every frame: wait_for_selector backs off to one look per 500 ms, which added up to half a
    # second to this measurement (the page's own `graph:frame` mark is in "page" to compare)
    page.wait_for_function("() => !!document.querySelector('#service-map .graph-wrap[data-rendered]')",
                           polling="raf", timeout=120_000)
    first = time.monotonic() - t0
    drawn = page.get_attribute("#service-map .graph-wrap", "data-rendered")
    phases = page.evaluate(PHASES_JS)
    box = page.locator("#service-map .graph-canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate("""() => { window.__gaps = []; let last = performance.now();
      const tick = () => { const t = performance.now(); window.__gaps.push(t - last); last = t;
        if (!window.__stop) requestAnimationFrame(tick); }; requestAnimationFrame(tick); }""")
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(30):
        page.mouse.move(cx + 6 * i, cy + 2 * i)
    page.mouse.up()
    for _ in range(5):
        page.mouse.wheel(0, -240)
    page.wait_for_timeout(600)  # the edges come back once the camera stops: that frame counts too
    gaps = page.evaluate("() => { window.__stop = true; return window.__gaps.slice(1); }")
    out: dict[str, Any] = {"first_render_s": round(first, 3), "draw_ms": None if drawn == "failed" else int(drawn or 0),
                           "page": phases, **_gaps(gaps),
                           "nodes_drawn": int(page.get_attribute("#service-map .graph-canvas", "data-nodes") or 0),
                           "edges_drawn": int(page.get_attribute("#service-map .graph-canvas", "data-edges") or 0)}
    if drawn != "failed":
        cam = page.evaluate(CAMERA_JS, "#service-map")
        out["camera"] = {**_gaps(cam["moving"]),
                         "settle_ms": None if cam["settle"] is None else round(cam["settle"], 1)}
    return out


@contextmanager
def seeded_neighbourhood(n: int, workdir: Path) -> Iterator[tuple[str, str, str, float]]:
    """(engine_url, ui_url, the security group's id, seconds to seed): bench/neighborhood.py's estate (a
    security group with n instances over 16 subnets, with history) plus 2n `depends_on` edges between the
    instances, written through the engine's apply path. Around the security group: n + 1 nodes within
    1 hop (n edges), n + 17 within 2 hops (4n edges: 5,000 → 20,000)."""
    from airdig.backends.interfaces import Record
    from airdig.engine.apply import Applier
    from airdig.model.events import edge_event
    from airdig.model.graph import Edge
    from bench.neighborhood import SG, T0, inst, populate

    t0 = time.monotonic()
    url = f"sqlite:///{workdir / 'airdig.db'}"
    populate(url, n)
    svc = embedded_engine(workdir, "ui-scale-hood")
    evs = [edge_event("observed", Edge(inst(i).id, inst((i * 7 + k) % n).id, "depends_on"), "bench", time=T0 + 2)
           for i in range(n) for k in (1, 2)]
    applier = Applier(svc.store)
    for k in range(0, len(evs), 2000):
        applier.apply([Record(e.topic, 0, k + j, e.subject, e.encode(), e.time) for j, e in enumerate(evs[k:k + 2000])])
    svc.start()
    try:
        with serve(build_app(svc)) as engine_url, serve(build_ui_app(engine_url)) as ui_url:
            yield engine_url, ui_url, SG, time.monotonic() - t0
    finally:
        svc.stop()


def measure_neighbourhood(page: Any, ui_url: str, node_id: str) -> dict[str, Any]:
    """Open a resource page: time to its neighbourhood's first drawn frame (1 hop), then to the redrawn
    frame after choosing 2 hops, then a camera move on it. The engine summarises beyond the budget (60):
    the thousands of nodes arrive as groups, so the renderer draws tens of items."""
    t0 = time.monotonic()
    page.goto(f"{ui_url}/#/r/{quote(node_id, safe='')}")
    page.wait_for_function("() => !!document.querySelector('#neighbors .graph-wrap[data-rendered]')",
                           polling="raf", timeout=120_000)
    first = time.monotonic() - t0
    drawn = page.get_attribute("#neighbors .graph-wrap", "data-rendered")
    out: dict[str, Any] = {"first_render_s": round(first, 3), "draw_ms": None if drawn == "failed" else int(drawn or 0),
                           "summary": page.locator("#nb-summary > span").inner_text(),
                           "nodes_drawn": int(page.get_attribute("#neighbors .graph-canvas", "data-nodes") or 0),
                           "edges_drawn": int(page.get_attribute("#neighbors .graph-canvas", "data-edges") or 0)}
    t0 = time.monotonic()
    page.select_option("#nb-depth", "2")
    page.wait_for_function("""() => (document.querySelector('#nb-summary')?.textContent || '').includes('within 2 hops')
        && !!document.querySelector('#neighbors .graph-wrap[data-rendered]')""", polling="raf", timeout=120_000)
    out["two_hops"] = {"render_s": round(time.monotonic() - t0, 3), "summary": page.locator("#nb-summary > span").inner_text(),
                       "nodes_drawn": int(page.get_attribute("#neighbors .graph-canvas", "data-nodes") or 0),
                       "edges_drawn": int(page.get_attribute("#neighbors .graph-canvas", "data-edges") or 0)}
    if drawn != "failed":
        cam = page.evaluate(CAMERA_JS, "#neighbors")
        out["camera"] = {**_gaps(cam["moving"]),
                         "settle_ms": None if cam["settle"] is None else round(cam["settle"], 1)}
    return out


def api_seconds(engine_url: str, columns: bool = False) -> float:
    sel = ("columns { ids kinds names health src dst requestCount errorCount errorRate p50 p95 p99 }" if columns else
           "nodes { id kind name health { status } } edges { src dst requestCount errorCount errorRate p50 p95 p99 }")
    t0 = time.monotonic()
    httpx.post(f"{engine_url}/graphql", json={"query": "{ serviceMap { " + sel + " } }"}, timeout=120).raise_for_status()
    return round(time.monotonic() - t0, 3)


def run(n: int, m: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"nodes": n, "edges": m, "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as d, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for label, (nn, mm) in (("baseline_3_services", (3, 2)), ("scale", (n, m))):
                sub = Path(d) / label
                sub.mkdir()
                with seeded_engine(nn, mm, sub) as (engine_url, ui_url, seed_s, _svc):
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    res = {"seed_s": round(seed_s, 1), "api_s": api_seconds(engine_url),
                           "api_columns_s": api_seconds(engine_url, columns=True), **measure_map(page, ui_url)}
                    page.close()
                out[label] = res
            sub = Path(d) / "neighbourhood"
            sub.mkdir()
            with seeded_neighbourhood(n, sub) as (_engine_url, ui_url, sg, seed_s):
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                out["neighbourhood"] = {"seed_s": round(seed_s, 1), **measure_neighbourhood(page, ui_url, sg)}
                page.close()
        finally:
            browser.close()
    sc = out["scale"]
    out["aims"] = {"first_render_lt_2s": sc["first_render_s"] < 2,
                   "camera_frame_median_lt_50ms": "camera" in sc and sc["camera"]["frame_median_ms"] < 50,
                   "camera_frame_p95_lt_50ms": "camera" in sc and sc["camera"]["frame_p95_ms"] < 50}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--edges", type=int, default=20000)
    a = ap.parse_args()
    print(json.dumps(run(a.nodes, a.edges), indent=2))


if __name__ == "__main__":
    main()
