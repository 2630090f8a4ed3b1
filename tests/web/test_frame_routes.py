"""Sampling frames in the browser and the API: the wave's frame page (typed, or a CSV/XLSX import with
a row-by-row report, all or none), the form that offers the frame offline, /review's plain message
and the supervisor's correction; waves past their end date on /collect."""

from __future__ import annotations

import io
import json
import re
from datetime import date, timedelta

import pytest
from openpyxl import Workbook
from sqlmodel import Session, select

from surveys import frame_service, service
from surveys.frame import Unit
from surveys.models import SamplingUnit, Submission, Wave
from tests.factories import bearer, login
from tests.surveys.factories import make_payload, make_survey

FRAME_CSV = "stratum;cluster;weight\nurban;Delmas;2.4\nurban;Cité Soleil;2.4\nrural;Gonaïves;1.6\n"


@pytest.fixture
def made(engine, personas):
    return make_survey(engine, actor=personas["leo"])


def _units(engine, wave_id):
    with Session(engine) as session:
        return [(u.stratum, u.cluster, u.weight) for u in session.exec(
            select(SamplingUnit).where(SamplingUnit.wave_id == wave_id).order_by(SamplingUnit.id))]


def _frame_url(made):
    return f"/surveys/{made.id}/waves/{made.baseline.id}/frame"


def test_a_supervisor_imports_a_frame_file_and_sees_it(client, engine, made):
    csrf = login(client, "sonia")
    page = client.get(_frame_url(made))
    assert page.status_code == 200 and "No sampling frame yet" in page.text
    r = client.post(_frame_url(made) + "/import", data={"csrf_token": csrf},
                    files={"file": ("frame.csv", FRAME_CSV.encode("utf-8"), "text/csv")})
    assert r.status_code == 303, r.text
    assert _units(engine, made.baseline.id) == [("urban", "Delmas", 2.4), ("urban", "Cité Soleil", 2.4),
                                                ("rural", "Gonaïves", 1.6)]
    page = client.get(_frame_url(made)).text
    assert "3 clusters" in page and "Cité Soleil" in page and "Sampling frame saved: 3 units." in page


def test_a_frame_file_with_a_bad_row_changes_nothing_and_reports_each_row(client, engine, made):
    csrf = login(client, "sonia")
    wb = Workbook()
    ws = wb.active
    ws.append(["Stratum", "PSU", "Weight"])
    ws.append(["urban", "Delmas", 2.4])
    ws.append(["urban", "<b>Delmas</b>", "many"])
    ws.append(["urban", "Delmas", 2.4])
    out = io.BytesIO()
    wb.save(out)
    client.post(_frame_url(made), data={"csrf_token": csrf, "units": "urban, Carrefour"})
    r = client.post(_frame_url(made) + "/import", data={"csrf_token": csrf}, headers={"HX-Request": "true"},
                    files={"file": ("frame.xlsx", out.getvalue(), "application/octet-stream")})
    assert r.status_code == 422
    assert "The sampling frame was not saved" in r.text
    assert "weight &#39;many&#39; is not a number" in r.text and "repeats line 2" in r.text
    assert "&lt;b&gt;Delmas&lt;/b&gt;" in r.text and "<b>Delmas</b>" not in r.text
    assert _units(engine, made.baseline.id) == [("urban", "Carrefour", None)]  # the old frame stands


def test_a_frame_is_typed_one_cluster_a_line_and_removed_when_empty(client, engine, made):
    csrf = login(client, "alice")
    assert client.post(_frame_url(made), data={"csrf_token": csrf, "units": "urban, Delmas, 2\nrural, Hinche"}).status_code == 303
    assert _units(engine, made.baseline.id) == [("urban", "Delmas", 2.0), ("rural", "Hinche", None)]
    assert client.post(_frame_url(made), data={"csrf_token": csrf, "units": ""}).status_code == 303
    assert _units(engine, made.baseline.id) == []


@pytest.mark.parametrize("name, allowed", [("sonia", True), ("alice", True), ("leo", False), ("eddy", False)])
def test_only_supervisors_and_admins_edit_a_frame(client, made, name, allowed):
    csrf = login(client, name)
    assert client.get(_frame_url(made)).status_code == 200
    r = client.post(_frame_url(made), data={"csrf_token": csrf, "units": "urban, Delmas"})
    assert (r.status_code == 303) == allowed and (r.status_code == 403) == (not allowed)


def test_the_api_reads_and_replaces_a_frame_all_or_none(client, engine, made):
    headers = bearer(client, "sonia")
    url = f"/api/v1/surveys/{made.id}/waves/{made.baseline.id}/frame"
    r = client.put(url, json={"units": [{"stratum": "urban", "cluster": "Delmas", "weight": 2.4},
                                        {"stratum": "urban", "cluster": "Delmas"}]}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "units.1", "message": "repeats line 2",
                                                              "type": "frame"}
    assert _units(engine, made.baseline.id) == []
    r = client.put(url, json={"units": [{"stratum": "urban", "cluster": "Delmas", "weight": 2.4}]}, headers=headers)
    assert r.status_code == 200 and r.json()["units"] == [{"stratum": "urban", "cluster": "Delmas", "weight": 2.4}]
    assert client.get(url, headers=headers).json()["units"][0]["cluster"] == "Delmas"
    r = client.put(url, json={"units": [{"stratum": "urban", "cluster": "Delmas", "weight": -1}]}, headers=headers)
    assert r.status_code == 422


def test_the_form_carries_the_frame_for_offline_use(client, engine, made, personas):
    with Session(engine) as session:
        frame_service.replace_frame(session=session, wave=session.get(Wave, made.baseline.id),
                                    units=[Unit("urban", "Delmas", 2.4), Unit("rural", "Gonaïves")], actor=None)
        session.commit()
    login(client, "eddy")
    html = client.get(f"/collect/{made.id}/{made.baseline.id}").text
    data = json.loads(re.search(r'id="collect-data">(.*?)</script>', html, re.S).group(1))
    assert data["frame"] == [{"stratum": "urban", "cluster": "Delmas", "weight": 2.4},
                             {"stratum": "rural", "cluster": "Gonaïves", "weight": None}]
    endline = json.loads(re.search(r'id="collect-data">(.*?)</script>',
                                   client.get(f"/collect/{made.id}/{made.endline.id}").text, re.S).group(1))
    assert endline["frame"] == []


def test_review_says_why_and_a_supervisor_corrects_the_cluster(client, engine, made, personas):
    with Session(engine, expire_on_commit=False) as session:
        frame_service.replace_frame(session=session, wave=session.get(Wave, made.baseline.id),
                                    units=[Unit("urban", "Delmas"), Unit("urban", "Carrefour")], actor=None)
        sub, _ = service.submit(session=session, survey=made.survey, wave=session.get(Wave, made.baseline.id),
                                payload=make_payload(cluster="Delmass", stratum="urban"), enumerator=personas["eddy"])
        session.commit()
    csrf = login(client, "sonia")
    listing = client.get(f"/review?survey={made.id}&flag=out_of_frame").text
    assert f"/submissions/{sub.id}" in listing and "Outside the sampling frame" in listing
    page = client.get(f"/submissions/{sub.id}").text
    assert "Cluster &#39;Delmass&#39; is not in the sampling frame of stratum &#39;urban&#39;." in page
    assert "left out of the analysis until you put its stratum and cluster right" in page
    with Session(engine) as session:
        carrefour = session.exec(select(SamplingUnit).where(SamplingUnit.cluster == "Carrefour")).one().id
    r = client.post(f"/submissions/{sub.id}/design", data={"csrf_token": csrf, "unit": str(carrefour)})
    assert r.status_code == 303
    with Session(engine) as session:
        fixed = session.get(Submission, sub.id)
        assert fixed.cluster == "Carrefour" and not [f for f in fixed.flags if f["code"] == "out_of_frame"]
    r = client.post(f"/submissions/{sub.id}/design", data={"csrf_token": csrf, "unit": "99999999999999999999"})
    assert r.status_code == 303  # not a unit of the frame: said so, nothing changed


# --- waves past their end date -------------------------------------------------------------------


def _end(engine, wave_id, ends_on):
    with Session(engine) as session:
        wave = session.get(Wave, wave_id)
        wave.starts_on, wave.ends_on = ends_on - timedelta(days=30), ends_on
        session.add(wave)
        session.commit()


def test_a_wave_past_its_end_date_is_no_longer_offered(client, engine, made):
    _end(engine, made.endline.id, frame_service.field_date() - timedelta(days=1))
    _end(engine, made.baseline.id, frame_service.field_date())  # its last day: still offered
    login(client, "eddy")
    html = client.get("/collect").text
    assert f'href="/collect/{made.id}/{made.baseline.id}"' in html
    assert f'href="/collect/{made.id}/{made.endline.id}"' not in html
    stale = client.get(f"/collect/{made.id}/{made.endline.id}")
    assert stale.status_code == 410
    assert "This wave ended on" in stale.text and "not lost" in stale.text and "data-queue-panel" in stale.text


def test_interviews_queued_for_a_wave_that_just_ended_are_accepted_late_ones_flagged(client, engine, made):
    _end(engine, made.baseline.id, date(2026, 11, 1))  # make_payload's interview ends on 2 November
    headers = bearer(client, "eddy")
    on_time = make_payload(wave="baseline", ended_at="2026-11-01T20:00:00+00:00", started_at="2026-11-01T19:40:00+00:00")
    late = make_payload(wave="baseline")
    for body in (on_time, late):
        assert client.post(f"/api/v1/surveys/{made.id}/submissions", json=body, headers=headers).status_code == 201
    with Session(engine) as session:
        flags = {s.uuid: [f["code"] for f in s.flags] for s in session.exec(select(Submission))}
    assert "after_wave_end" not in flags[on_time["uuid"]]
    assert "after_wave_end" in flags[late["uuid"]]
