"""Tests for surveys.stats.reliability."""

import numpy as np
import pytest

from surveys.stats.reliability import cronbach_alpha, feldt_interval

SMALL = [[1, 2, 2], [2, 3, 3], [3, 3, 4], [4, 5, 4]]


def test_feldt_statpsych():
    # R statpsych::ci.cronbach(.05, .85, 7, 89): LL 0.7971254, UL 0.8931436 (SE 0.02456518)
    ci = feldt_interval(0.85, 7, 89)
    assert ci.ok and ci.method == "feldt"
    assert ci.lower == pytest.approx(0.7971254, abs=5e-8)
    assert ci.upper == pytest.approx(0.8931436, abs=5e-8)


def test_alpha_by_hand():
    # By hand: item variances 5/3, 19/12, 11/12 (sum 25/6); total scores 5, 8, 10, 13 have
    # variance 34/3; alpha = 3/2 * (1 - (25/6)/(34/3)) = 129/136.
    r = cronbach_alpha(SMALL)
    assert r.ok and r.k == 3 and r.n == 4 and r.n_dropped == 0
    assert r.alpha == pytest.approx(129 / 136, rel=1e-12)
    ci = feldt_interval(129 / 136, 3, 4)
    assert r.ci.lower == pytest.approx(ci.lower) and r.ci.upper == pytest.approx(ci.upper)
    assert r.ci.contains(r.alpha)
    # statpsych SE formula
    assert r.se == pytest.approx(np.sqrt(2 * 3 * (1 - 129 / 136) ** 2 / (2 * 2)))


def test_listwise_deletion():
    m = SMALL + [[np.nan, 1, 1], [5, np.nan, 2]]
    r = cronbach_alpha(m)
    assert r.n == 4 and r.n_dropped == 2
    assert r.alpha == pytest.approx(129 / 136)


def test_failures():
    r = cronbach_alpha([[1, 2], [np.nan, 3]])
    assert not r.ok and r.alpha is None and r.n == 1
    r = cronbach_alpha([[2, 2], [2, 2], [2, 2]])
    assert not r.ok and "variance" in r.reason
    identical = cronbach_alpha([[1, 1], [2, 2], [3, 3]])
    assert identical.alpha == pytest.approx(1.0) and not identical.ci.ok
    with pytest.raises(ValueError, match="2 item"):
        cronbach_alpha([[1], [2]])
    with pytest.raises(ValueError, match="2-D"):
        cronbach_alpha([1, 2, 3])
    with pytest.raises(ValueError, match="k"):
        feldt_interval(0.8, 1, 50)
    with pytest.raises(ValueError, match="alpha"):
        feldt_interval(1.2, 5, 50)


def test_negative_alpha_allowed():
    # negatively correlated items give alpha < 0; Feldt still applies
    r = cronbach_alpha([[1, 4], [2, 3], [3, 2], [4, 1.5]])
    assert r.ok and r.alpha < 0 and r.ci.lower < r.alpha < r.ci.upper
