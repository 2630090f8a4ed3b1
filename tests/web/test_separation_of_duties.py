"""Nobody approves their own work: an author their content version, a supervisor or an admin the
interviews they collected. An administrator may override, giving a reason that the audit keeps."""

from __future__ import annotations

from sqlmodel import Session, select

from content import service as content_svc
from content.models import Message, MessageCreate, VariantIn
from surveys import service
from surveys.models import Submission, Survey
from tests.factories import bearer, login
from tests.surveys.factories import make_payload, make_survey
from web.accounts.models import AuditEvent


def _message(engine, author) -> int:
    with Session(engine) as s:
        m = content_svc.create_message(session=s, actor=author, data=MessageCreate(
            title="Trafik moun se yon krim", segments=["general_public"],
            variants=[VariantIn(language="ht", channel="sms", body="Trafik moun se yon krim. Rele 188.")]))
        content_svc.transition(session=s, message=m, action="submit", actor=author)
        s.commit()
        return m.id


def test_an_author_cannot_approve_their_own_version_without_saying_why(client, engine, personas):
    # Only administrators both write and approve content; an admin's own version waits for another
    # approver, or her explicit, audited override.
    mid = _message(engine, personas["alice"])
    csrf = login(client, "alice")
    page = client.get(f"/content/{mid}").text
    assert "You wrote this version. Why approve it yourself?" in page
    client.post(f"/content/{mid}/approve", data={"csrf_token": csrf})
    with Session(engine) as s:
        assert s.get(Message, mid).approved_version_id is None
    lead = client.__class__(client.app, base_url="http://testserver", follow_redirects=False)
    login(lead, "leo")
    assert "You wrote this version" not in lead.get(f"/content/{mid}").text
    assert client.post(f"/api/v1/content/messages/{mid}/approve", headers=bearer(client, "leo"), json={}).status_code == 200


def test_an_admin_approving_their_own_version_says_why_and_it_is_audited(client, engine, personas):
    mid = _message(engine, personas["alice"])
    headers = bearer(client, "alice")
    r = client.post(f"/api/v1/content/messages/{mid}/approve", headers=headers, json={})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "override_reason"
    r = client.post(f"/api/v1/content/messages/{mid}/approve", headers=headers,
                    json={"override_reason": "Only approver on mission; Leo agreed by phone"})
    assert r.status_code == 200, r.text
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "content.approve_own")).one()
        assert event.details["reason"] == "Only approver on mission; Leo agreed by phone"


def test_a_supervisor_cannot_approve_her_own_interview(client, engine, personas):
    kap = make_survey(engine, actor=personas["leo"])
    with Session(engine) as s:
        survey = s.get(Survey, kap.id)
        wave = service.get_wave(session=s, survey=survey, wave="baseline")
        own, _ = service.submit(session=s, survey=survey, wave=wave, enumerator=personas["sonia"], payload=make_payload(),
                                source="api")
        other, _ = service.submit(session=s, survey=survey, wave=wave, enumerator=personas["eddy"], payload=make_payload(),
                                  source="api")
        s.commit()
        own_id, other_id = own.id, other.id
    headers = bearer(client, "sonia")
    r = client.post("/api/v1/submissions/review", headers=headers, json={"ids": [other_id, own_id], "status": "approved"})
    assert r.status_code == 403 and f"#{own_id}" in r.json()["detail"] and "Nothing was changed" in r.json()["detail"]
    with Session(engine) as s:
        assert {s.get(Submission, i).status.value for i in (own_id, other_id)} == {"received"}  # all or nothing
    assert client.post("/api/v1/submissions/review", headers=headers,
                       json={"ids": [other_id], "status": "approved"}).status_code == 200
    csrf = login(client, "sonia")
    r = client.post(f"/submissions/{own_id}/review", data={"csrf_token": csrf, "action": "approved"}, follow_redirects=True)
    assert "another supervisor must review your own interviews" in r.text
    # An admin reviews it, or, for her own, gives a reason.
    admin = bearer(client, "alice")
    assert client.post("/api/v1/submissions/review", headers=admin, json={"ids": [own_id], "status": "approved"}).status_code == 200
    assert client.post("/api/v1/submissions/review", headers=headers,
                       json={"ids": [2**40], "status": "approved"}).status_code == 422  # an id beyond PostgreSQL's integers


def test_an_admin_reviewing_her_own_interview_gives_a_reason(client, engine, personas):
    kap = make_survey(engine, actor=personas["leo"])
    with Session(engine) as s:
        survey = s.get(Survey, kap.id)
        wave = service.get_wave(session=s, survey=survey, wave="baseline")
        own, _ = service.submit(session=s, survey=survey, wave=wave, enumerator=personas["alice"], payload=make_payload(),
                                source="api")
        s.commit()
        own_id = own.id
    admin = bearer(client, "alice")
    r = client.post("/api/v1/submissions/review", headers=admin, json={"ids": [own_id], "status": "approved"})
    assert r.status_code == 422 and "override_reason" in r.json()["detail"]
    r = client.post("/api/v1/submissions/review", headers=admin,
                    json={"ids": [own_id], "status": "approved", "override_reason": "Pilot interview, no supervisor yet"})
    assert r.status_code == 200
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "submission.approved")).one()
        assert event.details["override_reason"] == "Pilot interview, no supervisor yet"
