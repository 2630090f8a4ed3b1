"""A wave's fieldwork progress in Chromium: its charts, the frame's clusters without interviews,
and a target typed on the page redrawing them through HTMX."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from surveys import service
from surveys.frame import Unit
from surveys.frame_service import replace_frame
from surveys.models import Wave
from tests.browser.helpers import login, settled
from tests.surveys.factories import make_payload, make_survey

pytestmark = pytest.mark.browser


def test_the_progress_page_draws_the_target_and_the_empty_clusters(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"], title="KAP <Sid>")
    with Session(engine, expire_on_commit=False) as s:
        wave = s.get(Wave, made.baseline.id)
        wave.target_sample = 30
        replace_frame(session=s, wave=wave, units=[Unit("", c, None) for c in ("Jacmel", "Hinche", "Jérémie")], actor=None)
        for cluster in ("Jacmel", "Jacmel", "Hinche"):
            service.submit(session=s, survey=made.survey, wave=wave, payload=make_payload(cluster=cluster),
                           enumerator=personas["eddy"], audit=False)
        s.commit()
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(f"failed {req.url}"))
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    login(page, live_server, "sonia")
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(f"{live_server}/surveys/{made.id}/waves/{made.baseline.id}/progress")
    for name in ("progress", "enumerators", "clusters"):
        page.locator(f"#chart-{name} svg.main-svg").first.wait_for()
    assert "3 of 30 interviews" in page.locator(".dash-counts").inner_text()
    assert "10 interviews a cluster (3 clusters in the sampling frame); 1 without an interview yet" in \
        page.locator(".dash-counts").inner_text()
    clusters = page.locator("#chart-clusters")
    assert "Jérémie" in clusters.inner_text()  # no interview: a bar of 0
    assert clusters.locator(".shapelayer path").count() == 1  # the target a cluster
    page.screenshot(path=str(output_dir / "fieldwork.png"), full_page=True)

    page.fill("input[name=target]", "60")
    page.locator("input[name=target]").dispatch_event("change")
    page.wait_for_url("**target=60**")
    settled(page)
    page.locator("#chart-clusters svg.main-svg").first.wait_for()
    assert "3 of 60 interviews" in page.locator(".dash-counts").inner_text()
    assert "20 interviews a cluster" in page.locator(".dash-counts").inner_text()
    assert failed == [], failed
    assert page.console_errors == [], page.console_errors
