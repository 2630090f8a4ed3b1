"""Tests for surveys.stats.paired. Sources of pinned values: REFERENCES.md."""

import math

import numpy as np
import pytest

from surveys.stats.paired import _signed_rank, mcnemar, mcnemar_from_pairs, newcombe_paired_interval, paired_t

SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def _pairs_from_table(n11, n10, n01, n00):
    before = [1] * (n11 + n10) + [0] * (n01 + n00)
    after = [1] * n11 + [0] * n10 + [1] * n01 + [0] * n00
    return before, after


def test_agresti_presidential_approval():
    # Agresti: [[794, 150], [86, 570]]; R mcnemar.test: 16.818, p = 4.115e-05 (CC);
    # correct = FALSE: 17.356, p = 3.099e-05.
    r = mcnemar(150, 86)
    assert r.test == "mcnemar" and r.df == 1.0 and r.correction
    assert r.statistic == pytest.approx(16.818, abs=5e-4)
    assert r.p_value == pytest.approx(4.115e-05, abs=5e-9)
    u = mcnemar(150, 86, correct=False)
    assert not u.correction
    assert u.statistic == pytest.approx(17.356, abs=5e-4)
    assert u.p_value == pytest.approx(3.099e-05, abs=5e-9)


def test_agresti_from_pairs():
    before, after = _pairs_from_table(794, 150, 86, 570)
    r = mcnemar_from_pairs(before, after)
    assert (r.n11, r.n10, r.n01, r.n00, r.n) == (794, 150, 86, 570, 1600)
    assert r.p_before == pytest.approx(944 / 1600) and r.p_after == pytest.approx(880 / 1600)
    assert r.difference == pytest.approx(-64 / 1600)
    assert r.test.statistic == pytest.approx(16.818, abs=5e-4)
    assert r.difference_ci.contains(r.difference)


def test_minitab_exact_mcnemar():
    # Minitab worked example, discordant pairs 1 and 8: exact p = 0.03906 (R binom.test(1, 9))
    r = mcnemar(1, 8)
    assert r.test == "mcnemar-exact" and r.df is None and r.statistic == 1
    assert r.p_value == pytest.approx(0.0390625, abs=1e-12)
    assert mcnemar(8, 1).p_value == pytest.approx(0.0390625, abs=1e-12)


def test_fagerland_cavo_2012():
    # Fagerland, Lydersen & Laake (2017) ch. 8, Cavo et al. 2012, table [[59, 6], [16, 80]];
    # contingencytables package tests: exact conditional P = 0.052479, asymptotic (no CC)
    # P = 0.033006, Newcombe square-and-add for p1+ - p+1: -0.0621 (-0.1186 to -0.0046).
    assert mcnemar(6, 16).test == "mcnemar-exact"
    assert mcnemar(6, 16).p_value == pytest.approx(0.052479, abs=5e-7)
    assert mcnemar(6, 16, exact=False, correct=False).p_value == pytest.approx(0.033006, abs=5e-7)
    ci = newcombe_paired_interval(59, 6, 16, 80)
    assert ci.method == "newcombe-paired"
    assert ci.lower == pytest.approx(0.0046, abs=5e-5)
    assert ci.upper == pytest.approx(0.1186, abs=5e-5)
    before, after = _pairs_from_table(59, 6, 16, 80)
    r = mcnemar_from_pairs(before, after)
    assert r.difference == pytest.approx(10 / 161)
    assert round(r.difference, 4) == 0.0621
    assert r.difference_ci.lower == pytest.approx(ci.lower) and r.difference_ci.upper == pytest.approx(ci.upper)


def test_exact_threshold_25():
    assert mcnemar(12, 12).test == "mcnemar-exact"  # 24 discordant
    assert mcnemar(12, 13).test == "mcnemar"  # 25
    assert mcnemar(12, 13, exact=True).test == "mcnemar-exact"


def test_mcnemar_equal_counts_no_correction_like_r():
    # R mcnemar.test skips the correction when b == c: statistic 0, p 1
    r = mcnemar(20, 20)
    assert r.statistic == 0.0 and r.p_value == 1.0 and not r.correction


def test_no_discordant_pairs():
    r = mcnemar(0, 0)
    assert not r.ok and r.p_value is None and "discordant" in r.reason
    res = mcnemar_from_pairs([1, 0, 1], [1, 0, 1])
    assert not res.ok and res.difference == 0.0 and res.difference_ci.ok


def test_from_pairs_missing_and_validation():
    r = mcnemar_from_pairs([1, 0, np.nan, 1, 0], [0, 1, 1, np.nan, 1])
    assert r.n == 3 and r.n_dropped == 2 and (r.n10, r.n01) == (1, 2)
    r = mcnemar_from_pairs(np.array([True, False]), np.array([True, True]))
    assert r.n01 == 1
    with pytest.raises(ValueError, match="before"):
        mcnemar_from_pairs([2, 0], [1, 0])
    with pytest.raises(ValueError, match="same length"):
        mcnemar_from_pairs([1, 0], [1])
    with pytest.raises(ValueError, match="b"):
        mcnemar(-1, 3)
    empty = mcnemar_from_pairs([np.nan], [1])
    assert not empty.ok and empty.n == 0


def test_newcombe_paired_no_pairs():
    assert not newcombe_paired_interval(0, 0, 0, 0).ok


def test_sleep_paired_t():
    # R t.test(extra[group == 2], extra[group == 1], paired = TRUE): t = 4.062127683, df = 9,
    # p = 0.0028328902, CI (0.700114236723, 2.459885763277); the reference's t = -4.0621 is
    # the same test with the groups in the other order.
    r = paired_t(SLEEP1, SLEEP2)
    assert r.ok and r.test.test == "paired-t" and r.test.df == 9.0
    assert r.test.statistic == pytest.approx(4.0621, abs=5e-5)
    assert r.test.statistic == pytest.approx(4.062127683, rel=1e-9)
    assert r.test.p_value == pytest.approx(0.002833, abs=5e-7)
    assert r.test.p_value == pytest.approx(0.0028328902, rel=1e-7)
    assert r.difference_ci.lower == pytest.approx(0.700114236723, abs=1e-10)
    assert r.difference_ci.upper == pytest.approx(2.459885763277, abs=1e-10)
    assert r.mean_difference == pytest.approx(1.58)


def test_sleep_paired_effect_sizes():
    r = paired_t(SLEEP1, SLEEP2)
    # d_z = t / sqrt(n) from the published t
    assert r.cohens_dz == pytest.approx(4.062127683 / math.sqrt(10), rel=1e-9)
    # R 4.2.2: mean(d) / ((sd(g1) + sd(g2)) / 2) * J(9) = 0.761711378727
    assert r.effect_size.name == "hedges_g_av"
    assert r.effect_size.value == pytest.approx(0.761711378727, rel=1e-9)


def test_sleep_paired_wilcoxon_matches_r():
    # R wilcox.test(group2, group1, paired = TRUE): V = 45, p = 0.009090698
    # (one zero difference and ties: normal approximation with continuity correction)
    r = paired_t(SLEEP1, SLEEP2)
    assert r.wilcoxon.test == "wilcoxon-signed-rank" and r.wilcoxon.correction
    assert r.wilcoxon.statistic == 45
    assert r.wilcoxon.p_value == pytest.approx(0.009090698, abs=5e-10)


HW_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HW_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_hollander_wolfe_depression_one_sided():
    # Hollander & Wolfe: R wilcox.test(x, y, paired = TRUE, alternative = "greater"):
    # V = 40, exact p = 0.01953.
    r = _signed_rank(np.array(HW_X) - np.array(HW_Y), "greater")
    assert r.test == "wilcoxon-signed-rank-exact"
    assert r.statistic == 40
    assert r.p_value == pytest.approx(0.01953, abs=5e-6)


def test_hollander_wolfe_depression_two_sided_via_paired_t():
    # before = x (first visit), after = y (second visit): V for (y - x) = 45 - 40 = 5;
    # two-sided exact p = 2 * 0.01953125 = 0.0390625 (R wilcox.test(y, x, paired = TRUE))
    r = paired_t(HW_X, HW_Y)
    assert r.wilcoxon.test == "wilcoxon-signed-rank-exact"
    assert r.wilcoxon.statistic == 5
    assert r.wilcoxon.p_value == pytest.approx(0.0390625, abs=1e-12)
    assert r.mean_difference < 0


# R 4.2.2: set.seed(4); s1 = round(rnorm(40), 4); s2 = round(s1 + rnorm(40, 0.3), 4);
# wilcox.test(s2, s1, paired = TRUE): V = 532, exact p = 0.102890670403
S1_40 = [0.2168, -0.5425, 0.8911, 0.596, 1.6356, 0.6893, -1.2812, -0.2131, 1.8965, 1.7769, 0.5666, 0.0157, 0.3831, -0.0451, 0.0344, 0.169, 1.165, -0.0442, -0.1004, -0.2834, 1.5408, 0.1652, 1.3076, 1.2883, 0.5929, -0.2829, 1.2559, 0.9098, -0.928, 1.2402, 0.1535, 1.0519, -0.7542, -1.4822, 0.8611, -0.4045, -0.2274, 0.9341, -0.4659, -0.6375]
S2_40 = [1.8605, -0.061, 2.4836, -0.792, 1.1146, 0.1272, -0.8824, -0.2888, 2.9204, 0.2795, 0.2029, -0.308, 0.6035, 0.6905, 2.3053, -0.1278, 0.9125, 0.9518, 0.0439, 1.3655, 0.7723, 1.5297, 0.2949, 3.652, 1.0243, -0.2146, 1.1585, 2.0992, -0.1018, 1.3689, 0.6122, 0.8662, -1.4131, -1.0017, 1.8828, -0.474, 0.3101, 0.5682, -0.9627, -0.3892]


def test_signed_rank_exact_n40_matches_r():
    r = paired_t(S1_40, S2_40)
    assert r.wilcoxon.test == "wilcoxon-signed-rank-exact"
    assert r.wilcoxon.statistic == 532
    assert r.wilcoxon.p_value == pytest.approx(0.102890670403, rel=1e-9)


# R 4.2.2: set.seed(2); s1 = round(rnorm(60), 4); s2 = round(s1 + rnorm(60, 0.2), 4);
# wilcox.test(s2, s1, paired = TRUE): V = 1041, p = 0.3555482 (n >= 50: normal + CC)
S1_60 = [-0.8969, 0.1848, 1.5878, -1.1304, -0.0803, 0.1324, 0.708, -0.2397, 1.9845, -0.1388, 0.4177, 0.9818, -0.3927, -1.0397, 1.7822, -2.3111, 0.8786, 0.0358, 1.0128, 0.4323, 2.0908, -1.1999, 1.5896, 1.9547, 0.0049, -2.4517, 0.4772, -0.5966, 0.7922, 0.2896, 0.7389, 0.319, 1.0762, -0.2842, -0.7767, -0.5957, -1.726, -0.9026, -0.5591, -0.2465, -0.3836, -1.9591, -0.8417, 1.9035, 0.6225, 1.9909, -0.3055, -0.0908, -0.1842, -1.1988, -0.8383, 2.0663, -0.5622, 1.2757, -1.0476, -1.9659, -0.323, 0.9359, 1.1392, 1.6716]
S2_60 = [-2.4851, 2.416, 1.0847, -0.7722, 0.6259, -0.4876, -1.0908, -0.519, 2.2687, -0.8343, -0.3036, 1.5122, -0.3344, -0.4049, 1.9285, -3.0182, 2.3821, 1.0076, 2.2653, -0.7777, 3.2868, -2.6957, 1.2562, 0.7824, -2.003, -0.4296, 0.0238, -0.6813, 0.6053, 0.8763, 2.5393, 2.2002, 0.0926, -1.4427, -2.0894, -1.6488, 0.4334, -0.695, -1.2017, -0.6477, 0.8909, -1.4985, -0.956, 1.3539, -0.0397, 4.2389, 0.8344, 2.1179, -0.4056, -1.3496, -1.6657, 2.0158, 0.1097, 2.8346, -0.2834, -1.3099, 1.108, 2.283, 1.4458, 1.0883]


def test_signed_rank_normal_n60_matches_r():
    r = paired_t(S1_60, S2_60)
    assert r.wilcoxon.test == "wilcoxon-signed-rank"
    assert r.wilcoxon.statistic == 1041
    assert r.wilcoxon.p_value == pytest.approx(0.3555482, abs=5e-8)


def test_paired_t_failures():
    r = paired_t([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])  # constant differences
    assert not r.ok and "constant" in r.reason and r.test.p_value is None
    assert r.mean_difference == 1.0
    assert r.wilcoxon.ok  # signed-rank still defined
    r = paired_t([1.0], [2.0])
    assert not r.ok and r.n == 1
    r = paired_t([1.0, 2.0], [1.0, 2.0])
    assert not r.ok and not r.wilcoxon.ok and "zero" in r.wilcoxon.reason
    r = paired_t([1.0, 2.0], [3.0, 3.5])  # n = 2: t defined, g_av is not
    assert r.ok and not r.effect_size.ok
    r = paired_t([1.0, np.nan, 2.0, 4.0], [2.0, 5.0, np.nan, 3.0])
    assert r.n == 2 and r.n_dropped == 2
    with pytest.raises(ValueError, match="same length"):
        paired_t([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="alternative"):
        _signed_rank(np.array([1.0]), "both")


def test_paired_swap_symmetry():
    a = paired_t(SLEEP1, SLEEP2)
    b = paired_t(SLEEP2, SLEEP1)
    assert b.test.statistic == pytest.approx(-a.test.statistic)
    assert b.test.p_value == pytest.approx(a.test.p_value)
    assert b.wilcoxon.p_value == pytest.approx(a.wilcoxon.p_value)
    assert b.difference_ci.lower == pytest.approx(-a.difference_ci.upper)
