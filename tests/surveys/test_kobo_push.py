"""The endpoint a KoboToolbox REST Service posts each submission to: authenticated, and
idempotent by ``_uuid`` / ``meta/instanceID``."""

from __future__ import annotations

import copy
import uuid as uuid_module
from typing import Any

import pytest
from sqlmodel import Session, select

from surveys.models import Submission, SubmissionConflict
from tests.factories import bearer
from tests.surveys.factories import make_survey
from tests.surveys.test_imports import count


def kobo_json(uid: str | None = None) -> dict[str, Any]:
    """A submission as KoboToolbox's REST Service sends it (JSON, XML names with group paths)."""
    uid = uid or str(uuid_module.uuid4())
    return {
        "_id": 212334599,
        "formhub/uuid": "2ee1c6b7b4a44b4ea0d1c6f5c1d0c3e8",
        "start": "2026-11-02T09:05:12.345-05:00",
        "end": "2026-11-02T09:31:40.112-05:00",
        "intro/consent": "yes",
        "background/age": "27",
        "background/education": "primary",
        "background/household_size": "6",
        "knowledge/k_law": "yes",
        "knowledge/k_law_year": "y2014",
        "knowledge/k_signs": "job_offer documents",
        "knowledge/k_hotline": "dk",
        "attitudes/a_victim_fault": "1",
        "attitudes/a_report_duty": "5",
        "attitudes/a_restavek_ok": "2",
        "attitudes/a_law_protects": "4",
        "attitudes/a_migrants_help": "5",
        "practice/p_talked": "yes",
        "practice/p_report_to": "hotline",
        "exposure/e_radio": "yes",
        "exposure/e_times": "4",
        "exposure/e_last": "2026-10-28",
        "exposure/e_sms": "no",
        "design/region": "Nord-Ouest",
        "design/cluster": "Port-de-Paix 03",
        "design/segment": "youth",
        "design/sex": "male",
        "design/age_group": "25-34",
        "__version__": "vQmfnP4S8kSyc3oB3BnS9x",
        "meta/instanceID": f"uuid:{uid}",
        "_xform_id_string": "aQm3fnP4S8kSyc3oB3BnS9",
        "_uuid": uid,
        "_attachments": [],
        "_status": "submitted_via_web",
        "_geolocation": [None, None],
        "_submission_time": "2026-11-02T14:32:01",
        "_tags": [],
        "_notes": [],
        "_validation_status": {},
        "_submitted_by": "enum07",
    }


@pytest.fixture
def kap(engine, personas):
    return make_survey(engine, actor=personas["leo"])


@pytest.fixture
def token(client, personas) -> dict[str, str]:
    return bearer(client, "sonia")


def push(client, kap, body: Any, headers: dict[str, str], wave: str | None = "baseline"):
    params = {"wave": wave} if wave else {}
    return client.post(f"/api/v1/surveys/{kap.id}/kobo", params=params, json=body, headers=headers)


def test_the_same_kobo_push_twice_makes_one_submission(client, kap, token, engine):
    body = kobo_json()
    first = push(client, kap, body, token)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True and first.json()["uuid"] == body["_uuid"]
    again = push(client, kap, copy.deepcopy(body), token)
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    assert count(engine) == 1
    with Session(engine) as s:
        sub = s.exec(select(Submission)).one()
    assert sub.source == "kobo" and sub.enumerator_name == "enum07" and sub.wave_id == kap.baseline.id
    assert sub.region == "Nord-Ouest" and sub.segment == "youth" and sub.answers["k_signs"] == ["job_offer", "documents"]
    assert sub.started_at.isoformat() == "2026-11-02T14:05:12.345000+00:00"


def test_it_recognises_a_push_by_its_instance_id_alone(client, kap, token, engine):
    body = kobo_json()
    assert push(client, kap, body, token).status_code == 201
    without_uuid = {k: v for k, v in body.items() if k != "_uuid"}
    assert push(client, kap, without_uuid, token).status_code == 200
    assert count(engine) == 1


def test_a_changed_push_with_the_same_id_is_kept_aside(client, kap, token, engine):
    body = kobo_json()
    assert push(client, kap, body, token).status_code == 201
    changed = dict(body, **{"background/age": "72"})
    response = push(client, kap, changed, token)
    assert response.status_code == 409 and "kept aside" in response.json()["detail"]
    assert count(engine) == 1 and count(engine, SubmissionConflict) == 1
    with Session(engine) as s:
        assert s.exec(select(Submission.answers)).one()["age"] == 27


def test_it_refuses_a_push_it_cannot_store_naming_the_item(client, kap, token, engine):
    body = kobo_json()
    body["knowledge/k_law"] = ""  # required
    body["attitudes/a_report_duty"] = "9"
    response = push(client, kap, body, token)
    assert response.status_code == 422
    problems = {p["item"]: p["message"] for p in response.json()["problems"]}
    assert "a_report_duty" in problems and "'9' is not a choice" in problems["a_report_duty"]
    body["attitudes/a_report_duty"] = "5"
    response = push(client, kap, body, token)
    assert response.status_code == 422 and [p["item"] for p in response.json()["problems"]] == ["k_law"]
    assert count(engine) == 0


def test_it_takes_the_wave_from_the_form_when_the_url_has_none(client, kap, token, engine):
    body = dict(kobo_json(), **{"design/wave": "endline"})
    assert push(client, kap, body, token, wave=None).status_code == 201
    with Session(engine) as s:
        assert s.exec(select(Submission.wave_id)).one() == kap.endline.id
    response = push(client, kap, kobo_json(), token, wave=None)
    assert response.status_code == 422 and response.json()["problems"][0]["item"] == "wave"
    response = push(client, kap, kobo_json(), token, wave="midline")
    assert response.status_code == 422 and "no wave 'midline'" in response.json()["detail"]


def test_it_needs_a_token_with_the_right_to_import(client, kap, personas, engine):
    assert push(client, kap, kobo_json(), {}).status_code == 401
    assert push(client, kap, kobo_json(), {"Authorization": "Bearer not-a-token"}).status_code == 401
    assert push(client, kap, kobo_json(), bearer(client, "eddy")).status_code == 403
    assert count(engine) == 0


def test_it_refuses_what_is_not_one_submission(client, kap, token):
    response = client.post(f"/api/v1/surveys/{kap.id}/kobo", content=b"<xml/>",
                           headers={**token, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert push(client, kap, [kobo_json()], token).status_code == 422
    no_id = {k: v for k, v in kobo_json().items() if k not in ("_uuid", "meta/instanceID")}
    response = push(client, kap, no_id, token)
    assert response.status_code == 422 and "No submission id" in response.json()["detail"]
    assert client.post("/api/v1/surveys/999/kobo", json=kobo_json(), headers=token).status_code == 404


def test_a_push_with_a_repeat_group_keeps_each_repetition(client, engine, personas, token):
    """Kobo posts a repeat as a list of objects keyed by the children's paths."""
    from surveys.xlsform import read_xlsform
    from tests.surveys.test_repeats import household_form

    made = make_survey(engine, spec=read_xlsform(household_form()), actor=personas["leo"])
    uid = str(uuid_module.uuid4())
    body = {"_uuid": uid, "meta/instanceID": f"uuid:{uid}", "n": "2", "total_age": "42", "person": [
        {"person/pname": "Rose", "person/page": "40", "person/works": "yes", "person/idx": "1"},
        {"person/pname": "Ti Jan", "person/page": "2", "person/idx": "2", "person/_unknown": "x"}]}
    r = push(client, made, body, token)
    assert r.status_code == 201, r.text
    with Session(engine) as session:
        sub = session.exec(select(Submission)).one()
        assert sub.answers["person"] == [{"pname": "Rose", "page": 40, "works": "yes", "idx": "1"},
                                         {"pname": "Ti Jan", "page": 2, "idx": "2"}]
    body = {**body, "_uuid": str(uuid_module.uuid4()), "meta/instanceID": "", "n": "3"}
    r = push(client, made, body, token)
    assert r.status_code == 422 and "repeat_count" in r.text
