"""A repeat group on the phone: repetitions added and removed (or fixed by repeat_count), sent
offline-first as answers[repeat] = [...], and shown on the review page as a table."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from surveys import service
from surveys.models import Submission, SubmissionStatus
from surveys.xlsform import read_xlsform
from tests.browser.helpers import login
from tests.surveys.factories import make_payload, make_survey
from tests.surveys.test_repeats import household_form

pytestmark = pytest.mark.browser

TIMEOUT = 15_000


def _next(page, expected: str) -> None:
    page.click("[data-next]")
    page.wait_for_selector(f"#collect-app[data-screen-name='{expected}']", timeout=TIMEOUT)


def _start(page, base, made) -> None:
    login(page, base, "eddy")
    page.goto(f"{base}/collect/{made.id}/{made.baseline.id}")
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    page.select_option("[data-language]", "en")
    page.select_option("#design-segment", "police")
    page.fill("#design-region", "Ouest")
    page.fill("#design-cluster", "Cité Soleil")
    page.select_option("#design-sex", "female")
    page.select_option("#design-age_group", "25-34")
    _next(page, "section_1")
    page.check("input[name=k_law][value=yes]")
    page.fill("#f-n", "2")
    _next(page, "person")


def test_an_enumerator_adds_and_removes_repetitions_and_the_supervisor_sees_them(page, live_server, engine, personas,
                                                                                  output_dir):
    made = make_survey(engine, spec=read_xlsform(household_form(count=False)), actor=personas["alice"])
    _start(page, live_server, made)
    assert page.locator("[data-repetition]").count() == 0
    add = page.locator("[data-add-repetition=person]")
    assert add.inner_text() == "Add another: Person"
    for _ in range(3):
        add.click()
    assert page.locator("[data-repetition]").count() == 3
    page.fill("#f-person-1-pname", "Rose")
    page.fill("#f-person-1-page", "40")
    assert page.locator("#q-person-1-works").is_visible()  # relevant per repetition: ${page} >= 15
    page.check("#q-person-1-works input[value=yes]")
    page.fill("#f-person-2-pname", "Nobody")
    page.fill("#f-person-3-pname", "Rose")  # the constraint reads repetition 1: indexed-repeat()
    page.fill("#f-person-3-page", "2")
    assert page.locator("#q-person-3-works").is_hidden()
    assert page.locator("#q-person-3-pname .q-error").is_visible()
    page.click("[data-remove-repetition='person:1']")  # "Nobody" goes; Rose's namesake moves up
    assert page.locator("[data-repetition]").count() == 2
    assert page.input_value("#f-person-2-pname") == "Rose"
    page.click("[data-next]")  # still refused: two people called Rose
    assert page.locator("#collect-app").get_attribute("data-screen-name") == "person"
    page.fill("#f-person-2-pname", "Ti Jan")
    page.screenshot(path=str(output_dir / "repeat-roster.png"), full_page=True)
    page.context.set_offline(True)  # the rest works offline, like any interview
    _next(page, "section_3")
    page.fill("#f-total_age", "42")
    _next(page, "end")
    page.click("[data-finish]")
    page.wait_for_selector("[data-done]", timeout=TIMEOUT)
    page.context.set_offline(False)
    page.evaluate("() => KonbitQueue.flush({force: true})")
    page.wait_for_selector("[data-queue-panel][data-sent='1']", timeout=TIMEOUT)

    with Session(engine) as session:
        sub = session.exec(select(Submission)).one()
        assert sub.answers["person"] == [{"pname": "Rose", "page": 40, "works": "yes", "idx": "1"},
                                         {"pname": "Ti Jan", "page": 2, "idx": "2"}]
        assert sub.answers["total_age"] == 42
        sub_id = sub.id
    page.goto(f"{live_server}/submissions/{sub_id}")
    table = page.locator("#repeat-person table")
    assert table.locator("tbody tr").count() == 2
    assert table.locator("tbody tr").nth(1).inner_text().split("\t")[:3] == ["2", "Ti Jan", "2"]
    page.screenshot(path=str(output_dir / "repeat-review.png"), full_page=True)
    assert page.console_errors == [], page.console_errors


def test_repeat_count_fixes_the_number_of_repetitions(page, live_server, engine, personas):
    made = make_survey(engine, spec=read_xlsform(household_form()), actor=personas["alice"])
    _start(page, live_server, made)
    assert page.locator("[data-repetition]").count() == 2
    assert page.locator("[data-add-repetition], [data-remove-repetition]").count() == 0
    page.click("[data-back]")
    page.wait_for_selector("#collect-app[data-screen-name='section_1']", timeout=TIMEOUT)
    page.fill("#f-n", "1")
    _next(page, "person")
    assert page.locator("[data-repetition]").count() == 1
    page.click("[data-next]")
    assert page.locator("#q-person-1-pname .q-error").inner_text() == "This question needs an answer."
    assert page.console_errors == [], page.console_errors


def test_a_correction_starts_from_the_stored_repetitions(page, live_server, engine, personas):
    made = make_survey(engine, spec=read_xlsform(household_form(count=False)), actor=personas["alice"])
    with Session(engine) as session:
        survey = service.get_survey(session=session, survey_id=made.id)
        sub, _ = service.submit(session=session, survey=survey, wave=made.baseline, enumerator=personas["eddy"],
                                payload=make_payload(answers={"n": 2, "k_law": "yes", "total_age": 42, "person": [
                                    {"pname": "Rose", "page": 40, "works": "yes"}, {"pname": "Ti Jan", "page": 2}]}))
        service.review_submissions(session=session, submissions=[sub], status=SubmissionStatus.has_issues,
                                   comment="Ti Jan is 3.", actor=personas["sonia"])
        session.commit()
        sub_id = sub.id
    login(page, live_server, "eddy")
    page.goto(f"{live_server}/collect/submissions/{sub_id}")
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    page.select_option("[data-language]", "en")
    _next(page, "section_1")
    _next(page, "person")
    assert page.input_value("#f-person-1-pname") == "Rose" and page.input_value("#f-person-2-page") == "2"
    page.fill("#f-person-2-page", "3")
    page.fill("#f-person-1-page", "41")
    _next(page, "section_3")
    page.fill("#f-total_age", "44")
    _next(page, "end")
    page.fill("[data-note]", "Ages fixed.")
    page.click("[data-finish]")
    page.wait_for_selector("[data-queue-panel][data-sent='1']", timeout=TIMEOUT)
    with Session(engine) as session:
        row = session.get(Submission, sub_id)
        assert row.revision == 2
        assert row.answers["person"] == [{"pname": "Rose", "page": 41, "works": "yes", "idx": "1"},
                                         {"pname": "Ti Jan", "page": 3, "idx": "2"}]
    assert page.console_errors == [], page.console_errors
