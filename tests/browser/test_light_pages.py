"""Light pages in Debian's Chromium: what the enumerator's form moves on the wire (the service worker's
offline copy included), and every role's main pages at 320 px (a small phone, or 200% zoom on a
640 px one) without sideways scrolling."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from content.demo import load_content_demo
from surveys import service
from surveys.models import SubmissionStatus
from tests.surveys.factories import make_demo_survey, make_payload, make_survey

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pages_slow3g import CountingRelay  # noqa: E402
from tests.browser.helpers import login as _login

pytestmark = pytest.mark.browser

TIMEOUT = 20_000
NARROW = {"width": 320, "height": 640}


def _quiet(relay: CountingRelay, page, seconds: float = 1.0) -> None:
    last = -1
    while relay.down != last:
        last = relay.down
        page.wait_for_timeout(seconds * 1000)


@pytest.fixture
def collected(engine, personas):
    made = make_survey(engine, actor=personas["leo"], title="KAP trafficking in persons: a long survey title 2026")
    with Session(engine, expire_on_commit=False) as session:
        subs = []
        for i in range(45):  # more than a page of /collect
            sub, _ = service.submit(session=session, survey=made.survey, wave=made.baseline,
                                    payload=make_payload(respondent_code=f"PORT-AU-PRINCE-{i:04d}-LONGCODE"),
                                    enumerator=personas["eddy"], audit=False)
            subs.append(sub)
        service.review_submissions(session=session, submissions=subs[:3], status=SubmissionStatus.has_issues,
                                   comment="The respondent code does not match the household list; check it with "
                                           "the community leader before sending again.", actor=personas["sonia"])
        session.commit()
        return made, subs[0].id


def test_the_form_moves_under_150_kb_first_and_under_10_kb_for_the_next_interview(chromium, live_server, collected,
                                                                                  personas):
    collected, _ = collected
    relay = CountingRelay(int(live_server.rsplit(":", 1)[1]))
    base = f"http://127.0.0.1:{relay.port}"
    context = chromium.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    _login(page, base, "eddy")
    cdp.send("Network.clearBrowserCache")
    form = f"/collect/{collected.id}/{collected.baseline.id}"
    try:
        _quiet(relay, page, 0.3)
        relay.reset()
        page.goto(base + form)
        page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
        page.wait_for_selector("html[data-offline-ready]", state="attached", timeout=TIMEOUT)
        _quiet(relay, page)
        first, first_requests = relay.down, list(relay.requests)
        page.goto(base + "/collect/token")
        _quiet(relay, page, 0.3)
        relay.reset()
        page.goto(base + form)
        page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
        page.wait_for_selector("html[data-offline-ready]", state="attached", timeout=TIMEOUT)
        _quiet(relay, page)
        repeat, repeat_requests = relay.down, list(relay.requests)
    finally:
        context.close()
        relay.close()
    assert first < 150_000, (first, first_requests)
    # each asset once: the service worker took what the page had loaded from the HTTP cache
    assets = [r for r in first_requests if r.startswith(b"GET /static/")]
    assert assets and len(assets) == len(set(assets)), first_requests
    assert repeat < 10_000, (repeat, repeat_requests)
    assert not any(r.startswith(b"GET /static/") for r in repeat_requests), repeat_requests


def test_no_main_page_scrolls_sideways_at_320_px(chromium, live_server, collected, engine, personas):
    collected, first_submission = collected
    with Session(engine) as session:
        load_content_demo(session)
        session.commit()
    report = make_demo_survey(engine, per_wave=60, seed=5)
    pages = {
        "alice": ["/", "/users", "/audit", "/account", "/surveys", f"/surveys/{collected.id}"],
        "carla": ["/", "/content", "/content/1", "/content/1/history", "/campaigns", "/campaigns/calendar",
                  "/campaigns/feeds", "/campaigns/segments", "/campaigns/channels"],
        "eddy": ["/collect", f"/collect/{collected.id}/{collected.baseline.id}",
                 f"/collect/submissions/{first_submission}"],
        "sonia": ["/review", f"/review?survey={collected.id}", f"/submissions/{first_submission}",
                  "/review/conflicts"],
        "leo": ["/analysis", f"/analysis/{report.id}", f"/analysis/{report.id}?by=segment", "/power"],
    }
    wide = []
    for username, urls in pages.items():
        context = chromium.new_context(viewport=NARROW)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        _login(page, live_server, username)
        for url in urls:
            response = page.goto(live_server + url)
            assert response.status == 200, (username, url, response.status)
            page.wait_for_selector("h1")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > NARROW["width"]:
                wide.append((username, url, width))
        context.close()
        assert errors == [], (username, errors)
    assert wide == []
