"""One contact changed by hand (page and API): fields checked as an import checks them, list
segments, consent withdrawn or given, opt-outs per channel; who may; what the audit trail keeps."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone

import pytest
from sqlmodel import Session, select

from audiences.models import AudienceSegment
from campaign.models import Campaign, CampaignStatus, ChannelKind, Contact, ContactOptOut
from campaign.service import default_country
from tests.factories import bearer, login
from web.accounts.models import AuditEvent

pytestmark = pytest.mark.db


def _contact(engine, **fields) -> int:
    with Session(engine) as s:
        c = Contact(name="Marie Joseph", phone="+50937123456", language="ht", region="Ouest", **fields)
        s.add(c)
        s.commit()
        return c.id


def test_staff_correct_a_contact_withdraw_consent_and_record_an_opt_out(client, engine, personas):
    other = _contact(engine, email="jean@example.org")
    with Session(engine) as s:
        s.get(Contact, other).phone = "+50937000001"
        s.commit()
    cid = _contact(engine, consent_method="paper form", consent_recorded_by="carla",
                   consent_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    csrf = login(client, "carla")
    page = client.get(f"/campaigns/contacts/{cid}")
    assert page.status_code == 200 and "+50937123456" in page.text and 'name="opted_out" value="sms"' in page.text
    assert f'href="/campaigns/contacts/{cid}"' in client.get("/campaigns/contacts").text

    form = {"csrf_token": csrf, "name": "Marie <b>Joseph</b>", "phone": "3712 34", "email": "jean@example.org",
            "language": "xx-not", "region": "Ouest", "attributes": "profession: judge\nno colon here",
            "segments": ["judges"], "consent": "yes", "opted_out": ["sms"]}
    bad = client.post(f"/campaigns/contacts/{cid}", data=form)
    assert bad.status_code == 422 and "Line 2" in bad.text and 'aria-invalid="true"' in bad.text
    form["attributes"] = "profession: judge\ncourt = Port-au-Prince"
    bad = client.post(f"/campaigns/contacts/{cid}", data=form)
    # every field's problem at once, each named, and nothing stored
    assert bad.status_code == 422
    assert "not a valid HT number" in bad.text and "Another contact already has jean@example.org" in bad.text
    assert "is not a language" in bad.text and "Marie &lt;b&gt;Joseph&lt;/b&gt;" in bad.text
    with Session(engine) as s:
        assert s.get(Contact, cid).name == "Marie Joseph"
        assert s.exec(select(ContactOptOut)).all() == []

    form.update(phone="37 12 99 88", email="", language="Français")
    ok = client.post(f"/campaigns/contacts/{cid}", data=form)
    assert ok.status_code == 303, ok.text
    with Session(engine) as s:
        c = s.get(Contact, cid)
        assert (c.phone, c.language, c.attributes) == ("+50937129988", "fr", {"profession": "judge", "court": "Port-au-Prince"})
        assert c.consent_at is not None  # kept: it was given before
        outs = s.exec(select(ContactOptOut).where(ContactOptOut.contact_id == cid)).all()
        assert [(o.channel_kind, o.source) for o in outs] == [(ChannelKind.sms, "staff")]
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "contact.update")).one()
        assert audit.details["changed"]["phone"] == "changed" and "+509" not in str(audit.details)  # no number in the trail
        assert audit.details["changed"]["opted_out"] == {"sms": True}

    # Consent withdrawn and the opt-out taken back; a rule segment cannot be set by hand.
    with Session(engine) as s:
        s.add(AudienceSegment(code="ouest_ht", name="Ouest in Kreyòl", rule={"all": [{"field": "region", "op": "eq", "value": "Ouest"}]}))
        s.commit()
    form2 = {**form, "segments": ["ouest_ht"], "opted_out": []}
    form2.pop("consent")
    refused = client.post(f"/campaigns/contacts/{cid}", data=form2)
    assert refused.status_code == 422 and "a rule decides who is in this segment" in refused.text
    form2["segments"] = []
    assert client.post(f"/campaigns/contacts/{cid}", data=form2).status_code == 303
    with Session(engine) as s:
        c = s.get(Contact, cid)
        assert c.consent_at is None and c.consent_method == ""
        assert s.exec(select(ContactOptOut).where(ContactOptOut.contact_id == cid)).all() == []


def test_the_api_reads_and_replaces_one_contact(client, engine, personas):
    cid = _contact(engine)
    headers = bearer(client, "carla")
    got = client.get(f"/api/v1/campaigns/contacts/{cid}", headers=headers)
    assert got.status_code == 200 and got.json()["phone"] == "+50937123456"
    body = {"name": "Marie", "phone": "+1 212 555 0100", "language": "en", "segments": ["police"], "consent": True,
            "consent_method": "training sign-in sheet", "opted_out": ["email"], "note": "moved to New York"}
    put = client.put(f"/api/v1/campaigns/contacts/{cid}", json=body, headers=headers)
    assert put.status_code == 200, put.text
    data = put.json()
    assert (data["phone"], data["segments"], data["opted_out"]) == ("+12125550100", ["police"], ["email"])
    assert data["consent_at"] is not None and data["consent_method"] == "training sign-in sheet"
    bad = client.put(f"/api/v1/campaigns/contacts/{cid}", json={**body, "phone": "", "email": ""}, headers=headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "phone"
    assert client.put(f"/api/v1/campaigns/contacts/{cid}", json={**body, "segments": ["nope"]},
                      headers=headers).json()["errors"][0]["field"] == "segments"
    assert client.get(f"/api/v1/campaigns/contacts/{2**70}", headers=headers).status_code == 404
    assert client.get("/api/v1/campaigns/contacts/999999", headers=headers).status_code == 404


@pytest.mark.parametrize("username", ["leo", "sonia", "eddy"])
def test_roles_without_contacts_see_no_contact(client, engine, personas, username):
    cid = _contact(engine)
    csrf = login(client, username)
    assert client.get(f"/campaigns/contacts/{cid}").status_code in (403, 404)
    r = client.post(f"/campaigns/contacts/{cid}", data={"csrf_token": csrf, "name": "x", "phone": "+50937123456"})
    assert r.status_code in (403, 404)
    headers = bearer(client, username)
    assert client.get(f"/api/v1/campaigns/contacts/{cid}", headers=headers).status_code == 403
    assert client.put(f"/api/v1/campaigns/contacts/{cid}", json={"phone": "+50937123456"}, headers=headers).status_code == 403
    with Session(engine) as s:
        assert s.get(Contact, cid).name == "Marie Joseph"


def test_numbers_without_a_country_code_belong_to_the_current_campaign_s_country(client, engine, personas):
    with Session(engine) as s:
        assert default_country(session=s) == "HT"
        s.add(Campaign(name="Old", country="JM", start_date=date(2025, 1, 1), end_date=date(2025, 2, 1),
                       status=CampaignStatus.finished))
        s.add(Campaign(name="Kanpay RD", country="DO", start_date=date(2026, 1, 1), end_date=date(2026, 6, 1),
                       status=CampaignStatus.active))
        s.commit()
        assert default_country(session=s) == "DO"
    login(client, "carla")
    assert 'name="country" value="DO"' in client.get("/campaigns/contacts/import").text
    headers = bearer(client, "carla")
    # 809 555 0123 is a Dominican number when the campaign is in the Dominican Republic.
    r = client.post("/api/v1/campaigns/contacts/import", headers=headers,
                    files={"file": ("c.csv", io.BytesIO(b"name,phone\nAna,809 555 0123\n"), "text/csv")})
    assert r.status_code == 200, r.text
    with Session(engine) as s:
        assert s.exec(select(Contact.phone).where(Contact.name == "Ana")).one() == "+18095550123"
