"""Property-based tests (hypothesis) for surveys.stats."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from surveys.stats.means import welch_t
from surveys.stats.multiplicity import p_adjust
from surveys.stats.paired import mcnemar, mcnemar_from_pairs, newcombe_paired_interval, paired_t
from surveys.stats.power import minimum_detectable_change, sample_size_two_proportions
from surveys.stats.proportions import newcombe_interval, two_proportions, wilson_interval
from surveys.stats.reliability import cronbach_alpha

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-12


@st.composite
def counts(draw, max_n=400):
    n = draw(st.integers(1, max_n))
    x = draw(st.integers(0, n))
    return x, n


conf_levels = st.sampled_from([0.8, 0.9, 0.95, 0.99])
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def _in01(p):
    return p is not None and 0.0 <= p <= 1.0


@SETTINGS
@given(counts(), conf_levels)
def test_wilson_contains_estimate(xn, conf):
    x, n = xn
    ci = wilson_interval(x, n, conf)
    assert 0.0 <= ci.lower <= x / n <= ci.upper <= 1.0


@SETTINGS
@given(counts(), counts(), conf_levels)
def test_two_proportions_properties(g1, g2, conf):
    (x1, n1), (x2, n2) = g1, g2
    r = two_proportions(x1, n1, x2, n2, conf_level=conf)
    s = two_proportions(x2, n2, x1, n1, conf_level=conf)
    assert r.test.ok and _in01(r.test.p_value)
    assert r.difference_ci.lower - TOL <= r.difference <= r.difference_ci.upper + TOL
    assert -1.0 <= r.difference_ci.lower <= r.difference_ci.upper <= 1.0
    for g in (r.group1, r.group2):
        assert g.ci.lower <= g.estimate <= g.ci.upper
    # swapping groups flips the difference and keeps p
    assert s.difference == pytest.approx(-r.difference, abs=TOL)
    assert s.difference_ci.lower == pytest.approx(-r.difference_ci.upper, abs=1e-12)
    assert s.test.test == r.test.test
    assert s.test.p_value == pytest.approx(r.test.p_value, rel=1e-9, abs=1e-15)
    assert s.effect_size.value == pytest.approx(-r.effect_size.value, abs=TOL)


@SETTINGS
@given(counts(), counts())
def test_newcombe_matches_components(g1, g2):
    (x1, n1), (x2, n2) = g1, g2
    ci = newcombe_interval(x1, n1, x2, n2)
    assert ci.lower <= x2 / n2 - x1 / n1 + TOL
    assert ci.upper >= x2 / n2 - x1 / n1 - TOL


@SETTINGS
@given(st.integers(0, 300), st.integers(0, 300), st.booleans())
def test_mcnemar_p_in_unit_interval_and_symmetric(b, c, correct):
    r = mcnemar(b, c, correct=correct)
    if b + c == 0:
        assert not r.ok and r.p_value is None
        return
    assert r.ok and _in01(r.p_value)
    assert mcnemar(c, b, correct=correct).p_value == pytest.approx(r.p_value, rel=1e-12)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=200))
def test_mcnemar_from_pairs_properties(pairs):
    before = [p[0] for p in pairs]
    after = [p[1] for p in pairs]
    r = mcnemar_from_pairs(before, after)
    s = mcnemar_from_pairs(after, before)
    assert r.n11 + r.n10 + r.n01 + r.n00 == len(pairs)
    ci = r.difference_ci
    assert ci.lower - TOL <= r.difference <= ci.upper + TOL
    assert -1.0 <= ci.lower and ci.upper <= 1.0
    assert s.difference == pytest.approx(-r.difference, abs=TOL)
    assert s.difference_ci.lower == pytest.approx(-ci.upper, abs=1e-12)
    if r.ok:
        assert _in01(r.test.p_value)
        assert s.test.p_value == pytest.approx(r.test.p_value, rel=1e-12)


@SETTINGS
@given(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.integers(0, 60))
def test_newcombe_paired_contains_estimate(a, b, c, d):
    assume(a + b + c + d > 0)
    ci = newcombe_paired_interval(a, b, c, d)
    diff = (c - b) / (a + b + c + d)
    assert ci.lower - TOL <= diff <= ci.upper + TOL


@SETTINGS
@given(st.lists(finite, min_size=0, max_size=40), st.lists(finite, min_size=0, max_size=40))
def test_welch_properties(x, y):
    r = welch_t(x, y)
    s = welch_t(y, x)
    if r.ok:
        assert _in01(r.test.p_value)
        assert r.difference_ci.lower <= r.difference <= r.difference_ci.upper
        assert s.test.statistic == pytest.approx(-r.test.statistic, rel=1e-9, abs=1e-12)
        assert s.test.p_value == pytest.approx(r.test.p_value, rel=1e-9, abs=1e-15)
    else:
        assert r.test.p_value is None and r.reason
    if r.mann_whitney.ok:
        assert _in01(r.mann_whitney.p_value)
        assert s.mann_whitney.p_value == pytest.approx(r.mann_whitney.p_value, rel=1e-9, abs=1e-15)
    for value in (r.test.statistic, r.test.p_value, r.mann_whitney.p_value, r.effect_size.value):
        assert value is None or math.isfinite(value)


@SETTINGS
@given(st.lists(st.tuples(finite, finite), min_size=0, max_size=60))
def test_paired_t_properties(pairs):
    before = [p[0] for p in pairs]
    after = [p[1] for p in pairs]
    r = paired_t(before, after)
    s = paired_t(after, before)
    if r.ok:
        assert _in01(r.test.p_value)
        assert r.difference_ci.lower <= r.mean_difference <= r.difference_ci.upper
        assert s.test.p_value == pytest.approx(r.test.p_value, rel=1e-9, abs=1e-15)
    else:
        assert r.test.p_value is None and r.reason
    if r.wilcoxon.ok:
        assert _in01(r.wilcoxon.p_value)
        assert s.wilcoxon.p_value == pytest.approx(r.wilcoxon.p_value, rel=1e-9, abs=1e-15)


@SETTINGS
@given(
    st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), max_size=30),
    st.sampled_from(["holm", "bh", "bonferroni"]),
)
def test_p_adjust_properties(p, method):
    p = np.array(p, dtype=float)
    adj = p_adjust(p, method)
    assert adj.shape == p.shape
    np.testing.assert_array_equal(np.isnan(adj), np.isnan(p))
    ok = ~np.isnan(p)
    assert (adj[ok] >= p[ok] - 1e-15).all() and (adj[ok] <= 1.0).all()
    # monotone: a smaller raw p never gets a larger adjusted p
    order = np.argsort(p[ok], kind="stable")
    assert (np.diff(adj[ok][order]) >= -1e-15).all()


@SETTINGS
@given(
    st.floats(0.02, 0.98),
    st.floats(0.02, 0.98),
    st.sampled_from(["fanta", "fleiss", "fleiss_cc"]),
    st.sampled_from([1, 2]),
)
def test_sample_size_round_trip(p1, p2, method, sided):
    assume(abs(p2 - p1) > 0.01)
    r = sample_size_two_proportions(p1, p2, method=method, sided=sided)
    assert r.n >= r.n_raw > 0 and r.n_inflated >= r.n
    mdc = minimum_detectable_change(r.n_raw, p1, method=method, sided=sided)
    solved = mdc.p2_increase if p2 > p1 else mdc.p2_decrease
    assert solved == pytest.approx(p2, abs=1e-6)


@SETTINGS
@given(st.integers(2, 8), st.integers(3, 30), st.integers(0, 2**32 - 1))
def test_alpha_ci_contains_alpha(k, n, seed):
    rng = np.random.default_rng(seed)
    m = rng.integers(1, 6, size=(n, k)).astype(float)
    r = cronbach_alpha(m)
    if r.ok:
        assert r.alpha <= 1.0
        if r.ci.ok:
            assert r.ci.lower <= r.alpha <= r.ci.upper
    else:
        assert r.alpha is None and r.reason


def test_docstring_examples():
    import doctest

    from surveys.stats import means, multiplicity, paired, power, proportions, reliability

    for module in (proportions, means, paired, multiplicity, reliability, power):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
        assert result.attempted > 0, module.__name__
