"""Tests for surveys.stats.multiplicity.p_adjust against R p.adjust."""

import numpy as np
import pytest

from surveys.stats.multiplicity import p_adjust

P5 = [0.01, 0.02, 0.03, 0.04, 0.05]


def test_holm_by_hand():
    # By hand: sorted p times (5, 4, 3, 2, 1) = .05 .08 .09 .08 .05, running max -> .05 .08 .09 .09 .09
    # (R p.adjust(P5, "holm") gives the same)
    np.testing.assert_allclose(p_adjust(P5, "holm"), [0.05, 0.08, 0.09, 0.09, 0.09], rtol=1e-12)


def test_bh_by_hand():
    # By hand: 5/i * p_(i) = .05 for every i (R p.adjust(P5, "BH") gives the same)
    np.testing.assert_allclose(p_adjust(P5, "bh"), [0.05] * 5, rtol=1e-12)


P_NA = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, np.nan, 0.5]


def test_holm_with_nan_matches_r():
    # R 4.2.2: p.adjust(c(0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, NA, 0.5), "holm")
    expected = [0.009, 0.064, 0.273, 0.273, 0.273, 0.273, 0.273, 0.410, np.nan, 0.500]
    np.testing.assert_allclose(p_adjust(P_NA, "holm"), expected, rtol=1e-12)


def test_bh_with_nan_matches_r():
    expected = [0.009, 0.036, 0.0756, 0.0756, 0.0756, 0.09, 0.09514285714, 0.230625, np.nan, 0.5]
    np.testing.assert_allclose(p_adjust(P_NA, "BH"), expected, rtol=1e-9)
    np.testing.assert_allclose(p_adjust(P_NA, "fdr"), expected, rtol=1e-9)


def test_bonferroni_with_nan_matches_r():
    expected = [0.009, 0.072, 0.351, 0.369, 0.378, 0.540, 0.666, 1.0, np.nan, 1.0]
    np.testing.assert_allclose(p_adjust(P_NA, "bonferroni"), expected, rtol=1e-12)


def test_order_preserved_and_ties():
    shuffled = [0.05, 0.01, 0.04, 0.02, 0.03]
    np.testing.assert_allclose(p_adjust(shuffled, "holm"), [0.09, 0.05, 0.09, 0.08, 0.09])
    np.testing.assert_allclose(p_adjust([0.01, 0.01], "holm"), [0.02, 0.02])
    np.testing.assert_allclose(p_adjust([0.02, 0.02], "bh"), [0.02, 0.02])


def test_edge_cases():
    assert p_adjust([], "holm").size == 0
    out = p_adjust([np.nan, np.nan], "bh")
    assert np.isnan(out).all()
    assert p_adjust(0.3, "holm").tolist() == [0.3]
    with pytest.raises(ValueError, match="method"):
        p_adjust(P5, "hommel")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        p_adjust([0.5, 1.2])
    with pytest.raises(ValueError, match="1-D"):
        p_adjust([[0.1, 0.2]])
