"""Supervisors' and enumerators' pages on a 360 px phone, in Debian's Chromium: nothing scrolls sideways,
the Kreyòl interview (and French) has no English left on its first screen and in its queue panel,
and the sampling frame's clusters are a list that checks the choice on the phone."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from surveys import frame_service, service
from surveys.frame import Unit
from surveys.models import SubmissionStatus, Wave
from tests.surveys.factories import make_payload, make_survey
from tests.browser.helpers import login as _login

pytestmark = pytest.mark.browser

TIMEOUT = 15_000
PHONE = {"width": 360, "height": 740}


def _scroll_width(page) -> int:
    return page.evaluate("() => document.scrollingElement.scrollWidth")


@pytest.fixture
def reviewed(engine, personas):
    made = make_survey(engine, actor=personas["leo"], title="KAP trafficking in persons: a long survey title 2026")
    with Session(engine, expire_on_commit=False) as session:
        for i in range(12):
            sub, _ = service.submit(session=session, survey=made.survey, wave=made.baseline,
                                    payload=make_payload(respondent_code=f"PORT-AU-PRINCE-{i:04d}-LONGCODE",
                                                         minutes=1 if i % 3 == 0 else 15),
                                    enumerator=personas["eddy"])
            if i % 4 == 0:
                service.review_submissions(session=session, submissions=[sub], status=SubmissionStatus.has_issues,
                                           comment="The respondent code does not match the household list; check it "
                                                   "with the community leader before sending again.",
                                           actor=personas["sonia"])
        session.commit()
    return made


def test_review_does_not_scroll_sideways_on_a_360_px_phone(page, live_server, reviewed, output_dir):
    page.set_viewport_size(PHONE)
    _login(page, live_server, "sonia")
    for url in ("/review", f"/review?survey={reviewed.id}", "/collect"):
        page.goto(live_server + url)
        page.wait_for_selector("h1")
        assert _scroll_width(page) <= PHONE["width"], (url, _scroll_width(page))
    page.goto(f"{live_server}/review?survey={reviewed.id}")
    page.screenshot(path=str(output_dir / "review-360.png"), full_page=True)
    # every column of a submission is still there to read
    row = page.locator("#results tbody tr").first
    assert "eddy" in row.inner_text() and "PORT-AU-PRINCE" in row.inner_text()
    assert page.console_errors == [], page.console_errors


def _open_form(page, base, made, language):
    page.goto(f"{base}/collect/{made.id}/{made.baseline.id}")
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    page.select_option("[data-language]", language)
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)


# The English the Kreyòl and French interview showed (segments, the queue panel); "Police" is French too.
ENGLISH = ("General public", "Judges", "Prosecutors", "Lawyers", "Border and migration officials", "Social workers",
           "Journalists and media", "Tourism sector", "Vulnerable groups", "Interviews on this phone", "waiting",
           "sent", "refused", "Send now", "No interview on this phone yet", "Checking")


@pytest.mark.parametrize("language", ["ht", "fr"])
def test_the_interview_has_no_english_left_in_kreyol_or_french(page, live_server, engine, personas, language):
    made = make_survey(engine, actor=personas["leo"])
    page.set_viewport_size(PHONE)
    _login(page, live_server, "eddy")
    _open_form(page, live_server, made, language)
    page.wait_for_function("() => !/Checking/.test(document.querySelector('[data-queue-status]').textContent)")
    segment = page.locator("[data-design-field='segment'] select").inner_text()
    panel = page.locator("[data-queue-panel]").inner_text()
    for text in ENGLISH:
        assert text not in segment, (language, text, segment)
        assert text not in panel, (language, text, panel)
    expected = {"ht": ("Piblik jeneral", "Entèvyou sou telefòn sa a"),
                "fr": ("Grand public", "Entretiens sur ce téléphone")}[language]
    assert expected[0] in segment and expected[1] in panel
    assert page.console_errors == [], page.console_errors


def test_the_form_offers_the_frame_and_checks_the_cluster_offline(page, live_server, engine, personas):
    made = make_survey(engine, actor=personas["leo"])
    with Session(engine) as session:
        frame_service.replace_frame(session=session, wave=session.get(Wave, made.baseline.id),
                                    units=[Unit("urban", "Delmas", 2.4), Unit("rural", "Gonaïves", 1.6)], actor=None)
        session.commit()
    page.set_viewport_size(PHONE)
    _login(page, live_server, "eddy")
    _open_form(page, live_server, made, "en")
    unit = page.locator("[data-design='unit']")
    assert unit.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["urban", "rural"]
    page.select_option("[data-design-field='segment'] select", "general_public")
    page.fill("#design-region", "Ouest")
    page.click("[data-next]")  # no cluster chosen: the phone says so and stays
    page.wait_for_selector("[data-design-field='cluster'] .q-error:not([hidden])", timeout=TIMEOUT)
    assert page.locator("#collect-app").get_attribute("data-screen-name") == "design"
    unit.select_option(label="Gonaïves")
    state = page.evaluate("() => KonbitForm.state.design")
    assert (state["stratum"], state["cluster"]) == ("rural", "Gonaïves")
    body = page.evaluate("() => KonbitForm.payload(KonbitForm.compute())")
    assert body["weight"] == 1.6 and body["stratum"] == "rural"
    assert page.console_errors == [], page.console_errors
