"""Fieldwork progress: interviews per day, enumerator and cluster against the target sample size."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import Session

from surveys import service as survey_svc
from surveys.frame import Unit
from surveys.frame_service import replace_frame
from surveys.models import SubmissionStatus, Wave
from surveys.stats.power import sample_size_two_proportions
from tests.factories import login
from tests.surveys.factories import make_payload, make_survey
from web.dashboards.fieldwork import TargetInputs, fieldwork_charts, fieldwork_progress, offset_changes


@pytest.fixture
def kap(engine, personas):
    made = make_survey(engine, title="KAP <Sid>")
    with Session(engine, expire_on_commit=False) as s:
        eddy, sonia = s.merge(personas["eddy"]), s.merge(personas["sonia"])
        survey, wave = s.merge(made.survey), s.merge(made.baseline)
        subs = []
        for cluster, n in (("Jacmel", 3), ("<b>Les Cayes</b>", 2)):
            for _ in range(n):
                subs.append(survey_svc.submit(session=s, survey=survey, wave=wave, enumerator=eddy,
                                              payload=make_payload(cluster=cluster))[0])
        survey_svc.review_submissions(session=s, submissions=subs[:1], status=SubmissionStatus.rejected,
                                      comment="Not a real interview.", actor=sonia)
        s.commit()
    return made


def test_it_counts_interviews_not_rejected_against_the_power_calculations_target(engine, kap):
    with Session(engine) as s:
        progress = fieldwork_progress(session=s, survey=kap.survey, wave=kap.baseline, today=date(2026, 12, 22),
                                      inputs=TargetInputs(p1=0.4, p2=0.5, design_effect=2, nonresponse=0.1))
    expected = sample_size_two_proportions(0.4, 0.5, design_effect=2, nonresponse=0.1).n_inflated
    assert progress["target"] == expected and "to detect a change from 40% to 50%" in progress["target_how"]
    assert progress["done"] == 4 and progress["rejected"] == 1 and progress["remaining"] == expected - 4
    assert progress["days_left"] == 10  # 22 to 31 December, both counted
    assert progress["needed_per_day"] == pytest.approx((expected - 4) / 10)
    assert progress["by_day"] == [{"day": "2026-11-02", "interviews": 4, "cumulative": 4}]
    assert progress["enumerators"] == [{"name": "eddy", "interviews": 4}]
    assert progress["clusters"] == [{"cluster": "<b>Les Cayes</b>", "interviews": 2, "in_frame": True},
                                    {"cluster": "Jacmel", "interviews": 2, "in_frame": True}]
    charts = fieldwork_charts(progress)
    cumulative = charts["progress"]["figure"]["data"][1]
    assert cumulative["y"] == [4]
    target_line = charts["progress"]["figure"]["data"][2]
    assert target_line["y"] == [expected, expected] and target_line["x"][1] == "2026-12-31"
    pace = charts["progress"]["figure"]["data"][3]  # from today's count to the target on the wave's last day
    assert pace["x"] == ["2026-12-22", "2026-12-31"] and pace["y"] == [4, expected]
    assert pace["name"] == f"needed: {(expected - 4) / 10:,.0f} a day"
    assert charts["clusters"]["figure"]["data"][0]["y"][0] == "&lt;b&gt;Les Cayes&lt;/b&gt;"
    assert charts["progress"]["title"].startswith(f"4 of {expected:,} interviews")


def test_a_target_given_as_a_number_wins(engine, kap):
    with Session(engine) as s:
        progress = fieldwork_progress(session=s, survey=kap.survey, wave=kap.baseline, inputs=TargetInputs(n=8),
                                      today=date(2027, 1, 5))
    assert progress["target"] == 8 and progress["days_left"] == 0 and progress["needed_per_day"] is None
    assert fieldwork_charts(progress)["progress"]["title"] == "4 of 8 interviews (50%); the wave has ended"


def test_the_page_is_for_supervisors_leads_and_admins(client, app, kap):
    from starlette.testclient import TestClient

    path = f"/surveys/{kap.id}/waves/{kap.baseline.id}/progress"
    enumerator = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login(enumerator, "eddy")
    assert enumerator.get(path).status_code == 403
    login(client, "sonia")
    r = client.get(path + "?target=")
    assert r.status_code == 200 and "KAP &lt;Sid&gt;" in r.text and 'id="chart-progress"' in r.text
    assert client.get(path + "?target=abc").status_code == 422
    assert client.get(path + "?p1=0.5&p2=0.5").status_code == 422
    assert client.get(f"/surveys/{kap.id}/waves/999/progress").status_code == 404
    r = client.get(path + "?target=10", headers={"HX-Request": "true"})
    assert r.text.lstrip().startswith('<div id="progress">') and "4</strong> of 10 interviews" in r.text


def _interviews(engine, personas, made, moments, **design):
    with Session(engine, expire_on_commit=False) as s:
        eddy, survey, wave = s.merge(personas["eddy"]), s.merge(made.survey), s.merge(made.baseline)
        for moment in moments:
            payload = make_payload(**design)
            payload["started_at"] = (moment - timedelta(minutes=15)).isoformat()
            payload["ended_at"] = moment.isoformat()
            survey_svc.submit(session=s, survey=survey, wave=wave, enumerator=eddy, payload=payload)
        s.commit()


def test_it_knows_when_haiti_changes_its_clocks():
    zone = ZoneInfo("America/Port-au-Prince")
    changes = offset_changes(zone, datetime(2026, 10, 1), datetime(2027, 4, 1))
    assert changes == [(datetime(2026, 10, 1), timedelta(hours=-4)), (datetime(2026, 11, 1, 6), timedelta(hours=-5)),
                       (datetime(2027, 3, 14, 7), timedelta(hours=-4))]
    assert offset_changes(zone, datetime(2026, 12, 1), datetime(2026, 12, 31)) == [(datetime(2026, 12, 1), timedelta(hours=-5))]


def test_days_are_the_fields_days_across_a_clock_change(engine, personas):
    made = make_survey(engine, title="KAP days")
    utc = timezone.utc
    _interviews(engine, personas, made, [
        datetime(2026, 10, 31, 3, 30, tzinfo=utc),  # 30 October, 23:30 in Haiti (UTC-4)
        datetime(2026, 11, 1, 4, 30, tzinfo=utc),   # 1 November, 00:30 (UTC-4)
        datetime(2026, 11, 2, 4, 30, tzinfo=utc),   # 1 November, 23:30 (UTC-5 since 06:00 UTC on the 1st)
        datetime(2026, 11, 2, 5, 30, tzinfo=utc),   # 2 November, 00:30
    ])
    with Session(engine) as s:
        progress = fieldwork_progress(session=s, survey=made.survey, wave=made.baseline, today=date(2026, 11, 3))
    assert progress["by_day"] == [{"day": "2026-10-30", "interviews": 1, "cumulative": 1},
                                  {"day": "2026-11-01", "interviews": 2, "cumulative": 3},
                                  {"day": "2026-11-02", "interviews": 1, "cumulative": 4}]
    assert progress["time_zone"] == "America/Port-au-Prince"
    assert "America/Port-au-Prince time" in fieldwork_charts(progress)["progress"]["figure"]["layout"]["xaxis"]["title"]["text"]


def test_it_reads_a_row_a_day_not_a_row_an_interview(engine, personas):
    made = make_survey(engine, title="KAP many")
    start = datetime(2026, 11, 10, 12, tzinfo=timezone.utc)
    _interviews(engine, personas, made, [start + timedelta(days=i % 3, minutes=i) for i in range(60)])
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        with Session(engine) as s:
            progress = fieldwork_progress(session=s, survey=made.survey, wave=made.baseline, today=date(2026, 11, 20))
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert [d["interviews"] for d in progress["by_day"]] == [20, 20, 20]
    with engine.connect() as conn:
        counts = [len(conn.exec_driver_sql(sql, params).all()) for sql, params in statements
                  if "submission" in sql and "user_account" not in sql]
    assert counts and max(counts) <= 3, counts


def test_the_waves_target_and_its_frames_clusters_without_interviews(engine, personas, kap):
    with Session(engine, expire_on_commit=False) as s:
        wave = s.get(Wave, kap.baseline.id)
        wave.target_sample = 40
        replace_frame(session=s, wave=wave, units=[Unit("", "Jacmel", None), Unit("", "<b>Les Cayes</b>", None),
                                                   Unit("", "Hinche", None), Unit("", "Jérémie", None)], actor=None)
        s.commit()
        progress = fieldwork_progress(session=s, survey=kap.survey, wave=wave, today=date(2026, 12, 22))
        given = fieldwork_progress(session=s, survey=kap.survey, wave=wave, inputs=TargetInputs(n=8), today=date(2026, 12, 22))
    assert progress["target"] == 40 and progress["target_how"] == "40 interviews, the wave's target"
    assert given["target"] == 8  # a number given on the page wins over the wave's
    assert progress["clusters"] == [{"cluster": "Jacmel", "interviews": 2, "in_frame": True},
                                    {"cluster": "<b>Les Cayes</b>", "interviews": 2, "in_frame": True},
                                    {"cluster": "Hinche", "interviews": 0, "in_frame": True},
                                    {"cluster": "Jérémie", "interviews": 0, "in_frame": True}]
    assert progress["cluster_target"] == 10 and progress["days_left"] == 10
    chart = fieldwork_charts(progress)["clusters"]
    assert chart["figure"]["layout"]["shapes"][0]["x0"] == 10
    assert "2 of the sampling frame without an interview" in chart["title"] and "target 10 a cluster" in chart["title"]
    assert chart["table"]["rows"][2] == ["Hinche", 0, 10, "yes"]
    assert fieldwork_charts(given)["clusters"]["table"]["rows"][0] == ["Jacmel", 2, 2, "yes"]  # 8 over 4 clusters


def test_an_interview_outside_the_frame_is_shown_apart(engine, personas, kap):
    with Session(engine, expire_on_commit=False) as s:
        wave = s.get(Wave, kap.baseline.id)
        replace_frame(session=s, wave=wave, units=[Unit("", "Jacmel", None), Unit("", "Hinche", None)], actor=None)
        s.commit()
        progress = fieldwork_progress(session=s, survey=kap.survey, wave=wave, inputs=TargetInputs(n=10),
                                      today=date(2026, 12, 22))
    assert progress["clusters"] == [{"cluster": "Jacmel", "interviews": 2, "in_frame": True},
                                    {"cluster": "<b>Les Cayes</b>", "interviews": 2, "in_frame": False},
                                    {"cluster": "Hinche", "interviews": 0, "in_frame": True}]
    assert progress["cluster_target"] == 5  # the frame's two clusters
    chart = fieldwork_charts(progress)["clusters"]
    assert "1 outside the frame (orange)" in chart["title"]
    assert chart["table"]["rows"][1] == ["<b>Les Cayes</b>", 2, 5, "no"]


def test_the_page_shows_the_target_a_cluster_and_the_days_left(client, engine, kap):
    with Session(engine) as s:
        wave = s.get(Wave, kap.baseline.id)
        wave.target_sample = 40
        replace_frame(session=s, wave=wave, units=[Unit("", c, None) for c in ("Jacmel", "<b>Les Cayes</b>", "Hinche", "Jérémie")],
                      actor=None)
        s.commit()
    login(client, "sonia")
    r = client.get(f"/surveys/{kap.id}/waves/{kap.baseline.id}/progress?p1=0.5&p2=0.5")  # the wave's target: no power inputs needed
    assert r.status_code == 200
    assert "<strong>10</strong> interviews a cluster (4 clusters in the sampling frame); 2 without an interview yet" in r.text
    assert "days left" in r.text or "The wave ended" in r.text


def test_the_wave_form_and_api_set_the_target(client, engine, kap):
    csrf = login(client, "leo")
    path = f"/surveys/{kap.id}/waves/{kap.baseline.id}"
    r = client.post(path, data={"csrf_token": csrf, "name": "baseline", "kind": "baseline", "design": "independent",
                                "starts_on": "2026-10-01", "ends_on": "2026-12-31", "is_open": "on", "notes": "",
                                "target_sample": "1,200"})
    assert r.status_code == 200, r.text
    assert 'name="target_sample" min="1" max="10000000" value="1200"' in r.text
    with Session(engine) as s:
        assert s.get(Wave, kap.baseline.id).target_sample == 1200
    page = client.get(path + "/progress")
    assert "1,200 interviews, the wave&#39;s target" in page.text or "1,200 interviews, the wave's target" in page.text
    r = client.patch(f"/api/v1{path}", json={"target_sample": 0}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422
    r = client.patch(f"/api/v1{path}", json={"target_sample": 900}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["target_sample"] == 900


def test_the_power_pages_result_becomes_a_waves_target(client, app, engine, kap):
    from starlette.testclient import TestClient

    expected = sample_size_two_proportions(0.4, 0.5, design_effect=2, nonresponse=0.1).n_inflated
    csrf = login(client, "leo")
    page = client.get("/power?p1=0.4&p2=0.5&design_effect=2&nonresponse=0.1")
    assert "Use as the wave&#39;s target" in page.text or "Use as the wave's target" in page.text
    assert f'name="target_sample" value="{expected}"' in page.text
    r = client.post("/power/wave-target", data={"csrf_token": csrf, "wave_id": kap.baseline.id, "target_sample": expected})
    assert r.status_code == 303 and r.headers["location"] == f"/surveys/{kap.id}/waves/{kap.baseline.id}/progress"
    with Session(engine) as s:
        assert s.get(Wave, kap.baseline.id).target_sample == expected
    supervisor = TestClient(app, base_url="http://testserver", follow_redirects=False)
    token = login(supervisor, "sonia")  # sees the fieldwork, cannot change the design
    assert "Use as the wave" not in supervisor.get("/power?p1=0.4&p2=0.5").text
    assert supervisor.post("/power/wave-target", data={"csrf_token": token, "wave_id": kap.baseline.id,
                                                       "target_sample": 5}).status_code == 403
