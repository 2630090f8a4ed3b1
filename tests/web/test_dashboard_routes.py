"""The campaign dashboard's page, HTMX fragment, JSON API and reports: who may see them, what they hold."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.factories import bearer, login
from tests.web.dashboard_factories import make_dash_world


@pytest.fixture
def world(engine, personas):
    return make_dash_world(engine, personas)


def test_it_shows_delivery_beside_the_kap_shift_with_each_items_messages(client, world):
    login(client, "leo")
    r = client.get(f"/campaigns/{world.campaign_id}/dashboard")
    assert r.status_code == 200
    html = r.text
    assert "Kanpay &lt;Nò&gt; 2026" in html and "<Nò>" not in html
    for chart in ("delivery_over_time", "segment_over_time", "segment_delivery", "calendar", "kap_shift", "item_dumbbell", "forest"):
        assert f'id="chart-{chart}"' in html, chart
    assert "<strong>38</strong> messages reached <strong>38</strong> contacts" in html
    row = re.search(r'<tr><td>Is there a law against trafficking[^<]*<span class="muted">\(knowledge\)</span>.*?</tr>', html,
                    re.S).group(0)
    assert f'href="/content/{world.message_id}"' in row and "The law &lt;2014&gt; punishes trafficking" in row
    assert "×38" in row
    assert 'id="summary"' in html  # the plain-language sentences


def _airings_and_a_training(engine, world) -> None:
    """Five airings aimed at the general public (four aired), a session for the police (3 invited, 2 came)."""
    from datetime import datetime, timezone

    from sqlmodel import Session

    from campaign.models import (
        Campaign, ChannelConfig, ChannelKind, Occurrence, OccurrenceStatus, PlacementSegment, Timing, TrainingAttendance,
        TrainingSession,
    )
    from content.models import Message
    from tests.campaign.factories import contacts, placement, segment

    with Session(engine) as s:
        camp, message = s.get(Campaign, world.campaign_id), s.get(Message, world.message_id)
        station = ChannelConfig(name="Radio Kiskeya", kind=ChannelKind.radio, provider="station", audience_size=100_000)
        venue = ChannelConfig(name="EMA", kind=ChannelKind.training, provider="venue")
        s.add_all([station, venue])
        s.flush()
        spots = placement(s, campaign=camp, message=message, channel=station, timing=Timing.recurring, name="Spots")
        course = placement(s, campaign=camp, message=message, channel=venue, timing=Timing.sessions, name="Course")
        s.add_all([PlacementSegment(placement_id=spots.id, segment_id=segment(s, "general_public").id),
                   PlacementSegment(placement_id=course.id, segment_id=segment(s, "police").id)])
        for i in range(5):
            s.add(Occurrence(placement_id=spots.id, local_at=datetime(2026, 3, 2 + i, 7),
                             due_at=datetime(2026, 3, 2 + i, 12, tzinfo=timezone.utc),
                             status=OccurrenceStatus.aired if i < 4 else OccurrenceStatus.missed))
        ts = TrainingSession(placement_id=course.id, starts_local=datetime(2026, 3, 10, 9), venue="EMA Pòtoprens")
        s.add(ts)
        s.flush()
        s.add_all([TrainingAttendance(session_id=ts.id, contact_id=c.id, attended=a)
                   for c, a in zip(contacts(s, 3, start=500), [True, True, False])])
        s.commit()


def test_an_htmx_filter_gets_only_the_dashboard_for_that_segment(client, world, engine):
    _airings_and_a_training(engine, world)
    login(client, "leo")
    r = client.get(f"/campaigns/{world.campaign_id}/dashboard?segment=police", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith('<div id="dashboard">') and "<html" not in r.text
    assert "<strong>8</strong> messages reached <strong>8</strong> contacts" in r.text
    assert "What changed among Police" in r.text
    # The airings are aimed at the general public: none for the police; the police's training stays, with a note.
    assert "radio airings aired" not in r.text and 'id="chart-radio"' not in r.text
    assert "<strong>2</strong> of 3 invited attended 1 trainings" in r.text
    assert "Trainings are the sessions of placements aimed at this segment" in r.text
    headers = bearer(client, "leo")
    url = f"/api/v1/campaigns/{world.campaign_id}/dashboard"
    police = client.get(url, params={"segment": "police"}, headers=headers).json()["delivery"]
    assert police["radio"] == [] and [t["invited"] for t in police["trainings"]] == [3]
    public = client.get(url, params={"segment": "general_public"}, headers=headers).json()["delivery"]
    assert [(r["planned"], r["aired"], r["missed"]) for r in public["radio"]] == [(5, 4, 1)] and public["trainings"] == []
    assert any("cannot be split by segment" in n for n in public["notes"])
    everyone = client.get(url, headers=headers).json()["delivery"]
    assert len(everyone["radio"]) == 1 and len(everyone["trainings"]) == 1 and everyone["notes"] == []


def test_a_wave_that_does_not_exist_is_a_422_naming_it_not_a_500(client, world):
    login(client, "leo")
    r = client.get(f"/campaigns/{world.campaign_id}/dashboard?baseline=nope")
    assert r.status_code == 422 and "There is no wave" in r.text
    assert client.get("/campaigns/999/dashboard").status_code == 404
    assert client.get(f"/campaigns/{world.campaign_id}/dashboard?by=respondent_code").status_code == 422
    assert client.get(f"/campaigns/{world.campaign_id}/dashboard?segment=nobody").status_code == 422


def test_the_api_gives_the_dashboard_data_and_on_request_its_charts(client, world):
    headers = bearer(client, "leo")
    body = client.get(f"/api/v1/campaigns/{world.campaign_id}/dashboard", headers=headers).json()
    assert body["delivery"]["reached_messages"] == 38 and body["delivery"]["unique_contacts"] == 38
    assert {s["code"]: s["failed"] for s in body["delivery"]["segments"]} == {"general_public": 0, "police": 2}
    assert body["kap"]["ok"] and [d["code"] for d in body["kap"]["domains"]] == ["knowledge", "attitude", "practice"]
    k_law = next(i for i in body["kap"]["items"] if i["code"] == "k_law")
    assert k_law["messages"] == [{"id": world.message_id, "title": "The law <2014> punishes trafficking", "sent": 38,
                                  "in_campaign": True}]
    assert "charts" not in body
    # Messages and distinct contacts reached per local week (SQL GROUP BY week): overall, per channel, per segment.
    delivery = body["delivery"]
    assert delivery["by_week"] == [{"week": "2026-03-02", "reached": 30, "unique_contacts": 30},
                                   {"week": "2026-03-09", "reached": 8, "unique_contacts": 8}]
    assert delivery["channels"][0]["by_week"] == delivery["by_week"]
    assert {s["code"]: s["by_week"] for s in delivery["segments"]} == {
        "general_public": [{"week": "2026-03-02", "reached": 30, "unique_contacts": 30}],
        "police": [{"week": "2026-03-09", "reached": 8, "unique_contacts": 8}]}
    charted = client.get(f"/api/v1/campaigns/{world.campaign_id}/dashboard?charts=true", headers=headers).json()
    assert charted["charts"]["kap_shift"]["figure"]["data"][0]["type"] == "bar"


@pytest.mark.parametrize("name", ["eddy", "sonia"])
def test_enumerators_and_supervisors_may_not_see_a_campaign_dashboard(client, world, name):
    login(client, name)
    for path in ("dashboard", "report.html", "report.xlsx", "report.csv"):
        assert client.get(f"/campaigns/{world.campaign_id}/{path}").status_code == 403


def test_the_html_report_is_one_file_that_needs_nothing_from_the_network(client, world):
    login(client, "carla")
    r = client.get(f"/campaigns/{world.campaign_id}/report.html")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment; filename=\"konbit-kanpay")
    html = r.text
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', html)  # nothing to fetch
    assert "<script src=" not in html and "Plotly" in html  # one file: every script inline (the partial bundle itself holds a "<script>" string)
    assert "</script" not in html.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert 'id="methods"' in html and "Holm" in html and "Rao-Scott" in html
    assert 'id="data-notes"' in html and "Kanpay &lt;Nò&gt; 2026" in html


def test_the_xlsx_has_a_readme_and_a_sheet_per_table_and_the_csv_one_table_formula_safe(client, world, engine):
    from openpyxl import load_workbook
    from sqlmodel import Session

    from campaign.models import Campaign

    with Session(engine) as s:
        camp = s.get(Campaign, world.campaign_id)
        camp.objectives = "=HYPERLINK(\"http://evil\")"
        s.add(camp)
        s.commit()
    login(client, "leo")
    book = load_workbook(io.BytesIO(client.get(f"/campaigns/{world.campaign_id}/report.xlsx").content))
    assert book.sheetnames[0] == "README"
    assert {"summary", "kap_shift", "item_dumbbell", "segment_delivery", "items_messages"} <= set(book.sheetnames)
    readme = [c.value for row in book["README"].iter_rows() for c in row if c.value]
    assert any("Methods" == v for v in readme) and any(str(v).startswith("kap_shift") for v in readme)
    sheet = book["kap_shift"]
    assert [c.value for c in sheet[2]][:3] == ["Domain", "baseline (0-100)", "endline (0-100)"]
    assert sheet["A3"].value == "Knowledge score" and isinstance(sheet["B3"].value, float)
    r = client.get(f"/campaigns/{world.campaign_id}/report.csv?table=segment_delivery")
    assert r.status_code == 200 and r.text.startswith("\ufeffSegment,Deliveries,Reached,Failed")
    assert client.get(f"/campaigns/{world.campaign_id}/report.csv?table=nope").status_code == 404
