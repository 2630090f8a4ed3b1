"""Tests for surveys.stats.means. Sources of pinned values: REFERENCES.md."""

import math

import numpy as np
import pytest

from surveys.stats.means import describe_mean, welch_t

# R datasets::sleep (Student 1908): extra sleep, group 1 and group 2.
SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_sleep_welch_matches_r():
    # R t.test(extra ~ group, data = sleep): t = -1.8608, df = 17.776, p = 0.07939,
    # CI (-3.3654832, 0.2054832) for group1 - group2. Ours is group2 - group1: signs flip.
    r = welch_t(SLEEP1, SLEEP2)
    assert r.ok and r.test.test == "welch-t"
    assert r.test.statistic == pytest.approx(1.8608, abs=5e-5)
    assert r.test.df == pytest.approx(17.776, abs=5e-4)
    assert r.test.p_value == pytest.approx(0.07939, abs=5e-6)
    assert r.test.p_value == pytest.approx(0.0793941401874, rel=1e-9)  # R 4.2.2, full precision
    assert r.difference_ci.lower == pytest.approx(-0.2054832, abs=5e-8)
    assert r.difference_ci.upper == pytest.approx(3.3654832, abs=5e-8)
    assert r.difference == pytest.approx(1.58)


def test_sleep_mann_whitney_matches_r():
    # R 4.2.2 wilcox.test(group2, group1): W = 74.5, p = 0.06932757543 (ties: normal approx + CC)
    r = welch_t(SLEEP1, SLEEP2)
    assert r.mann_whitney.test == "mann-whitney" and r.mann_whitney.correction
    assert r.mann_whitney.statistic == 74.5
    assert r.mann_whitney.p_value == pytest.approx(0.06932757543362658, rel=1e-9)


def test_sleep_hedges_g():
    # R 4.2.2: d = (mean2 - mean1) / s_pooled = 0.8321810813; g = d * J(18) = 0.7969352392
    r = welch_t(SLEEP1, SLEEP2)
    assert r.effect_size.name == "hedges_g"
    assert r.effect_size.value == pytest.approx(0.7969352392, rel=1e-9)
    approx_j = 1 - 3 / (4 * 18 - 1)
    assert r.effect_size.value == pytest.approx(0.8321810813 * approx_j, rel=1e-3)


def test_mann_whitney_exact_hollander_wolfe_permeability():
    # Hollander & Wolfe (1973) p. 69, chorioamnion permeability; R wilcox.test(x, y) example:
    # W = 35, exact two-sided p = 0.2544123 (one-sided "greater" 0.1272 in ?wilcox.test).
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    r = welch_t(y, x)  # statistic is W of wilcox.test(second, first)
    assert r.mann_whitney.test == "mann-whitney-exact"
    assert r.mann_whitney.statistic == 35
    assert r.mann_whitney.p_value == pytest.approx(0.2544123, abs=5e-8)


def test_mann_whitney_exact_one_sided_helper():
    from surveys.stats.means import _mann_whitney

    x = np.array([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46])
    y = np.array([1.15, 0.88, 0.90, 0.74, 1.21])
    # R: wilcox.test(x, y, alternative = "greater")$p.value = 0.127206127206
    assert _mann_whitney(y, x, "greater").p_value == pytest.approx(0.127206127206, rel=1e-10)


# R 4.2.2: set.seed(3); u = round(rnorm(30), 4); v = round(rnorm(45, 0.4), 4); wilcox.test(v, u)
U30 = [-0.9619, -0.2925, 0.2588, -1.1521, 0.1958, 0.0301, 0.0854, 1.1166, -1.2189, 1.2674, -0.7448, -1.1312, -0.7164, 0.2527, 0.152, -0.3077, -0.953, -0.6482, 1.2243, 0.1998, -0.5785, -0.9423, -0.2037, -1.6665, -0.4845, -0.7411, 1.1606, 1.0121, -0.0721, -1.1368]
V45 = [1.3006, 1.2518, 1.1277, 1.1365, 0.0479, 1.1055, 1.7004, 0.4383, -0.5793, 1.1938, 1.1865, 0.0895, 2.0989, -0.3946, 0.7484, -1.8654, 0.2378, 1.5309, -0.0555, -0.4992, 1.1268, -0.4094, 0.6671, -1.3373, -1.0114, -0.0536, -0.6355, 1.7621, 1.3175, -0.3851, 0.9735, 1.3182, 0.6563, 0.752, 1.5743, -0.0808, -0.0188, 1.3551, -0.889, 0.5862, 0.3687, 0.8671, 1.4242, 0.6674, 0.6318]


def test_mann_whitney_exact_larger_matches_r():
    r = welch_t(U30, V45)
    assert r.mann_whitney.test == "mann-whitney-exact"
    assert r.mann_whitney.statistic == 993
    assert r.mann_whitney.p_value == pytest.approx(0.000457287509267, rel=1e-8)


# R 4.2.2: set.seed(1); u = round(rnorm(60), 4); v = round(rnorm(55, 0.3), 4); wilcox.test(v, u)
U60 = [-0.6265, 0.1836, -0.8356, 1.5953, 0.3295, -0.8205, 0.4874, 0.7383, 0.5758, -0.3054, 1.5118, 0.3898, -0.6212, -2.2147, 1.1249, -0.0449, -0.0162, 0.9438, 0.8212, 0.5939, 0.919, 0.7821, 0.0746, -1.9894, 0.6198, -0.0561, -0.1558, -1.4708, -0.4782, 0.4179, 1.3587, -0.1028, 0.3877, -0.0538, -1.3771, -0.415, -0.3943, -0.0593, 1.1, 0.7632, -0.1645, -0.2534, 0.697, 0.5567, -0.6888, -0.7075, 0.3646, 0.7685, -0.1123, 0.8811, 0.3981, -0.612, 0.3411, -1.1294, 1.433, 1.9804, -0.3672, -1.0441, 0.5697, -0.1351]
V55 = [2.7016, 0.2608, 0.9897, 0.328, -0.4433, 0.4888, -1.505, 1.7656, 0.4533, 2.4726, 0.7755, -0.4099, 0.9107, -0.6341, -0.9536, 0.5914, -0.1433, 0.3011, 0.3743, -0.2895, -0.2687, 0.1648, 1.4781, -1.2236, 0.8939, 0.633, 1.3631, -0.0042, 0.67, 0.5671, -0.2425, 1.5079, 1.4604, 1.0002, 1.8868, 0.8585, -0.9766, -0.2733, -0.9246, -0.1734, -0.3204, 0.3421, -0.6109, 0.458, -0.3546, 2.0673, 1.0167, 1.2102, 0.6842, 1.9822, -0.3357, -0.1616, 1.7323, -0.3507, 0.0926]


def test_mann_whitney_normal_without_ties_for_n_50_or_more():
    r = welch_t(U60, V55)
    assert r.mann_whitney.test == "mann-whitney" and r.mann_whitney.correction
    assert r.mann_whitney.statistic == 1913
    assert r.mann_whitney.p_value == pytest.approx(0.1416382, abs=5e-8)


def test_describe_mean_matches_r():
    # R t.test(sleep$extra[1:10])$conf.int = (-0.529780413526, 2.029780413526)
    s = describe_mean(SLEEP1)
    assert s.ok and s.n == 10 and s.mean == pytest.approx(0.75)
    assert s.se == pytest.approx(s.sd / math.sqrt(10))
    assert s.ci.lower == pytest.approx(-0.529780413526, abs=1e-10)
    assert s.ci.upper == pytest.approx(2.029780413526, abs=1e-10)


def test_describe_mean_missing_and_small():
    s = describe_mean([1.0, np.nan, 3.0])
    assert s.n == 2 and s.n_missing == 1 and s.mean == 2.0
    one = describe_mean([5.0])
    assert not one.ok and one.mean == 5.0 and one.se is None and not one.ci.ok
    none = describe_mean([np.nan])
    assert not none.ok and none.mean is None and none.n_missing == 1
    with pytest.raises(ValueError, match="infinite"):
        describe_mean([1.0, np.inf])
    with pytest.raises(ValueError, match="1-D"):
        describe_mean([[1.0, 2.0]])


def test_welch_nan_dropped_like_r():
    r = welch_t(SLEEP1 + [np.nan], SLEEP2)
    assert r.x.n == 10 and r.x.n_missing == 1
    assert r.test.statistic == pytest.approx(1.8608134674868526, rel=1e-12)


def test_welch_constant_data_not_ok():
    r = welch_t([1.0, 1.0, 1.0], [2.0, 2.0])
    assert not r.ok and r.test.p_value is None and "constant" in r.reason
    assert r.difference == 1.0
    assert not r.effect_size.ok


def test_welch_one_constant_group_is_fine():
    # R t.test(c(2, 2, 2), c(1, 2, 3)) works: only one variance is 0
    r = welch_t([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert r.ok and r.test.df == pytest.approx(2.0)
    assert r.test.statistic == pytest.approx(0.0)


def test_welch_too_small():
    r = welch_t([1.0], [2.0, 3.0])
    assert not r.ok and r.mann_whitney.ok
    r = welch_t([], [2.0, 3.0])
    assert not r.ok and not r.mann_whitney.ok


def test_mann_whitney_all_tied_not_ok():
    r = welch_t([1.0, 1.0] * 30, [1.0, 1.0] * 30)
    assert not r.mann_whitney.ok and r.mann_whitney.p_value is None


def test_welch_swap_symmetry():
    a = welch_t(SLEEP1, SLEEP2)
    b = welch_t(SLEEP2, SLEEP1)
    assert b.test.statistic == pytest.approx(-a.test.statistic)
    assert b.test.p_value == pytest.approx(a.test.p_value)
    assert b.mann_whitney.p_value == pytest.approx(a.mann_whitney.p_value)
    assert b.effect_size.value == pytest.approx(-a.effect_size.value)


def test_welch_df_survives_tiny_variances():
    # the squared variances underflow to 0; the variance shares do not (hypothesis found it)
    r = welch_t([0.0, 1e-160], [0.0, 0.0])
    assert r.ok and r.test.df == pytest.approx(1.0) and math.isfinite(r.test.p_value)
