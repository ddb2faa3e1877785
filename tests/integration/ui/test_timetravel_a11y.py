"""Issue 16 in headless Chromium on the shared seeded estate: time travel (`at=` in the URL, the time
bar, "before the incident"), the diff view, keyboard access to the graph, labels that never overlap,
and WCAG contrast of the key elements in both themes."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote

import pytest

from airdig.model.events import to_rfc3339
from tests.integration.ui.conftest import ALICE, DRIFT_ID, ENI, INSTANCE, SG, SHOTS, Estate
from tests.integration.ui.test_e2e import drawn, settled, text

pytestmark = pytest.mark.slow


def res_url(node_id: str, at: float | None = None) -> str:
    return "/#/r/" + quote(node_id, safe="") + (f"?at={quote(to_rfc3339(at))}" if at else "")


def hash_at(page: Any) -> str | None:
    """The `at` of the page's hash query (None when absent)."""
    frag = str(page.evaluate("location.hash"))
    qs = parse_qs(frag.split("?", 1)[1]) if "?" in frag else {}
    return qs["at"][0] if "at" in qs else None


def row_count(page: Any, panel: str, node_id: str) -> int:
    return int(page.locator(f'{panel} .graph-list tr[data-id="{node_id}"]').count())


def need(estate: Estate, *fields: str) -> None:
    missing = [f for f in fields if not estate.has(f)]
    if missing:
        pytest.skip(f"engine without {missing}")


def test_resource_as_of_an_earlier_time_shows_the_graph_and_health_of_then(page: Any, estate: Estate) -> None:
    need(estate, "neighborhood", "healthAt")
    before = estate.now - 2000  # before the ENI was discovered (now-400) and the instance turned critical (now-300)
    page.goto(res_url(INSTANCE, before))
    page.wait_for_selector("#res-head")
    assert "as of" in text(page, "#asof-banner") and "as of" in text(page, "#res-asof")
    assert "critical" not in text(page, "#res-head .title .row")  # health as of then: no health change yet
    settled(page, "#neighbors")
    drawn(page, "#neighbors")
    assert row_count(page, "#neighbors", SG) == 1 and row_count(page, "#neighbors", ENI) == 0
    impact = settled(page, "#impact")  # the blast radius over the graph of then, not today's
    assert page.locator("#impact [data-state=error]").count() == 0, impact
    assert "then" in impact or "as of" in impact, impact
    page.screenshot(path=str(SHOTS / "airdig-ui-asof.png"), full_page=True)

    page.click('[data-step="now"]')  # back to the live estate: at leaves the URL, the ENI is there
    page.wait_for_function("() => !location.hash.includes('at=')")
    settled(page, "#neighbors")
    drawn(page, "#neighbors")
    assert row_count(page, "#neighbors", ENI) == 1
    assert "critical" in text(page, "#res-head .title .row")

    page.click('[data-step="-1h"]')
    page.wait_for_function("() => location.hash.includes('at=')")
    at = hash_at(page)
    assert at is not None
    from datetime import datetime
    seconds_back = estate.now - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    assert 3500 < seconds_back < 3800, seconds_back  # one hour before the page's "now"


def test_time_travel_is_kept_while_moving_between_views(page: Any, estate: Estate) -> None:
    need(estate, "neighborhood")
    before = estate.now - 2000
    page.goto(res_url(INSTANCE, before))
    settled(page, "#neighbors")
    drawn(page, "#neighbors")
    page.click("#neighbors .graph-list summary")
    page.click(f'#neighbors .graph-list tr[data-id="{SG}"]')  # a row of the table alternative opens the node
    page.wait_for_function("(id) => document.querySelector('#res-head .id')?.textContent === id", arg=SG)
    assert hash_at(page) is not None
    page.click('a[data-nav="map"]')  # a plain link keeps the time too
    page.wait_for_selector("#service-map")
    assert "/map" in page.evaluate("location.hash") and hash_at(page) is not None


def test_incident_view_as_of_then_counts_from_the_history(page: Any, estate: Estate) -> None:
    need(estate, "healthAt")
    page.goto(f"/#/?at={quote(to_rfc3339(estate.now - 2000))}")
    page.wait_for_selector('[data-tile="critical"] .num')
    assert text(page, '[data-tile="critical"] .num') == "0"
    assert "no resource was critical or warning" in settled(page, "#unhealthy")
    page.click('a[data-nav="drift"]')  # the drift view as of then: the SG's drift was detected later (now-800)
    page.wait_for_url(re.compile(r"#/drift.*at="))
    assert "no drift events" in settled(page, "#drift-table")
    page.click('[data-step="now"]')  # the time stays across links; "now" leaves it
    page.wait_for_selector(f'tr[data-drift="{DRIFT_ID}"]')  # open now
    page.click('a[data-nav="home"]')
    page.wait_for_function("() => document.querySelector('[data-tile=\"critical\"] .num')?.textContent === '1'")


def test_dig_onset_offers_the_graph_before_the_incident(page: Any, estate: Estate) -> None:
    need(estate, "rootCause", "neighborhood")
    page.goto(res_url(INSTANCE))
    page.wait_for_selector("#res-head")
    page.keyboard.press("d")
    settled(page, "#dig-panel")
    page.click("#at-before-incident")
    page.wait_for_function("() => location.hash.includes('at=')")
    at = hash_at(page)
    assert at is not None
    onset = estate.now - 300
    from datetime import datetime
    assert abs(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp() - (onset - 60)) < 2
    page.wait_for_selector("#res-asof b")
    assert "critical" not in text(page, "#res-head .title .row")


def test_diff_view_lists_what_appeared_and_what_changed_with_who(page: Any, estate: Estate) -> None:
    need(estate, "graphDiff")
    frm, to = quote(to_rfc3339(estate.now - 1000)), quote(to_rfc3339(estate.now + 60))
    page.goto(f"/#/diff?from={frm}&to={to}")
    body = settled(page, "#diff")
    assert page.locator("#diff-appeared").count() == 1, body
    assert "eni-new" in text(page, "#diff-appeared")
    changed = text(page, "#diff-changed")
    assert "web-sg" in changed and "user/alice" in changed
    assert page.locator(f'#diff-changed [title="{ALICE}"]').count() >= 1
    page.screenshot(path=str(SHOTS / "airdig-ui-diff.png"), full_page=True)

    page.goto(res_url(INSTANCE))  # reachable from the resource view, scoped to its neighbourhood
    page.click("#res-diff-link")
    page.wait_for_url(re.compile(r"#/diff\?"))
    assert "scope=" in page.evaluate("location.hash")
    settled(page, "#diff")
    assert page.locator("#diff [data-state=error]").count() == 0, text(page, "#diff")


def test_graph_nodes_are_reachable_by_keyboard_and_labels_never_overlap(page: Any, estate: Estate) -> None:
    need(estate, "neighborhood")
    page.goto(res_url(INSTANCE))
    settled(page, "#neighbors")
    drawn(page, "#neighbors")
    for _ in range(80):  # the Tab order reaches the graph
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('graph-canvas')"):
            break
    else:
        raise AssertionError("Tab never reached the graph")
    focus_ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus_ring != "none"  # focus is visible
    canvas = page.locator("#neighbors .graph-canvas")
    seen = {canvas.get_attribute("data-focus")}
    for _ in range(8):
        page.keyboard.press("ArrowRight")
        seen.add(canvas.get_attribute("data-focus"))
        if canvas.get_attribute("data-focus") == SG:
            break
    assert canvas.get_attribute("data-focus") == SG, seen
    assert "aws.ec2.security_group" in text(page, "#neighbors [aria-live]")
    for _ in range(3):
        page.keyboard.press("+")
    page.wait_for_timeout(500)
    boxes = page.evaluate("document.querySelector('#neighbors .graph-wrap').graph.labelBoxes()")
    assert len(boxes) >= 2  # zoomed in: several labels drawn, none on another
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a["x0"] < b["x1"] and b["x0"] < a["x1"] and a["y0"] < b["y1"] and b["y0"] < a["y1"]), (a, b)
    page.keyboard.press("Enter")
    page.wait_for_function("(id) => document.querySelector('#res-head .id')?.textContent === id", arg=SG)


CONTRAST_JS = """() => {
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const rgb = (s) => { const m = s.match(/[\\d.]+/g).map(Number); return { c: m.slice(0, 3), a: m.length > 3 ? m[3] : 1 }; };
  const bgOf = (el) => {  // the first opaque background behind the element (page background last)
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const b = rgb(getComputedStyle(e).backgroundColor);
      if (b.a > 0) { layers.push(b); if (b.a >= 1) break; }
    }
    let c = rgb(getComputedStyle(document.body).backgroundColor).c;
    for (const l of layers.reverse()) c = c.map((v, i) => l.c[i] * l.a + v * (1 - l.a));
    return c;
  };
  const out = [];
  const sel = ["body", ".topbar .nav a", ".topbar .brand", "#timebar label", "#timebar .btn", "#asof-banner", ".panel h2",
    ".muted", ".badge", "a[href]", ".btn-primary", "#res-head h1", "#res-head .id", ".graph-status", ".legend span", "td", "th",
    "input", "select", ".msg"];
  for (const s of sel) for (const el of [...document.querySelectorAll(s)].slice(0, 25)) {
    if (!el.offsetParent && s !== "body") continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const cs = getComputedStyle(el), fg = rgb(cs.color), bg = bgOf(el);
    const fgc = fg.c.map((v, i) => v * fg.a + bg[i] * (1 - fg.a));
    const [l1, l2] = [lum(fgc), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const large = parseFloat(cs.fontSize) >= 24 || (parseFloat(cs.fontSize) >= 18.66 && Number(cs.fontWeight) >= 700);
    const disabled = el.disabled || el.closest("[disabled]");
    out.push({ sel: s, text: el.textContent.trim().slice(0, 30), ratio: Math.round(ratio * 100) / 100, need: large ? 3 : 4.5,
      disabled: !!disabled });
  }
  return out;
}"""


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_text_contrast_meets_wcag_aa_in_both_themes(browser: Any, estate: Estate, theme: str) -> None:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme=theme, base_url=estate.ui_url)
    page = ctx.new_page()
    try:
        for url in ("/", res_url(INSTANCE), f"/#/?at={quote(to_rfc3339(estate.now - 2000))}", "/#/drift"):
            page.goto(url)
            page.wait_for_selector("#view section")
            page.wait_for_function("() => !document.querySelector('#view .spin')")
            checks = page.evaluate(CONTRAST_JS)
            assert len(checks) > 10, checks  # the check saw the page, not an empty shell
            bad = [c for c in checks if not c["disabled"] and c["ratio"] < c["need"]]
            assert not bad, f"{theme} {url}: {bad}"
        page.screenshot(path=str(SHOTS / f"airdig-ui-{theme}.png"), full_page=True)
    finally:
        ctx.close()
