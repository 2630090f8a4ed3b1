"""The KAP-shift report (surveys.analysis), pinned against R's survey package end to end.

Expected values: tests/surveys/R/analysis_reference.R, run with R 4.2.2 and survey 4.1-1; its
printed output is analysis_reference.Rout beside it. Data: tests/surveys/stats/data/kap_synthetic.csv.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.analysis import MIN_PER_WAVE, AnalysisData, analyse, describe_entry
from surveys.scoring import ScoredItem, ScoringKey

DATA = Path(__file__).parent / "stats" / "data" / "kap_synthetic.csv"
KEY = ScoringKey((ScoredItem("knows", "knowledge", False, correct=frozenset({"yes"})),))


def _kap(**overrides) -> AnalysisData:
    with DATA.open() as fh:
        rows = list(csv.DictReader(fh))
    fields = dict(
        key=KEY,
        wave=np.array([r["wave"] == "endline" for r in rows], dtype=np.int8),
        scores=np.array([[float(r["knows"])] for r in rows]),
        weights=np.array([float(r["wt"]) for r in rows]),
        clusters=np.array([r["village"] for r in rows], dtype=object),
        strata=np.array([r["region"] for r in rows], dtype=object),
        arm=np.array(["intervention" if r["arm"] == "treatment" else "comparison" for r in rows], dtype=object),
        groups={"segment": np.array([r["segment"] for r in rows], dtype=object)},
    )
    fields.update(overrides)
    return AnalysisData(**fields)


@pytest.fixture(scope="module")
def report():
    return analyse(_kap(), by="segment")


def test_it_matches_r_svyby_for_the_wave_estimates(report):
    item = report["items"][0]
    # R: svyby(~knows, ~wave, d, svymean, deff = TRUE)
    assert item["baseline"]["estimate"] == pytest.approx(0.425373492322346, rel=1e-9)
    assert item["baseline"]["se"] == pytest.approx(0.0455520919066363, rel=1e-9)
    assert item["baseline"]["design_effect"] == pytest.approx(3.03221059170211, rel=1e-9)
    assert item["endline"]["estimate"] == pytest.approx(0.648123268171995, rel=1e-9)
    assert item["endline"]["se"] == pytest.approx(0.0558686457533683, rel=1e-9)
    assert item["endline"]["design_effect"] == pytest.approx(4.57951631622142, rel=1e-9)


def test_it_matches_r_svyttest_for_the_difference(report):
    item = report["items"][0]
    # R: svyttest(knows ~ endline, d); confint(...)
    assert item["difference"] == pytest.approx(0.22274977584964775, rel=1e-9)
    assert item["diff_ci_low"] == pytest.approx(0.0769433793173264, rel=1e-9)
    assert item["diff_ci_high"] == pytest.approx(0.368556172381969, rel=1e-9)


def test_it_matches_r_svychisq_for_the_test(report):
    item = report["items"][0]
    # R: svychisq(~knows + wave, d) -> F = 8.926138, ndf = 1, ddf = 40, p = 0.004785140
    assert item["test"] == "rao-scott-f"
    assert item["statistic"] == pytest.approx(8.92613831453358664, rel=1e-8)
    assert item["df"] == pytest.approx(40)
    assert item["df_num"] == pytest.approx(1)
    assert item["p_value"] == pytest.approx(0.00478514038362051, rel=1e-7)


def test_it_matches_r_svyttest_for_domain_scores(report):
    domain = report["domains"][0]
    # R: svyttest(score ~ endline, d) with score = 100 * knows
    assert domain["code"] == "knowledge" and domain["measure"] == "mean"
    assert domain["difference"] == pytest.approx(22.27497758496482305, rel=1e-9)
    assert domain["statistic"] == pytest.approx(3.09008356126153449, rel=1e-9)
    assert domain["df"] == 39
    assert domain["p_value"] == pytest.approx(0.00368195816520121, rel=1e-8)


def test_it_matches_r_svyglm_for_the_difference_in_differences(report):
    did = report["did"]["items"][0]
    # R: svyglm(knows ~ endline * treated, d), coefficient endline:treated
    assert did["estimate"] == pytest.approx(0.2168586976726489, rel=1e-9)
    assert did["se"] == pytest.approx(0.1180903374728164, rel=1e-9)
    assert did["p_value"] == pytest.approx(0.0743463098634786, rel=1e-8)
    assert did["ci_low"] == pytest.approx(-0.0224150540713356, rel=1e-8)
    assert did["ci_high"] == pytest.approx(0.456132449416634, rel=1e-9)
    assert did["df"] == 37


def test_it_matches_r_on_a_segment_domain(report):
    group = next(g for g in report["groups"] if g["value"] == "F18-24")
    item = group["items"][0]
    # R: svychisq(~knows + wave, subset(d, segment == "F18-24")); svyttest(knows ~ endline, same)
    assert item["statistic"] == pytest.approx(7.94051898373081944, rel=1e-8)
    assert item["p_value"] == pytest.approx(0.00747694166315695, rel=1e-7)
    assert item["difference"] == pytest.approx(0.25656120731988341, rel=1e-9)


def test_it_reports_the_design(report):
    design = report["design"]
    assert design["type"] == "independent" and design["clustered"] and design["weighted"] and design["stratified"]
    assert report["correction"] == "holm"


def _simple(n=400, p0=0.4, p1=0.6, seed=1, **kw):
    rng = np.random.default_rng(seed)
    wave = np.repeat([0, 1], n // 2).astype(np.int8)
    y = (rng.random(n) < np.where(wave == 1, p1, p0)).astype(float)
    return AnalysisData(key=KEY, wave=wave, scores=y[:, None], **kw)


def test_it_uses_prop_test_without_correction_for_simple_samples():
    data = _simple()
    item = analyse(data)["items"][0]
    x0 = int(data.scores[data.wave == 0, 0].sum())
    x1 = int(data.scores[data.wave == 1, 0].sum())
    from surveys.stats.proportions import two_proportions

    expected = two_proportions(x0, 200, x1, 200)
    assert item["test"] == "chi-square"
    assert item["statistic"] == pytest.approx(expected.test.statistic)
    assert item["design_effect"] == 1.0


def test_it_matches_respondents_for_a_panel_and_counts_the_unmatched():
    rng = np.random.default_rng(4)
    before = (rng.random(120) < 0.4).astype(float)
    after = np.where(rng.random(120) < 0.7, 1.0, before)
    codes = np.array([f"R{i}" for i in range(120)] + [f"R{i}" for i in range(110)] + ["X1", "X2"], dtype=object)
    scores = np.concatenate([before, after[:110], [1.0, 0.0]])[:, None]
    wave = np.array([0] * 120 + [1] * 112, dtype=np.int8)
    report = analyse(AnalysisData(key=KEY, wave=wave, scores=scores, respondent=codes, panel=True))
    item = report["items"][0]
    assert item["test"] in ("mcnemar", "mcnemar-exact")
    assert item["baseline"]["n"] == 110
    assert report["design"]["unmatched"] == {"baseline": 10, "endline": 2, "without_code": 0}


def test_it_says_not_enough_data_for_small_groups():
    data = _simple(groups={"segment": np.array(["big"] * 390 + ["tiny"] * 10, dtype=object)})
    report = analyse(data, by="segment")
    tiny = next(g for g in report["groups"] if g["value"] == "tiny")
    entry = tiny["items"][0]
    assert entry["ok"] is False and entry["p_value"] is None
    assert f"fewer than {MIN_PER_WAVE}" in entry["reason"]
    assert "not enough data" in describe_entry(entry, "Knows the law", "holm")


def test_it_refuses_an_unknown_breakdown():
    with pytest.raises(ValueError, match="unknown breakdown"):
        analyse(_simple(), by="religion")


def test_it_writes_a_plain_sentence():
    entry = {"ok": True, "measure": "proportion", "baseline": {"estimate": 0.41}, "endline": {"estimate": 0.68},
             "difference": 0.27, "diff_ci_low": 0.19, "diff_ci_high": 0.35, "p_value": 0.0001, "p_adjusted": 0.0004}
    assert describe_entry(entry, "Knowledge of the 2014 law", "holm") == (
        "Knowledge of the 2014 law rose from 41% to 68% (+27 points, 95% CI 19 to 35; p < 0.001 after Holm correction).")


@settings(max_examples=30, deadline=None, database=None)
@given(p0=st.floats(0.05, 0.95), p1=st.floats(0.05, 0.95), seed=st.integers(0, 10_000),
       weighted=st.booleans())
def test_it_keeps_the_invariants(p0, p1, seed, weighted):
    rng = np.random.default_rng(seed)
    extra = {"weights": rng.uniform(0.5, 2, 400), "clusters": rng.integers(0, 30, 400).astype(str).astype(object)} if weighted else {}
    data = _simple(p0=p0, p1=p1, seed=seed, **extra)
    item = analyse(data)["items"][0]
    if not item["ok"]:
        return
    assert 0 <= item["p_value"] <= 1
    for wave in ("baseline", "endline"):
        w = item[wave]
        assert w["ci_low"] <= w["estimate"] <= w["ci_high"]
    assert item["diff_ci_low"] <= item["difference"] <= item["diff_ci_high"]
    swapped = analyse(AnalysisData(key=KEY, wave=(1 - data.wave).astype(np.int8), scores=data.scores, **extra))["items"][0]
    assert swapped["difference"] == pytest.approx(-item["difference"])
    assert swapped["p_value"] == pytest.approx(item["p_value"])


def test_it_gives_the_unweighted_result_with_weights_of_one():
    plain = analyse(_simple())["domains"][0]
    ones = analyse(_simple(weights=np.ones(400)))["domains"][0]
    assert ones["difference"] == pytest.approx(plain["difference"])
    assert ones["p_value"] == pytest.approx(plain["p_value"])


# --- knowledge levels (good 80+, moderate 60-79, poor < 60) -----------------------------------


def test_knowledge_levels_match_r_with_one_item(report):
    """With one knowledge item the score is 0 or 100: "good" is R's svymean(~knows) per wave, and
    the change test is R's svychisq(~knows + wave, d), the values pinned above."""
    levels = report["knowledge_levels"]
    assert [lv["code"] for lv in levels["levels"]] == ["good", "moderate", "poor"]
    assert levels["baseline"]["good"]["estimate"] == pytest.approx(0.425373492322346, rel=1e-9)
    assert levels["baseline"]["poor"]["estimate"] == pytest.approx(1 - 0.425373492322346, rel=1e-9)
    assert levels["baseline"]["moderate"]["estimate"] == 0
    assert levels["endline"]["good"]["estimate"] == pytest.approx(0.648123268171995, rel=1e-9)
    # confint(svymean(~knows, subset(d, wave == "baseline"))): estimate -/+ 1.96 se
    assert levels["baseline"]["good"]["ci_low"] == pytest.approx(0.425373492322346 - 1.959963984540054 * 0.0455520919066363,
                                                                 rel=1e-7)
    assert levels["change"]["test"] == "Rao-Scott F"
    assert levels["change"]["p_value"] == pytest.approx(0.00478514038362051, rel=1e-7)
    segment = next(g for g in levels["groups"] if g["value"] == "F18-24")
    assert segment["change"]["p_value"] == pytest.approx(0.00747694166315695, rel=1e-7)


def test_knowledge_levels_of_simple_samples_use_pearson_on_the_three_levels():
    key = ScoringKey(tuple(ScoredItem(f"k{i}", "knowledge", False, correct=frozenset({"yes"})) for i in range(5)))
    rng = np.random.default_rng(7)
    wave = np.repeat([0, 1], 200).astype(np.int8)
    right = np.concatenate([rng.binomial(5, 0.55, 200), rng.binomial(5, 0.7, 200)])  # items right of 5
    scores = np.array([[1.0 if j < r else 0.0 for j in range(5)] for r in right])
    levels = analyse(AnalysisData(key=key, wave=wave, scores=scores))["knowledge_levels"]
    # 5 items: 4 or 5 right is good (80%, 100%), 3 moderate (60%), 0-2 poor
    table = np.array([[np.sum((wave == w) & sel) for w in (0, 1)] for sel in (right >= 4, right == 3, right <= 2)])
    for k, name in enumerate(("good", "moderate", "poor")):
        assert levels["baseline"][name]["estimate"] == pytest.approx(table[k, 0] / 200)
        assert levels["endline"][name]["estimate"] == pytest.approx(table[k, 1] / 200)
    from scipy.stats import chi2_contingency

    chi2, p, dof, _ = chi2_contingency(table, correction=False)
    assert levels["change"] == {"ok": True, "p_value": pytest.approx(p), "test": "Pearson chi-square",
                                "statistic": pytest.approx(chi2), "df": 2, "reason": ""}
    assert levels["baseline"]["n"] == levels["endline"]["n"] == 200


def test_knowledge_levels_need_knowledge_items_and_enough_answers():
    attitude = ScoringKey((ScoredItem("a1", "attitude", False, points=("1", "2", "3", "4", "5")),))
    assert "knowledge_levels" not in analyse(AnalysisData(key=attitude, wave=np.array([0, 1] * 20, dtype=np.int8),
                                                          scores=np.full((40, 1), 3.0)))
    few = analyse(AnalysisData(key=KEY, wave=np.array([0, 1] * 4, dtype=np.int8), scores=np.ones((8, 1))))
    assert few["knowledge_levels"]["change"]["ok"] is False
    assert "fewer than" in few["knowledge_levels"]["change"]["reason"]


def test_knowledge_levels_of_a_panel_test_with_respondents_as_clusters():
    key = ScoringKey(tuple(ScoredItem(f"k{i}", "knowledge", False, correct=frozenset({"yes"})) for i in range(5)))
    rng = np.random.default_rng(11)
    before = rng.binomial(5, 0.5, 150)
    after = np.minimum(5, before + rng.binomial(1, 0.4, 150))  # the same people, most a little better
    right = np.concatenate([before, after])
    scores = np.array([[1.0 if j < r else 0.0 for j in range(5)] for r in right])
    people = np.array([f"R{i:03d}" for i in range(150)] * 2, dtype=object)
    report = analyse(AnalysisData(key=key, wave=np.repeat([0, 1], 150).astype(np.int8), scores=scores,
                                  respondent=people, panel=True))
    change = report["knowledge_levels"]["change"]
    assert change["ok"] and change["test"] == "Rao-Scott F" and change["p_value"] < 0.05
    assert report["knowledge_levels"]["endline"]["good"]["estimate"] == pytest.approx(np.mean(after >= 4))
