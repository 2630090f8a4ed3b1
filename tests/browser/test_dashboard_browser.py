"""The campaign dashboard, the role home pages and the offline report in Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.dashboard_factories import make_dash_world
from tests.browser.helpers import login as _login

pytestmark = pytest.mark.browser


def _watch(page) -> list[str]:
    """Every request that failed or answered 4xx/5xx."""
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(f"failed {req.url}"))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return failed


@pytest.fixture
def world(engine, personas):
    return make_dash_world(engine, personas)


def test_the_dashboard_draws_its_charts_and_a_segment_filter_redraws_them_through_htmx(page, live_server, world, output_dir):
    failed = _watch(page)
    _login(page, live_server, "leo")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/campaigns/{world.campaign_id}/dashboard")
    for name in ("delivery_over_time", "segment_delivery", "calendar", "kap_shift", "kap_breakdown", "item_dumbbell",
                 "forest"):
        page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
    assert page.locator("#chart-kap_shift .trace.bars").count() == 2
    assert page.locator("#chart-kap_shift .errorbar").count() == 6
    assert "Police" in page.locator("#chart-kap_breakdown").inner_text()
    page.screenshot(path=str(output_dir / "dashboard.png"), full_page=True)

    loads = []
    page.on("load", lambda: loads.append(1))
    page.select_option("select[name=segment]", "police")  # HTMX swaps #dashboard: no page load
    page.wait_for_url("**segment=police**")
    page.locator("#kap-h", has_text="among Police").wait_for()
    page.locator("#chart-kap_shift svg.main-svg").first.wait_for()
    assert "8 messages" in page.locator("#chart-delivery_over_time").locator("xpath=..").inner_text()
    assert loads == []
    page.screenshot(path=str(output_dir / "dashboard-police.png"), full_page=True)
    assert failed == [], failed
    assert page.console_errors == [], page.console_errors


@pytest.mark.parametrize("name, cards", [
    ("leo", ["dashboards", "approve", "fieldwork"]), ("carla", ["upcoming", "failures", "sent_back"]),
    ("eddy", ["open_waves", "returned"]), ("sonia", ["review", "flags", "fieldwork"]),
    ("alice", ["users", "locked", "health"]),
])
def test_each_role_s_home_page_shows_its_own_items(page, live_server, world, output_dir, name, cards):
    failed = _watch(page)
    _login(page, live_server, name)
    for key in cards:
        assert page.locator(f"#card-{key}").is_visible(), key
    if name == "leo":
        assert page.locator("#card-dashboards").get_by_role("link", name="Kanpay <Nò> 2026").count() == 1
    page.screenshot(path=str(output_dir / f"home-{name}.png"), full_page=True)
    assert failed == [], failed
    assert page.console_errors == [], page.console_errors


def test_the_html_report_opens_offline_and_draws_its_charts(chromium, page, live_server, world, output_dir):
    _login(page, live_server, "carla")
    response = page.context.request.get(f"{live_server}/campaigns/{world.campaign_id}/report.html")
    assert response.status == 200
    path = Path(output_dir) / "report.html"
    path.write_bytes(response.body())

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    try:
        offline = context.new_page()
        requests: list[str] = []
        errors: list[str] = []
        offline.on("request", lambda req: requests.append(req.url))
        offline.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        offline.on("pageerror", lambda exc: errors.append(str(exc)))
        offline.goto(path.as_uri())
        for name in ("kap_shift", "item_dumbbell", "delivery_over_time"):
            offline.locator(f"#chart-{name} svg.main-svg").first.wait_for(timeout=20_000)
        assert offline.locator("#methods").is_visible() and offline.locator("#data-notes").is_visible()
        offline.screenshot(path=str(output_dir / "report-offline.png"), full_page=True)
        assert [u for u in requests if not u.startswith("file://") and not u.startswith("data:")] == [], requests
        assert errors == [], errors
    finally:
        context.close()
