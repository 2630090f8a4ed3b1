"""Property-based checks of surveys.stats.design (hypothesis).

These need no reference values: they check invariances that any correct
design-based estimator has (weights scale, row order, label names), agreement
between the vectorised code paths (by-groups, 2-D input, the closed-form t-test
vs the general regression) and a slow, literal transcription of R's
``svyrecvar`` formula.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.stats.design import Design, svychisq, svyglm_gaussian, svymean, svyttest

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw, min_psu: int = 2):
    """A stratified cluster sample with every stratum holding >= 2 PSUs."""
    n_strata = draw(st.integers(1, 3))
    strata, clusters = [], []
    for h in range(n_strata):
        n_psu = draw(st.integers(min_psu, 5))
        for c in range(n_psu):
            size = draw(st.integers(1, 4))
            strata += [h] * size
            clusters += [c] * size  # labels reused across strata: nesting matters
    n = len(strata)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 20.0, n)
    y = np.round(rng.normal(50.0, 10.0, n), 2)
    binary = rng.integers(0, 2, n)
    group = rng.integers(0, 2, n)
    domain = rng.random(n) < 0.7
    return dict(strata=np.array(strata), clusters=np.array(clusters), weights=weights,
                y=y, binary=binary, group=group, domain=domain, rng=rng)


def make_design(s, **over):
    args = dict(weights=s["weights"], clusters=s["clusters"], strata=s["strata"])
    args.update(over)
    return Design(**args)


def naive_mean_se(y, w, clusters, strata, domain):
    """R's svymean + svyrecvar written out literally, one stratum at a time."""
    dw = np.where(domain, w, 0.0)
    total = dw.sum()
    ybar = (dw * y).sum() / total
    z = dw * (y - ybar) / total
    var = 0.0
    for h in np.unique(strata):
        in_h = strata == h
        psus = np.unique(clusters[in_h])
        totals = np.array([z[in_h & (clusters == c)].sum() for c in psus])
        n_h = len(psus)
        var += n_h / (n_h - 1) * ((totals - totals.mean()) ** 2).sum()
    return ybar, np.sqrt(var)


def close(a, b, rel=1e-9):
    return a == pytest.approx(b, rel=rel, abs=1e-9)


@SETTINGS
@given(samples())
def test_matches_literal_svyrecvar(s):
    d = make_design(s)
    r = svymean(s["y"], d, domain=s["domain"])
    if not s["domain"].any():
        assert not r.ok
        return
    est, se = naive_mean_se(s["y"], s["weights"], s["clusters"], s["strata"], s["domain"])
    assert r.ok
    assert close(r.estimate, est)
    assert close(r.se, se)


@SETTINGS
@given(samples(), st.floats(0.01, 1000.0))
def test_weight_scale_invariance(s, c):
    d1, d2 = make_design(s), make_design(s, weights=s["weights"] * c)
    a, b = svymean(s["y"], d1), svymean(s["y"], d2)
    assert close(a.estimate, b.estimate) and close(a.se, b.se)
    assert close(a.deff_replace, b.deff_replace)
    ta, tb = svyttest(s["y"], s["group"], d1), svyttest(s["y"], s["group"], d2)
    assert ta.ok == tb.ok
    if ta.ok:
        assert close(ta.t, tb.t)
    ca, cb = svychisq(s["binary"], s["group"], d1), svychisq(s["binary"], s["group"], d2)
    assert ca.ok == cb.ok
    if ca.ok:
        assert close(ca.f, cb.f, rel=1e-7)


@SETTINGS
@given(samples())
def test_row_order_and_label_invariance(s):
    d = make_design(s)
    perm = s["rng"].permutation(len(s["y"]))
    relabel = np.array(["psu-%d" % (7 * c + 3) for c in s["clusters"]])
    d2 = Design(weights=s["weights"][perm], clusters=relabel[perm],
                strata=np.array(["s%d" % h for h in s["strata"]])[perm])
    a = svymean(s["y"], d, domain=s["domain"])
    b = svymean(s["y"][perm], d2, domain=s["domain"][perm])
    assert a.ok == b.ok
    if a.ok:
        assert close(a.estimate, b.estimate) and close(a.se, b.se) and a.df == b.df
    ca = svychisq(s["binary"], s["group"], d)
    cb = svychisq(s["binary"][perm], s["group"][perm], d2)
    assert ca.ok == cb.ok
    if ca.ok:
        assert close(ca.f, cb.f, rel=1e-7) and close(ca.ndf, cb.ndf, rel=1e-7)


@SETTINGS
@given(samples(), st.floats(-1e6, 1e6), st.floats(0.01, 100.0))
def test_location_scale(s, shift, scale):
    d = make_design(s)
    a = svymean(s["y"], d)
    b = svymean(s["y"] * scale + shift, d)
    assert b.estimate == pytest.approx(a.estimate * scale + shift, rel=1e-9, abs=1e-6)
    assert b.se == pytest.approx(a.se * scale, rel=1e-6)


@SETTINGS
@given(samples())
def test_full_domain_equals_no_domain(s):
    d = make_design(s)
    a = svymean(s["y"], d)
    b = svymean(s["y"], d, domain=np.ones(len(s["y"]), dtype=bool))
    assert close(a.estimate, b.estimate) and close(a.se, b.se) and a.df == b.df


@SETTINGS
@given(samples())
def test_ttest_matches_regression(s):
    d = make_design(s)
    t = svyttest(s["y"], s["group"], d, domain=s["domain"])
    m = svyglm_gaussian(s["y"], s["group"].astype(float), d, domain=s["domain"])
    if t.ok and m.ok:
        assert close(t.estimate, m.coef[1], rel=1e-8)
        assert close(t.se, m.se[1], rel=1e-7)
        assert t.df == m.df
        assert close(t.p, m.p[1], rel=1e-6)
        assert close(t.mean0, m.coef[0], rel=1e-8)


@SETTINGS
@given(samples())
def test_by_matches_domains(s):
    d = make_design(s)
    by = s["binary"] + 2 * s["group"]
    res = svymean(s["y"], d, by=by)
    assert set(res) == set(np.unique(by).tolist())
    for g, r in res.items():
        single = svymean(s["y"], d, domain=by == g)
        assert r.ok == single.ok
        assert close(r.estimate, single.estimate)
        if r.ok:
            assert close(r.se, single.se) and r.df == single.df
    tests = svychisq(s["binary"], s["group"], d, by=s["strata"])
    for h, r in tests.items():
        single = svychisq(s["binary"], s["group"], d, domain=s["strata"] == h)
        assert r.ok == single.ok
        if r.ok:
            assert close(r.f, single.f, rel=1e-7)


@SETTINGS
@given(samples())
def test_2d_matches_columns(s):
    d = make_design(s)
    y2 = s["y"].copy()
    y2[s["rng"].random(len(y2)) < 0.2] = np.nan
    Y = np.column_stack([s["y"], y2, s["binary"].astype(float)])
    many = svymean(Y, d, domain=s["domain"], na_rm=True)
    for j in range(3):
        one = svymean(Y[:, j], d, domain=s["domain"], na_rm=True)
        assert many[j].ok == one.ok
        if one.ok:
            assert close(many[j].estimate, one.estimate) and close(many[j].se, one.se)


@SETTINGS
@given(samples())
def test_chisq_is_a_valid_test(s):
    r = svychisq(s["binary"], s["group"], make_design(s))
    if r.ok:
        assert r.f >= 0 and 0 <= r.p <= 1
        assert r.ndf == pytest.approx(1.0)  # a 2 x 2 table has one contrast
        assert r.ddf == pytest.approx(make_design(s).df)
        assert r.proportions.sum() == pytest.approx(1.0)


@SETTINGS
@given(st.integers(2, 50), st.integers(0, 2**32 - 1))
def test_srs_standard_error(n, seed):
    # no weights, no clusters: with-replacement SRS, se = s / sqrt(n)
    y = np.random.default_rng(seed).normal(size=n)
    r = svymean(y, Design.srs(n))
    assert r.se == pytest.approx(np.std(y, ddof=1) / np.sqrt(n), rel=1e-9)
    assert r.deff_replace == pytest.approx(1.0, rel=1e-9)


@SETTINGS
@given(samples(min_psu=1))
def test_lonely_psu_is_reported_not_estimated(s):
    d = make_design(s)
    lonely = [h for h in np.unique(s["strata"])
              if len(np.unique(s["clusters"][s["strata"] == h])) == 1]
    r = svymean(s["y"], d)
    assert r.ok == (not lonely)
    if lonely:
        assert r.se is None and "only one PSU" in r.reason
        assert close(r.estimate, np.average(s["y"], weights=s["weights"]))
