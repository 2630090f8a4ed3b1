"""One interview in a stratum of its own must never wipe out the report (issue 11).

An enumerator types a stratum of their own (or leaves it blank), the supervisor approves
the interview, and that stratum x wave of the stacked design has a single cluster. R's
default (``survey.lonely.psu = "fail"``) then blanks every result; the report's default
(``adjust``) still estimates everything and says which strata were affected and how.
"""

from __future__ import annotations

import json

import pytest

from surveys.demo import generate_payloads
from tests.factories import bearer, login
from tests.surveys.factories import make_demo_survey

PER_WAVE = 60


@pytest.fixture
def kap(engine):
    return make_demo_survey(engine, per_wave=PER_WAVE, seed=11)


def _one_approved_interview(client, kap, **design) -> int:
    """Entered by the enumerator through the API /collect uses, approved by the supervisor."""
    payload = next(generate_payloads(n=1, wave="endline", seed=99))
    payload.update(uuid="5c1f0d3a-1111-4b2c-9d7e-000000000001", **design)
    r = client.post(f"/api/v1/surveys/{kap.id}/submissions", json=payload, headers=bearer(client, "eddy"))
    assert r.status_code == 201, r.text
    sub_id = r.json()["id"]
    r = client.post("/api/v1/submissions/review", json={"ids": [sub_id], "status": "approved"},
                    headers=bearer(client, "sonia"))
    assert r.status_code == 200, r.text
    return sub_id


def _report(client, kap, **params):
    r = client.get(f"/api/v1/surveys/{kap.id}/analysis",
                   params={"baseline": "baseline", "endline": "endline", **params}, headers=bearer(client, "leo"))
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("stratum", ["Typed by hand", ""])
def test_it_still_shows_every_result_after_one_interview_in_a_new_stratum(client, personas, kap, stratum):
    _one_approved_interview(client, kap, stratum=stratum, cluster="")
    report = _report(client, kap, by="region")
    assert report["design"]["stratified"]
    assert all(d["ok"] for d in report["domains"]), [d["reason"] for d in report["domains"]]
    assert sum(e["ok"] for e in report["items"]) == len(report["items"])
    lonely = report["design"]["lonely_psu"]
    assert lonely["option"] == "adjust"
    assert lonely["strata"] == [{"stratum": stratum or "(no stratum given)", "wave": "endline", "respondents": 1}]
    summary = lonely["summary"]
    assert summary.startswith("1 stratum had a single cluster (") and "in the endline" in summary
    assert "overall mean" in summary and "conservative" in summary
    text = json.dumps(report)
    assert "np." not in text and "int64" not in text and "PSU" not in summary


def test_it_treats_single_cluster_strata_as_asked(client, personas, kap):
    _one_approved_interview(client, kap, stratum="Typed by hand", cluster="Somewhere")
    base = {d["code"]: d for d in _report(client, kap)["domains"]}
    for option in ("average", "remove", "certainty"):
        report = _report(client, kap, lonely_psu=option)
        assert report["design"]["lonely_psu"]["option"] == option
        assert all(d["ok"] for d in report["domains"])
        if option in ("remove", "certainty"):  # the lonely stratum adds nothing: never wider than adjust
            for d in report["domains"]:
                assert d["endline"]["se"] <= base[d["code"]]["endline"]["se"] + 1e-12
    # R's default: the results that include the stratum are not computed, said in plain words
    report = _report(client, kap, lonely_psu="fail")
    endline_results = report["domains"] + report["items"]
    assert not any(e["ok"] for e in endline_results)
    assert all("single cluster" in e["reason"] and "PSU" not in e["reason"] for e in endline_results)
    assert all("np." not in e["sentence"] and "stratum 1" not in e["sentence"] for e in endline_results)
    assert "cannot be computed" in report["design"]["lonely_psu"]["summary"]
    bad = client.get(f"/api/v1/surveys/{kap.id}/analysis", headers=bearer(client, "leo"),
                     params={"baseline": "baseline", "endline": "endline", "lonely_psu": "drop"})
    assert bad.status_code == 422 and "lonely_psu" in json.dumps(bad.json())


def test_it_says_on_the_report_page_which_strata_were_affected(client, personas, kap):
    _one_approved_interview(client, kap, stratum="<b>Typed</b>", cluster="")
    login(client, "leo")
    page = client.get(f"/analysis/{kap.id}")
    assert page.status_code == 200
    html = page.text
    assert "Strata with a single cluster" in html and "&lt;b&gt;Typed&lt;/b&gt; in the endline" in html
    assert "<details><summary>Technical detail</summary>" in html and "survey.lonely.psu" in html
    assert 'name="lonely_psu"' in html and '<option value="adjust" selected>' in html
    assert "Not enough data" not in html and "np.int64" not in html
    page = client.get(f"/analysis/{kap.id}", params={"lonely_psu": "average"}, headers={"HX-Request": "true"})
    assert page.status_code == 200 and "average variance of the other strata" in page.text
    assert "lonely_psu=average" in page.text  # the JSON link keeps the setting
