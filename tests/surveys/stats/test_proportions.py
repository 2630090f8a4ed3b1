"""Tests for surveys.stats.proportions. Sources of pinned values: REFERENCES.md."""

import math

import pytest

from surveys.stats.proportions import cohens_h, newcombe_interval, two_proportions, wilson_interval


# Newcombe RG (1998a) Stat Med 17:857-872, Table I, method 3 (Wilson score, no CC).
@pytest.mark.parametrize(
    "x, n, lower, upper",
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_newcombe_1998_table_1(x, n, lower, upper):
    ci = wilson_interval(x, n)
    assert ci.ok and ci.method == "wilson"
    assert ci.lower == pytest.approx(lower, abs=5e-5)
    assert ci.upper == pytest.approx(upper, abs=5e-5)


def test_wilson_matches_r_prop_test():
    # R 4.2.2: prop.test(81, 263, correct = FALSE)$conf.int
    ci = wilson_interval(81, 263)
    assert ci.lower == pytest.approx(0.2552885199, abs=1e-9)
    assert ci.upper == pytest.approx(0.3662095770, abs=1e-9)


def test_wilson_boundaries_exact():
    assert wilson_interval(0, 20).lower == 0.0
    assert wilson_interval(20, 20).upper == 1.0


def test_wilson_n_zero_is_not_ok():
    ci = wilson_interval(0, 0)
    assert not ci.ok and ci.lower is None and "n is 0" in ci.reason


# Newcombe RG (1998b) Stat Med 17:873-890, Table II, method 10 (hybrid score).
# Newcombe reports p1 - p2 for (m/n) - (x/y); our convention is second minus
# first, so newcombe_interval(x, y, m, n) must give exactly these limits.
@pytest.mark.parametrize(
    "first, second, lower, upper",
    [
        ((48, 80), (56, 70), 0.0524, 0.3339),
        ((3, 10), (9, 10), 0.1705, 0.8090),
        ((2, 7), (6, 7), 0.0582, 0.8062),
        ((0, 29), (5, 56), -0.0381, 0.1926),
        ((0, 20), (0, 10), -0.1611, 0.2775),
        ((0, 10), (0, 10), -0.2775, 0.2775),
        ((0, 20), (10, 10), 0.6791, 1.0000),
        ((0, 10), (10, 10), 0.6075, 1.0000),
    ],
)
def test_newcombe_1998_table_2_method_10(first, second, lower, upper):
    ci = newcombe_interval(*first, *second)
    assert ci.ok
    assert ci.lower == pytest.approx(lower, abs=5e-5)
    assert ci.upper == pytest.approx(upper, abs=5e-5)


def test_newcombe_empty_group_not_ok():
    assert not newcombe_interval(0, 0, 3, 10).ok


# Qi et al. (2014) IJERPH 11:11450-63, Table 3, n = 6586 per round, Pearson chi-square without
# continuity correction; R 4.2.2 prop.test(..., correct = FALSE) for the full-precision value.
@pytest.mark.parametrize(
    "x1, x2, published, r_value",
    [
        (4452, 5578, 529.93, 529.9335181),
        (3678, 5409, 1063.24, 1063.244804),
        (2631, 4795, 1445.59, 1445.591774),
    ],
)
def test_qi_2014_chi_square(x1, x2, published, r_value):
    r = two_proportions(x1, 6586, x2, 6586)
    assert r.ok and r.test.test == "chi-square" and r.test.df == 1.0
    assert not r.test.correction
    assert round(r.test.statistic, 2) == published
    assert r.test.statistic == pytest.approx(r_value, rel=1e-9)
    assert r.test.p_value < 2.2e-16
    assert r.difference > 0


def test_qi_2014_wald_interval_from_se():
    # R prop.test(c(4452, 5578), c(6586, 6586), correct = FALSE): Wald 95% CI of p1 - p2
    # (-0.1852293, -0.1567081); ours is p2 - p1, so the negation.
    r = two_proportions(4452, 6586, 5578, 6586)
    z = 1.959963984540054
    assert r.difference - z * r.difference_se == pytest.approx(0.1567081, abs=5e-7)
    assert r.difference + z * r.difference_se == pytest.approx(0.1852293, abs=5e-7)
    # the reported interval is Newcombe's, which is close to Wald at this n
    assert r.difference_ci.method == "newcombe-hybrid-score"
    assert r.difference_ci.lower == pytest.approx(0.1567, abs=2e-4)


def test_chi_square_p_value_matches_r():
    # R 4.2.2: prop.test(c(56, 48), c(70, 80), correct = FALSE)$p.value
    r = two_proportions(48, 80, 56, 70)
    assert r.test.test == "chi-square"
    assert r.test.p_value == pytest.approx(0.008045081368, rel=1e-8)


def test_fisher_tea_tasting():
    # Fisher's tea-tasting table [[3, 1], [1, 3]] (Agresti 2002 sec. 3.5.2: two-sided
    # P = 0.486); R fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value = 0.4857142857.
    r = two_proportions(3, 4, 1, 4)
    assert r.test.test == "fisher-exact"
    assert r.test.statistic is None and r.test.df is None
    assert r.test.p_value == pytest.approx(0.4857142857, rel=1e-8)
    assert r.min_expected == 2.0


@pytest.mark.parametrize(
    "x1, n1, x2, n2, p",
    [
        (1, 8, 9, 12, 0.0197666111),  # R fisher.test(matrix(c(1, 7, 9, 3), 2, byrow = TRUE))
        (2, 7, 8, 11, 0.1447963801),  # R fisher.test(matrix(c(2, 5, 8, 3), 2, byrow = TRUE))
        (0, 10, 5, 10, 0.0325077399381),  # R fisher.test(matrix(c(0, 10, 5, 5), 2, byrow = TRUE))
    ],
)
def test_fisher_matches_r(x1, n1, x2, n2, p):
    r = two_proportions(x1, n1, x2, n2)
    assert r.test.test == "fisher-exact"
    assert r.test.p_value == pytest.approx(p, rel=1e-8)


def test_forced_fisher_matches_r_on_larger_table():
    # R 4.2.2: fisher.test(matrix(c(12, 3, 4, 9), 2, byrow = TRUE))$p.value
    r = two_proportions(12, 15, 4, 13, test="fisher")
    assert r.test.p_value == pytest.approx(0.0200176485545, rel=1e-8)


def test_auto_switch_at_expected_five():
    # min expected = min(n1, n2) * min(successes, failures) / N
    assert two_proportions(5, 20, 5, 20).min_expected == 5.0
    assert two_proportions(5, 20, 5, 20).test.test == "chi-square"
    assert two_proportions(4, 20, 5, 20).test.test == "fisher-exact"


def test_chi_square_forced_all_successes_not_ok():
    r = two_proportions(10, 10, 10, 10, test="chi-square")
    assert not r.ok and not r.test.ok and r.test.p_value is None
    assert r.difference == 0.0  # the estimates are still reported


def test_all_successes_auto_uses_fisher():
    r = two_proportions(10, 10, 10, 10)
    assert r.test.test == "fisher-exact" and r.test.p_value == 1.0


def test_empty_group():
    r = two_proportions(0, 0, 3, 10)
    assert not r.ok and "n1" in r.reason
    assert r.difference is None and r.test.p_value is None
    assert r.group2.estimate == 0.3 and r.group2.ci.ok


def test_group_fields_and_swap():
    r = two_proportions(20, 100, 35, 100)
    assert r.group1.estimate == 0.2 and r.group2.estimate == 0.35
    assert r.group1.se == pytest.approx(math.sqrt(0.2 * 0.8 / 100))
    assert r.difference == pytest.approx(0.15)
    s = two_proportions(35, 100, 20, 100)
    assert s.difference == pytest.approx(-0.15)
    assert s.test.p_value == pytest.approx(r.test.p_value, rel=1e-12)
    assert s.difference_ci.lower == pytest.approx(-r.difference_ci.upper)
    assert s.effect_size.value == pytest.approx(-r.effect_size.value)


def test_cohens_h():
    # 2 asin(sqrt(.75)) - 2 asin(sqrt(.5)) = 2 pi/3 - pi/2 = pi/6 (by hand)
    assert cohens_h(0.5, 0.75) == pytest.approx(math.pi / 6, rel=1e-14)
    assert cohens_h(0.75, 0.5) == pytest.approx(-math.pi / 6, rel=1e-14)
    assert cohens_h(0.0, 1.0) == pytest.approx(math.pi)
    r = two_proportions(50, 100, 75, 100)
    assert r.effect_size.name == "cohens_h"
    assert r.effect_size.value == pytest.approx(math.pi / 6)


@pytest.mark.parametrize(
    "args, match",
    [
        ((11, 10, 1, 10), "x1"),
        ((-1, 10, 1, 10), "x1"),
        ((1.5, 10, 1, 10), "x1"),
        ((1, 10, 1, "10"), "n2"),
        ((True, 10, 1, 10), "x1"),
    ],
)
def test_two_proportions_validation(args, match):
    with pytest.raises(ValueError, match=match):
        two_proportions(*args)


def test_validation_other():
    with pytest.raises(ValueError, match="conf_level"):
        wilson_interval(1, 10, conf_level=1.0)
    with pytest.raises(ValueError, match="test"):
        two_proportions(1, 10, 2, 10, test="g-test")
    with pytest.raises(ValueError, match="p2"):
        cohens_h(0.5, 1.2)
    assert wilson_interval(3.0, 10.0).ok  # integral floats are accepted


def test_conf_level_widens():
    narrow = wilson_interval(30, 100, 0.90)
    wide = wilson_interval(30, 100, 0.99)
    assert wide.lower < narrow.lower and wide.upper > narrow.upper
