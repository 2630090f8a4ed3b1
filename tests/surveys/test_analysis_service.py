"""The KAP-shift report from the database: scoring on demand, caching, scope, the API, the page, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, col, select

from surveys import service
from surveys.analysis import AnalysisData, analyse
from surveys.analysis_service import AnalysisRequestError, current_key, get_report, refresh_scores
from surveys.demo import demo_spec, generate_payloads
from surveys.models import AnalysisCache, Submission, SubmissionScore, SubmissionStatus, WaveDesign
from surveys.scoring import score_many
from web.accounts.models import utcnow
from tests.factories import bearer, login
from tests.surveys.factories import make_demo_survey, make_survey

PER_WAVE = 120


@pytest.fixture
def kap(engine):
    """The demo instrument with PER_WAVE synthetic interviews in each of baseline and endline."""
    return make_demo_survey(engine, per_wave=PER_WAVE, seed=7)


def test_it_scores_every_submission_once(engine, kap):
    with Session(engine) as session:
        assert refresh_scores(session=session, survey_id=kap.id) == 2 * PER_WAVE
        session.commit()
        assert refresh_scores(session=session, survey_id=kap.id) == 0
        assert len(session.exec(select(SubmissionScore)).all()) == 2 * PER_WAVE


def test_it_builds_the_report_with_every_section(engine, kap):
    with Session(engine) as session:
        report = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline", by="segment")
    assert report["survey_id"] == kap.id and report["baseline"] == "baseline" and report["endline"] == "endline"
    assert report["design"]["type"] == "independent" and report["design"]["clustered"] and report["design"]["weighted"]
    codes = [e["code"] for e in report["items"]]
    assert "k_law" in codes and "a_report_duty" in codes and "p_talked" in codes and "e_radio" not in codes
    assert [d["code"] for d in report["domains"]] == ["knowledge", "attitude", "practice"]
    knowledge = report["domains"][0]
    assert knowledge["ok"] and knowledge["difference"] > 0  # the demo builds a real shift in
    assert knowledge["sentence"].startswith("Knowledge score rose from")
    assert report["groups"] and all(g["by"] == "segment" for g in report["groups"])
    assert "did" in report and "exposure" in report
    json.dumps(report)  # JSON-ready, no NaN
    assert "NaN" not in json.dumps(report)


def test_it_returns_the_cached_report_until_something_changes(engine, kap):
    with Session(engine) as session:
        first = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline")
        session.commit()
        again = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline")
        assert again == first
        session.commit()
        assert len(session.exec(select(AnalysisCache)).all()) == 1
        # a new interview changes the fingerprint: the report is computed again
        payload = next(generate_payloads(n=1, wave="endline", seed=99))
        service.submit(session=session, survey=kap.survey, wave=kap.endline, payload=payload, enumerator=None, source="api")
        session.commit()
        fresh = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline")
    assert fresh["design"]["respondents"]["endline"] == PER_WAVE + 1


def test_it_uses_only_approved_submissions_when_the_survey_says_so(engine, kap):
    with Session(engine) as session:
        survey = service.get_survey(session=session, survey_id=kap.id)
        survey.analysis_scope = "approved"
        session.add(survey)
        subs = session.exec(select(Submission).where(Submission.wave_id == kap.baseline.id)).all()[:30]
        session.execute(Submission.__table__.update().where(Submission.id.in_([s.id for s in subs]))
                        .values(status=SubmissionStatus.approved.value))
        session.commit()
        report = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline")
    assert report["design"]["respondents"] == {"baseline": 30, "endline": 0}
    assert all(not e["ok"] for e in report["items"])


def _read_plainly(session: Session, kap, by: str | None, panel: bool = False) -> dict:
    """The report from the submissions read through the ORM and scored afresh: what the
    report's fast loader must reproduce."""
    survey = service.get_survey(session=session, survey_id=kap.id)
    subs = session.exec(select(Submission).where(
        Submission.survey_id == kap.id, col(Submission.wave_id).in_([kap.baseline.id, kap.endline.id]),
        col(Submission.status).in_(service.analysis_statuses(survey))).order_by(Submission.id)).all()
    key = current_key(session=session, survey_id=kap.id).key

    def labels(field):
        return np.array([getattr(s, field) for s in subs], dtype=object)

    groups = {}
    if by is not None:
        groups[by] = (labels(by) if hasattr(Submission, by) else
                      np.array(["" if s.answers.get(by) is None else str(s.answers[by]) for s in subs], dtype=object))
    data = AnalysisData(key=key, wave=np.array([s.wave_id == kap.endline.id for s in subs], dtype=np.int8),
                        scores=score_many(key, [s.answers for s in subs]), weights=labels("weight").astype(float),
                        clusters=labels("cluster"), strata=labels("stratum"), respondent=labels("respondent_code"),
                        arm=labels("arm"), groups=groups, panel=panel)
    return analyse(data, by=by)


def _same_numbers(fast, plain, path="report"):
    """Every number of ``plain`` is in ``fast`` (up to summation order), every string equal."""
    if isinstance(plain, dict):
        for k, v in plain.items():
            _same_numbers(fast[k], v, f"{path}.{k}")
    elif isinstance(plain, list):
        assert len(fast) == len(plain), path
        for i, (x, y) in enumerate(zip(fast, plain)):
            _same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(plain, float):
        assert fast == pytest.approx(plain, rel=1e-9, abs=1e-12), path
    else:
        assert fast == plain, path


@pytest.mark.parametrize("by", ["segment", "education", None])
def test_it_reads_the_database_as_the_orm_does(engine, kap, by):
    with Session(engine) as session:
        report = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline", by=by)
        _same_numbers(report, _read_plainly(session, kap, by))
    assert report["design"]["clustered"] and report["design"]["stratified"] and "did" in report


def test_it_reads_labels_that_hold_its_own_separator(engine, kap):
    with Session(engine) as session:
        first = session.exec(select(Submission).where(Submission.wave_id == kap.baseline.id)).first()
        session.execute(Submission.__table__.update().where(Submission.cluster == first.cluster)
                        .values(cluster=first.cluster + "\x1fbis"))
        session.commit()
        report = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline", by="region")
        _same_numbers(report, _read_plainly(session, kap, "region"))


def test_it_rescores_corrected_submissions_before_reading_them(engine, kap):
    with Session(engine) as session:
        get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline")
        session.commit()
        # three endline respondents now know nothing: their stored scores are stale
        subs = session.exec(select(Submission).where(Submission.wave_id == kap.endline.id)
                            .order_by(Submission.id)).all()[:3]
        for sub in subs:
            sub.answers = {k: ("no" if k.startswith("k_") else v) for k, v in sub.answers.items()}
            sub.updated_at = utcnow()
            session.add(sub)
        session.commit()
        report = get_report(session=session, survey_id=kap.id, baseline="baseline", endline="endline", by="sex")
        _same_numbers(report, _read_plainly(session, kap, "sex"))
        assert refresh_scores(session=session, survey_id=kap.id) == 0


def test_it_reads_a_panel_by_respondent_code(engine):
    made = make_survey(engine, spec=demo_spec())
    with Session(engine, expire_on_commit=False) as session:
        for name, wave in made.waves.items():
            wave.design = WaveDesign.panel
            session.add(wave)
            for payload in generate_payloads(n=60, wave=name, seed=3, panel_codes=True):
                service.submit(session=session, survey=made.survey, wave=wave, payload=payload, enumerator=None,
                               source="api", audit=False)
        session.commit()
        report = get_report(session=session, survey_id=made.id, baseline="baseline", endline="endline", by="region")
        assert report["design"]["type"] == "panel" and report["design"]["matched"] > 0
        _same_numbers(report, _read_plainly(session, made, "region", panel=True))


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"baseline": "nope", "endline": "endline"}, "baseline"),
    ({"baseline": "baseline", "endline": "baseline"}, "endline"),
    ({"baseline": "baseline", "endline": "endline", "by": "religion"}, "by"),
    ({"baseline": "baseline", "endline": "endline", "correction": "bonferroni"}, "correction"),
])
def test_it_names_the_parameter_at_fault(engine, kap, kwargs, field):
    with Session(engine) as session, pytest.raises(AnalysisRequestError) as err:
        get_report(session=session, survey_id=kap.id, **kwargs)
    assert err.value.field == field


def test_it_serves_the_report_over_the_api(client, personas, kap):
    headers = bearer(client, "leo")
    r = client.get(f"/api/v1/surveys/{kap.id}/analysis", params={"baseline": "baseline", "endline": "endline",
                                                                  "by": "region", "correction": "bh"}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["correction"] == "bh" and {g["by"] for g in body["groups"]} == {"region"}
    assert set(body["items"][0]) >= {"code", "domain", "measure", "baseline", "endline", "difference", "diff_ci_low",
                                     "diff_ci_high", "test", "statistic", "df", "p_value", "p_adjusted", "effect_size",
                                     "effect_size_name", "design_effect"}
    bad = client.get(f"/api/v1/surveys/{kap.id}/analysis", params={"baseline": "x", "endline": "endline"}, headers=headers)
    assert bad.status_code == 422 and "baseline" in bad.json()["detail"]
    assert client.get("/api/v1/surveys/999/analysis", params={"baseline": "a", "endline": "b"}, headers=headers).status_code == 404
    enumerator = bearer(client, "eddy")
    assert client.get(f"/api/v1/surveys/{kap.id}/analysis", params={"baseline": "baseline", "endline": "endline"},
                      headers=enumerator).status_code == 403


def test_it_shows_the_report_page_with_sentences(client, personas, kap):
    login(client, "leo")
    page = client.get(f"/analysis/{kap.id}", params={"by": "segment"})
    assert page.status_code == 200
    assert "Knowledge score rose from" in page.text and "Difference in differences" in page.text
    fragment = client.get(f"/analysis/{kap.id}", params={"by": "sex"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="report"' in fragment.text
    assert "Analysis" in client.get("/analysis").text


def test_it_computes_sample_sizes_over_the_api_and_the_page(client, personas):
    headers = bearer(client, "leo")
    # FANTA worked example: 0.40 -> 0.30, one-sided alpha 0.05, power 0.80, D = 2 -> 556.43 with exact z
    r = client.post("/api/v1/power", json={"p1": 0.4, "p2": 0.3, "sided": 1, "design_effect": 2}, headers=headers)
    assert r.status_code == 200 and r.json()["n"] == 557
    r = client.post("/api/v1/power", json={"p1": 0.4, "n": 600, "design_effect": 2}, headers=headers)
    assert r.json()["kind"] == "detectable_change" and 0.4 < r.json()["p2"] < 0.6
    assert client.post("/api/v1/power", json={"p1": 1.5, "p2": 0.3}, headers=headers).status_code == 422
    login(client, "leo")
    page = client.get("/power", params={"p1": 0.4, "p2": 0.3, "sided": 1, "design_effect": 2, "nonresponse": 0.1})
    assert "respondents per wave" in page.text and "557" in page.text
    assert "less than 1" in client.get("/power", params={"p1": 1.4, "p2": 0.3}).text


@pytest.mark.skipif(bool(os.environ.get("KONBIT_TEST_DATABASE_URL")), reason="CLI runs are checked on SQLite")
def test_it_analyzes_from_the_command_line(kap, settings, database_url, tmp_path):
    env = {**os.environ, "KONBIT_DATABASE_URL": database_url, "KONBIT_DATA_DIR": str(tmp_path)}
    konbit = str(Path(sys.executable).with_name("konbit"))
    out = subprocess.run([konbit, "analyze", str(kap.id), "--baseline", "baseline", "--endline", "endline", "--by", "sex"],
                         capture_output=True, text=True, env=env, check=True)
    report = json.loads(out.stdout)
    assert report["survey_id"] == kap.id and {g["value"] for g in report["groups"]} == {"female", "male"}
    out = subprocess.run([konbit, "analyze", str(kap.id), "--baseline", "baseline", "--endline", "endline", "--format", "csv"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.splitlines()[0].startswith("group_by,group,section,code")
    bad = subprocess.run([konbit, "analyze", str(kap.id), "--baseline", "nope", "--endline", "endline"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "baseline" in bad.stderr
    out = subprocess.run([konbit, "analyze", str(kap.id), "--baseline", "baseline", "--endline", "endline",
                          "--lonely-psu", "average"], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout)["design"]["lonely_psu"]["option"] == "average"
    bad = subprocess.run([konbit, "analyze", str(kap.id), "--baseline", "baseline", "--endline", "endline",
                          "--lonely-psu", "drop"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "lonely_psu" in bad.stderr
    power = subprocess.run([konbit, "power", "--p1", "0.4", "--p2", "0.3", "--sided", "1", "--design-effect", "2"],
                           capture_output=True, text=True, env=env, check=True)
    assert power.stdout.startswith("557 respondents per wave")
