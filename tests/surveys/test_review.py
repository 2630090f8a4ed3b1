"""The review workflow: supervisors' list, filters, bulk decisions, submission pages, conflicts."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from surveys import service
from surveys.models import Submission, SubmissionStatus, Survey, Wave
from tests.factories import PASSWORD, login
from tests.surveys.factories import ATTITUDE_CODES, make_answers, make_payload, make_survey


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def _submit(engine, kap, user, wave=None, **payload_args) -> Submission:
    with Session(engine, expire_on_commit=False) as s:
        sub, _ = service.submit(session=s, survey=s.get(Survey, kap.id), wave=s.get(Wave, (wave or kap.baseline).id),
                                payload=make_payload(**payload_args), enumerator=user)
        s.commit()
        return sub


def _status(engine, sub_id: int) -> Submission:
    with Session(engine) as s:
        return s.get(Submission, sub_id)


@pytest.fixture
def spread(engine, kap, personas):
    """Three submissions by eddy (one too short, one straight-lined on endline) and one by sonia."""
    eddy, sonia = personas["eddy"], personas["sonia"]
    return {
        "quick": _submit(engine, kap, eddy, minutes=1),
        "flat": _submit(engine, kap, eddy, wave=kap.endline, answers=make_answers(**{c: "5" for c in ATTITUDE_CODES})),
        "fine": _submit(engine, kap, eddy),
        "other": _submit(engine, kap, sonia, respondent_code="P-1"),
    }


def test_only_supervisors_and_admins_open_the_review_pages(client, personas):
    for name, expected in (("eddy", 403), ("leo", 403), ("carla", 403), ("sonia", 200), ("alice", 200)):
        client.cookies.clear()
        login(client, name)
        assert client.get("/review").status_code == expected, name
        assert client.get("/review/conflicts").status_code == expected, name


def test_the_review_list_filters_by_status_wave_enumerator_and_flag(client, personas, kap, spread):
    login(client, "sonia")
    html = client.get("/review").text
    assert all(f'id="submission-{s.id}"' in html for s in spread.values())

    def shown(**params):
        page = client.get("/review", params=params, headers={"HX-Request": "true"}).text
        return {name for name, s in spread.items() if f'id="submission-{s.id}"' in page}

    assert shown(flag="too_short") == {"quick"}
    assert shown(flag="straight_lining") == {"flat"}
    assert shown(flag="any") == {"quick", "flat"}
    assert shown(survey=kap.id, wave=kap.endline.id) == {"flat"}
    assert shown(enumerator=personas["sonia"].id) == {"other"}
    assert shown(q=spread["other"].uuid[:8]) == {"other"}
    assert shown(status="approved") == set()
    summary = client.get("/review").text.split("Quality flags by enumerator", 1)[1]
    assert "eddy" in summary and "sonia" in summary


def test_bulk_actions_approve_send_back_and_reject_with_a_comment(client, personas, engine, spread):
    csrf = login(client, "sonia")
    ids = [spread["quick"].id, spread["flat"].id]
    no_comment = client.post("/review", data={"csrf_token": csrf, "ids": ids, "action": "has_issues", "comment": ""})
    assert no_comment.status_code == 303
    assert "comment is required" in client.get(no_comment.headers["location"]).text
    assert _status(engine, ids[0]).status == SubmissionStatus.received
    r = client.post("/review", data={"csrf_token": csrf, "ids": ids, "action": "has_issues",
                                     "comment": "Interview too fast: redo the attitude block", "back": "flag=any"})
    assert r.status_code == 303 and r.headers["location"] == "/review?flag=any"
    assert "2 submissions marked has issues." in client.get(r.headers["location"]).text
    for sub_id in ids:
        sub = _status(engine, sub_id)
        assert (sub.status, sub.review_comment, sub.reviewed_by_id) == \
            (SubmissionStatus.has_issues, "Interview too fast: redo the attitude block", personas["sonia"].id)
    client.post("/review", data={"csrf_token": csrf, "ids": [spread["fine"].id], "action": "approved"})
    # "other" is Sonia's own interview: another reviewer decides on it (separation of duties).
    own = client.post("/review", data={"csrf_token": csrf, "ids": [spread["other"].id], "action": "rejected",
                                       "comment": "duplicate"})
    assert "another supervisor must review your own interviews" in client.get(own.headers["location"]).text
    assert _status(engine, spread["other"].id).status == SubmissionStatus.received
    admin = client.__class__(client.app, base_url="http://testserver", follow_redirects=False)
    admin_csrf = login(admin, "alice")
    admin.post("/review", data={"csrf_token": admin_csrf, "ids": [spread["other"].id], "action": "rejected",
                                "comment": "duplicate"})
    assert _status(engine, spread["fine"].id).status == SubmissionStatus.approved
    assert _status(engine, spread["other"].id).status == SubmissionStatus.rejected
    nothing = client.post("/review", data={"csrf_token": csrf, "action": "approved"})
    assert "Tick the submissions" in client.get(nothing.headers["location"]).text


def test_an_enumerator_cannot_review_even_with_a_forged_form(client, personas, engine, spread):
    csrf = login(client, "eddy")
    r = client.post("/review", data={"csrf_token": csrf, "ids": [spread["quick"].id], "action": "approved"})
    assert r.status_code == 403
    r = client.post(f"/submissions/{spread['quick'].id}/review", data={"csrf_token": csrf, "action": "approved"})
    assert r.status_code == 403
    assert _status(engine, spread["quick"].id).status == SubmissionStatus.received


def test_the_submission_page_shows_answers_with_labels_flags_and_history(client, personas, engine, spread):
    sub = spread["quick"]
    csrf = login(client, "sonia")
    html = client.get(f"/submissions/{sub.id}").text
    assert "Ki laj ou?" in html and "<strong>34</strong>" in html  # the interview's language (ht) first
    assert "Fo òf travay; Dèt ki pa janm fini" in html
    assert "Too short" in html and "Not reviewed or corrected yet" in html
    english = client.get(f"/submissions/{sub.id}?lang=en").text
    assert "How old are you?" in english and "False job offer; Debt that never ends" in english
    r = client.post(f"/submissions/{sub.id}/review", data={"csrf_token": csrf, "action": "has_issues",
                                                            "comment": "Age 34 but school none?"})
    assert r.status_code == 303
    html = client.get(f"/submissions/{sub.id}").text
    assert "Age 34 but school none?" in html and "received → has_issues by sonia" in html


def test_enumerators_see_their_own_submissions_sent_back_with_the_comment(client, personas, engine, spread):
    with Session(engine) as s:
        service.review_submissions(session=s, submissions=[s.get(Submission, spread["quick"].id)], status="has_issues",
                                   comment="Redo question age", actor=personas["sonia"])
        s.commit()
    login(client, "eddy")
    html = client.get(f"/submissions/{spread['quick'].id}").text
    assert "Redo question age" in html and f"/collect/submissions/{spread['quick'].id}" in html
    assert "Approve" not in html
    assert client.get(f"/submissions/{spread['other'].id}").status_code == 404
    assert client.get("/submissions/99999").status_code == 404


def test_a_correction_shows_in_the_history_with_what_changed(client, personas, engine, spread):
    from surveys.models import SubmissionCorrection  # noqa: PLC0415

    with Session(engine) as s:
        sub = s.get(Submission, spread["fine"].id)
        service.review_submissions(session=s, submissions=[sub], status="has_issues", comment="age?", actor=personas["sonia"])
        service.correct_submission(session=s, submission=sub, actor=personas["eddy"],
                                   correction=SubmissionCorrection(answers=make_answers(age=52), note="asked again"))
        s.commit()
    login(client, "sonia")
    html = client.get(f"/submissions/{spread['fine'].id}").text
    assert "Corrected by eddy: asked again" in html and "<code>age</code>" in html and "revision 2" in html


def test_conflicts_are_listed_compared_and_resolved(client, personas, engine, kap):
    payload = make_payload()
    with Session(engine, expire_on_commit=False) as s:
        survey, wave = s.get(Survey, kap.id), s.get(Wave, kap.baseline.id)
        stored, _ = service.submit(session=s, survey=survey, wave=wave, payload=payload, enumerator=personas["eddy"])
        with pytest.raises(service.SubmissionConflictError) as caught:
            service.submit(session=s, survey=survey, wave=wave, enumerator=personas["eddy"],
                           payload=dict(payload, answers=make_answers(age=61), region="Nord"))
        s.commit()
    csrf = login(client, "sonia")
    assert "1 resend with different content kept aside" in client.get("/review").text
    html = client.get("/review/conflicts").text
    assert payload["uuid"] in html and "<code>age</code>" in html and ">region<" in html
    assert f'href="/submissions/{stored.id}"' in html
    r = client.post(f"/review/conflicts/{caught.value.conflict.id}/resolve", data={"csrf_token": csrf, "note": "kept the first"})
    assert r.status_code == 303
    assert "No conflict waiting" in client.get("/review/conflicts").text
    assert "kept the first" in client.get("/review/conflicts?resolved=1").text


def _conflict(engine, kap, personas, **changes):
    """eddy's interview stored, then resent with ``changes``: returns (stored submission, conflict)."""
    payload = make_payload()
    with Session(engine, expire_on_commit=False) as s:
        survey, wave = s.get(Survey, kap.id), s.get(Wave, kap.baseline.id)
        stored, _ = service.submit(session=s, survey=survey, wave=wave, payload=payload, enumerator=personas["eddy"])
        with pytest.raises(service.SubmissionConflictError) as caught:
            service.submit(session=s, survey=survey, wave=wave, enumerator=personas["eddy"], payload=dict(payload, **changes))
        s.commit()
    return stored, caught.value.conflict


def test_a_supervisor_accepts_the_resend_and_the_stored_answers_stay_in_history(client, personas, engine, kap):
    stored, conflict = _conflict(engine, kap, personas, answers=make_answers(age=61), region="Nord",
                                 respondent_code="P-9")
    csrf = login(client, "sonia")
    r = client.post(f"/review/conflicts/{conflict.id}/accept", data={"csrf_token": csrf, "note": "phone was right"})
    assert r.status_code == 303 and r.headers["location"] == f"/submissions/{stored.id}"
    with Session(engine) as s:
        sub = s.get(Submission, stored.id)
        assert (sub.answers["age"], sub.region, sub.respondent_code, sub.revision) == (61, "Nord", "P-9", 2)
        assert sub.status == SubmissionStatus.received
        revisions = service.list_revisions(session=s, submission=sub)
        assert [r.answers["age"] for r in revisions] == [34] and "accepted by sonia: phone was right" in revisions[0].note
    html = client.get(f"/submissions/{stored.id}").text
    assert "revision 2" in html and "phone was right" in html
    assert "No conflict waiting" in client.get("/review/conflicts").text
    # The phone sends the accepted version again, or the first one: both are known, nothing new.
    with Session(engine) as s:
        again, created = service.submit(session=s, survey=s.get(Survey, kap.id), wave=s.get(Wave, kap.baseline.id),
                                        payload=conflict.payload, enumerator=personas["eddy"])
        assert not created and again.id == stored.id
    # A second accept of the same conflict is refused with a message.
    r = client.post(f"/review/conflicts/{conflict.id}/accept", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert "already resolved" in client.get("/review/conflicts").text


def test_accepting_over_the_api_checks_the_resend_and_changes_nothing_when_it_fails(client, personas, engine, kap):
    stored, conflict = _conflict(engine, kap, personas, answers=make_answers(age=61))
    with Session(engine) as s:  # the resend is made invalid (e.g. an instrument edit lost the item)
        row = s.get(type(conflict), conflict.id)
        row.payload = dict(row.payload, answers=dict(row.payload["answers"], age=150))
        s.add(row)
        s.commit()
    token = client.post("/api/v1/token", data={"username": "sonia", "password": PASSWORD}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = client.post(f"/api/v1/submissions/conflicts/{conflict.id}/accept", json={}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["item"] == "age"
    with Session(engine) as s:
        assert s.get(Submission, stored.id).revision == 1 and not s.get(type(conflict), conflict.id).resolved
    eddy = client.post("/api/v1/token", data={"username": "eddy", "password": PASSWORD}).json()["access_token"]
    assert client.post(f"/api/v1/submissions/conflicts/{conflict.id}/accept", json={},
                       headers={"Authorization": f"Bearer {eddy}"}).status_code == 403
    assert client.post("/api/v1/submissions/conflicts/999999/accept", json={}, headers=headers).status_code == 404


def test_accepting_a_valid_resend_over_the_api_returns_the_new_revision(client, personas, engine, kap):
    stored, conflict = _conflict(engine, kap, personas, answers=make_answers(age=45), sex="male")
    token = client.post("/api/v1/token", data={"username": "sonia", "password": PASSWORD}).json()["access_token"]
    r = client.post(f"/api/v1/submissions/conflicts/{conflict.id}/accept", json={"note": "confirmed by phone"},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["id"], body["revision"], body["answers"]["age"], body["sex"]) == (stored.id, 2, 45, "male")


def test_the_submission_page_shows_each_repetition_as_a_row_and_hides_personal_ones(client, personas, engine):
    import dataclasses

    from surveys.xlsform import read_xlsform
    from tests.surveys.test_repeats import household_form

    spec = read_xlsform(household_form())
    spec = dataclasses.replace(spec, sections=tuple(
        dataclasses.replace(s, items=tuple(dataclasses.replace(i, personal=i.code == "pname") for i in s.items))
        for s in spec.sections))
    made = make_survey(engine, spec=spec, actor=personas["leo"])
    sub = _submit(engine, made, personas["eddy"], answers={"n": 2, "total_age": 42, "person": [
        {"pname": "Rose", "page": 40, "works": "yes"}, {"pname": "Ti Jan", "page": 2}]})
    login(client, "sonia")
    page = client.get(f"/submissions/{sub.id}")
    assert page.status_code == 200
    table = page.text.split('id="repeat-person"', 1)[1].split("</section>", 1)[0]
    assert "2 repetitions" in table and "<th title=\"page\">Age</th>" in table
    rows = table.split("<tbody>", 1)[1].split("</tr>")
    assert "Rose" in rows[0] and ">40<" in rows[0] and ">Yes<" in rows[0]
    assert "Ti Jan" in rows[1] and ">2<" in rows[1]
    client.cookies.clear()
    login(client, "leo")  # a lead does not see personal answers, in repetitions either
    page = client.get(f"/submissions/{sub.id}")
    assert "Rose" not in page.text and "Ti Jan" not in page.text and ">Personal<" in page.text
    api = client.get(f"/api/v1/submissions/{sub.id}").json()
    assert [r.get("pname") for r in api["answers"]["person"]] == [None, None]
