"""Training pages and API on a real database: invitations within capacity, attendance by checkbox and
by sign-in sheet, rates, and who sees contacts' personal data."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlmodel import Session, select
from starlette.testclient import TestClient

from campaign import trainings as tr
from campaign.models import TrainingAttendance
from tests.campaign.training_factories import around_today, training_setup
from tests.factories import PERSONAS, bearer, login
from web.accounts.models import utcnow


def _setup(engine, personas, **extra):
    with Session(engine, expire_on_commit=False) as s:
        campaign, placement, past, future, judges, prosecutors = training_setup(s, personas, **around_today(), **extra)
        judges[0].name = "=HYPERLINK(\"http://evil\")"
        s.add(judges[0])
        s.commit()
        return campaign, placement, past, future, judges, prosecutors


def _invite_past(engine, campaign, past, people, actor):
    """Invitations to the past session, made before it started."""
    with Session(engine) as s:
        info = tr.get_training(session=s, campaign=campaign, session_id=past.id)
        tr.invite(session=s, info=info, contact_ids=[c.id for c in people], actor=actor,
                  now=utcnow() - timedelta(days=40))
        s.commit()
        return {a.contact_id: a.id for a in s.exec(select(TrainingAttendance))}


def _client(app, name):
    c = TestClient(app, base_url="http://testserver", follow_redirects=False)
    return c, login(c, name)


def test_a_planner_invites_within_capacity_and_prints_a_formula_safe_sheet(client, engine, personas):
    campaign, placement, past, future, judges, prosecutors = _setup(engine, personas, capacity_future=5)
    csrf = login(client, "carla")
    listing = client.get("/campaigns/trainings?when=all").text
    assert listing.count(f'href="/campaigns/{campaign.id}/trainings/') == 2
    upcoming = client.get("/campaigns/trainings?facilitator=wilson", headers={"HX-Request": "true"})
    assert "<html" not in upcoming.text and "Tribunal civil, Jacmel" in upcoming.text and "EMA" not in upcoming.text
    base = f"/campaigns/{campaign.id}/trainings/{future.id}"
    page = client.get(base).text
    assert "/content/" in page and "/print/" in page and "Applying the 2014 law (Français)" in page
    invitations = client.get(f"{base}/invitations").text
    assert "<strong>10</strong> in the segments not yet invited" in invitations
    r = client.post(f"{base}/invitations", data={"csrf_token": csrf, "all": "1"})
    assert r.status_code == 303
    refused = client.get(r.headers["location"]).text
    assert "Not done: This session has 5 seats and 0 are taken: 5 left, so 10 more cannot be invited." in refused
    r = client.post(f"{base}/invitations", data={"csrf_token": csrf, "all": "1", "fill": "1", "segment": "judges"})
    assert "5 invited. 1 left out: the session is full (5 seats)." in client.get(r.headers["location"]).text
    client.post(f"{base}/invitations/{judges[4].id}/delete", data={"csrf_token": csrf})
    r = client.post(f"{base}/invitations", data={"csrf_token": csrf, "contact_id": [str(prosecutors[0].id)]})
    assert "1 invited." in client.get(r.headers["location"]).text
    with Session(engine) as s:
        assert len(s.exec(select(TrainingAttendance)).all()) == 5
    sheet = client.get(f"{base}/sheet.csv")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sheet.text.lstrip("\ufeff"))))
    assert rows[0] == ["invitation_id", "name", "phone", "email", "segment", "attended", "signature"]
    cells = [c for row in rows[1:] for c in row]
    assert "'=HYPERLINK(\"http://evil\")" in cells and not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    printable = client.get(f"{base}/sheet").text
    assert "=HYPERLINK(&#34;http://evil&#34;)" in printable or "=HYPERLINK(&quot;http://evil&quot;)" in printable
    # The session has not started: no checkboxes, no upload form.
    assert 'type="checkbox" name="present"' not in client.get(base).text


def test_attendance_by_checkbox_and_by_sign_in_sheet(client, engine, personas):
    campaign, _, past, _, judges, prosecutors = _setup(engine, personas)
    ids = _invite_past(engine, campaign, past, judges[:4], personas["carla"])
    csrf = login(client, "carla")
    base = f"/campaigns/{campaign.id}/trainings/{past.id}"
    page = client.get(base).text
    assert page.count('type="checkbox" name="present"') == 4 and "Upload the sign-in sheet" in page
    row = client.post(f"{base}/attendance/{judges[1].id}", data={"attended": "on"}, headers={"HX-Request": "true",
                                                                                           "X-CSRF-Token": csrf})
    assert row.status_code == 200 and row.text.strip().startswith(f'<tr id="invitee-{judges[1].id}"') and " checked" in row.text
    not_invited = client.post(f"{base}/attendance/{prosecutors[0].id}", data={"attended": "on"},
                              headers={"HX-Request": "true", "X-CSRF-Token": csrf})
    assert not_invited.status_code == 404
    bad = ("invitation_id,phone,attended\n"
           f"{ids[judges[0].id]},,x\n"
           ",+509 3799 9999,x\n"
           f"{ids[judges[2].id]},,maybe\n")
    r = client.post(f"{base}/attendance/sheet", data={"csrf_token": csrf},
                    files={"file": ("sheet.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422
    assert "<td>3</td><td>phone</td><td>No contact has the number +50937999999" in r.text
    assert "<td>4</td><td>attended</td>" in r.text and "Nothing was stored" in r.text
    with Session(engine) as s:
        assert {a.contact_id for a in s.exec(select(TrainingAttendance).where(TrainingAttendance.attended == True))} == {  # noqa: E712
            judges[1].id}
    good = ("invitation_id,phone,attended\n"
            f"{ids[judges[0].id]},,x\n"
            f",{prosecutors[0].phone},yes\n"  # a walk-in
            f"{ids[judges[2].id]},,no\n")
    for changes in (4, 0):  # judges 0 and 2, the walk-in, judges[3] (not on the sheet, not recorded) absent
        r = client.post(f"{base}/attendance/sheet", data={"csrf_token": csrf, "absent_others": "on"},
                        files={"file": ("sheet.csv", good.encode(), "text/csv")})
        assert r.status_code == 200, r.text
        assert f"{changes} change(s) stored" in r.text
    with Session(engine) as s:
        info = tr.get_training(session=s, campaign=campaign, session_id=past.id)
        c = info.counts
        assert (c.invited, c.present, c.absent, c.walk_ins) == (4, 2, 2, 1)
    summary = client.get(f"/campaigns/{campaign.id}/trainings").text
    assert "50%" in summary and "Judges" in summary
    r = client.post(f"{base}/walk-ins", data={"csrf_token": csrf, "phone": prosecutors[1].phone})
    assert r.status_code == 303 and "recorded present (walk-in)." in client.get(base).text
    r = client.post(f"{base}/walk-ins", data={"csrf_token": csrf, "phone": "+509 3799 9999"})
    assert "Not done: phone: No contact has the number +50937999999" in client.get(base).text
    # Without JavaScript: the whole list at once, ticked present, the others absent.
    listed = [str(c.id) for c in judges[:4]]
    r = client.post(f"{base}/attendance", data={"csrf_token": csrf, "listed": listed, "present": [listed[3]]})
    assert r.status_code == 303 and "Attendance saved: 3 change(s)." in client.get(base).text
    with Session(engine) as s:
        c = tr.get_training(session=s, campaign=campaign, session_id=past.id).counts
        assert (c.present, c.absent) == (1, 3)
    # Invitations are closed once the session has started.
    r = client.post(f"{base}/invitations/{judges[3].id}/delete", data={"csrf_token": csrf})
    assert "record the person absent instead" in client.get(r.headers["location"]).text
    assert client.post(f"{base}/invitations/99999999999/delete", data={"csrf_token": csrf}).status_code == 404


def test_the_api_lists_invites_records_and_rates(client, engine, personas):
    campaign, _, past, future, judges, prosecutors = _setup(engine, personas)
    carla = bearer(client, "carla")
    listed = client.get("/api/v1/campaigns/trainings", headers=carla, params={"when": "upcoming"}).json()
    assert [s["id"] for s in listed] == [future.id]
    assert client.get("/api/v1/campaigns/trainings", headers=carla, params={"when": "soon"}).status_code == 422
    api = f"/api/v1/campaigns/{campaign.id}/trainings"
    assert [s["id"] for s in client.get(api, headers=carla).json()] == [past.id, future.id]
    detail = client.get(f"{api}/{future.id}", headers=carla).json()
    assert detail["venue"] == "Tribunal civil, Jacmel" and detail["capacity"] == 5
    assert [m["language"] for m in detail["materials"]] == ["fr", "ht"]
    r = client.post(f"{api}/{future.id}/invitations", headers=carla, json={"all": True})
    assert r.status_code == 409 and "5 left, so 10 more cannot be invited" in r.json()["detail"]
    r = client.post(f"{api}/{future.id}/invitations", headers=carla, json={"contact_ids": [judges[0].id, judges[1].id]})
    assert r.json() == {"added": 2, "already": 0, "left_out": 0, "invited": 2, "capacity": 5}
    r = client.post(f"{api}/{future.id}/invitations", headers=carla, json={"contact_ids": [judges[0].id], "extra": 1})
    assert r.status_code == 422
    invited = client.get(f"{api}/{future.id}/invitations", headers=carla).json()
    assert {i["contact_id"] for i in invited} == {judges[0].id, judges[1].id} and invited[0]["phone"]
    assert client.delete(f"{api}/{future.id}/invitations/{judges[1].id}", headers=carla).status_code == 204
    assert client.delete(f"{api}/{future.id}/invitations/{judges[1].id}", headers=carla).status_code == 404
    r = client.put(f"{api}/{future.id}/attendance", headers=carla, json={"marks": [{"contact_id": judges[0].id, "attended": True}]})
    assert r.status_code == 409 and "from that day" in r.json()["detail"]
    _invite_past(engine, campaign, past, judges[:2] + prosecutors[:2], personas["carla"])
    marks = [{"contact_id": judges[0].id, "attended": True}, {"contact_id": judges[1].id, "attended": False},
             {"contact_id": prosecutors[0].id, "attended": True}]
    r = client.put(f"{api}/{past.id}/attendance", headers=carla, json={"marks": marks})
    assert r.status_code == 200 and r.json()["changed"] == 3
    rates = r.json()["rates"]
    assert (rates["invited"], rates["present"], rates["absent"], rates["unrecorded"]) == (4, 2, 1, 1)
    assert rates["attendance_rate"] == 0.5 and rates["fill_rate"] == 0.2 and rates["invited_of_capacity"] == 0.4
    assert {s["code"]: s["attendance_rate"] for s in rates["by_segment"]} == {"judges": 0.5, "prosecutors": 0.5}
    assert client.put(f"{api}/{past.id}/attendance", headers=carla, json={"marks": marks}).json()["changed"] == 0
    bad = client.put(f"{api}/{past.id}/attendance", headers=carla,
                     json={"marks": [{"contact_id": judges[5].id, "attended": True}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "contact_id"
    sheet = client.post(f"{api}/{past.id}/attendance/sheet", headers=carla, params={"dry_run": "true"},
                        files={"file": ("s.csv", f"phone,attended\n{prosecutors[1].phone},x\n".encode(), "text/csv")})
    assert sheet.status_code == 200 and sheet.json()["changes"] is None and sheet.json()["present"] == 1
    bad = client.post(f"{api}/{past.id}/attendance/sheet", headers=carla,
                      files={"file": ("s.csv", b"phone,attended\n12,x\n", "text/csv")})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "line 2, column phone"
    walk_in = client.post(f"{api}/{past.id}/walk-ins", headers=carla, json={"phone": prosecutors[2].phone})
    assert walk_in.status_code == 200 and walk_in.json()["walk_in"] is True and walk_in.json()["attended"] is True
    unknown = client.post(f"{api}/{past.id}/walk-ins", headers=carla, json={"email": "nobody@example.org"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "email"
    early = client.post(f"{api}/{future.id}/walk-ins", headers=carla, json={"phone": prosecutors[2].phone})
    assert early.status_code == 409
    summary = client.get(f"{api}/summary", headers=carla).json()
    assert summary["totals"]["present"] == 2 and [s["id"] for s in summary["sessions"]] == [past.id, future.id]
    assert client.get(f"{api}/{past.id}/rates", headers=carla).json()["present"] == 2
    assert client.get(f"/api/v1/campaigns/{campaign.id}/trainings/999999", headers=carla).status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/campaigns/trainings", "/api/v1/campaigns/{campaign_id}/trainings/{session_id}/attendance",
                 "/api/v1/campaigns/{campaign_id}/trainings/{session_id}/invitations",
                 "/api/v1/campaigns/{campaign_id}/trainings/{session_id}/rates", "/api/v1/campaigns/{campaign_id}/trainings/summary"):
        assert path in paths, path


def test_leads_see_counts_and_enumerators_and_supervisors_see_nothing(app, engine, personas):
    campaign, _, past, future, judges, _ = _setup(engine, personas)
    _invite_past(engine, campaign, past, judges[:3], personas["carla"])
    base = f"/campaigns/{campaign.id}/trainings/{past.id}"
    api = f"/api/v1/campaigns/{campaign.id}/trainings/{past.id}"
    leo, _ = _client(app, "leo")
    page = leo.get(base)
    assert page.status_code == 200 and "<strong>3</strong> invited" in page.text
    assert judges[1].phone not in page.text and "Jij 01" not in page.text and "HYPERLINK" not in page.text
    assert "Invitations</a>" not in page.text and "sheet.csv" not in page.text
    for path in (f"{base}/invitations", f"{base}/sheet", f"{base}/sheet.csv", f"{api}/invitations"):
        assert leo.get(path).status_code == 403, path
    assert leo.get(f"{api}/rates").json()["invited"] == 3
    assert judges[1].phone not in leo.get(f"/campaigns/{campaign.id}/trainings").text
    for name in ("eddy", "sonia"):
        c, _ = _client(app, name)
        for path in ("/campaigns/trainings", f"/campaigns/{campaign.id}/trainings", base, f"{base}/invitations",
                     f"{base}/sheet.csv", "/api/v1/campaigns/trainings", api, f"{api}/invitations", f"{api}/rates"):
            assert c.get(path).status_code == 403, (name, path)
    assert set(PERSONAS) == {"alice", "carla", "eddy", "sonia", "leo"}


def test_the_campaign_and_placement_pages_link_to_the_trainings(client, engine, personas):
    campaign, placement, past, _, _, _ = _setup(engine, personas)
    login(client, "leo")
    assert f'href="/campaigns/{campaign.id}/trainings"' in client.get(f"/campaigns/{campaign.id}").text
    assert f'href="/campaigns/{campaign.id}/trainings"' in client.get(f"/campaigns/{campaign.id}/placements/{placement.id}").text
    assert 'href="/campaigns/trainings"' in client.get("/campaigns").text
