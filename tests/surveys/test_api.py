"""The surveys JSON API under /api/v1: instruments, versions, waves, submissions."""

from __future__ import annotations

import io
import threading

import openpyxl
import pytest
from sqlmodel import Session, func, select
from starlette.testclient import TestClient

from surveys.models import InstrumentVersion, Submission, SubmissionConflict, Survey
from surveys.spec import spec_to_dict
from surveys.xlsform import read_xlsform
from tests.factories import bearer, login
from tests.surveys.factories import make_answers, make_kap_spec, make_payload, make_survey, make_xlsform

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _count(engine, model, *where) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


@pytest.fixture
def tokens(client, personas) -> dict[str, dict[str, str]]:
    return {name: bearer(client, name) for name in ("eddy", "sonia", "leo", "carla")}


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def _broken_xlsform() -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(make_xlsform()))
    ws = wb["survey"]
    headers = [c.value for c in ws[1]]
    type_col, relevant_col = headers.index("type") + 1, headers.index("relevant") + 1
    ws.cell(row=3, column=type_col, value="geopoint")
    ws.cell(row=5, column=relevant_col, value="${nowhere} = 'yes'")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- surveys and versions -------------------------------------------------------------------------


def test_it_creates_a_survey_from_an_xlsform_upload(client, tokens, engine):
    r = client.post("/api/v1/surveys", headers=tokens["leo"], data={"title": "TIP baseline", "description": "Ouest"},
                    files={"file": ("kap.xlsx", make_xlsform(), XLSX)})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["title"] == "TIP baseline" and body["versions"][0]["version"] == 1 and body["waves"] == []
    assert client.get(f"/api/v1/surveys/{body['id']}", headers=tokens["eddy"]).json()["title"] == "TIP baseline"
    assert [s["id"] for s in client.get("/api/v1/surveys", headers=tokens["carla"]).json()] == [body["id"]]


def test_it_lists_every_xlsform_problem_by_sheet_row_and_column_and_stores_nothing(client, tokens, engine):
    r = client.post("/api/v1/surveys", headers=tokens["leo"], files={"file": ("bad.xlsx", _broken_xlsform(), XLSX)})
    assert r.status_code == 422
    body = r.json()
    assert "nothing was imported" in body["detail"]
    where = {(e["sheet"], e["row"], e["column"]) for e in body["errors"]}
    assert ("survey", 5, "relevant") in where  # pyxform's reason (a geopoint on row 3 is no longer one)
    assert all(e["message"] for e in body["errors"])
    assert _count(engine, Survey) == 0 and _count(engine, InstrumentVersion) == 0
    garbage = client.post("/api/v1/surveys", headers=tokens["leo"], files={"file": ("x.xlsx", b"PK-garbage", XLSX)})
    assert garbage.status_code == 422 and garbage.json()["errors"]


def test_it_creates_a_survey_from_a_json_spec_and_refuses_a_bad_one(client, tokens, engine):
    spec = spec_to_dict(make_kap_spec())
    r = client.post("/api/v1/surveys", headers=tokens["leo"], json={"spec": spec, "description": "from JSON"})
    assert r.status_code == 201 and r.json()["title"] == spec["title"]
    spec["sections"][0]["items"][2]["choice_list"] = "nope"
    bad = client.post("/api/v1/surveys", headers=tokens["leo"], json={"spec": spec})
    assert bad.status_code == 422 and "choice list 'nope' does not exist" in bad.json()["detail"]
    assert client.post("/api/v1/surveys", headers=tokens["leo"], json={"title": "no spec"}).status_code == 422
    assert _count(engine, Survey) == 1


def test_only_designers_create_or_change_surveys(client, tokens, kap):
    upload = {"file": ("kap.xlsx", make_xlsform(), XLSX)}
    assert client.post("/api/v1/surveys", headers=tokens["sonia"], files=upload).status_code == 403
    assert client.patch(f"/api/v1/surveys/{kap.id}", headers=tokens["eddy"], json={"title": "x"}).status_code == 403
    r = client.patch(f"/api/v1/surveys/{kap.id}", headers=tokens["leo"],
                     json={"analysis_scope": "approved", "dont_know_threshold": 0.4})
    assert r.status_code == 200 and (r.json()["analysis_scope"], r.json()["dont_know_threshold"]) == ("approved", 0.4)
    assert client.patch(f"/api/v1/surveys/{kap.id}", headers=tokens["leo"], json={"dont_know_threshold": 2}).status_code == 422


def test_versions_are_added_listed_and_never_changed(client, tokens, kap, engine):
    client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload())
    r = client.post(f"/api/v1/surveys/{kap.id}/versions", headers=tokens["leo"], data={"note": "k_law reworded"},
                    files={"file": ("v2.xlsx", make_xlsform(make_kap_spec(title="KAP v2")), XLSX)})
    assert r.status_code == 201 and r.json()["version"] == 2
    versions = client.get(f"/api/v1/surveys/{kap.id}/versions", headers=tokens["eddy"]).json()
    assert [(v["version"], v["submissions"], v["locked"]) for v in versions] == [(1, 1, True), (2, 0, False)]
    one = client.get(f"/api/v1/surveys/{kap.id}/versions/1", headers=tokens["eddy"]).json()
    assert one["spec"]["title"] == "KAP trafficking in persons 2026"
    json_version = client.post(f"/api/v1/surveys/{kap.id}/versions", headers=tokens["leo"],
                               json={"spec": spec_to_dict(make_kap_spec(title="KAP v3")), "note": "json"})
    assert json_version.status_code == 201 and json_version.json()["version"] == 3
    bad = client.post(f"/api/v1/surveys/{kap.id}/versions", headers=tokens["leo"],
                      files={"file": ("v.xlsx", _broken_xlsform(), XLSX)})
    assert bad.status_code == 422 and _count(engine, InstrumentVersion) == 3
    # the submission keeps version 1; a new one without "version" gets the latest
    new = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload()).json()
    assert new["instrument_version"] == 3
    listed = client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["sonia"]).json()["items"]
    assert sorted(s["instrument_version"] for s in listed) == [1, 3]


def test_any_version_downloads_as_an_xlsform(client, tokens, kap):
    r = client.get(f"/api/v1/surveys/{kap.id}/versions/1/xlsform", headers=tokens["eddy"])
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    assert "kap_tip_2026-v1.xlsx" in r.headers["content-disposition"]
    assert read_xlsform(r.content) == make_kap_spec()
    assert client.get(f"/api/v1/surveys/{kap.id}/versions/9/xlsform", headers=tokens["eddy"]).status_code == 404


def test_waves_are_managed_over_the_api(client, tokens, kap):
    r = client.post(f"/api/v1/surveys/{kap.id}/waves", headers=tokens["leo"],
                    json={"name": "midline", "kind": "midline", "design": "panel", "starts_on": "2027-01-10"})
    assert r.status_code == 201 and r.json()["design"] == "panel"
    wave_id = r.json()["id"]
    assert client.post(f"/api/v1/surveys/{kap.id}/waves", headers=tokens["leo"],
                       json={"name": "midline", "kind": "midline"}).status_code == 409
    assert client.post(f"/api/v1/surveys/{kap.id}/waves", headers=tokens["leo"],
                       json={"name": "x", "kind": "endline", "starts_on": "2027-02-01", "ends_on": "2027-01-01"}).status_code == 422
    closed = client.patch(f"/api/v1/surveys/{kap.id}/waves/{wave_id}", headers=tokens["leo"], json={"is_open": False})
    assert closed.json()["is_open"] is False
    names = [w["name"] for w in client.get(f"/api/v1/surveys/{kap.id}/waves", headers=tokens["eddy"]).json()]
    assert names == ["baseline", "endline", "midline"]
    assert client.delete(f"/api/v1/surveys/{kap.id}/waves/{wave_id}", headers=tokens["sonia"]).status_code == 403
    assert client.delete(f"/api/v1/surveys/{kap.id}/waves/{wave_id}", headers=tokens["leo"]).status_code == 204
    client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload())
    kept = client.delete(f"/api/v1/surveys/{kap.id}/waves/{kap.baseline.id}", headers=tokens["leo"])
    assert kept.status_code == 400 and "close it instead" in kept.json()["detail"]


# --- submissions ----------------------------------------------------------------------------------


def test_a_submission_is_created_once_and_a_resend_returns_it(client, tokens, kap, engine):
    payload = make_payload()
    first = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=payload)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["uuid"] == payload["uuid"] and body["wave"] == "baseline" and body["enumerator"] == "eddy"
    assert body["status"] == "received" and body["answers"]["k_signs"] == ["job_offer", "debt"]
    assert first.headers["location"] == f"/api/v1/submissions/{body['id']}"
    again = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=payload)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    by_id = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                        json=dict(payload, wave=kap.baseline.id))
    assert by_id.status_code == 200
    assert _count(engine, Submission) == 1


def test_a_resend_with_other_answers_is_refused_with_409_and_kept_aside(client, tokens, kap, engine):
    payload = make_payload()
    client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=payload)
    r = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                    json=dict(payload, answers=make_answers(k_law="no")))
    assert r.status_code == 409
    body = r.json()
    assert "already received with different answers" in body["detail"] and body["uuid"] == payload["uuid"]
    assert _count(engine, Submission) == 1 and _count(engine, SubmissionConflict) == 1
    conflicts = client.get("/api/v1/submissions/conflicts", headers=tokens["sonia"]).json()
    assert [c["id"] for c in conflicts] == [body["conflict_id"]]
    assert client.get("/api/v1/submissions/conflicts", headers=tokens["eddy"]).status_code == 403
    resolved = client.post(f"/api/v1/submissions/conflicts/{body['conflict_id']}/resolve", headers=tokens["sonia"],
                           json={"note": "enumerator re-sent after editing on the phone"})
    assert resolved.json()["resolved"] is True
    assert client.get("/api/v1/submissions/conflicts", headers=tokens["sonia"]).json() == []


def test_an_invalid_submission_answers_422_naming_each_item(client, tokens, kap, engine):
    r = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                    json=make_payload(answers=make_answers(age=7, k_law="maybe", mystery=1)))
    assert r.status_code == 422
    errors = {e["item"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"age", "k_law", "mystery"}
    assert "Laj la dwe ant 15 ak 99" in errors["age"]  # the form's own message, in the interview's language
    assert "age:" in r.json()["detail"]
    assert client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                       json=make_payload(wave="nowhere")).json()["errors"][0]["item"] == "wave"
    assert client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                       json=make_payload(wave=None)).status_code == 422
    assert client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                       json={"answers": {}}).status_code == 422  # no uuid
    assert _count(engine, Submission) == 0


def test_a_closed_wave_refuses_new_submissions(client, tokens, kap):
    client.patch(f"/api/v1/surveys/{kap.id}/waves/{kap.baseline.id}", headers=tokens["leo"], json={"is_open": False})
    r = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload())
    assert r.status_code == 422 and "closed" in r.json()["detail"]


def test_leads_and_communications_cannot_submit(client, tokens, kap):
    for name in ("leo", "carla"):
        assert client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens[name],
                           json=make_payload()).status_code == 403


def test_concurrent_resends_of_one_uuid_over_the_api_store_one_row(app, tokens, kap, engine):
    payload = make_payload()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def send() -> None:
        with TestClient(app, base_url="http://testserver") as c:
            barrier.wait()
            statuses.append(c.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=payload).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    assert _count(engine, Submission, Submission.uuid == payload["uuid"]) == 1


def test_enumerators_see_only_their_own_submissions(client, tokens, kap):
    mine = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload()).json()
    theirs = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["sonia"], json=make_payload()).json()
    listed = client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"]).json()
    assert [s["id"] for s in listed["items"]] == [mine["id"]] and listed["total"] == 1
    assert client.get(f"/api/v1/submissions/{theirs['id']}", headers=tokens["eddy"]).status_code == 404
    assert client.get(f"/api/v1/submissions/{mine['id']}", headers=tokens["eddy"]).json()["uuid"] == mine["uuid"]
    everything = client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["sonia"]).json()
    assert everything["total"] == 2
    assert client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["carla"]).json()["total"] == 0


def test_submissions_are_filtered_and_paged(client, tokens, kap, personas):
    url = f"/api/v1/surveys/{kap.id}/submissions"
    quick = client.post(url, headers=tokens["eddy"], json=make_payload(minutes=1)).json()
    for _ in range(3):
        client.post(url, headers=tokens["sonia"], json=make_payload(wave="endline"))
    assert quick["flags"][0]["code"] == "too_short"

    def get(**params):
        return client.get(url, headers=tokens["sonia"], params=params).json()

    assert [s["id"] for s in get(flag="too_short")["items"]] == [quick["id"]]
    assert get(wave="endline")["total"] == 3 and get(wave=str(kap.baseline.id))["total"] == 1
    assert get(enumerator=personas["eddy"].id)["total"] == 1
    assert get(status="received")["total"] == 4 and get(status="approved")["total"] == 0
    page = get(limit=2, offset=2)
    assert (page["total"], len(page["items"]), page["offset"]) == (4, 2, 2)
    assert client.get(url, headers=tokens["sonia"], params={"status": "lost"}).status_code == 422
    assert client.get(url, headers=tokens["sonia"], params={"flag": "lost"}).status_code == 422
    assert client.get(url, headers=tokens["sonia"], params={"wave": "nowhere"}).status_code == 404


def test_its_enumerator_corrects_a_submission_with_patch(client, tokens, kap):
    sub = client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload()).json()
    client.post("/api/v1/submissions/review", headers=tokens["sonia"],
                json={"ids": [sub["id"]], "status": "has_issues", "comment": "check the age"})
    sent_back = client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"],
                           params={"status": "has_issues"}).json()["items"]
    assert [(s["id"], s["review_comment"]) for s in sent_back] == [(sub["id"], "check the age")]
    assert client.patch(f"/api/v1/submissions/{sub['id']}", headers=tokens["sonia"],
                        json={"answers": make_answers(age=44)}).status_code == 403
    bad = client.patch(f"/api/v1/submissions/{sub['id']}", headers=tokens["eddy"], json={"answers": make_answers(age=4)})
    assert bad.status_code == 422 and bad.json()["errors"][0]["item"] == "age"
    r = client.patch(f"/api/v1/submissions/{sub['id']}", headers=tokens["eddy"],
                     json={"answers": make_answers(age=44), "note": "misheard", "segment": "police"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["revision"], r.json()["answers"]["age"], r.json()["segment"]) == \
        ("received", 2, 44, "police")
    detail = client.get(f"/api/v1/submissions/{sub['id']}", headers=tokens["eddy"]).json()
    assert [rev["design"]["status"] for rev in detail["revisions"]] == ["received", "has_issues"]
    assert detail["revisions"][-1]["answers"]["age"] == 34


def test_bulk_review_is_for_supervisors_and_all_or_nothing(client, tokens, kap):
    ids = [client.post(f"/api/v1/surveys/{kap.id}/submissions", headers=tokens["eddy"], json=make_payload()).json()["id"]
           for _ in range(3)]
    body = {"ids": ids, "status": "approved"}
    assert client.post("/api/v1/submissions/review", headers=tokens["eddy"], json=body).status_code == 403
    assert client.post("/api/v1/submissions/review", headers=tokens["leo"], json=body).status_code == 403
    missing = client.post("/api/v1/submissions/review", headers=tokens["sonia"], json={"ids": ids + [999], "status": "approved"})
    assert missing.status_code == 404
    no_reason = client.post("/api/v1/submissions/review", headers=tokens["sonia"], json={"ids": ids, "status": "rejected"})
    assert no_reason.status_code == 400 and "comment is required" in no_reason.json()["detail"]
    done = client.post("/api/v1/submissions/review", headers=tokens["sonia"], json=body).json()
    assert done["changed"] == 3 and {s["status"] for s in done["items"]} == {"approved"}


def test_openapi_documents_the_submission_payload(client):
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/api/v1/surveys/{survey_id}/submissions"]["post"]
    assert "idempotent" in post["summary"] and "409" in post["responses"] and "uuid" in post["description"]
    fields = schema["components"]["schemas"]["SubmissionIn"]["properties"]
    assert {"uuid", "wave", "answers", "started_at", "ended_at", "language", "segment", "region", "cluster", "stratum",
            "weight", "respondent_code", "arm", "sex", "age_group"} <= set(fields)
    create = schema["paths"]["/api/v1/surveys"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(create)


def test_a_browser_session_submits_with_its_csrf_token(client, personas, kap):
    csrf = login(client, "eddy")
    url = f"/api/v1/surveys/{kap.id}/submissions"
    assert client.post(url, json=make_payload()).status_code == 403
    r = client.post(url, json=make_payload(), headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["source"] == "web"


def test_a_wave_given_by_odd_digits_or_a_huge_id_is_a_clear_422_not_a_500(client, tokens, kap):
    for wave in ("²", "٣", "99999999999999999999999", 2**64, -1):
        r = client.post(f"/api/v1/surveys/{kap.id}/submissions", json=make_payload(wave=wave), headers=tokens["eddy"])
        assert r.status_code == 422, (wave, r.text)
        assert "wave" in r.text
