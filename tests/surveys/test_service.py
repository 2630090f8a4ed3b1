"""surveys.service against a real database: surveys, versions, waves, submit, corrections, audit."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sqlmodel import Session, func, select

from surveys import service
from surveys.models import (
    AnalysisScope,
    InstrumentVersion,
    Submission,
    SubmissionConflict,
    SubmissionCorrection,
    SubmissionRevision,
    SubmissionStatus,
    Survey,
    SurveyUpdate,
    Wave,
    WaveCreate,
    WaveKind,
    WaveUpdate,
)
from surveys.xlsform import XLSFormError
from tests.surveys.factories import ATTITUDE_CODES, make_answers, make_kap_spec, make_payload, make_survey, make_xlsform
from web.accounts.models import AuditEvent


def _count(session: Session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _actions(session: Session) -> list[str]:
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def _submit(session, kap, payload, user=None, wave=None, **kwargs):
    survey = session.get(Survey, kap.id)
    return service.submit(session=session, survey=survey, wave=session.get(Wave, (wave or kap.baseline).id),
                          payload=payload, enumerator=user, **kwargs)


# --- surveys, versions, waves -------------------------------------------------------------------


def test_it_creates_a_survey_with_version_one_and_audits_it(session, personas):
    survey = service.create_survey_from_xlsform(session=session, data=make_xlsform(), actor=personas["leo"],
                                                title="Baseline TIP 2026")
    session.commit()
    version = service.latest_version(session=session, survey=survey)
    assert (survey.title, version.version) == ("Baseline TIP 2026", 1)
    assert service.version_spec(version) == make_kap_spec(title="Baseline TIP 2026")
    assert "survey.create" in _actions(session)


def test_it_stores_nothing_from_a_broken_xlsform(session, personas):
    with pytest.raises(XLSFormError) as caught:
        service.create_survey_from_xlsform(session=session, data=b"not a workbook", actor=personas["leo"])
    assert caught.value.errors
    session.rollback()
    assert _count(session, Survey) == 0 and _count(session, InstrumentVersion) == 0


def test_it_refuses_a_json_spec_with_problems(session, personas):
    from surveys.spec import spec_to_dict  # noqa: PLC0415

    data = spec_to_dict(make_kap_spec())
    data["sections"][1]["items"][0]["relevant"] = "${ghost} = 1"
    with pytest.raises(service.SpecInvalid, match="unknown field"):
        service.create_survey_from_dict(session=session, spec_dict=data, actor=personas["leo"])
    with pytest.raises(service.SpecInvalid):
        service.create_survey_from_dict(session=session, spec_dict={"title": 3}, actor=personas["leo"])


def test_new_versions_count_up_and_old_ones_never_change(session, kap, personas):
    survey = session.get(Survey, kap.id)
    sub, _ = _submit(session, kap, make_payload())
    before = dict(session.get(InstrumentVersion, kap.version.id).spec)
    v2 = service.add_version(session=session, survey=survey, spec=make_kap_spec(title="KAP v2"), actor=personas["leo"],
                             note="reworded k_law")
    session.commit()
    assert v2.version == 2 and service.latest_version(session=session, survey=survey).id == v2.id
    assert session.get(InstrumentVersion, kap.version.id).spec == before
    assert session.get(Submission, sub.id).instrument_version_id == kap.version.id
    assert service.submission_counts_by_version(session=session, survey=survey) == {kap.version.id: 1}
    new, _ = _submit(session, kap, make_payload())
    assert new.instrument_version_id == v2.id
    old, _ = _submit(session, kap, make_payload(version=1))
    assert old.instrument_version_id == kap.version.id


def test_it_exports_any_version_as_an_xlsform(session, kap):
    from surveys.xlsform import read_xlsform  # noqa: PLC0415

    assert read_xlsform(service.version_xlsform(kap.version)) == make_kap_spec()


def test_it_updates_settings_and_audits_only_real_changes(session, kap, personas):
    survey = session.get(Survey, kap.id)
    service.update_survey(session=session, survey=survey, actor=personas["leo"], survey_update=SurveyUpdate(
        analysis_scope=AnalysisScope.approved, dont_know_threshold=0.5, min_seconds_per_answer=6))
    service.update_survey(session=session, survey=survey, actor=personas["leo"],
                          survey_update=SurveyUpdate(dont_know_threshold=0.5))
    session.commit()
    assert (survey.analysis_scope, survey.dont_know_threshold, survey.min_seconds_per_answer) == (AnalysisScope.approved, 0.5, 6)
    assert _actions(session).count("survey.update") == 1
    assert service.analysis_statuses(survey) == (SubmissionStatus.approved,)


def test_waves_are_created_changed_and_deleted_only_while_empty(session, kap, personas):
    survey = session.get(Survey, kap.id)
    midline = service.create_wave(session=session, survey=survey, actor=personas["leo"],
                                  wave_create=WaveCreate(name="midline", kind=WaveKind.midline))
    with pytest.raises(service.SurveyError, match="already has a wave named"):
        service.create_wave(session=session, survey=survey, actor=None, wave_create=WaveCreate(name="Midline", kind="midline"))
    service.update_wave(session=session, wave=midline, wave_update=WaveUpdate(is_open=False, notes="paused"),
                        actor=personas["leo"])
    assert (midline.is_open, midline.notes) == (False, "paused")
    service.delete_wave(session=session, wave=midline, actor=personas["leo"])
    _submit(session, kap, make_payload())
    with pytest.raises(service.SurveyError, match="has 1 submissions"):
        service.delete_wave(session=session, wave=session.get(Wave, kap.baseline.id), actor=None)
    with pytest.raises(service.SurveyError, match="has 1 submissions"):
        service.delete_survey(session=session, survey=survey, actor=None)
    session.commit()
    assert {"wave.create", "wave.update", "wave.delete"} <= set(_actions(session))
    assert service.get_wave(session=session, survey=survey, wave="BASELINE").id == kap.baseline.id
    assert service.get_wave(session=session, survey=survey, wave=kap.endline.id).name == "endline"


def test_it_deletes_a_survey_without_submissions(session, kap, personas):
    service.delete_survey(session=session, survey=session.get(Survey, kap.id), actor=personas["leo"])
    session.commit()
    assert _count(session, Survey) == 0 and _count(session, Wave) == 0 and _count(session, InstrumentVersion) == 0


# --- submit ---------------------------------------------------------------------------------------


def test_it_stores_a_submission_with_canonical_answers(session, kap, personas):
    payload = make_payload(answers=make_answers(age="34", k_signs="debt job_offer"))
    sub, created = _submit(session, kap, payload, personas["eddy"])
    session.commit()
    assert created and sub.id and sub.status == SubmissionStatus.received
    assert sub.answers["age"] == 34 and sub.answers["k_signs"] == ["job_offer", "debt"]
    assert (sub.enumerator_id, sub.enumerator_name, sub.source) == (personas["eddy"].id, "eddy", "web")
    assert (sub.segment, sub.weight, sub.arm) == ("general_public", 1.5, "intervention")
    assert sub.flags == [] and len(sub.content_hash) == 64
    assert "submission.create" in _actions(session)


def test_the_same_uuid_and_content_returns_the_stored_submission(session, kap):
    payload = make_payload()
    first, created = _submit(session, kap, payload)
    again, created_again = _submit(session, kap, dict(payload, answers=dict(reversed(list(payload["answers"].items())))))
    session.commit()
    assert created and not created_again and again.id == first.id
    assert _count(session, Submission) == 1


def test_the_same_uuid_with_other_content_is_kept_aside_as_a_conflict(session, kap, personas):
    payload = make_payload()
    first, _ = _submit(session, kap, payload, personas["eddy"])
    changed = dict(payload, answers=make_answers(age=40))
    with pytest.raises(service.SubmissionConflictError) as caught:
        _submit(session, kap, changed, personas["eddy"])
    session.commit()
    assert caught.value.existing.id == first.id and "different answers" in caught.value.message
    conflict = session.get(SubmissionConflict, caught.value.conflict.id)
    assert conflict.payload["answers"]["age"] == 40 and not conflict.resolved
    with pytest.raises(service.SubmissionConflictError):  # the phone retries: still one conflict row
        _submit(session, kap, changed, personas["eddy"])
    session.commit()
    assert _count(session, SubmissionConflict) == 1 and _count(session, Submission) == 1
    assert session.get(Submission, first.id).answers["age"] == 34


def test_an_invalid_submission_stores_nothing_and_names_the_items(session, kap):
    with pytest.raises(service.SubmissionInvalid) as caught:
        _submit(session, kap, make_payload(answers=make_answers(age=150, k_law="perhaps")))
    assert {p.code for p in caught.value.problems} == {"age", "k_law"}
    with pytest.raises(service.SubmissionInvalid) as caught:
        _submit(session, kap, make_payload(weight=0, arm="control", uuid="has space"))
    assert {p.code for p in caught.value.problems} == {"weight", "arm", "uuid"}
    session.rollback()
    assert _count(session, Submission) == 0


def test_a_closed_wave_refuses_new_interviews_but_accepts_imports_and_resends(session, kap):
    payload = make_payload()
    _submit(session, kap, payload)
    wave = session.get(Wave, kap.baseline.id)
    wave.is_open = False
    session.add(wave)
    with pytest.raises(service.WaveClosed, match="closed"):
        _submit(session, kap, make_payload())
    assert _submit(session, kap, payload)[1] is False
    assert _submit(session, kap, make_payload(), source="import")[1] is True


def test_imports_keep_answers_outside_a_constraint_with_a_flag(session, kap):
    sub, _ = _submit(session, kap, make_payload(answers=make_answers(age=12), enumerator_name="jean"), source="import")
    assert sub.answers["age"] == 12 and sub.enumerator_name == "jean"
    assert [f["code"] for f in sub.flags] == ["outside_constraint"]
    with pytest.raises(service.SubmissionInvalid):
        _submit(session, kap, make_payload(answers=make_answers(age=12)), source="api")


def test_it_computes_quality_flags_on_arrival(session, kap):
    sub, _ = _submit(session, kap, make_payload(minutes=1, answers=make_answers(**{c: "2" for c in ATTITUDE_CODES})))
    assert [f["code"] for f in sub.flags] == ["too_short", "straight_lining"]


def test_it_respects_the_surveys_own_thresholds(session, kap):
    survey = session.get(Survey, kap.id)
    survey.min_seconds_per_answer = 0.5
    session.add(survey)
    sub, _ = _submit(session, kap, make_payload(minutes=1))
    assert sub.flags == []


def test_a_repeated_panel_code_flags_every_submission_carrying_it(session, kap, personas):
    one, _ = _submit(session, kap, make_payload(respondent_code="HT-0001"))
    other_wave, _ = _submit(session, kap, make_payload(wave="endline", respondent_code="HT-0001"), wave=kap.endline)
    assert one.flags == [] and other_wave.flags == []
    two, _ = _submit(session, kap, make_payload(respondent_code="HT-0001"))
    session.commit()
    for sub in (one, two):
        session.refresh(sub)
        assert [f["code"] for f in sub.flags] == ["panel_repeat"]
    session.refresh(other_wave)
    assert other_wave.flags == []
    service.review_submissions(session=session, submissions=[two], status="rejected", comment="duplicate interview",
                               actor=personas["sonia"])
    session.commit()
    session.refresh(one)
    assert one.flags == []


def test_concurrent_submissions_of_one_uuid_store_exactly_one_row(engine, kap):
    payload = make_payload()
    barrier = threading.Barrier(6)
    results: list = []

    def send() -> None:
        with Session(engine, expire_on_commit=False) as s:
            survey, wave = s.get(Survey, kap.id), s.get(Wave, kap.baseline.id)
            barrier.wait()
            try:
                _, created = service.submit(session=s, survey=survey, wave=wave, payload=payload, enumerator=None)
                s.commit()
                results.append(created)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                results.append(repr(exc))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [False] * 5 + [True]
    with Session(engine) as s:
        assert _count(s, Submission, Submission.uuid == payload["uuid"]) == 1


def test_a_resend_collected_with_an_older_version_is_still_the_same_submission(session, kap, personas):
    """The insert comes first and does nothing for a stored uuid; the stored row is then compared
    under the version it was collected with, even when the resend is invalid under the latest."""
    payload = make_payload()
    first, _ = _submit(session, kap, payload)
    v1 = make_kap_spec()
    age_dropped = dataclasses.replace(v1, title="KAP v2", sections=tuple(
        dataclasses.replace(sec, items=tuple(it for it in sec.items if it.code != "age")) for sec in v1.sections))
    service.add_version(session=session, survey=session.get(Survey, kap.id), spec=age_dropped, actor=personas["leo"])
    session.commit()
    with pytest.raises(service.SubmissionInvalid, match="age"):  # a new interview with v1's answers
        _submit(session, kap, make_payload())
    again, created = _submit(session, kap, payload)
    assert (again.id, created) == (first.id, False)
    with pytest.raises(service.SubmissionConflictError):
        _submit(session, kap, dict(payload, weight=9))
    session.commit()
    assert _count(session, Submission) == 1 and _count(session, SubmissionConflict) == 1


# --- corrections and reviews --------------------------------------------------------------------


def test_its_enumerator_corrects_a_sent_back_submission_and_history_is_kept(session, kap, personas):
    eddy, sonia = personas["eddy"], personas["sonia"]
    payload = make_payload()
    sub, _ = _submit(session, kap, payload, eddy)
    service.review_submissions(session=session, submissions=[sub], status="has_issues", comment="age looks wrong",
                               actor=sonia)
    old_hash = sub.content_hash
    service.correct_submission(session=session, submission=sub, actor=eddy, correction=SubmissionCorrection(
        answers=make_answers(age=43), note="age was 43", respondent_code="HT-9"))
    session.commit()
    assert (sub.status, sub.revision, sub.answers["age"], sub.respondent_code) == (SubmissionStatus.received, 2, 43, "HT-9")
    assert sub.content_hash != old_hash
    revisions = service.list_revisions(session=session, submission=sub)
    assert [(r.revision, r.design["status"]) for r in revisions] == [(1, "received"), (1, "has_issues")]
    assert revisions[-1].answers["age"] == 34 and "age was 43" in revisions[-1].note
    # The phone resends the original interview: it is the same submission, not a conflict.
    again, created = _submit(session, kap, payload, eddy)
    assert (again.id, created) == (sub.id, False)
    assert {"submission.has_issues", "submission.correct"} <= set(_actions(session))


def test_only_its_enumerator_corrects_and_only_before_a_decision(session, kap, personas):
    sub, _ = _submit(session, kap, make_payload(), personas["eddy"])
    correction = SubmissionCorrection(answers=make_answers())
    with pytest.raises(service.SurveyError) as caught:
        service.correct_submission(session=session, submission=sub, correction=correction, actor=personas["sonia"])
    assert caught.value.status_code == 403
    service.review_submissions(session=session, submissions=[sub], status="approved", comment="", actor=personas["sonia"])
    with pytest.raises(service.SurveyError, match="approved"):
        service.correct_submission(session=session, submission=sub, correction=correction, actor=personas["eddy"])
    with pytest.raises(service.SubmissionInvalid):
        sub.status = SubmissionStatus.has_issues
        service.correct_submission(session=session, submission=sub, actor=personas["eddy"],
                                   correction=SubmissionCorrection(answers=make_answers(age=None)))


def test_sending_back_or_rejecting_needs_a_comment(session, kap, personas):
    sub, _ = _submit(session, kap, make_payload())
    for status in ("has_issues", "rejected"):
        with pytest.raises(service.SurveyError, match="comment is required"):
            service.review_submissions(session=session, submissions=[sub], status=status, comment="  ",
                                       actor=personas["sonia"])
    with pytest.raises(service.SurveyError):
        service.review_submissions(session=session, submissions=[sub], status="received", comment="x",
                                   actor=personas["sonia"])


def test_enumerators_see_only_their_own_submissions(session, kap, personas):
    eddy, sonia = personas["eddy"], personas["sonia"]
    mine, _ = _submit(session, kap, make_payload(), eddy)
    theirs, _ = _submit(session, kap, make_payload(), sonia)
    session.commit()
    assert [s.id for s in service.list_submissions(session=session, viewer=eddy).items] == [mine.id]
    assert service.get_submission(session=session, submission_id=theirs.id, viewer=eddy) is None
    assert service.list_submissions(session=session, viewer=sonia).total == 2
    assert service.list_submissions(session=session, viewer=personas["carla"]).total == 0


def test_it_filters_and_pages_submissions(session, kap, personas):
    eddy, sonia = personas["eddy"], personas["sonia"]
    quick, _ = _submit(session, kap, make_payload(minutes=1), eddy)
    for _ in range(3):
        _submit(session, kap, make_payload(), sonia)
    end, _ = _submit(session, kap, make_payload(wave="endline"), eddy, wave=kap.endline)
    session.commit()

    def ids(**kw):
        return [s.id for s in service.list_submissions(session=session, viewer=sonia,
                                                       filters=service.SubmissionFilter(**kw)).items]

    assert ids(flag="too_short") == [quick.id] and ids(flag="any") == [quick.id]
    assert ids(wave_id=kap.endline.id) == [end.id]
    assert sorted(ids(enumerator_id=eddy.id)) == sorted([quick.id, end.id])
    assert ids(q=quick.uuid[:8]) == [quick.id]
    page = service.list_submissions(session=session, viewer=sonia, offset=2, limit=2)
    assert (page.total, len(page.items)) == (5, 2)
    summary = {e.enumerator: e for e in service.flag_summary(session=session, viewer=sonia)}
    assert (summary["eddy"].submissions, summary["eddy"].flagged, summary["eddy"].flags) == (2, 1, {"too_short": 1})
    with pytest.raises(service.SurveyError):
        ids(flag="nope")


def test_the_flag_summary_counts_in_the_database_what_each_enumerator_has(session, kap, personas):
    eddy, sonia = personas["eddy"], personas["sonia"]
    made = [_submit(session, kap, make_payload(), eddy)[0] for _ in range(4)]
    imported = _submit(session, kap, make_payload(), sonia)[0]
    made[0].flags = [{"code": "too_short", "message": 'a "quoted" note'}, {"code": "straight_lining", "message": ""}]
    made[1].flags = [{"code": "too_short", "message": ""}]
    made[2].flags = [{"code": "frame_accepted", "message": "Approved as it is: stratum 'out_of_frame' typed"}]
    made[3].enumerator_name = "Eddy on the old phone"  # the same account under another typed name
    imported.enumerator_id, imported.enumerator_name = None, "kobo_enum_7"
    imported.flags = [{"code": "outside_constraint", "message": ""}]
    session.add_all([*made, imported])
    session.commit()
    summary = {e.enumerator: e for e in service.flag_summary(session=session, viewer=sonia)}
    assert set(summary) == {"eddy", "kobo_enum_7"}
    eddy_row = summary["eddy"]
    assert (eddy_row.enumerator_id, eddy_row.submissions, eddy_row.flagged) == (eddy.id, 4, 3)
    assert eddy_row.flags == {"too_short": 2, "straight_lining": 1, "frame_accepted": 1}
    assert (summary["kobo_enum_7"].enumerator_id, summary["kobo_enum_7"].flags) == (None, {"outside_constraint": 1})
    assert [e.enumerator for e in service.flag_summary(session=session, viewer=sonia)] == ["eddy", "kobo_enum_7"]
    # an enumerator sees their own alone
    assert [e.enumerator for e in service.flag_summary(session=session, viewer=eddy)] == ["eddy"]
