"""Campaign planning through the browser's forms and the JSON API, on a real database."""

from __future__ import annotations

import io
import re
from datetime import date

from openpyxl import Workbook
from sqlmodel import Session, select

from campaign.models import Campaign, ChannelConfig, Contact, ContactSegment, Placement
from tests.campaign.factories import approved_message
from tests.factories import bearer, login
from web.accounts.models import AuditEvent


def _setup(engine, personas):
    with Session(engine, expire_on_commit=False) as s:
        message = approved_message(s, author=personas["carla"], approver=personas["leo"])
        s.commit()
        return message


def test_a_planner_builds_a_campaign_in_the_browser_and_sees_it_on_the_calendar(client, engine, personas):
    message = _setup(engine, personas)
    csrf = login(client, "carla")
    r = client.post("/campaigns/new", data={"csrf_token": csrf, "name": "Konbit kont trafik <b>", "timezone": "America/Port-au-Prince",
                                            "start_date": "2026-03-01", "end_date": "2026-04-30", "country": "HT",
                                            "languages": "ht, fr", "regions": ["Ouest", "Nord"], "comparison_regions": ["Sud-Est"]})
    assert r.status_code == 303, r.text
    campaign_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/campaigns/{campaign_id}").text
    assert "Konbit kont trafik &lt;b&gt;" in page and "Sud-Est" in page
    r = client.post("/campaigns/channels/new", data={"csrf_token": csrf, "name": "Digicel", "kind": "sms", "provider": "generic_http",
                                                     "settings_url": "http://127.0.0.1:9/send", "secret_auth_token": "tok-123456",
                                                     "send_days": ["0", "1", "2", "3", "4"], "quiet_start": "21:00",
                                                     "quiet_end": "07:00", "active": "on"})
    assert r.status_code == 303, r.text
    with Session(engine) as s:
        channel = s.exec(select(ChannelConfig)).one()
    edit = client.get(f"/campaigns/channels/{channel.id}/edit").text
    assert "tok-123456" not in edit and "saved, leave empty to keep it" in edit
    form = {"csrf_token": csrf, "message_id": str(message.id), "channel_id": str(channel.id), "segments": ["general_public"],
            "timing": "recurring", "starts_local": "2026-03-02T07:30", "repeat_days": ["0", "2", "4"], "repeat_until": "2026-03-13"}
    check = client.post(f"/campaigns/{campaign_id}/placements/check", data=form, headers={"HX-Request": "true"})
    assert check.status_code == 200 and "Ready to save" in check.text and "<strong>6</strong> time(s)" in check.text
    bad = client.post(f"/campaigns/{campaign_id}/placements/new", data={**form, "starts_local": "2026-03-02T22:30"})
    assert bad.status_code == 422 and "quiet hours" in bad.text
    r = client.post(f"/campaigns/{campaign_id}/placements/new", data=form)
    assert r.status_code == 303, r.text
    cal = client.get("/campaigns/calendar?view=month&date=2026-03-01")
    assert cal.status_code == 200 and cal.text.count("<time datetime=") == 6
    week = client.get("/campaigns/calendar?view=week&date=2026-03-09&segment=general_public", headers={"HX-Request": "true"})
    assert week.text.count("<time datetime=") == 3 and "<html" not in week.text
    assert client.get("/campaigns/calendar?view=list&date=2026-03-01&segment=judges").text.count("<time datetime=") == 0
    # The filter form sends its "All" options as empty values: no filter, not a 422.
    every = client.get("/campaigns/calendar?view=month&date=2026-03-01&campaign=&channel=&segment=&language=&message=",
                       headers={"HX-Request": "true"})
    assert every.status_code == 200 and every.text.count("<time datetime=") == 6
    timeline = client.get(f"/campaigns/{campaign_id}/timeline").text
    assert "General public" in timeline
    # Communications staff cannot activate; a lead can.
    client.post(f"/campaigns/{campaign_id}/status/activate", data={"csrf_token": csrf})
    with Session(engine) as s:
        assert s.get(Campaign, campaign_id).status.value == "draft"
    lead = bearer(client, "leo")
    r = client.post(f"/api/v1/campaigns/{campaign_id}/status/activate", headers=lead)
    assert r.status_code == 200 and r.json()["status"] == "active"


def test_the_api_plans_checks_and_previews(client, engine, personas):
    message = _setup(engine, personas)
    auth = bearer(client, "carla")
    r = client.post("/api/v1/campaigns", headers=auth, json={"name": "x", "start_date": "2026-03-01", "end_date": "2026-02-01",
                                                             "timezone": "Mars/Olympus"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"end_date", "timezone"}
    campaign = client.post("/api/v1/campaigns", headers=auth, json={"name": "Radyo", "start_date": "2026-03-01",
                                                                     "end_date": "2026-04-30"}).json()
    station = client.post("/api/v1/campaigns/channels", headers=auth, json={
        "name": "Radio Kiskeya", "kind": "radio", "settings": {"frequency": "88.5 FM"}, "audience_size": 150000}).json()
    assert station["secrets"] == {}
    body = {"message_id": message.id, "channel_id": station["id"], "segments": ["general_public"], "timing": "recurring",
            "starts_local": "2026-03-02T00:00", "rrule": "FREQ=DAILY;COUNT=7", "times_of_day": ["07:00", "18:00"],
            "language": "ht"}
    check = client.post(f"/api/v1/campaigns/{campaign['id']}/placements/check", headers=auth, json=body).json()
    assert check["errors"] == {"message_id": "'Trafficking is a crime' has no radio variant in its approved version: "
                                             "add one and have it approved."}
    sms = client.post("/api/v1/campaigns/channels", headers=auth, json={
        "name": "SMS", "kind": "sms", "provider": "twilio", "settings": {"account_sid": "AC1", "sender": "+50930000000"},
        "secrets": {"auth_token": "very-secret"}}).json()
    assert sms["secrets"] == {"auth_token": "••••••"}
    body.update(channel_id=sms["id"], times_of_day=[], rrule="FREQ=WEEKLY;COUNT=3", starts_local="2026-03-02T09:00", language="")
    placed = client.post(f"/api/v1/campaigns/{campaign['id']}/placements", headers=auth, json=body)
    assert placed.status_code == 201, placed.text
    assert placed.json()["occurrences"] == 3
    preview = client.get(f"/api/v1/campaigns/{campaign['id']}/preview", headers=auth).json()
    assert preview["placements"][0]["occurrences"] == 3
    events = client.get("/api/v1/campaigns/calendar", headers=auth, params={"start": "2026-03-01", "end": "2026-03-31"}).json()
    assert [e["local_at"] for e in events] == ["2026-03-02T09:00:00", "2026-03-09T09:00:00", "2026-03-16T09:00:00"]
    assert client.get("/api/v1/campaigns/999999999999999999999", headers=auth).status_code in (404, 422)
    assert client.get("/api/v1/campaigns/9223372036854775807", headers=auth).status_code == 404


def _xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_contact_import_reports_bad_rows_and_stores_nothing_until_confirmed(client, engine, personas):
    csrf = login(client, "carla")
    data = _xlsx([
        ["Non", "Telefòn", "Imel", "Lang", "Depatman", "Segments", "Konsantman", "Profession"],
        ["Jean Baptiste", "3712 3456", "", "Kreyòl", "Ouest", "judges", "2026-01-10", "judge"],
        ["Marie Joseph", 50937123456, "marie@example.org", "fr", "Ouest", "Judges", "oui", "judge"],  # same phone: merged
        ["Bad Phone", "12", "", "ht", "Nord", "police", "", ""],
        ["Unknown seg", "+509 4412 3456", "", "ht", "Nord", "pilots", "", ""],
        ["Email only", "", "EMAIL@Example.org ", "en", "Sud", "", "no", ""],
    ])
    r = client.post("/campaigns/contacts/import", data={"csrf_token": csrf, "country": "HT"},
                    files={"file": ("contacts.xlsx", data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 200, r.text
    page = r.text
    assert "<strong>5</strong> line(s) read" in page and "<strong>2</strong> line(s) with a problem" in page
    assert re.search(r"<td>4</td><td>Telefòn: &#39;12&#39; is not a valid HT number", page)
    assert "Unknown segment &#39;pilots&#39;" in page
    with Session(engine) as s:
        assert s.exec(select(Contact)).all() == []
    token = re.search(r"/campaigns/contacts/import/([0-9a-f]+)/step", page).group(1)
    # Another user cannot confirm it.
    other = client.__class__(client.app, base_url="http://testserver", follow_redirects=False)
    other_csrf = login(other, "alice")
    assert other.post(f"/campaigns/contacts/import/{token}/step", headers={"X-CSRF-Token": other_csrf}).status_code == 404
    done = client.post(f"/campaigns/contacts/import/{token}/step", headers={"X-CSRF-Token": csrf, "HX-Request": "true"})
    assert "Import finished" in done.text and "2 added" in done.text
    with Session(engine) as s:
        rows = {c.phone or c.email: c for c in s.exec(select(Contact))}
        assert set(rows) == {"+50937123456", "email@example.org"}
        jean = rows["+50937123456"]
        assert (jean.language, jean.attributes, jean.email) == ("ht", {"profession": "judge"}, "marie@example.org")
        assert jean.consent_at.date() == date(2026, 1, 10) and rows["email@example.org"].consent_at is None
        assert len(s.exec(select(ContactSegment)).all()) == 1
    # Confirming twice stores nothing more; the import is gone.
    assert client.post(f"/campaigns/contacts/import/{token}/step", headers={"X-CSRF-Token": csrf}).status_code == 404
    # The export has the import's columns, so it goes back in as it came out (and is audited).
    exported = client.get("/campaigns/contacts.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "name,phone,email,language,region,segments,consent_at,consent_method,consent_recorded_by,opted_out,profession"
    assert lines[1].startswith("Jean Baptiste,'+50937123456,marie@example.org,ht,Ouest,judges,2026-01-10")  # '+: not a formula
    assert len(lines) == 3 and client.get("/campaigns/contacts.csv?segment=judges").text.count("\n") == 2
    with Session(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "contacts.export")).first() is not None
    again = client.post("/campaigns/contacts/import", data={"csrf_token": csrf, "country": "HT"},
                        files={"file": ("konbit-contacts.csv", exported.content, "text/csv")})
    assert again.status_code == 200 and "<strong>0</strong> line(s) with a problem" in again.text
    # Enumerators and supervisors see nothing of contacts.
    for name in ("eddy", "sonia"):
        c = client.__class__(client.app, base_url="http://testserver", follow_redirects=False)
        login(c, name)
        assert c.get("/campaigns/contacts").status_code == 403
        assert c.get("/campaigns/contacts.csv").status_code == 403
        assert c.get("/api/v1/campaigns/contacts").status_code == 403


def test_rule_segment_count_updates_live(client, engine, personas):
    csrf = login(client, "carla")
    api = bearer(client, "carla")
    r = client.post("/api/v1/campaigns/contacts", headers=api, json=[
        {"phone": f"+5093712{i:04d}", "region": "Ouest" if i % 2 else "Nord", "language": "ht",
         "attributes": {"profession": "judge" if i % 3 else "prosecutor"}} for i in range(30)])
    assert r.status_code == 200 and r.json()["stored"] == {"added": 30, "updated": 0}
    form = {"csrf_token": csrf, "segment_type": "rule", "rule_match": "all", "rule_0_field": "region", "rule_0_op": "eq",
            "rule_0_value": "ouest", "rule_1_field": "attribute", "rule_1_attribute": "profession", "rule_1_op": "in",
            "rule_1_value": "judge"}
    count = client.post("/campaigns/segments/count", data=form, headers={"HX-Request": "true"})
    assert "<strong>10</strong> contact(s) match" in count.text
    form["rule_1_value"] = "judge, prosecutor"
    assert "<strong>15</strong>" in client.post("/campaigns/segments/count", data=form).text
    r = client.post("/campaigns/segments/new", data={**form, "code": "ouest_judiciary", "name": "Judiciary, Ouest", "kind": "judiciary"})
    assert r.status_code == 303, r.text
    listing = client.get("/campaigns/segments").text
    assert "ouest_judiciary" in listing and "region is ouest and profession is one of judge, prosecutor" in listing
    bad = client.post("/campaigns/segments/new", data={**form, "code": "x", "name": "", "rule_0_op": "like"})
    assert bad.status_code == 422


def _pause_skipped_rows(engine):
    from campaign.models import Delivery  # noqa: PLC0415

    with Session(engine) as s:
        return [(r.status.value, r.reason) for r in s.exec(select(Delivery).order_by(Delivery.id))]


def test_resume_with_replay_from_the_page_and_the_api_sends_what_the_pause_skipped(client, engine, personas):
    from datetime import datetime, timedelta, timezone  # noqa: PLC0415

    from campaign import jobs  # noqa: PLC0415
    from tests.campaign.outbox_factories import sms_setup  # noqa: PLC0415

    now = datetime.now(timezone.utc).replace(microsecond=0)
    with Session(engine, expire_on_commit=False) as s:
        setup = sms_setup(s, personas, n=2, url="http://127.0.0.1:9/send",
                          starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    jobs.tick(engine=engine)
    cid, pid = setup.campaign.id, setup.placement.id
    csrf = login(client, "carla")
    client.post(f"/campaigns/{cid}/placements/{pid}/status/paused", data={"csrf_token": csrf})
    jobs.tick(engine=engine)
    assert _pause_skipped_rows(engine) == [("skipped", "placement paused")] * 2
    assert 'name="replay"' in client.get(f"/campaigns/{cid}/placements/{pid}").text
    r = client.post(f"/campaigns/{cid}/placements/{pid}/status/active", data={"csrf_token": csrf, "replay": "1"})
    assert r.status_code == 303
    assert _pause_skipped_rows(engine) == [("queued", "")] * 2
    # The API: a pause, then a resume without replay leaves the skips; with replay=true, not.
    staff, lead = bearer(client, "carla"), bearer(client, "leo")
    assert client.post(f"/api/v1/campaigns/{cid}/status/pause", headers=staff).status_code == 200
    jobs.tick(engine=engine)
    assert _pause_skipped_rows(engine) == [("skipped", "campaign paused")] * 2
    r = client.post(f"/api/v1/campaigns/{cid}/status/resume?replay=true", headers=lead)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert _pause_skipped_rows(engine) == [("queued", "")] * 2
