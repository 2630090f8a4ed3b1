"""Respondents' personal answers (items marked personal) by role, on every surface that shows a
submission: the API list, the API detail with its history, the review page, the bulk review
answer, the analysis breakdown (API, page and CLI share it). Real database, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from surveys import service
from surveys.models import Survey
from tests.factories import PERSONAS, bearer, login, make_user
from tests.surveys.factories import make_answers, make_payload, make_survey
from tests.surveys.test_exports import spec_with_phone
from web.accounts.models import Role

PHONE = "+509 3700 0001"
# role -> (sees the phone in one interview opened alone, sees it in lists). Communications staff see
# no submission at all (surveys.service.can_see_all): nothing to hide from them here.
POLICY = {"alice": (True, True), "eddy": (True, True), "sonia": (True, False), "leo": (False, False)}


@pytest.fixture
def kap(engine, personas):
    made = make_survey(engine, spec=spec_with_phone(), actor=personas["leo"])
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, made.id)
        wave = service.get_wave(session=session, survey=survey, wave="baseline")
        sub, _ = service.submit(session=session, survey=survey, wave=wave, enumerator=personas["eddy"],
                                payload=make_payload(answers=make_answers(phone=PHONE)), source="api")
        session.commit()
        made.__dict__["submission_id"] = sub.id
    return made


def test_every_role_sees_personal_answers_only_where_the_policy_allows(client, kap):
    sid = kap.__dict__["submission_id"]
    for name, (in_detail, in_lists) in POLICY.items():
        headers = bearer(client, name)
        listed = client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=headers)
        assert listed.status_code == 200, (name, listed.text)
        item = listed.json()["items"][0]
        assert (item["answers"].get("phone") == PHONE) is in_lists, name
        assert item["personal_hidden"] == ([] if in_lists else ["phone"]), name
        assert item["answers"]["k_law"] == "yes"  # everything else stays
        detail = client.get(f"/api/v1/submissions/{sid}", headers=headers).json()
        assert (detail["answers"].get("phone") == PHONE) is in_detail, name
        assert PHONE.replace(" ", "") not in str(detail).replace(" ", "") or in_detail, name
        page = client.__class__(client.app, base_url="http://testserver", follow_redirects=False)
        login(page, name)
        html = page.get(f"/submissions/{sid}").text
        assert (PHONE in html) is in_detail, name
        assert ("Personal data: not shown to your role" in html) is (not in_detail), name


def test_communications_staff_see_no_interview(client, kap):
    headers = bearer(client, "carla")
    assert client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=headers).json()["items"] == []
    assert client.get(f"/api/v1/submissions/{kap.__dict__['submission_id']}", headers=headers).status_code == 404


def test_an_enumerator_does_not_see_anothers_respondents(client, engine, kap, personas):
    make_user(engine, username="ti-jan", role=Role.enumerator)
    headers = bearer(client, "ti-jan")
    assert client.get(f"/api/v1/surveys/{kap.id}/submissions", headers=headers).json()["items"] == []
    assert client.get(f"/api/v1/submissions/{kap.__dict__['submission_id']}", headers=headers).status_code == 404


def test_the_history_and_the_bulk_review_answer_hide_them_too(client, engine, kap, personas):
    sid = kap.__dict__["submission_id"]
    eddy = bearer(client, "eddy")
    body = {"answers": make_answers(phone="+509 3700 0009", age=35), "note": "age was wrong"}
    sent_back = bearer(client, "sonia")
    client.post("/api/v1/submissions/review", headers=sent_back, json={"ids": [sid], "status": "has_issues", "comment": "age?"})
    assert client.patch(f"/api/v1/submissions/{sid}", headers=eddy, json=body).status_code == 200
    lead = client.get(f"/api/v1/submissions/{sid}", headers=bearer(client, "leo")).json()
    assert lead["revisions"] and all("phone" not in r["answers"] for r in lead["revisions"])
    assert "3700" not in str(lead)
    mine = client.get(f"/api/v1/submissions/{sid}", headers=eddy).json()
    assert mine["revisions"][0]["answers"]["phone"] == PHONE
    # A supervisor's bulk review answers with the list view: no phone.
    done = client.post("/api/v1/submissions/review", headers=sent_back, json={"ids": [sid], "status": "approved", "comment": ""})
    assert done.status_code == 200, done.text
    assert all("phone" not in item["answers"] for item in done.json()["items"])


@pytest.mark.parametrize("name", list(PERSONAS))
def test_a_personal_item_is_never_a_breakdown(client, kap, name):
    headers = bearer(client, name)
    r = client.get(f"/api/v1/surveys/{kap.id}/analysis", params={"baseline": "baseline", "endline": "endline", "by": "phone"},
                   headers=headers)
    if r.status_code == 403:
        return  # roles without the analysis see nothing at all
    assert r.status_code == 422 and "personal data" in r.text and PHONE not in r.text, (name, r.text)
