"""Run sheets, what aired, and .ics feeds through the browser's pages and the JSON API, on a real database."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from icalendar import Calendar
from sqlmodel import Session, select

from campaign.models import ChannelConfig, ChannelKind, Occurrence, OccurrenceStatus, TrainingSession
from tests.campaign.factories import SPOT_TEXT, radio_plan, radio_station
from tests.factories import bearer, login
from web.accounts.models import AuditEvent
from web.assets import static_url


def _setup(engine, personas, name="Radio <b>Kiskeya</b>"):
    with Session(engine, expire_on_commit=False) as s:
        station = radio_station(s, name=name)
        campaign, station, row = radio_plan(s, personas, station=station)
        s.commit()
        return campaign, station, row


def _fill(text: str, answers: dict[int, str]) -> bytes:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    for i, value in answers.items():
        rows[i][rows[0].index("aired")] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _statuses(engine, placement_id: int) -> dict[datetime, str]:
    with Session(engine) as s:
        return {o.local_at: o.status.value for o in s.exec(select(Occurrence).where(Occurrence.placement_id == placement_id))}


def test_a_station_run_sheet_goes_out_and_comes_back_in_the_browser(client, engine, personas):
    campaign, station, row = _setup(engine, personas)
    csrf = login(client, "carla")
    page = client.get(f"/campaigns/stations/{station.id}/runsheet?week=2026-W10")
    assert page.status_code == 200
    html = page.text
    assert "Radio &lt;b&gt;Kiskeya&lt;/b&gt;" in html and "<b>Kiskeya" not in html
    assert f'<link rel="stylesheet" href="{static_url("css/runsheet.css")}">' in html
    assert html.count('href="#script-1"') == 14 and 'id="script-1"' in html and "hotline_number" not in html
    assert html.count('small ref"') == 14 and "Morning drive" in html and "=HYPERLINK(&#34;http://evil&#34;)" in html
    assert client.get("/static/css/runsheet.css").status_code == 200
    assert "@media print" in client.get("/static/css/runsheet.css").text
    sheet = client.get(f"/campaigns/stations/{station.id}/runsheet.csv?week=2026-03-04")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    assert "2026-W10" in sheet.headers["content-disposition"]
    text = sheet.content.decode("utf-8-sig")
    assert "'" + SPOT_TEXT.replace('"', '""') in text
    filled = _fill(text, {1: "yes", 2: "no", 3: "wi"})
    r = client.post(f"/campaigns/stations/{station.id}/confirm/upload", data={"csrf_token": csrf, "week": "2026-W10"},
                    files={"file": ("sheet.csv", filled, "text/csv")})
    assert r.status_code == 303, r.text
    assert "Recorded 2 aired and 1 missed" in client.get(r.headers["location"]).text
    statuses = _statuses(engine, row.id)
    assert len(statuses) == 14
    assert [statuses[datetime(2026, 3, 2, 7, 30)], statuses[datetime(2026, 3, 2, 18, 45)], statuses[datetime(2026, 3, 3, 7, 30)]] == \
        ["aired", "missed", "aired"]
    # The same file again: nothing changes, no new audit event.
    r = client.post(f"/campaigns/stations/{station.id}/confirm/upload", data={"csrf_token": csrf, "week": "2026-W10"},
                    files={"file": ("sheet.csv", filled, "text/csv")})
    assert r.status_code == 303
    assert "0 changed, 3 already recorded" in client.get(r.headers["location"]).text
    with Session(engine) as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "airings.confirm")).all()) == 1
    # A bad row: the whole file is refused, each problem named, nothing stored.
    bad = _fill(text, {4: "yes", 5: "peut-être"})
    r = client.post(f"/campaigns/stations/{station.id}/confirm/upload", data={"csrf_token": csrf, "week": "2026-W10"},
                    files={"file": ("bad.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert "Nothing was recorded from bad.csv" in r.text and "line 6, column K (aired): &#39;peut-être&#39; is not an answer" in r.text
    assert _statuses(engine, row.id) == statuses
    # The radio buttons: correct one airing, record another.
    form = {"csrf_token": csrf, "week": "2026-W10", f"aired_{row.id}-20260302T1845": "aired",
            f"aired_{row.id}-20260304T0730": "missed", f"note_{row.id}-20260304T0730": "live news special"}
    r = client.post(f"/campaigns/stations/{station.id}/confirm", data=form)
    assert r.status_code == 303, r.text
    statuses = _statuses(engine, row.id)
    assert statuses[datetime(2026, 3, 2, 18, 45)] == "aired" and statuses[datetime(2026, 3, 4, 7, 30)] == "missed"
    confirm = client.get(f"/campaigns/stations/{station.id}/confirm?week=2026-W10").text
    assert confirm.count('value="aired" checked') == 3 and "live news special" in confirm
    r = client.post(f"/campaigns/stations/{station.id}/confirm", data={**form, f"aired_{row.id}-20260304T0730": "perhaps"})
    assert r.status_code == 422 and "is not an answer" in r.text
    r = client.post(f"/campaigns/stations/{station.id}/confirm", data={"csrf_token": csrf, "week": "2026-W10",
                                                                       "aired_99-20260302T0730": "aired"})
    assert r.status_code == 422 and "is not an airing of" in r.text
    # Links from the channels page and the calendar page.
    channels = client.get("/campaigns/channels").text
    assert f"/campaigns/stations/{station.id}/runsheet" in channels and f"/campaigns/channels/{station.id}/calendar.ics" in channels
    assert "/campaigns/feeds" in client.get("/campaigns/calendar").text
    feeds = client.get("/campaigns/feeds").text
    assert f"/campaigns/channels/{station.id}/calendar.ics" in feeds


def test_a_lead_reads_run_sheets_but_does_not_record_airings(client, engine, personas):
    campaign, station, row = _setup(engine, personas)
    csrf = login(client, "leo")
    page = client.get(f"/campaigns/stations/{station.id}/runsheet?week=2026-W10").text
    assert "Record what aired" not in page
    assert client.get(f"/campaigns/stations/{station.id}/confirm?week=2026-W10").status_code == 403
    r = client.post(f"/campaigns/stations/{station.id}/confirm", data={"csrf_token": csrf, "week": "2026-W10",
                                                                       f"aired_{row.id}-20260302T0730": "aired"})
    assert r.status_code == 403
    assert _statuses(engine, row.id) == {}


def test_bad_weeks_and_channels_are_clear_errors(client, engine, personas):
    campaign, station, row = _setup(engine, personas)
    with Session(engine, expire_on_commit=False) as s:
        sms = ChannelConfig(name="SMS", kind=ChannelKind.sms, provider="generic_http")
        s.add(sms)
        s.commit()
    auth = bearer(client, "carla")
    r = client.get(f"/api/v1/campaigns/stations/{station.id}/runsheet?week=soon", headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "week"
    assert client.get(f"/api/v1/campaigns/stations/{sms.id}/runsheet", headers=auth).status_code == 404
    assert client.get("/api/v1/campaigns/stations/99999999999/runsheet", headers=auth).status_code == 404
    login(client, "carla")
    assert client.get(f"/campaigns/stations/{station.id}/runsheet?week=2026-W99").status_code == 422
    assert client.get("/campaigns/facilitators/calendar.ics?name=Nobody").status_code == 404


def test_the_api_confirms_airings_and_serves_feeds(client, engine, personas):
    campaign, station, row = _setup(engine, personas, name="Radio Kiskeya")
    auth = bearer(client, "carla")
    sheet = client.get(f"/api/v1/campaigns/stations/{station.id}/runsheet", headers=auth, params={"week": "2026-W10"}).json()
    assert sheet["week"] == "2026-W10" and len(sheet["airings"]) == 14
    assert sheet["airings"][0]["script"] == SPOT_TEXT and sheet["airings"][0]["daypart"] == "Morning drive"
    first = sheet["airings"][0]["airing"]
    body = [{"airing": first, "aired": "oui"}, {"airing": sheet["airings"][1]["airing"], "aired": "0", "note": "power cut"}]
    r = client.post(f"/api/v1/campaigns/stations/{station.id}/confirmations?week=2026-W10", headers=auth, json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"week": "2026-W10", "aired": 1, "missed": 1, "changed": 2, "unchanged": 0}
    r = client.post(f"/api/v1/campaigns/stations/{station.id}/confirmations?week=2026-W10", headers=auth, json=body)
    assert r.json()["changed"] == 0
    r = client.post(f"/api/v1/campaigns/stations/{station.id}/confirmations?week=2026-W10", headers=auth,
                    json=[{"airing": first, "aired": "no"}, {"airing": "x", "aired": "yes"}])
    assert r.status_code == 422
    assert [e["message"] for e in r.json()["errors"]][0].startswith("line 2, column airing: 'x' is not an airing reference")
    assert _statuses(engine, row.id)[datetime(2026, 3, 2, 7, 30)] == "aired"
    csv_text = client.get(f"/api/v1/campaigns/stations/{station.id}/runsheet.csv?week=2026-W10", headers=auth).content
    r = client.post(f"/api/v1/campaigns/stations/{station.id}/confirmations/upload?week=2026-W10", headers=auth,
                    files={"file": ("s.csv", _fill(csv_text.decode("utf-8-sig"), {3: "yes"}), "text/csv")})
    assert r.status_code == 200 and r.json()["changed"] == 1, r.text
    # Feeds: text/calendar, parsed back, the same UIDs twice.
    with Session(engine) as s:
        s.add(TrainingSession(placement_id=row.id, starts_local=datetime(2026, 3, 10, 9), facilitator="Me Guerline Exantus"))
        s.commit()
    one = client.get(f"/api/v1/campaigns/channels/{station.id}/calendar.ics", headers=auth)
    assert one.status_code == 200 and one.headers["content-type"].startswith("text/calendar")
    two = client.get(f"/api/v1/campaigns/channels/{station.id}/calendar.ics", headers=auth)
    uids = [str(e["UID"]) for e in Calendar.from_ical(one.content).walk("VEVENT")]
    assert uids == [str(e["UID"]) for e in Calendar.from_ical(two.content).walk("VEVENT")] and len(uids) == 28
    assert f"{row.uid}-20260302T0730@konbit" in uids
    missed = next(e for e in Calendar.from_ical(one.content).walk("VEVENT")
                  if str(e["UID"]) == f"{row.uid}-20260302T1845@konbit")
    assert str(missed["STATUS"]) == "CANCELLED" and "power cut" in str(missed["DESCRIPTION"])
    assert client.get("/api/v1/campaigns/facilitators", headers=auth).json() == ["Me Guerline Exantus"]
    feed = client.get("/api/v1/campaigns/facilitators/calendar.ics", headers=auth, params={"name": "me guerline exantus"})
    assert feed.status_code == 200 and len(Calendar.from_ical(feed.content).walk("VEVENT")) == 1
    with Session(engine) as s:
        assert s.exec(select(Occurrence).where(Occurrence.status == OccurrenceStatus.aired)).all()


def test_a_station_subscribes_to_its_feed_by_a_signed_link_that_a_reset_revokes(client, app, engine, personas):
    import re

    from starlette.testclient import TestClient

    campaign, station, row = _setup(engine, personas)
    with Session(engine) as s:
        s.add(TrainingSession(placement_id=row.id, starts_local=datetime(2026, 3, 12, 9), facilitator="Me Jeanne Pierre",
                              venue="EMA"))
        s.commit()
    csrf = login(client, "carla")
    page = client.get("/campaigns/feeds").text
    link = re.search(rf'value="(http://testserver/feeds/[^"]+/channels/{station.id}\.ics)"', page).group(1)
    trainer = re.search(r'value="(http://testserver/feeds/[^"]+/facilitator\.ics\?name=[^"]+)"', page).group(1)
    calendar_app = TestClient(app, base_url="http://testserver", follow_redirects=False)  # no login, no token
    feed = calendar_app.get(link.removeprefix("http://testserver"))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    signed_in = client.get(f"/campaigns/channels/{station.id}/calendar.ics").content
    assert feed.content == signed_in and len(Calendar.from_ical(feed.content).walk("VEVENT")) == 28
    session_feed = calendar_app.get(trainer.removeprefix("http://testserver").replace("&amp;", "&"))
    assert session_feed.status_code == 200 and b"EMA" in session_feed.content
    # A forged token, another channel's id, another facilitator: nothing to see.
    token = link.split("/feeds/")[1].split("/")[0]
    assert calendar_app.get(f"/feeds/{token[:-2]}xx/channels/{station.id}.ics").status_code == 404
    assert calendar_app.get(f"/feeds/{token}/channels/{station.id + 1}.ics").status_code == 404
    other = trainer.removeprefix("http://testserver").split("?")[0] + "?name=Someone%20Else"
    assert calendar_app.get(other).status_code == 404
    # A lead reads the feeds but does not hand links out; planners reset them.
    lead = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login(lead, "leo")
    assert "/feeds/" not in lead.get("/campaigns/feeds").text
    assert client.post(f"/campaigns/channels/{station.id}/feed/reset", data={"csrf_token": csrf}).status_code == 303
    assert calendar_app.get(link.removeprefix("http://testserver")).status_code == 404
    fresh = re.search(rf'value="(http://testserver/feeds/[^"]+/channels/{station.id}\.ics)"', client.get("/campaigns/feeds").text).group(1)
    assert fresh != link and calendar_app.get(fresh.removeprefix("http://testserver")).status_code == 200
    with Session(engine) as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "channel.feed_reset")).one()
