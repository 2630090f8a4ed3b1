"""Fieldwork progress: interviews per day, enumerator and cluster against the target sample size."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from surveys import service as survey_svc
from surveys.models import SubmissionStatus
from surveys.stats.power import sample_size_two_proportions
from tests.factories import login
from tests.surveys.factories import make_payload, make_survey
from web.dashboards.fieldwork import TargetInputs, fieldwork_charts, fieldwork_progress


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
    assert progress["clusters"] == [{"cluster": "<b>Les Cayes</b>", "interviews": 2}, {"cluster": "Jacmel", "interviews": 2}]
    charts = fieldwork_charts(progress)
    cumulative = charts["progress"]["figure"]["data"][1]
    assert cumulative["y"] == [4]
    target_line = charts["progress"]["figure"]["data"][2]
    assert target_line["y"] == [expected, expected] and target_line["x"][1] == "2026-12-31"
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
