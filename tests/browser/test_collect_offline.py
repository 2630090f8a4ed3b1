"""Data entry in real Chromium on a phone-sized screen: skip logic and Kreyòl constraint
messages as the enumerator types, interviews queued offline and sent exactly once when the
connection returns, refused ones kept and shown, drafts resumed, corrections resent."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from surveys import service
from surveys.models import Submission, SubmissionConflict, SubmissionRevision, SubmissionStatus
from tests.factories import PASSWORD
from tests.surveys.factories import make_payload, make_survey

pytestmark = pytest.mark.browser

TIMEOUT = 15_000


def _login(page, base, username="eddy"):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _screen(page) -> str:
    return page.locator("#collect-app").get_attribute("data-screen-name")


def _next(page, expected: str) -> None:
    page.click("[data-next]")
    page.wait_for_selector(f"#collect-app[data-screen-name='{expected}']", timeout=TIMEOUT)


def _count(page, name: str) -> str:
    return page.locator(f"[data-queue-panel] [data-count='{name}'] b").inner_text()


def _wait_counts(page, **counts: int) -> None:
    selector = "[data-queue-panel]" + "".join(f"[data-{k}='{v}']" for k, v in counts.items())
    page.wait_for_selector(selector, timeout=TIMEOUT)


def _queue(page) -> list[dict]:
    return page.evaluate("() => KonbitQueue.items()")


def _submissions(engine) -> list[Submission]:
    with Session(engine) as session:
        return list(session.exec(select(Submission).order_by(Submission.id)).all())


def _open_form(page, base, made) -> None:
    page.goto(f"{base}/collect")
    page.click(f"a[href='/collect/{made.id}/{made.baseline.id}']")
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    # The service worker has the form, its questionnaire and its assets: it can go offline now.
    page.wait_for_selector("html[data-offline-ready]", timeout=TIMEOUT)


def test_it_fills_queues_offline_and_sends_each_interview_exactly_once(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"])
    _login(page, live_server)
    _open_form(page, live_server, made)
    assert page.locator("[data-language]").input_value() == "ht"  # the questionnaire's default language
    assert page.locator("[data-progress]").inner_text() == "Ekran 1 sou 8"

    # Design screen: required fields are checked before moving on.
    page.click("[data-next]")
    assert page.locator("[data-design-field='segment'] .q-error").inner_text() == "Fòk ou reponn kesyon sa a."
    page.select_option("#design-segment", "police")
    page.fill("#design-region", "Ouest")
    page.fill("#design-cluster", "Cité Soleil")
    page.select_option("#design-sex", "female")
    page.select_option("#design-age_group", "25-34")
    _next(page, "intro")
    page.check("input[name=consent][value=yes]")
    _next(page, "background")

    # A constraint acts as the enumerator types, in Kreyòl; switching language keeps the answer.
    page.fill("#f-age", "12")
    error = page.locator("#q-age .q-error")
    assert error.is_visible() and error.inner_text() == "Laj la dwe ant 15 ak 99"
    page.screenshot(path=str(output_dir / "1-constraint-kreyol.png"), full_page=True)
    page.select_option("[data-language]", "fr")
    assert page.locator("#q-age .q-error").inner_text() == "L'âge doit être entre 15 et 99"
    assert page.input_value("#f-age") == "12"
    assert page.locator("#q-age label").inner_text().startswith("Quel âge avez-vous ?")
    page.select_option("[data-language]", "ht")
    page.click("[data-next]")  # refused while the answer breaks the constraint
    assert _screen(page) == "background"
    page.fill("#f-age", "34")
    assert not page.locator("#q-age .q-error").is_visible()
    page.check("input[name=education][value=secondary]")
    _next(page, "knowledge")

    # Skip logic: the year of the law is asked only of those who know there is a law.
    page.check("input[name=k_law][value=no]")
    assert page.locator("#q-k_law_year").is_hidden()
    page.check("input[name=k_law][value=yes]")
    assert page.locator("#q-k_law_year").is_visible()
    page.check("input[name=k_law_year][value=y2014]")
    page.check("#q-k_signs input[value=dk]")
    page.check("#q-k_signs input[value=debt]")
    assert page.locator("#q-k_signs .q-error").inner_text() == "'Pa konnen' pou kont li"
    page.uncheck("#q-k_signs input[value=dk]")
    page.check("#q-k_signs input[value=job_offer]")
    assert page.locator("#q-k_signs .q-error").is_hidden()
    page.screenshot(path=str(output_dir / "2-skip-logic.png"), full_page=True)

    # The connection drops; the interview goes on.
    page.context.set_offline(True)
    _next(page, "attitudes")
    page.check("input[name=a_report_duty][value='5']")
    _next(page, "practice")
    _next(page, "exposure")
    assert page.locator("#q-e_times").is_hidden()
    page.check("input[name=e_radio][value=yes]")
    page.fill("#f-e_times", "3")
    _next(page, "end")
    page.click("[data-finish]")
    page.wait_for_selector("[data-done]", timeout=TIMEOUT)
    _wait_counts(page, waiting=1)

    # A second interview, offline: no consent, so straight to the end.
    page.click("[data-new]")
    page.wait_for_selector("#collect-app[data-screen-name='design']")
    assert page.locator("#design-segment").input_value() == "police"  # the area's fields are kept
    assert page.input_value("#design-region") == "Ouest"
    page.select_option("#design-sex", "male")
    _next(page, "intro")
    page.check("input[name=consent][value=no]")
    _next(page, "end")
    page.click("[data-finish]")
    page.wait_for_selector("[data-done]", timeout=TIMEOUT)
    _wait_counts(page, waiting=2, sent=0, refused=0)
    assert _count(page, "waiting") == "2"
    assert "Pa gen koneksyon" in page.locator("[data-queue-status]").inner_text()  # the interview's language
    page.screenshot(path=str(output_dir / "3-two-waiting-offline.png"), full_page=True)

    # Offline, the page itself comes from the service worker, and the queue from IndexedDB.
    response = page.reload()
    assert response is not None and response.from_service_worker
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    _wait_counts(page, waiting=2)
    assert _submissions(engine) == []
    uuids = sorted(item["uuid"] for item in _queue(page))
    assert len(uuids) == 2

    # Back online: both arrive, once each.
    page.context.set_offline(False)
    _wait_counts(page, waiting=0, sent=2, refused=0)
    page.screenshot(path=str(output_dir / "4-sent.png"), full_page=True)
    stored = _submissions(engine)
    assert sorted(s.uuid for s in stored) == uuids
    first = next(s for s in stored if s.answers.get("consent") == "yes")
    second = next(s for s in stored if s.answers.get("consent") == "no")
    assert first.answers["age"] == 34 and first.answers["k_law_year"] == "y2014"
    assert first.answers["k_signs"] == ["job_offer", "debt"] and first.answers["e_times"] == 3
    assert "p_why_not" not in first.answers
    assert (first.segment, first.region, first.cluster, first.sex, first.age_group) == (
        "police", "Ouest", "Cité Soleil", "female", "25-34")
    assert first.language == "ht" and first.enumerator_id == personas["eddy"].id and first.source == "web"
    assert first.started_at is not None and first.ended_at is not None and first.started_at <= first.ended_at
    assert set(second.answers) - {"start", "end"} == {"consent"} and second.sex == "male"

    # Reloading sends nothing again, and a deliberate resend is recognised, not duplicated.
    page.reload()
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    _wait_counts(page, waiting=0, sent=2)
    statuses = page.evaluate("""async () => {
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
        const out = [];
        for (const item of await KonbitQueue.items()) {
          const r = await fetch(item.url, {method: 'POST', credentials: 'same-origin', body: JSON.stringify(item.payload),
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token}});
          out.push(r.status);
        }
        return out;
    }""")
    assert statuses == [200, 200]
    assert len(_submissions(engine)) == 2
    page.goto(f"{live_server}/collect")
    assert page.locator(".submission-list li").count() == 2
    page.screenshot(path=str(output_dir / "5-collect-list.png"), full_page=True)
    assert page.console_errors == [], page.console_errors


def test_it_keeps_refused_interviews_and_shows_why(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"])
    with Session(engine) as session:
        survey = service.get_survey(session=session, survey_id=made.id)
        stored, _ = service.submit(session=session, survey=survey, wave=made.baseline,
                                   payload=make_payload(), enumerator=personas["eddy"])
        session.commit()
        uuid = stored.uuid
    _login(page, live_server)
    _open_form(page, live_server, made)
    url = f"/api/v1/surveys/{made.id}/submissions"
    conflicting = make_payload(uuid=uuid, wave=made.baseline.id, answers={"consent": "no"})
    invalid = make_payload(wave=made.baseline.id, answers={"consent": "yes", "age": 7})
    page.evaluate("""([url, conflicting, invalid]) => Promise.all([
        KonbitQueue.finish(null, {key: 'conflict', uuid: conflicting.uuid, kind: 'create', method: 'POST', url: url,
                                  payload: conflicting, username: 'eddy', label: {survey: 'KAP', wave: 'baseline'}}),
        KonbitQueue.finish(null, {key: 'invalid', uuid: invalid.uuid, kind: 'create', method: 'POST', url: url,
                                  payload: invalid, username: 'eddy', label: {survey: 'KAP', wave: 'baseline'}}),
    ]).then(() => KonbitQueue.flush({force: true}))""", [url, conflicting, invalid])
    _wait_counts(page, waiting=0, refused=2)
    items = {item["key"]: item for item in _queue(page)}
    assert items["conflict"]["http_status"] == 409 and "different answers" in items["conflict"]["error"]
    assert items["invalid"]["http_status"] == 422 and "age" in items["invalid"]["error"]
    panel = page.locator("[data-queue-panel]")
    assert "different answers" in panel.inner_text() and "age" in panel.inner_text()
    page.screenshot(path=str(output_dir / "refused.png"), full_page=True)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Submission)).one() == 1
        assert session.exec(select(func.count()).select_from(SubmissionConflict)).one() == 1
    # Trying again does not make a second conflict row (the same refused resend is kept once).
    page.click("[data-queue-panel] [data-retry='conflict']")
    _wait_counts(page, waiting=0, refused=2)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(SubmissionConflict)).one() == 1


def test_it_saves_a_draft_and_resumes_it(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"])
    _login(page, live_server)
    _open_form(page, live_server, made)
    page.select_option("#design-segment", "judges")
    page.fill("#design-region", "Nord")
    _next(page, "intro")
    page.check("input[name=consent][value=yes]")
    _next(page, "background")
    page.fill("#f-age", "41")
    page.click("[data-save-draft]")
    page.wait_for_url(f"{live_server}/collect")
    draft = page.locator("[data-draft-list] li a")
    draft.wait_for(timeout=TIMEOUT)
    page.screenshot(path=str(output_dir / "draft-listed.png"), full_page=True)
    draft.click()
    page.wait_for_selector("#collect-app[data-screen-name='background']", timeout=TIMEOUT)
    assert page.input_value("#f-age") == "41"
    page.fill("#f-age", "42")
    _next(page, "knowledge")
    page.check("input[name=k_law][value=dk]")
    for screen in ("attitudes", "practice", "exposure", "end"):
        _next(page, screen)
    page.click("[data-finish]")
    _wait_counts(page, waiting=0, sent=1)
    assert page.evaluate("() => KonbitQueue.drafts()") == []
    (stored,) = _submissions(engine)
    assert stored.answers["age"] == 42 and stored.segment == "judges" and stored.region == "Nord"
    assert page.console_errors == [], page.console_errors


def test_it_corrects_a_submission_sent_back_by_the_supervisor(page, live_server, engine, personas, output_dir):
    made = make_survey(engine, actor=personas["alice"])
    with Session(engine) as session:
        survey = service.get_survey(session=session, survey_id=made.id)
        sub, _ = service.submit(session=session, survey=survey, wave=made.baseline,
                                payload=make_payload(respondent_code="HT-0042"), enumerator=personas["eddy"])
        service.review_submissions(session=session, submissions=[sub], status=SubmissionStatus.has_issues,
                                   comment="Laj la pa kòrèk: tcheke l.", actor=personas["sonia"])
        session.commit()
        sub_id = sub.id
    _login(page, live_server)
    page.goto(f"{live_server}/collect")
    assert "Laj la pa kòrèk: tcheke l." in page.locator(".sent-back").inner_text()
    page.click(f".sent-back a.button[href='/collect/submissions/{sub_id}']")
    page.wait_for_selector("#collect-app[data-screen-name='design']", timeout=TIMEOUT)
    assert "Laj la pa kòrèk" in page.locator("#correction-note").inner_text()
    assert page.input_value("#design-region") == "Ouest"
    _next(page, "intro")
    _next(page, "background")
    assert page.input_value("#f-age") == "34"
    page.fill("#f-age", "43")
    for screen in ("knowledge", "attitudes", "practice", "exposure", "end"):
        _next(page, screen)
    page.fill("[data-note]", "Laj la te mal antre.")
    page.screenshot(path=str(output_dir / "correction.png"), full_page=True)
    page.click("[data-finish]")
    _wait_counts(page, waiting=0, sent=1)
    with Session(engine) as session:
        row = session.get(Submission, sub_id)
        assert row.answers["age"] == 43 and row.revision == 2 and row.status == SubmissionStatus.received
        revisions = session.exec(select(SubmissionRevision).where(SubmissionRevision.submission_id == sub_id)).all()
        assert any("Laj la te mal antre." in r.note for r in revisions)
        assert session.exec(select(func.count()).select_from(Submission)).one() == 1
    assert page.console_errors == [], page.console_errors


def test_it_keeps_waiting_through_a_lost_session_and_sends_only_as_its_enumerator(page, live_server, engine, personas,
                                                                                    output_dir):
    made = make_survey(engine, actor=personas["alice"])
    _login(page, live_server)
    _open_form(page, live_server, made)
    page.context.set_offline(True)
    page.select_option("#design-segment", "media")
    page.fill("#design-region", "Sud")
    _next(page, "intro")
    page.check("input[name=consent][value=no]")
    _next(page, "end")
    page.click("[data-finish]")
    _wait_counts(page, waiting=1)

    # The session ends while the phone is offline (cookie gone): back online, nothing is lost.
    page.context.clear_cookies()
    page.context.set_offline(False)
    page.wait_for_function("() => document.querySelector('[data-queue-status]').textContent.includes('Konekte ankò')",
                           timeout=TIMEOUT)
    assert _count(page, "waiting") == "1" and _submissions(engine) == []

    # Another enumerator on the same phone does not send it in their name.
    _login(page, live_server, "sonia")
    page.goto(f"{live_server}/collect")
    page.wait_for_selector("[data-queue-panel][data-waiting='1']", timeout=TIMEOUT)
    page.wait_for_function("() => /(Waiting for|N ap tann|En attente de la connexion de) eddy/.test("
                           "document.querySelector('[data-queue-list]').textContent)",
                           timeout=TIMEOUT)
    assert _submissions(engine) == []
    page.screenshot(path=str(output_dir / "waiting-for-eddy.png"), full_page=True)

    page.context.clear_cookies()
    _login(page, live_server, "eddy")
    page.goto(f"{live_server}/collect")
    _wait_counts(page, waiting=0, sent=1)
    (stored,) = _submissions(engine)
    assert stored.enumerator_id == personas["eddy"].id and stored.segment == "media"
