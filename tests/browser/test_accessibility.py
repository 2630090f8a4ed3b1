"""Accessibility (#16) in Debian's Chromium: every role's main pages and every form pass axe-core
(vendored in tests/browser/vendor, WCAG 2.0/2.1 A and AA rules and axe's best practices) with no serious
or critical violation; the interview works with the keyboard alone and shows where the focus is; form
errors are announced and tied to their fields; nothing scrolls sideways at 320 px; the offline form is
usable at 200% zoom."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlmodel import Session, select

from content.demo import load_content_demo
from content.models import Message, MessageStatus
from surveys import service
from surveys.models import Submission, SubmissionStatus
from tests.surveys.factories import make_payload, make_survey
from tests.web.dashboard_factories import make_dash_world
from tests.browser.helpers import login as _login

pytestmark = pytest.mark.browser

TIMEOUT = 15_000
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = ("serious", "critical")
NARROW = {"width": 320, "height": 640}

# axe's findings, reduced to what a failure message needs: the rule, how bad, where and what to do.
_RUN = """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact, summary: n.failureSummary}))})))"""


def axe_violations(page) -> list[dict]:
    """The serious and critical violations axe finds on the page as it is now.

    axe goes in through ``page.evaluate`` (the DevTools protocol) rather than a ``<script>`` tag: the
    app's Content-Security-Policy (script-src 'self') refuses inline scripts, and it should keep doing so."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(_RUN, AXE_TAGS)
    if os.environ.get("KONBIT_AXE_ALL"):  # a look at the moderate and minor ones too
        return found
    return [v for v in found if v["impact"] in BLOCKING]


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} node(s)): {v['help']} <{v['url']}>")
        for node in v["nodes"][:8]:
            lines.append(f"    {node['target']}: {(node['summary'] or '').splitlines()[-1].strip()}")
    return "\n".join(lines)


@pytest.fixture
def world(engine, personas):
    """The dashboard's campaign (the demo KAP survey, an approved message, deliveries) and a small survey
    that eddy collected, one of his interviews sent back by sonia."""
    dash = make_dash_world(engine, personas, per_wave=40)
    made = make_survey(engine, actor=personas["leo"], title="KAP trafficking in persons: a long survey title 2026")
    with Session(engine, expire_on_commit=False) as session:
        subs = [service.submit(session=session, survey=made.survey, wave=made.baseline,
                               payload=make_payload(respondent_code=f"PORT-AU-PRINCE-{i:04d}-LONGCODE"),
                               enumerator=personas["eddy"], audit=False)[0] for i in range(3)]
        service.review_submissions(session=session, submissions=subs[:1], status=SubmissionStatus.has_issues,
                                   comment="The respondent code does not match the household list.",
                                   actor=personas["sonia"])
        session.commit()
        demo_submission = session.exec(select(Submission.id).where(Submission.survey_id == dash.survey_id)
                                       .order_by(Submission.id)).first()
        load_content_demo(session)
        session.commit()
        draft = session.exec(select(Message.id).where(Message.status == MessageStatus.draft).order_by(Message.id)).first()
    return {"dash": dash, "made": made, "submission": subs[0].id, "demo_submission": demo_submission, "draft": draft}


def pages_of(world) -> dict[str, list[str]]:
    """Each role's home and main pages, and every form they fill in."""
    dash, made = world["dash"], world["made"]
    camp, wave = dash.campaign_id, made.baseline.id
    return {
        "alice": ["/", "/users", "/account", "/audit", "/surveys", f"/surveys/{dash.survey_id}", f"/surveys/{made.id}",
                  f"/surveys/{made.id}/waves/{wave}/frame", f"/surveys/{made.id}/import"],
        "carla": ["/", "/content", "/content/new", f"/content/{dash.message_id}", f"/content/{world['draft']}",
                  f"/content/{world['draft']}/edit", f"/content/{world['draft']}/variant?language=ht&channel=sms",
                  f"/content/{world['draft']}/history", "/content/coverage", "/content/variables",
                  "/campaigns", "/campaigns/new", f"/campaigns/{camp}", f"/campaigns/{camp}/edit",
                  f"/campaigns/{camp}/placements/new", f"/campaigns/{camp}/timeline", f"/campaigns/{camp}/deliveries",
                  f"/campaigns/{camp}/dashboard", "/campaigns/calendar", "/campaigns/segments",
                  "/campaigns/segments/new", "/campaigns/channels", "/campaigns/channels/new", "/campaigns/contacts",
                  "/campaigns/contacts/import", "/campaigns/feeds", "/campaigns/trainings"],
        "eddy": ["/", "/collect", f"/collect/submissions/{world['submission']}"],
        "sonia": ["/", "/review", f"/review?survey={made.id}", f"/submissions/{world['submission']}",
                  f"/submissions/{world['demo_submission']}", "/review/conflicts",
                  f"/surveys/{made.id}/waves/{wave}/progress"],
        "leo": ["/", "/content/review", "/analysis", f"/analysis/{dash.survey_id}", f"/analysis/{dash.survey_id}?by=segment",
                "/power", "/power?p1=0.4&p2=0.5", f"/campaigns/{camp}/dashboard", "/account"],
    }


def _settle(page):
    page.wait_for_selector("h1")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("username", ["alice", "carla", "eddy", "sonia", "leo"])
def test_each_role_s_main_pages_have_no_serious_axe_violation(page, live_server, world, username):
    _login(page, live_server, username)
    failures = []
    for url in pages_of(world)[username]:
        response = page.goto(live_server + url)
        assert response.status == 200, (username, url, response.status)
        _settle(page)
        found = axe_violations(page)
        if found:
            failures.append(f"{url}:\n{describe(found)}")
    assert not failures, f"{username}:\n" + "\n".join(failures)
    assert page.console_errors == [], page.console_errors


def test_the_login_page_has_no_serious_axe_violation(page, live_server, personas):
    page.goto(f"{live_server}/login")
    _settle(page)
    found = axe_violations(page)
    assert not found, describe(found)
    page.fill("input[name=username]", "eddy")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    page.wait_for_selector(".error")
    found = axe_violations(page)
    assert not found, "after a wrong password:\n" + describe(found)
