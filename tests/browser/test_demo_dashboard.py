"""The demo's national campaign dashboard in Chromium: every chart drawn, nothing failing."""

from __future__ import annotations

import functools
import re

import pytest
from sqlmodel import Session, select

from campaign.demo import MAIN_CAMPAIGN
from campaign.models import Campaign
from surveys.demo import load_surveys_demo
from tests.browser.helpers import settled
from web.demo import LOADERS, load_users

pytestmark = pytest.mark.browser

PER_WAVE = 150  # the demo's waves, smaller (1,200 interviews each in `konbit demo`)


@pytest.fixture
def demo(engine, tmp_path) -> tuple[int, str]:
    """The demo as `konbit demo` loads it (web.demo.load_demo) with small survey waves; the
    campaign's id and the lead's password."""
    logins = tmp_path / "demo-logins.txt"
    loaders = [functools.partial(load_surveys_demo, per_wave=PER_WAVE) if f is load_surveys_demo else f for f in LOADERS]
    assert len(loaders) == len(LOADERS) and load_surveys_demo in LOADERS
    with Session(engine, expire_on_commit=False) as s:
        load_users(session=s, logins_file=logins)
        s.flush()
        for loader in loaders:
            loader(s)
        s.commit()
        campaign = s.exec(select(Campaign).where(Campaign.name == MAIN_CAMPAIGN)).one()
    password = re.search(r"^frantz\s+(\S+)", logins.read_text(encoding="utf-8"), re.M).group(1)
    return campaign.id, password


def _all_drawn(page) -> list[str]:
    """Wait for every chart of the page (#chart-<name>, with its figure) to be drawn; their ids."""
    names = page.locator("[id^=chart-][data-figure]").evaluate_all("els => els.map(e => e.id)")
    for name in names:
        page.locator(f"#{name} svg.main-svg").first.wait_for(timeout=20_000)
    assert page.locator("[data-figure]:not([data-drawn])").count() == 0
    return names


def test_the_demo_campaigns_dashboard_draws_every_chart(page, live_server, demo, output_dir):
    campaign_id, password = demo
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(f"failed {req.url}"))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "frantz")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/campaigns/{campaign_id}/dashboard")
    names = _all_drawn(page)
    assert len(names) >= 6, names
    page.screenshot(path=str(output_dir / "demo-dashboard.png"), full_page=True)

    # The breakdown by region: HTMX swaps the dashboard in, and charts.js draws the new charts.
    page.select_option("select[name=by]", "region")
    page.wait_for_url("**by=region**")
    settled(page)
    assert _all_drawn(page)
    assert "Ouest" in page.locator("#chart-kap_breakdown").inner_text()
    page.screenshot(path=str(output_dir / "demo-dashboard-by-region.png"), full_page=True)
    assert failed == [], failed
    assert page.console_errors == [], page.console_errors
