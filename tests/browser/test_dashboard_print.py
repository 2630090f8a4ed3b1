"""The campaign dashboard printed from Chromium: its data tables, folded on screen, are on paper."""

from __future__ import annotations

import pytest

from tests.browser.helpers import login
from tests.web.dashboard_factories import make_dash_world

pytestmark = pytest.mark.browser


def test_the_printed_dashboard_has_its_data_tables(page, live_server, engine, personas, output_dir):
    world = make_dash_world(engine, personas)
    login(page, live_server, "leo")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/campaigns/{world.campaign_id}/dashboard")
    page.locator("#chart-kap_shift svg.main-svg").first.wait_for()
    details = page.locator("details.dash-table")
    # A closed <details> keeps its content laid out but unseen (content-visibility: hidden on
    # ::details-content): the table has a size; the <details> holding it is its summary's height.
    heights = "els => els.map(d => [d.getBoundingClientRect().height, d.querySelector('table').getBoundingClientRect().height])"
    assert details.count() >= 5
    assert not details.first.locator("table").is_visible()  # folded on screen
    page.emulate_media(media="print")
    for i, (outer, table) in enumerate(details.evaluate_all(heights)):
        assert table > 0 and outer >= table, f"table {i} prints with height {outer}"
        assert details.nth(i).locator("table").is_visible(), f"table {i} is not shown in print"
    assert not details.first.locator("summary").is_visible()
    page.pdf(path=str(output_dir / "dashboard.pdf"), format="A4")
    page.screenshot(path=str(output_dir / "dashboard-print.png"), full_page=True)
    page.emulate_media(media="screen")
    assert not details.first.locator("table").is_visible()  # folded again on screen
    assert page.console_errors == [], page.console_errors


def test_without_details_content_the_tables_are_opened_for_the_print(page, live_server, engine, personas):
    world = make_dash_world(engine, personas)
    login(page, live_server, "leo")
    # A browser without ::details-content (the print stylesheet's rule does not apply there).
    page.add_init_script("CSS.supports = (q) => !String(q).includes('details-content');")
    page.goto(f"{live_server}/campaigns/{world.campaign_id}/dashboard")
    page.locator("#chart-kap_shift svg.main-svg").first.wait_for()
    details = page.locator("details.dash-table")
    assert details.evaluate_all("els => els.filter(d => d.open).length") == 0
    page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    assert details.evaluate_all("els => els.every(d => d.open)")
    page.evaluate("() => window.dispatchEvent(new Event('afterprint'))")
    assert details.evaluate_all("els => els.filter(d => d.open).length") == 0
    assert page.console_errors == [], page.console_errors
