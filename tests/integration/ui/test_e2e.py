"""End to end in headless Chromium: the SPA against a real engine seeded through its bus.

Views whose engine field does not exist yet must say so ("not available from this engine"); once the
field exists, the same test asserts the real content. Screenshots land in /tmp (AIRDIG_TEST_SCREENSHOTS).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from airdig.model.events import TOPIC_HEALTH, CloudEvent, to_rfc3339
from airdig.ui.app import build_ui_app
from tests.integration.ui.conftest import (
    ALICE,
    BOB,
    CHECKOUT,
    DRIFT_ID,
    FRONTEND,
    FUNCTION,
    HEALTH_MESSAGE,
    INSTANCE,
    RDS,
    SG,
    SHOTS,
    Estate,
)
from tests.unit.ui.servers import embedded_engine, free_port, serve

pytestmark = pytest.mark.slow

NA = "not available from this engine"


def res_url(node_id: str) -> str:
    return "/#/r/" + quote(node_id, safe="")


def text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text())


def drawn(page: Any, selector: str) -> None:
    """Wait until the graph in `selector` has been drawn by the renderer (not merely laid out)."""
    page.wait_for_selector(f"{selector} .graph-wrap[data-rendered]")
    assert page.get_attribute(f"{selector} .graph-wrap", "data-rendered") != "failed", text(page, selector)


def settled(page: Any, selector: str) -> str:
    """The text of a panel once it has stopped loading."""
    page.wait_for_function(
        "(sel) => { const el = document.querySelector(sel); return el && !el.querySelector('.spin'); }", arg=selector)
    return text(page, selector)


def test_home_shows_counts_unhealthy_changes_and_search_opens_the_instance(page: Any, estate: Estate) -> None:
    page.goto("/")
    page.wait_for_selector('[data-tile="critical"] .num')
    assert text(page, '[data-tile="critical"] .num') == "1"
    assert text(page, '[data-tile="warning"] .num') == "0"
    unhealthy = settled(page, "#unhealthy")
    assert "checkout-web" in unhealthy and HEALTH_MESSAGE in unhealthy
    recent = settled(page, "#recent")
    drifts = settled(page, "#bad-drifts")
    if estate.has("timeline"):
        assert "AuthorizeSecurityGroupIngress" in recent and ALICE in recent
    else:
        assert NA in recent
    if estate.has("driftEvents"):
        assert text(page, '[data-tile="open drifts"] .num') == "1"
        assert "aws_security_group.web" in drifts and "user/alice" in drifts
        assert page.locator(f'#bad-drifts [title="{ALICE}"]').count() == 1  # the full principal on hover
    else:
        assert NA in drifts and NA in text(page, '[data-tile="open drifts"]')
    page.screenshot(path=str(SHOTS / "airdig-ui-home.png"), full_page=True)

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("i-0abc123def")
    page.wait_for_selector(f'#search-results li[data-id="{INSTANCE}"]')
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#/r/"))
    page.wait_for_selector("#res-head h1")
    assert text(page, "#res-head h1") == "checkout-web"

    page.fill("#search", "10.0.1.5")  # a native id (IP) finds the same instance
    page.wait_for_selector(f'#search-results li[data-id="{INSTANCE}"]')


def test_resource_timeline_names_the_writer_of_each_changed_attribute_of_a_scan_diff(
        page: Any, estate: Estate) -> None:
    if not estate.has("timeline"):
        pytest.skip("engine without a timeline")
    store = estate.svc.store
    deadline = time.monotonic() + 20
    while len(store.changes_of([FUNCTION], None, None, ["updated", "cloudtrail"])) < 3:
        assert time.monotonic() < deadline, "the function's scan diff and writes were not applied"
        time.sleep(0.1)
    page.goto(res_url(FUNCTION))
    settled(page, "#timeline")

    def line(path: str) -> str:
        return text(page, f'#timeline .writers li[data-path="{path}"]')

    assert "set by" in line("attrs.Timeout") and "alice" in line("attrs.Timeout")
    assert "bob" in line("attrs.Description") and "alice" not in line("attrs.Description")
    assert "198.51.100.9" in line("attrs.Description") and "cli-sdk" in line("attrs.Description")
    assert "writer not on record" in line("attrs.MemorySize")  # no write on record named it: no guess


def test_resource_page_shows_attributes_health_reasons_graph_and_dig(page: Any, estate: Estate) -> None:
    page.goto(res_url(INSTANCE))
    page.wait_for_selector("#res-head")
    head = text(page, "#res-head")
    assert "aws.ec2.instance" in head and INSTANCE in head and "us-east-1" in head and "123456789012" in head
    assert "critical" in head and HEALTH_MESSAGE in text(page, "#health-reasons")
    attrs = text(page, "#attrs")
    assert "InstanceType" in attrs and '"m5.large"' in attrs and "PrivateIpAddress" in attrs
    assert "payments" in text(page, "#tags")

    neighbors = settled(page, "#neighbors")
    if estate.has("neighbors"):
        drawn(page, "#neighbors")
        for nid in (SG, SUBNET_ID, RDS):
            assert page.locator(f'#neighbors .graph-list tr[data-id="{nid}"]').count() == 1, nid
        # the edge SG -network-> instance: in the drawn graph and in the table's relation column
        assert "network →" in str(page.locator(f'#neighbors .graph-list tr[data-id="{SG}"]').text_content())
        assert page.evaluate("""([s, d]) => document.querySelector('#neighbors .graph-wrap').graph.renderer.getGraph()
            .edges(s, d).length""", [SG, INSTANCE]) == 1
        # coloured by health: the critical instance is not drawn in the colour of an unknown node
        colors = page.evaluate("""(ids) => { const g = document.querySelector('#neighbors .graph-wrap').graph.renderer.getGraph();
            return ids.map((i) => g.getNodeAttribute(i, 'color')); }""", [INSTANCE, RDS])
        assert colors[0] != colors[1], colors
    else:
        assert NA in neighbors
    timeline = settled(page, "#timeline")
    assert ("health healthy → critical" in timeline) if estate.has("timeline") else (NA in timeline)
    impact = settled(page, "#impact")
    if not estate.has("impact"):
        assert NA in impact
    else:
        assert page.locator("#impact [data-state=error]").count() == 0, impact

    page.keyboard.press("d")  # the Dig shortcut
    dig = settled(page, "#dig-panel")
    if estate.has("rootCause"):
        assert "AuthorizeSecurityGroupIngress" in dig and ALICE in dig, dig
        assert page.locator("#dig-panel .chain .step.symptom").count() >= 1
        # the onset, the ranked changes with what decided each, one table per set of edges, no discovery
        assert "health" in text(page, "#dig-onset") and "beat #2" in text(page, "#dig-verdict")
        assert page.locator("#dig-panel .cand").count() == 2
        assert "AuthorizeSecurityGroupIngress" in text(page, '#dig-panel .cand[data-candidate="0"]')
        assert "MapPublicIpOnLaunch" in text(page, '#dig-panel .cand[data-candidate="1"]')
        assert page.locator("#dig-panel .cand .deciding").count() == 2
        assert page.locator("#dig-panel table.ba").count() == 1
        assert page.locator('#dig-panel .ba-group[data-ranks="1,2"]').count() == 1
        assert "eni-0new" not in dig and "discovered by a first scan" in text(page, "#dig-aside")
    else:
        assert NA in dig
    page.screenshot(path=str(SHOTS / "airdig-ui-resource.png"), full_page=True)

    if estate.has("neighbors"):  # clicking a neighbour on the canvas navigates to it
        page.locator("#neighbors .graph-canvas").scroll_into_view_if_needed()
        xy = page.evaluate("(id) => document.querySelector('#neighbors .graph-wrap').graph.nodeViewport(id)", SG)
        page.mouse.move(xy["x"], xy["y"])
        page.mouse.click(xy["x"], xy["y"])
        page.wait_for_function("(id) => document.querySelector('#res-head .id')?.textContent === id", arg=SG)
        assert "drifted" in text(page, "#res-head")


SUBNET_ID = "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-0b2"


def test_resource_head_says_when_the_cloud_last_confirmed_it(page: Any, estate: Estate) -> None:
    """confirmedAt: relative time with the absolute one on hover; a warning once stale; never confirmed."""
    page.goto(res_url(INSTANCE))
    page.wait_for_selector("#res-confirmed")
    el = page.locator("#res-confirmed")
    assert el.get_attribute("data-state") == "fresh" and re.fullmatch(r"confirmed \d+m ago", el.inner_text()), \
        el.inner_text()
    assert re.search(r"last confirmed by the cloud at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", el.get_attribute("title") or "")
    page.goto(res_url(RDS))
    page.wait_for_function("() => document.querySelector('#res-confirmed')?.dataset.state === 'stale'")
    stale = page.locator("#res-confirmed")
    assert "b-warning" in (stale.get_attribute("class") or "") and "50m ago (stale)" in stale.inner_text()
    page.goto(res_url(SG))
    page.wait_for_function("() => document.querySelector('#res-confirmed')?.dataset.state === 'never'")
    assert page.locator("#res-confirmed").inner_text() == "never confirmed by a scan"


def test_unknown_resource_says_so(page: Any, estate: Estate) -> None:
    page.goto(res_url("i-doesnotexist"))
    page.wait_for_selector("[data-state=not-found]")
    assert "i-doesnotexist" in text(page, "[data-state=not-found]")


def test_service_map_draws_the_seeded_call_edge(page: Any, estate: Estate) -> None:
    page.goto("/#/map?range=1h")
    body = settled(page, "#service-map")
    if not estate.has("serviceMap"):
        assert NA in body
        page.screenshot(path=str(SHOTS / "airdig-ui-servicemap.png"), full_page=True)
        return
    drawn(page, "#service-map")
    labels = page.evaluate("""([s, d]) => { const g = document.querySelector('#service-map .graph-wrap').graph.renderer.getGraph();
        return g.edges(s, d).map((e) => g.getEdgeAttribute(e, 'label')); }""", [FRONTEND, CHECKOUT])
    assert len(labels) == 1
    assert page.locator("#service-map .graph-list tr[data-id]").count() >= 3
    # the engine derives p95 from the latency histogram; the label shows the engine's number
    q = "{ serviceMap { edges { src dst p95 } } }"
    p95 = next(e["p95"] for e in httpx.post(f"{estate.engine_url}/graphql", json={"query": q}).json()["data"]
               ["serviceMap"]["edges"] if e["src"] == FRONTEND and e["dst"] == CHECKOUT)
    assert f"8.0% · p95 {round(p95):,} ms" in labels[0]  # 96 errors of 1200 requests
    edges = settled(page, "#call-edges")
    assert "frontend" in edges and "checkout" in edges and "1200" in edges
    page.screenshot(path=str(SHOTS / "airdig-ui-servicemap.png"), full_page=True)
    page.click('[data-range="15m"]')
    page.wait_for_url(re.compile(r"range=15m"))
    page.wait_for_selector('[data-range="15m"].on')


def test_service_map_reads_columns_and_falls_back_to_objects_on_an_engine_without_them(
        page: Any, estate: Estate) -> None:
    """The full map asks for `serviceMap { columns }` (the compact payload); an engine that answers
    "Cannot query field" for it (one from before the field) gets the object query instead, same drawing."""
    if not estate.has("serviceMap"):
        pytest.skip("this engine has no serviceMap")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/graphql") else None)
    page.goto("/#/map?range=1h")
    drawn(page, "#service-map")
    assert any("columns {" in b for b in sent), sent
    assert int(page.get_attribute("#service-map .graph-canvas", "data-edges") or 0) >= 2

    def old_engine(route: Any) -> None:
        if "columns {" in (route.request.post_data or ""):
            route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"data": None, "errors": [{"message": "Cannot query field 'columns' on type 'ServiceMap'."}]}))
        else:
            route.continue_()

    page.route("**/graphql", old_engine)
    sent.clear()
    page.goto("/#/map?range=15m")
    drawn(page, "#service-map")
    assert any("columns {" in b for b in sent) and any("edges { src dst requestCount" in b for b in sent), sent
    labels = page.evaluate("""([s, d]) => { const g = document.querySelector('#service-map .graph-wrap').graph.renderer.getGraph();
        return g.edges(s, d).map((e) => g.getEdgeAttribute(e, 'label')); }""", [FRONTEND, CHECKOUT])
    assert len(labels) == 1 and "8.0%" in labels[0]
    assert "frontend" in settled(page, "#call-edges")


def test_drift_table_shows_cause_diff_and_acknowledges(page: Any, estate: Estate) -> None:
    page.goto("/#/drift")
    body = settled(page, "#drift-table")
    if not estate.has("driftEvents"):
        assert NA in body
        page.screenshot(path=str(SHOTS / "airdig-ui-drift.png"), full_page=True)
        return
    row = page.locator(f'tr[data-drift="{DRIFT_ID}"]')
    assert row.count() == 1
    assert "user/alice" in row.inner_text() and "aws_security_group.web" in row.inner_text()
    assert row.locator(f'[title="{ALICE}"]').count() == 1
    row.click()
    detail = text(page, f'tr[data-drift="{DRIFT_ID}"] + tr.detail')
    assert "ingress[1].cidr_blocks" in detail and "0.0.0.0/0" in detail
    assert "AuthorizeSecurityGroupIngress" in detail and "203.0.113.7" in detail and ALICE in detail
    assert "terraform apply -target=aws_security_group.web" in detail
    # the writer per changed attribute: each path names the write that set it; the row counts the others
    writers = page.locator(f'tr[data-drift="{DRIFT_ID}"] + tr.detail table.diff tbody tr')
    by_path = {writers.nth(i).locator("td").first.inner_text(): writers.nth(i).locator("td.writer").inner_text()
               for i in range(writers.count())}
    assert set(by_path) == {"ingress[1].cidr_blocks", "ingress[1].from_port", "tags.Owner"}
    assert "user/alice" in by_path["ingress[1].from_port"] and "AuthorizeSecurityGroupIngress" in by_path["ingress[1].from_port"]
    assert "user/bob" in by_path["tags.Owner"] and "CreateTags" in by_path["tags.Owner"]
    assert row.locator(f'[data-writers="{ALICE} {BOB}"]').count() == 1 and "+1 other writer" in row.inner_text()
    page.screenshot(path=str(SHOTS / "airdig-ui-drift.png"), full_page=True)
    page.select_option("#f-severity", "critical")  # the filter goes to the engine
    page.wait_for_url(re.compile(r"severity=critical"))
    assert "no drift events of severity critical" in settled(page, "#drift-table")
    if estate.has("acknowledgeDrift"):
        page.goto("/#/drift?status=")
        settled(page, "#drift-table")
        page.click(f'tr[data-drift="{DRIFT_ID}"] [data-action="ack"]')
        page.wait_for_function(
            "(id) => document.querySelector(`tr[data-drift='${id}']`).innerText.includes('acknowledged')", arg=DRIFT_ID)
        assert estate.svc.store.get_drift(DRIFT_ID).status == "acknowledged"  # type: ignore[union-attr]


def test_resource_drift_panel_shows_the_writer_per_attribute(page: Any, estate: Estate) -> None:
    page.goto(res_url(SG))
    panel = settled(page, "#res-drifts")
    if not estate.has("driftEvents"):
        assert NA in panel
        return
    cells = page.locator("#res-drifts table.diff td.writer")
    assert cells.count() == 3
    assert page.locator(f'#res-drifts td.writer [title="{BOB}"]').count() == 1
    assert page.locator(f'#res-drifts td.writer [title="{ALICE}"]').count() == 2


def test_dead_engine_is_named_in_every_panel(browser: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(build_ui_app(dead)) as ui_url:
        ctx = browser.new_context(base_url=ui_url)
        page = ctx.new_page()
        page.goto("/")
        msg = settled(page, "#unhealthy")
        assert "engine unreachable" in msg and dead in msg
        page.wait_for_selector("#live[data-state=err]")
        assert "engine websocket unavailable" in str(page.get_attribute("#live", "title"))
        ctx.close()


def test_live_updates_toast_on_alert(page: Any, estate: Estate) -> None:
    page.goto("/")
    page.wait_for_selector("#live[data-state]:not([data-state=off])")
    state = page.get_attribute("#live", "data-state")
    if state != "on":  # no subscriptions on this engine: the indicator says why, the page still works
        assert "not available" in str(page.get_attribute("#live", "title"))
        return
    time.sleep(0.3)  # subscribe messages are in flight right after connection_ack
    ev = CloudEvent("airdig.health.changed", "pulsesight", RDS, {
        "node_id": RDS, "status": "critical", "previous": "healthy", "since": to_rfc3339(time.time()),
        "reasons": [{"rule": "connections", "value": 980, "threshold": 900, "message": "connections 980 > 900"}]})
    estate.svc.bus.publish(TOPIC_HEALTH, ev.subject, ev.encode())
    estate.svc.bus.flush()
    toast = page.wait_for_selector(".toast.crit", timeout=15_000)
    assert "orders-db" in toast.inner_text() and "connections 980 > 900" in toast.inner_text()


def test_token_is_asked_for_and_sent_when_the_engine_requires_one(browser: Any, tmp_path: Any) -> None:
    from airdig.engine.app import build_app
    from airdig.engine.auth import TokenService

    svc = embedded_engine(tmp_path, "ui-auth")
    store = svc.store
    svc.start(process_events=False)
    token, _ = TokenService(store).create("ui-e2e", "viewer")
    try:
        with serve(build_app(svc, require_auth=True)) as engine_url, serve(build_ui_app(engine_url)) as ui_url:
            ctx = browser.new_context(base_url=ui_url)
            page = ctx.new_page()
            page.goto("/")
            msg = settled(page, "#unhealthy")
            assert "not authorised" in msg and "token" in msg
            page.keyboard.press("t")
            page.fill("#token-input", token)
            page.keyboard.press("Enter")
            page.wait_for_selector('[data-tile="critical"] .num')
            assert "no resource is critical or warning" in settled(page, "#unhealthy")
            assert page.evaluate("localStorage.getItem('airdig.token')") == token
            page.wait_for_selector("#live[data-state=on]")  # the token also rides in connection_init
            ctx.close()
    finally:
        svc.stop()
