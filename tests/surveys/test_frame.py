"""Sampling frames: the pure rules (reading a frame table, checking an interview), and what a frame
does to submissions: flagged, never refused or dropped (phones, the API, Kobo/ODK imports), left
out of the analysis until a supervisor corrects or approves them, and counted on the report."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from surveys import frame_service, import_jobs, service
from surveys.analysis_service import get_report
from surveys.frame import Frame, Unit, parse_table, parse_text
from surveys.models import SamplingUnit, Submission, SubmissionStatus, Survey, Wave
from tests.surveys.factories import make_demo_survey, make_payload, make_survey
from tests.surveys.test_imports import kobo_csv, kobo_row

FRAME = [Unit("urban", "Cité Soleil"), Unit("urban", "Delmas"), Unit("rural", "Gonaïves", 2.5)]


# --- pure rules ------------------------------------------------------------------------------------


def test_it_reads_a_frame_table_with_its_header_in_any_order():
    table = parse_table([["PSU", "Weight", "Stratum"], ["Delmas", "", "urban"], [], ["Gonaïves", "2,5", "rural"]])
    assert table.ok
    assert table.units == [Unit("urban", "Delmas"), Unit("rural", "Gonaïves", 2.5)]
    assert [r.line for r in table.rows] == [2, 4]


def test_it_refuses_the_whole_table_for_one_bad_row_and_names_each_line():
    table = parse_table([["stratum", "cluster", "weight"], ["urban", "Delmas", "1"], ["urban", "Delmas", ""],
                         ["rural", "Gonaïves", "-2"], ["", "", "3"], ["rural", "Hinche", "abc"]])
    assert not table.ok and table.units == []
    assert table.problems == ["Line 3: repeats line 2.", "Line 4: weight '-2' must be a number above 0.",
                              "Line 5: a row needs a stratum or a cluster.", "Line 6: weight 'abc' is not a number."]
    assert [r.problem == "" for r in table.rows] == [True, False, False, False, False]


def test_it_says_what_is_missing_from_a_header():
    assert parse_table([["region", "commune"], ["Ouest", "Delmas"]]).problems[0].startswith(
        "Line 1: the header names neither a stratum nor a cluster column")
    assert "empty" in parse_table([]).problems[0]


def test_it_reads_a_frame_typed_one_unit_a_line():
    table = parse_text("urban, Delmas\nrural, Gonaïves, 2\n")
    assert table.ok and table.units == [Unit("urban", "Delmas"), Unit("rural", "Gonaïves", 2.0)]
    assert parse_text("stratum;cluster\nurban;Delmas").units == [Unit("urban", "Delmas")]


def test_it_names_the_value_outside_the_frame():
    frame = Frame(FRAME)
    assert frame.problems("urban", "Delmas", 1.0) == []
    assert frame.problems("urban", "Hinche", 1.0)[0].message == "Cluster 'Hinche' is not in the sampling frame of stratum 'urban'."
    assert frame.problems("coastal", "Delmas", 1.0)[0].field == "stratum"
    assert frame.problems("urban", "", 1.0)[0].field == "cluster"
    assert frame.problems("rural", "Gonaïves", 1.0)[0].message == (
        "Weight 1 differs from the sampling frame's 2.5 for cluster 'Gonaïves' of stratum 'rural'.")
    assert Frame([]).problems("anything", "at all", 3.0) == []  # no frame: nothing to check


def test_it_fills_what_the_frame_leaves_no_doubt_about():
    frame = Frame(FRAME + [Unit("rural", "Delmas")])
    assert frame.completion("", "Gonaïves", weight_given=False) == {"stratum": "rural", "weight": 2.5}
    assert frame.completion("", "Delmas", weight_given=False) == {}  # in two strata: no guess
    assert frame.completion("rural", "Gonaïves", weight_given=True) == {}


# --- submissions -------------------------------------------------------------------------------------


@pytest.fixture
def kap(engine, personas):
    made = make_survey(engine, actor=personas["leo"])
    with Session(engine) as session:
        frame_service.replace_frame(session=session, wave=session.get(Wave, made.baseline.id), units=FRAME,
                                    actor=personas["sonia"])
        session.commit()
    return made


def _submit(engine, kap, source="api", **design):
    with Session(engine, expire_on_commit=False) as session:
        sub, _ = service.submit(session=session, survey=session.get(Survey, kap.survey.id),
                                wave=session.get(Wave, kap.baseline.id), payload=make_payload(**design),
                                enumerator=None, source=source)
        session.commit()
        return sub


def _codes(sub) -> list[str]:
    return [f["code"] for f in sub.flags]


def test_it_flags_a_submission_outside_the_frame_and_keeps_it(engine, kap):
    inside = _submit(engine, kap, cluster="Delmas", stratum="urban", weight=1.0)
    outside = _submit(engine, kap, cluster="Hinche", stratum="urban")
    assert "out_of_frame" not in _codes(inside)
    flag = next(f for f in outside.flags if f["code"] == "out_of_frame")
    assert flag["field"] == "cluster" and "Cluster 'Hinche' is not in the sampling frame" in flag["message"]


def test_it_fills_the_frame_weight_and_stratum_and_recognises_the_resend(engine, kap):
    payload = make_payload(cluster="Gonaïves", stratum="")
    del payload["weight"]
    with Session(engine, expire_on_commit=False) as session:
        survey, wave = session.get(Survey, kap.survey.id), session.get(Wave, kap.baseline.id)
        sub, created = service.submit(session=session, survey=survey, wave=wave, payload=payload, enumerator=None,
                                      source="api")
        again, created_again = service.submit(session=session, survey=survey, wave=wave, payload=payload,
                                              enumerator=None, source="api")
        session.commit()
    assert created and not created_again and again.id == sub.id
    assert (sub.stratum, sub.weight) == ("rural", 2.5) and "out_of_frame" not in _codes(sub)


def test_a_wave_without_a_frame_takes_any_design_value(engine, kap):
    with Session(engine, expire_on_commit=False) as session:
        sub, _ = service.submit(session=session, survey=session.get(Survey, kap.survey.id),
                                wave=session.get(Wave, kap.waves["endline"].id),
                                payload=make_payload(wave="endline", cluster="Anywhere"), enumerator=None, source="api")
    assert "out_of_frame" not in _codes(sub)


def test_imported_rows_outside_the_frame_are_flagged_not_dropped(engine, kap):
    rows = [kobo_row(cluster="Delmas", stratum="urban", weight="1"), kobo_row(cluster="Nowhere", stratum="urban"),
            kobo_row(cluster="Delmas", stratum="coastal")]
    report = import_jobs.store_file(engine=engine, survey_id=kap.id, source=kobo_csv(rows), filename="kobo.csv",
                                    wave="baseline")
    assert report.created == 3 and report.bad == 0
    with Session(engine) as session:
        flagged = {s.cluster + "/" + s.stratum: [f.get("field") for f in s.flags if f["code"] == "out_of_frame"]
                   for s in session.exec(select(Submission))}
    assert flagged == {"Delmas/urban": [], "Nowhere/urban": ["cluster"], "Delmas/coastal": ["stratum"]}


def test_a_new_frame_reflags_the_wave(engine, kap):
    sub = _submit(engine, kap, cluster="Hinche", stratum="urban")
    with Session(engine) as session:
        wave = session.get(Wave, kap.baseline.id)
        assert frame_service.replace_frame(session=session, wave=wave, units=FRAME + [Unit("urban", "Hinche")],
                                           actor=None) == 1
        session.commit()
        assert "out_of_frame" not in _codes(session.get(Submission, sub.id))
        frame_service.replace_frame(session=session, wave=wave, units=[], actor=None)  # no frame at all
        session.commit()
        assert session.exec(select(SamplingUnit)).all() == []


def test_a_late_interview_is_accepted_and_flagged(engine, kap):
    with Session(engine) as session:
        wave = session.get(Wave, kap.baseline.id)
        wave.ends_on = date(2026, 11, 1)  # make_payload's interview ends on 2 November
        session.add(wave)
        session.commit()
    sub = _submit(engine, kap, cluster="Delmas", stratum="urban", weight=1.0)
    assert _codes(sub) == ["after_wave_end"]


# --- the analysis -----------------------------------------------------------------------------------


@pytest.fixture
def demo(engine):
    """The demo survey (120 interviews a wave), with a frame on baseline that misses the cluster Delmas."""
    from surveys.demo import REGIONS

    made = make_demo_survey(engine, per_wave=120, seed=7)
    units = [Unit(stratum, c) for stratum, communes, _ in REGIONS.values() for c in communes if c != "Delmas"]
    with Session(engine) as session:
        frame_service.replace_frame(session=session, wave=session.get(Wave, made.baseline.id), units=units, actor=None)
        session.commit()
    return made


def test_the_analysis_leaves_out_what_waits_for_a_supervisor_and_says_so(engine, demo, personas):
    with Session(engine) as session:
        delmas = session.exec(select(Submission).where(Submission.wave_id == demo.baseline.id,
                                                       Submission.cluster == "Delmas")).all()
        assert delmas and all("out_of_frame" in _codes(s) for s in delmas)
        report = get_report(session=session, survey_id=demo.id, baseline="baseline", endline="endline")
        n = len(delmas)
        assert report["design"]["respondents"]["baseline"] == 120 - n
        assert report["waiting"]["count"] == n
        assert report["waiting"]["messages"] == [
            f"{n} interviews wait for a supervisor: their cluster is not in the sampling frame"]
        session.commit()
        # the supervisor approves one as it is and puts another right: both count again
        service.review_submissions(session=session, submissions=[delmas[0]], status="approved", comment="",
                                   actor=personas["sonia"])
        assert _codes(delmas[0]).count("frame_accepted") == 1
        fixed = frame_service.correct_design(session=session, submission=delmas[1], stratum="", cluster="Carrefour",
                                             actor=personas["sonia"])
        assert (fixed.stratum, fixed.cluster, fixed.revision) == ("urban", "Carrefour", 2)
        assert not [f for f in fixed.flags if f["code"] in ("out_of_frame", "frame_accepted")]
        session.commit()
        report = get_report(session=session, survey_id=demo.id, baseline="baseline", endline="endline")
    assert report["design"]["respondents"]["baseline"] == 120 - n + 2
    assert report["waiting"]["count"] == n - 2


def test_a_supervisor_cannot_correct_to_a_value_outside_the_frame(engine, demo, personas):
    with Session(engine) as session:
        sub = session.exec(select(Submission).where(Submission.cluster == "Delmas",
                                                    Submission.wave_id == demo.baseline.id)).first()
        with pytest.raises(service.SurveyError, match="Cluster 'Delmas' is not in the sampling frame"):
            frame_service.correct_design(session=session, submission=sub, stratum="urban", cluster="Delmas",
                                         actor=personas["sonia"])
    assert sub.status == SubmissionStatus.received


def test_a_kobo_push_outside_the_frame_is_stored_and_flagged(engine, kap):
    from tests.surveys.test_kobo_push import kobo_json

    push = dict(kobo_json(), cluster="Nowhere", stratum="urban")
    with Session(engine, expire_on_commit=False) as session:
        sub, created = import_jobs.receive_kobo(session=session, survey=session.get(Survey, kap.survey.id),
                                                payload=push, wave="baseline", actor=None)
        session.commit()
    assert created and sub.source == "kobo"
    assert [f.get("field") for f in sub.flags if f["code"] == "out_of_frame"] == ["cluster"]


def test_the_report_page_says_in_plain_words_what_waits_for_a_supervisor(client, engine, demo, personas):
    from tests.factories import login

    login(client, "leo")
    page = client.get(f"/analysis/{demo.id}", params={"baseline": "baseline", "endline": "endline"}).text
    assert 'id="waiting-for-supervisor"' in page
    assert "interviews wait for a supervisor: their cluster is not in the sampling frame" in page
    assert f'href="/review?survey={demo.id}&amp;flag=out_of_frame"' in page
    assert "np.int64" not in page and "out_of_frame</" not in page
