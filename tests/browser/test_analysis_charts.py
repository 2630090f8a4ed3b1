"""The KAP-shift report's charts in a real browser: plotly.js served by the app, drawn under the CSP."""

from __future__ import annotations

import pytest
from tests.factories import PASSWORD
from tests.surveys.factories import make_demo_survey

pytestmark = pytest.mark.browser


@pytest.fixture
def kap(engine):
    return make_demo_survey(engine, per_wave=150, seed=11)


def test_the_report_draws_its_charts_and_redraws_them_for_a_new_breakdown(page, live_server, personas, kap, output_dir):
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "leo")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.set_viewport_size({"width": 1100, "height": 900})
    page.goto(f"{live_server}/analysis/{kap.id}?by=segment")
    for name in ("domains", "groups", "did", "exposure"):
        page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
    # Baseline and endline bars for the three domains, with their confidence intervals.
    assert page.locator("#chart-domains .trace.bars").count() == 2
    assert page.locator("#chart-domains .errorbar").count() == 6
    assert "General public" in page.locator("#chart-groups").inner_text()
    page.screenshot(path=str(output_dir / "report-by-segment.png"), full_page=True)
    page.screenshot(path=str(output_dir / "report-top.png"))  # the README's picture (docs/screenshot-analysis.png)

    page.select_option("select[name=by]", "sex")  # HTMX swaps the report: the new chart is drawn too
    page.wait_for_url("**by=sex**")
    page.locator("#chart-groups svg.main-svg").first.wait_for()
    assert "female" in page.locator("#chart-groups").inner_text()
    assert page.console_errors == [], page.console_errors
