"""R's lonely-PSU options, pinned against R.

The expected values come from ``R/lonely_psu.R`` (output in ``R/lonely_psu.Rout``), run
with R 4.2.2 Patched (2022-11-10 r83330) and survey 4.1-1 (``packageVersion("survey")``
prints ``4.1.1``), on ``data/kap_synthetic.csv`` with every village but village 1 of
stratum ``west.endline`` dropped: that stratum has a single PSU.
"""

from __future__ import annotations

import numpy as np
import pytest

from surveys.stats.design import (
    LONELY_PSU_OPTIONS,
    Design,
    cell_sums,
    svychisq,
    svyglm_gaussian,
    svymean,
    svyttest,
)

from .test_design import load

# REF lines of R/lonely_psu.Rout, transcribed (R 4.2.2, survey 4.1-1)
R_REF = {
    "remove.mean.se": 0.0874821009099313,
    "remove.by_wave.se[0]": 0.119186195180005,
    "remove.by_wave.se[1]": 0.131314319563132,
    "remove.ttest_arm.t": 0.270088782921608,
    "remove.ttest_arm.p": 0.788724629712418,
    "remove.ttest_wave.diff": 0.534854634652164,
    "remove.ttest_wave.t": 3.016016593365,
    "remove.ttest_wave.df": 34.0,
    "remove.ttest_wave_knows.t": 2.25827107709363,
    "remove.ttest_wave_knows.ci[0]": 0.0190306921703352,
    "remove.ttest_wave_knows.ci[1]": 0.361247273630118,
    "remove.chisq.F": 4.85027360353166,
    "remove.chisq.ndf": 1.0,
    "remove.glm.se[0]": 0.0971430928950834,
    "remove.glm.se[1]": 0.0586334340470816,
    "remove.glm.df": 34.0,
    "remove.fpc_mean.se": 0.0817686659932522,
    "remove.north1.se": 0.0978087664956504,
    "remove.north1.domain_lonely.se": 0.0978087664956504,
    "adjust.mean.se": 0.0878863169646722,
    "adjust.by_wave.se[0]": 0.119186195180005,
    "adjust.by_wave.se[1]": 0.131477111905656,
    "adjust.ttest_arm.t": 0.268962960571174,
    "adjust.ttest_arm.p": 0.789583635134001,
    "adjust.ttest_wave.diff": 0.534854634652164,
    "adjust.ttest_wave.t": 3.01396730996661,
    "adjust.ttest_wave.df": 34.0,
    "adjust.ttest_wave_knows.t": 2.24034195349355,
    "adjust.ttest_wave_knows.ci[0]": 0.0176613379569259,
    "adjust.ttest_wave_knows.ci[1]": 0.362616627843528,
    "adjust.chisq.F": 4.77215494781008,
    "adjust.chisq.ndf": 1.0,
    "adjust.glm.se[0]": 0.097483167243918,
    "adjust.glm.se[1]": 0.0586353087960821,
    "adjust.glm.df": 34.0,
    "adjust.fpc_mean.se": 0.0821919987677662,
    "adjust.north1.se": 0.0982922922865984,
    "adjust.north1.domain_lonely.se": 0.0983186296868651,
    "average.mean.se": 0.0935222997371851,
    "average.by_wave.se[0]": 0.119186195180005,
    "average.by_wave.se[1]": 0.151628715496454,
    "average.ttest_arm.t": 0.252644922425854,
    "average.ttest_arm.p": 0.802063826406852,
    "average.ttest_wave.diff": 0.534854634652164,
    "average.ttest_wave.t": 2.82122519129923,
    "average.ttest_wave.df": 34.0,
    "average.ttest_wave_knows.t": 2.11241916423633,
    "average.ttest_wave_knows.ci[0]": 0.00721652577229479,
    "average.ttest_wave_knows.ci[1]": 0.373061440028159,
    "average.chisq.F": 4.2439894030902,
    "average.chisq.ndf": 1.0,
    "average.glm.se[0]": 0.103850334601416,
    "average.glm.se[1]": 0.062681777604053,
    "average.glm.df": 34.0,
    "average.fpc_mean.se": 0.0874143808915153,
    "average.north1.se": 0.104561969614199,
    "average.north1.domain_lonely.se": 0.12355185923753,
    "certainty.mean.se": 0.0874821009099313,
    "certainty.by_wave.se[0]": 0.119186195180005,
    "certainty.by_wave.se[1]": 0.131314319563132,
    "certainty.ttest_arm.t": 0.270088782921608,
    "certainty.ttest_arm.p": 0.788724629712418,
    "certainty.ttest_wave.diff": 0.534854634652164,
    "certainty.ttest_wave.t": 3.016016593365,
    "certainty.ttest_wave.df": 34.0,
    "certainty.ttest_wave_knows.t": 2.25827107709363,
    "certainty.ttest_wave_knows.ci[0]": 0.0190306921703352,
    "certainty.ttest_wave_knows.ci[1]": 0.361247273630118,
    "certainty.chisq.F": 4.85027360353166,
    "certainty.chisq.ndf": 1.0,
    "certainty.glm.se[0]": 0.0971430928950834,
    "certainty.glm.se[1]": 0.0586334340470816,
    "certainty.glm.df": 34.0,
    "certainty.fpc_mean.se": 0.0817686659932522,
    "certainty.north1.se": 0.0978087664956504,
    "certainty.north1.domain_lonely.se": 0.0978087664956504,
}

OPTIONS = ("remove", "adjust", "average", "certainty")


def close(value, name):
    assert value == pytest.approx(R_REF[name], rel=1e-9, abs=1e-13), name


@pytest.fixture(scope="module")
def lonely():
    kap = load("kap_synthetic.csv")
    keep = ~((kap["stratum"] == "west.endline") & (kap["village"] != 1))
    out = {k: v[keep] for k, v in kap.items()}
    out["north1"] = (out["region"] != "north") | (out["village"] == 1)
    return out


def design(d, option, fpc=False, domain_lonely=False):
    # R: options(survey.lonely.psu = option, survey.adjust.domain.lonely = domain_lonely)
    #    svydesign(id = ~village, strata = ~stratum, weights = ~wt, nest = TRUE, data = lonely)
    return Design(weights=d["wt"], clusters=d["village"], strata=d["stratum"],
                  fpc=d["fpc"] if fpc else None, lonely_psu=option, adjust_domain_lonely=domain_lonely)


@pytest.mark.parametrize("option", OPTIONS)
def test_it_matches_r_for_every_estimator(lonely, option):
    d = design(lonely, option)
    assert d.lonely_strata() == ("west.endline",)
    m = svymean(lonely["attitude"], d)
    assert m.ok
    close(m.se, f"{option}.mean.se")
    by = svymean(lonely["attitude"], d, by=lonely["wave"])  # svyby(~attitude, ~wave, d, svymean)
    close(by["baseline"].se, f"{option}.by_wave.se[0]")
    close(by["endline"].se, f"{option}.by_wave.se[1]")
    t = svyttest(lonely["attitude"], lonely["arm"], d)
    close(t.t, f"{option}.ttest_arm.t")
    close(t.p, f"{option}.ttest_arm.p")
    # R: svyttest(attitude ~ wave, d); the report's change between waves is this contrast
    tw = svyttest(lonely["attitude"], lonely["wave"], d)
    close(tw.estimate, f"{option}.ttest_wave.diff")
    close(tw.t, f"{option}.ttest_wave.t")
    assert tw.df == R_REF[f"{option}.ttest_wave.df"]
    [fit] = cell_sums(lonely["attitude"], d, (lonely["wave"] == "endline").astype(int), 2,
                      squares=False).contrast([-1.0, 1.0])
    close(fit.estimate / fit.se, f"{option}.ttest_wave.t")
    c = svychisq(lonely["knows"], lonely["wave"], d)
    close(c.f, f"{option}.chisq.F")
    close(c.ndf, f"{option}.chisq.ndf")
    g = svyglm_gaussian(lonely["attitude"], lonely["exposure"], d)
    close(g.se[0], f"{option}.glm.se[0]")
    close(g.se[1], f"{option}.glm.se[1]")
    assert g.df == R_REF[f"{option}.glm.df"]
    close(svymean(lonely["attitude"], design(lonely, option, fpc=True)).se, f"{option}.fpc_mean.se")


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("domain_lonely", [False, True])
def test_it_matches_r_in_a_domain_with_one_psu_per_stratum(lonely, option, domain_lonely):
    # R: svymean(~attitude, subset(d, north1)); north strata keep village 1 only
    d = design(lonely, option, domain_lonely=domain_lonely)
    r = svymean(lonely["attitude"], d, domain=lonely["north1"])
    close(r.se, f"{option}.north1{'.domain_lonely' if domain_lonely else ''}.se")
    # the same through the one-pass sums
    s = cell_sums(lonely["attitude"], d, np.where(lonely["north1"], 0, -1), 1).means()[0][0]
    close(s.se, f"{option}.north1{'.domain_lonely' if domain_lonely else ''}.se")


def test_it_fails_by_default_and_names_the_stratum_plainly(lonely):
    d = Design(weights=lonely["wt"], clusters=lonely["village"], strata=np.where(lonely["stratum"] == "west.endline", 7, 1))
    r = svymean(lonely["attitude"], d)
    assert not r.ok and r.reason.startswith("stratum 7 has only one PSU") and "np." not in r.reason


def test_it_cannot_average_when_every_stratum_is_lonely():
    # R: svymean(~y, svydesign(id = ~c, strata = ~s, data = d)) gives SE NaN with "average"
    # and 0.8838835 with "adjust" (R 4.2.2, survey 4.1-1)
    d = Design(clusters=[1, 1, 2, 2], strata=[1, 1, 2, 2], lonely_psu="average")
    r = svymean([1.0, 2.0, 3.0, 5.0], d)
    assert not r.ok and "every stratum" in r.reason and r.estimate == 2.75
    # adjust still gives a (conservative) variance: PSU totals around the grand mean 0
    a = svymean([1.0, 2.0, 3.0, 5.0], Design(clusters=[1, 1, 2, 2], strata=[1, 1, 2, 2], lonely_psu="adjust"))
    z = np.array([1 - 2.75 + 2 - 2.75, 3 - 2.75 + 5 - 2.75]) / 4
    assert a.ok and a.se == pytest.approx(np.sqrt((z ** 2).sum())) == pytest.approx(0.8838835, abs=1e-7)


def test_it_rejects_an_unknown_option():
    with pytest.raises(ValueError, match="lonely_psu must be one of"):
        Design(clusters=[1, 2], lonely_psu="drop")
    assert LONELY_PSU_OPTIONS[0] == "fail"


@pytest.mark.parametrize("option", OPTIONS)
def test_the_report_matches_r_with_a_lonely_stratum(lonely, option):
    # surveys.analysis stacks strata as region x wave: exactly the data's `stratum` column
    from surveys.analysis import AnalysisData, analyse  # noqa: PLC0415
    from surveys.scoring import ScoredItem, ScoringKey  # noqa: PLC0415

    data = AnalysisData(
        key=ScoringKey((ScoredItem("knows", "knowledge", False, correct=frozenset({"yes"})),)),
        wave=(lonely["wave"] == "endline").astype(np.int8), scores=lonely["knows"][:, None],
        weights=lonely["wt"], clusters=lonely["village"].astype(int).astype(str).astype(object),
        strata=lonely["region"].astype(object))
    report = analyse(data, lonely_psu=option)
    assert report["design"]["lonely_psu"]["strata"] == [{"stratum": "west", "wave": "endline", "respondents": 16}]
    item, [score] = report["items"][0], report["domains"]
    close(item["statistic"], f"{option}.chisq.F")  # R: svychisq(~knows + wave, d)
    close(score["statistic"], f"{option}.ttest_wave_knows.t")  # R: svyttest(knows ~ wave, d)
    close(score["diff_ci_low"] / 100, f"{option}.ttest_wave_knows.ci[0]")
    close(score["diff_ci_high"] / 100, f"{option}.ttest_wave_knows.ci[1]")
