"""A station's run sheet in a real browser: the Print button, and what the print stylesheet keeps."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.campaign.factories import radio_plan
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_the_run_sheet_prints_without_the_app_around_it(page, live_server, engine, personas, output_dir):
    with Session(engine, expire_on_commit=False) as s:
        campaign, station, row = radio_plan(s, personas)
        s.commit()
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "carla")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/campaigns/stations/{station.id}/runsheet?week=2026-W10")
    assert page.locator("table.runsheet tbody tr").count() == 14
    assert page.locator(".topbar").is_visible() and not page.locator(".runsheet-sign").is_visible()
    page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    page.click("button[data-print]")
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible() and not page.locator("button[data-print]").is_visible()
    assert not page.locator("form.filters").is_visible()
    assert page.locator(".runsheet-sign").is_visible() and page.locator("#script-1").is_visible()
    page.pdf(path=str(output_dir / "run-sheet.pdf"), format="A4", landscape=True)
    page.screenshot(path=str(output_dir / "run-sheet-print.png"), full_page=True)
    assert page.console_errors == [], page.console_errors
