"""The enumerator's data-entry pages: /collect, the form with its embedded questionnaire,
corrections, the service worker and the manifest."""

from __future__ import annotations

import json
import re

import pytest
from sqlmodel import Session

from surveys import service
from surveys.expressions import parse, to_json
from surveys.models import Submission, SubmissionStatus, WaveDesign, WaveKind, WaveUpdate
from tests.factories import login, make_user
from tests.surveys.factories import make_payload, make_survey
from web.accounts.models import Role
from web.assets import static_url
from web.routes.collect import client_spec

DATA_RE = re.compile(r'<script type="application/json" id="collect-data">(.*?)</script>', re.S)


def _data(html: str) -> dict:
    match = DATA_RE.search(html)
    assert match, "no collect-data block in the page"
    return json.loads(match.group(1))


def _submit(engine, made, user, *, wave="baseline", **payload):
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(type(made.survey), made.id)
        sub, created = service.submit(session=session, survey=survey, wave=made.waves[wave],
                                      payload=make_payload(wave=wave, **payload), enumerator=user)
        session.commit()
        assert created
        return sub


def _send_back(engine, sub, supervisor, comment="Age does not match the respondent code; check it."):
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(Submission, sub.id)
        service.review_submissions(session=session, submissions=[row], status=SubmissionStatus.has_issues,
                                   comment=comment, actor=supervisor)
        session.commit()


@pytest.fixture
def made(engine, personas):
    return make_survey(engine, actor=personas["alice"], waves=(
        ("baseline", WaveKind.baseline, WaveDesign.independent),
        ("endline", WaveKind.endline, WaveDesign.panel),
    ))


def test_it_lists_the_open_waves_for_the_enumerator(client, made, engine, personas):
    with Session(engine) as session:
        wave = session.get(type(made.endline), made.endline.id)
        service.update_wave(session=session, wave=wave, wave_update=WaveUpdate(is_open=False), actor=personas["alice"])
        session.commit()
    login(client, "eddy")
    r = client.get("/collect")
    assert r.status_code == 200
    html = r.text
    assert f'href="/collect/{made.id}/{made.baseline.id}"' in html
    assert f'href="/collect/{made.id}/{made.endline.id}"' not in html  # closed
    assert "KAP trafficking in persons 2026" in html
    assert 'data-queue-panel' in html and 'data-count="waiting"' in html
    assert f'<link rel="manifest" href="{static_url("manifest.webmanifest")}">' in html
    assert 'href="/collect"' in html  # the navigation link
    # CSP: no inline script, no inline handler.
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_it_embeds_the_questionnaire_with_parsed_expressions(client, made, personas):
    login(client, "eddy")
    r = client.get(f"/collect/{made.id}/{made.endline.id}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    data = _data(r.text)
    assert data["survey_id"] == made.id and data["wave_id"] == made.endline.id
    assert data["wave"] == {"name": "endline", "kind": "endline", "design": "panel"}
    assert data["version"] == 1 and data["instrument_version_id"] == made.version.id
    assert data["submit_url"] == f"/api/v1/surveys/{made.id}/submissions"
    assert data["username"] == "eddy"
    assert data["correction"] is None
    form = data["form"]
    assert form["languages"] == ["ht", "fr", "en"] and form["default_language"] == "ht"
    items = {it["code"]: it for s in form["sections"] for it in s["items"]}
    assert items["k_law_year"]["relevant"] == to_json(parse("${k_law} = 'yes'"))
    assert items["age"]["constraint"] == to_json(parse(". >= 15 and . <= 99"))
    assert items["age"]["constraint_message"]["ht"] == "Laj la dwe ant 15 ak 99"
    assert items["age"]["required"] is True
    assert form["sections"][1]["relevant"] == to_json(parse("${consent} = 'yes'"))
    assert form["choice_lists"]["agree5"][4]["labels"]["ht"] == "Dakò nèt"
    # Scoring keys stay on the server.
    assert all("kap_correct" not in it and "kap_desired" not in it for it in items.values())
    codes = [code for code, _ in data["design"]["segments"]]
    assert "general_public" in codes and "police" in codes
    names = dict(data["design"]["segments"])  # each segment's name in the interview languages
    assert names["general_public"] == {"en": "General public", "fr": "Grand public", "ht": "Piblik jeneral",
                                       "es": "Público general"}


def test_it_reports_unparsable_expressions_instead_of_failing():
    spec = {"title": "t", "languages": ["en"], "default_language": "en", "sections": [{"name": "s", "items": [
        {"code": "a", "type": "integer", "labels": {"en": "A"}, "relevant": "${a} = = 1", "constraint": ". > 0"}]}]}
    form, problems = client_spec(spec)
    item = form["sections"][0]["items"][0]
    assert item["relevant"] is None and item["constraint"] == to_json(parse(". > 0"))
    assert len(problems) == 1 and problems[0].startswith("a relevant:")


def test_it_does_not_open_a_closed_or_foreign_wave(client, made, engine, personas):
    other = make_survey(engine, actor=personas["alice"], title="Other survey")
    with Session(engine) as session:
        wave = session.get(type(made.endline), made.endline.id)
        service.update_wave(session=session, wave=wave, wave_update=WaveUpdate(is_open=False), actor=personas["alice"])
        session.commit()
    login(client, "eddy")
    assert client.get(f"/collect/{made.id}/{made.endline.id}").status_code == 404
    assert client.get(f"/collect/{made.id}/{other.baseline.id}").status_code == 404
    assert client.get(f"/collect/999/{made.baseline.id}").status_code == 404


@pytest.mark.parametrize("name, allowed", [("eddy", True), ("sonia", True), ("alice", True), ("carla", False), ("leo", False)])
def test_it_lets_in_only_the_roles_that_collect(client, made, personas, name, allowed):
    login(client, name)
    for path in ("/collect", f"/collect/{made.id}/{made.baseline.id}", "/collect/token"):
        assert client.get(path).status_code == (200 if allowed else 403), path


def test_it_sends_anonymous_visitors_to_the_login(client, made):
    r = client.get(f"/collect/{made.id}/{made.baseline.id}")
    assert r.status_code == 401
    assert 'name="username"' in r.text
    assert client.get("/collect/token", headers={"Accept": "application/json"}).status_code == 401


def test_it_gives_the_queue_a_fresh_csrf_token(client, personas):
    csrf = login(client, "eddy")
    r = client.get("/collect/token")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert r.json() == {"csrf_token": csrf, "username": "eddy"}


def test_it_shows_each_enumerator_only_their_own_submissions(client, made, engine, personas):
    emma = make_user(engine, username="emma", role=Role.enumerator)
    mine = _submit(engine, made, personas["eddy"], respondent_code="HT-0001")
    theirs = _submit(engine, made, emma, respondent_code="HT-0002")
    login(client, "eddy")
    html = client.get("/collect").text
    assert f'data-uuid="{mine.uuid}"' in html and "HT-0001" in html
    assert theirs.uuid not in html and "HT-0002" not in html
    assert client.get(f"/collect/submissions/{theirs.id}").status_code == 404
    assert client.get(f"/collect/submissions/{mine.id}").status_code == 200


def test_it_shows_a_sent_back_submission_with_the_comment_and_offers_the_correction(client, made, engine, personas):
    sub = _submit(engine, made, personas["eddy"], respondent_code="HT-0042")
    _send_back(engine, sub, personas["sonia"])
    login(client, "eddy")
    html = client.get("/collect").text
    assert "Sent back to you" in html
    assert "Age does not match the respondent code; check it." in html
    assert f'href="/collect/submissions/{sub.id}"' in html

    page = client.get(f"/collect/submissions/{sub.id}")
    assert page.status_code == 200
    assert "Supervisor&#39;s comment" in page.text or "Supervisor's comment" in page.text
    data = _data(page.text)
    correction = data["correction"]
    assert correction["editable"] is True
    assert correction["uuid"] == sub.uuid and correction["submission_id"] == sub.id
    assert correction["comment"] == "Age does not match the respondent code; check it."
    assert correction["answers"]["consent"] == "yes" and correction["answers"]["k_signs"] == ["job_offer", "debt"]
    assert correction["design"]["respondent_code"] == "HT-0042"
    assert correction["method"] in ("PATCH", "POST", "PUT")


def test_it_shows_an_approved_submission_read_only(client, made, engine, personas):
    sub = _submit(engine, made, personas["eddy"])
    with Session(engine) as session:
        service.review_submissions(session=session, submissions=[session.get(Submission, sub.id)],
                                   status=SubmissionStatus.approved, comment="", actor=personas["sonia"])
        session.commit()
    login(client, "eddy")
    page = client.get(f"/collect/submissions/{sub.id}")
    assert page.status_code == 200
    assert _data(page.text)["correction"]["editable"] is False
    assert "can no longer be corrected" in page.text


def test_it_serves_the_service_worker_publicly_and_uncached(client):
    r = client.get("/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["service-worker-allowed"] == "/collect"
    assert "self.addEventListener('fetch'" in r.text


def test_it_serves_an_installable_manifest(client):
    r = client.get("/static/manifest.webmanifest")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/manifest+json")
    manifest = r.json()
    assert manifest["start_url"] == "/collect" and manifest["scope"] == "/collect"
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes


def test_it_precaches_what_the_form_loads(client, made, personas):
    """Every script and stylesheet of the form page is in the service worker's precache list."""
    login(client, "eddy")
    html = client.get(f"/collect/{made.id}/{made.baseline.id}").text
    assets = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    sw = client.get("/sw.js").text
    missing = sorted(a for a in assets if f"'{a}'" not in sw)
    assert not missing, f"not precached by sw.js: {missing}"


def test_it_shows_the_latest_submissions_and_fetches_older_ones_with_more(client, made, engine, personas):
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(type(made.survey), made.id)
        for i in range(45):
            service.submit(session=session, survey=survey, wave=made.waves["baseline"],
                           payload=make_payload(wave="baseline", respondent_code=f"R{i:03d}"), enumerator=personas["eddy"],
                           audit=False)
        session.commit()
    login(client, "eddy")
    html = client.get("/collect").text
    assert html.count('class="submission-row"') == 20
    assert "Received: 45" in html
    assert 'hx-get="/collect/submissions?offset=20"' in html and "More (25 older)" in html
    more = client.get("/collect/submissions?offset=20", headers={"HX-Request": "true"}).text
    assert more.count('class="submission-row"') == 20 and "<html" not in more and "More (5 older)" in more
    last = client.get("/collect/submissions?offset=40", headers={"HX-Request": "true"}).text
    assert last.count('class="submission-row"') == 5 and "more-submissions" not in last
    # without JavaScript the link opens the page with the older ones
    assert client.get("/collect?offset=40").text.count('class="submission-row"') == 5
    assert client.get("/collect/submissions?offset=-1").status_code == 422


def test_an_unfinished_interview_of_a_wave_that_just_ended_can_still_be_finished(client, made, engine, personas):
    from datetime import timedelta

    from surveys.frame_service import field_date

    with Session(engine) as session:
        wave = session.get(type(made.baseline), made.baseline.id)
        wave.ends_on = field_date() - timedelta(days=1)
        session.add(wave)
        session.commit()
    login(client, "eddy")
    assert client.get(f"/collect/{made.id}/{made.baseline.id}").status_code == 410
    r = client.get(f"/collect/{made.id}/{made.baseline.id}?draft=abc")
    assert r.status_code == 200 and 'id="wave-ended"' in r.text and "marked as late" in r.text
