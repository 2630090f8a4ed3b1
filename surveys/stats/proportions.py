"""Proportions from two independent samples (e.g. baseline vs endline KAP survey).

Differences are *second minus first* (``p2 - p1``: endline minus baseline).
All functions treat the data as simple random samples; for clustered or
weighted samples use :mod:`surveys.stats.design`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._common import (
    EffectSize,
    Interval,
    TestResult,
    _check_conf_level,
    _check_probability,
    _check_successes,
    _z,
)

__all__ = [
    "ProportionEstimate",
    "TwoProportionsResult",
    "wilson_interval",
    "newcombe_interval",
    "cohens_h",
    "two_proportions",
]

_EXPECTED_MIN = 5.0  # Cochran's rule: Fisher's exact test below this expected count


@dataclass(frozen=True, slots=True)
class ProportionEstimate:
    """One group's proportion.

    Attributes
    ----------
    x, n : int
        Successes and sample size.
    estimate : float or None
        ``x / n`` (``None`` when ``n == 0``).
    se : float or None
        Wald standard error ``sqrt(p (1 - p) / n)``.
    ci : Interval
        Wilson score interval.
    """

    x: int
    n: int
    estimate: float | None
    se: float | None
    ci: Interval


@dataclass(frozen=True, slots=True)
class TwoProportionsResult:
    """Comparison of two independent proportions.

    Attributes
    ----------
    group1, group2 : ProportionEstimate
        First (baseline) and second (endline) group.
    difference : float or None
        ``p2 - p1``.
    difference_se : float or None
        Unpooled Wald standard error of the difference.
    difference_ci : Interval
        Newcombe (1998) hybrid score interval (method 10) for ``p2 - p1``.
    test : TestResult
        ``"chi-square"`` (Pearson, no continuity correction, df = 1) or
        ``"fisher-exact"`` (two-sided; its ``statistic`` is ``None``).
    min_expected : float or None
        Smallest expected cell count under independence (decides the test).
    effect_size : EffectSize
        Cohen's h, ``2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``.
    ok : bool
        False when the comparison cannot be made (an empty group).
    reason : str or None
    """

    group1: ProportionEstimate
    group2: ProportionEstimate
    difference: float | None
    difference_se: float | None
    difference_ci: Interval
    test: TestResult
    min_expected: float | None
    effect_size: EffectSize
    ok: bool = True
    reason: str | None = None


# ----------------------------------------------------------------- helpers


def _wilson_bounds(x, n, z: float):
    """Vectorised Wilson score bounds (no continuity correction); ``n > 0``."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    p = x / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    lower = np.where(x == 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    upper = np.where(x == n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lower, upper


def _newcombe_bounds(x1, n1, x2, n2, z: float):
    """Vectorised Newcombe method-10 bounds for ``p2 - p1``; ``n1, n2 > 0``."""
    p1 = np.asarray(x1, dtype=float) / np.asarray(n1, dtype=float)
    p2 = np.asarray(x2, dtype=float) / np.asarray(n2, dtype=float)
    l1, u1 = _wilson_bounds(x1, n1, z)
    l2, u2 = _wilson_bounds(x2, n2, z)
    d = p2 - p1
    lower = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return np.clip(lower, -1.0, 1.0), np.clip(upper, -1.0, 1.0)


def _fisher_2x2_pvalue(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p-value for ``[[a, b], [c, d]]`` as R ``fisher.test``.

    Sums the conditional (hypergeometric) probabilities of all tables no more
    likely than the observed one, with R's relative tolerance ``1 + 1e-7``.
    """
    m = a + c  # first column total
    n = b + d  # second column total
    k = a + b  # first row total
    lo = max(0, k - n)
    hi = min(k, m)
    support = np.arange(lo, hi + 1)
    logd = stats.hypergeom.logpmf(support, m + n, m, k)
    dens = np.exp(logd - logd.max())
    dens /= dens.sum()
    observed = dens[a - lo]
    p = float(dens[dens <= observed * (1.0 + 1e-7)].sum())
    return min(1.0, p)


def _chi_square_2x2(a: int, b: int, c: int, d: int) -> tuple[float, float]:
    """Pearson chi-square (no continuity correction) and its df=1 p-value."""
    n = a + b + c + d
    num = float(n) * float(a * d - b * c) ** 2
    den = float(a + b) * float(c + d) * float(a + c) * float(b + d)
    stat = num / den
    return stat, float(stats.chi2.sf(stat, 1))


# ----------------------------------------------------------------- public


def wilson_interval(x: int, n: int, conf_level: float = 0.95) -> Interval:
    """Wilson score confidence interval for a single proportion.

    Parameters
    ----------
    x : int
        Number of successes, ``0 <= x <= n``.
    n : int
        Number of trials.
    conf_level : float, default 0.95
        Confidence level.

    Returns
    -------
    Interval
        ``method="wilson"``. ``ok=False`` when ``n == 0``.

    Notes
    -----
    Score interval without continuity correction (Wilson 1927; Newcombe 1998a,
    method 3), as R ``prop.test(x, n, correct = FALSE)$conf.int``. Bounds are
    exactly 0 when ``x == 0`` and exactly 1 when ``x == n``.

    References
    ----------
    .. [1] Wilson EB (1927). Probable inference, the law of succession, and
       statistical inference. JASA 22:209-212.
    .. [2] Newcombe RG (1998). Two-sided confidence intervals for the single
       proportion: comparison of seven methods. Stat Med 17:857-872.

    Examples
    --------
    >>> ci = wilson_interval(81, 263)
    >>> round(ci.lower, 4), round(ci.upper, 4)
    (0.2553, 0.3662)
    """
    x, n = _check_successes(x, n, "x", "n")
    conf_level = _check_conf_level(conf_level)
    if n == 0:
        return Interval.failed(conf_level, "wilson", "n is 0: no observations")
    lo, hi = _wilson_bounds(x, n, _z(conf_level))
    return Interval(float(lo), float(hi), conf_level, "wilson")


def newcombe_interval(x1: int, n1: int, x2: int, n2: int, conf_level: float = 0.95) -> Interval:
    """Newcombe hybrid score interval for the difference ``p2 - p1``.

    Parameters
    ----------
    x1, n1 : int
        Successes and sample size of the first (baseline) group.
    x2, n2 : int
        Successes and sample size of the second (endline) group.
    conf_level : float, default 0.95

    Returns
    -------
    Interval
        ``method="newcombe-hybrid-score"``; ``ok=False`` if a group is empty.

    Notes
    -----
    Method 10 of Newcombe (1998b): with Wilson limits ``(l1, u1)`` and
    ``(l2, u2)`` and ``d = p2 - p1``,
    ``L = d - sqrt((p2 - l2)^2 + (u1 - p1)^2)`` and
    ``U = d + sqrt((u2 - p2)^2 + (p1 - l1)^2)``.
    Newcombe reports ``p1 - p2``; this is the same interval negated.

    References
    ----------
    .. [1] Newcombe RG (1998). Interval estimation for the difference between
       independent proportions: comparison of eleven methods. Stat Med
       17:873-890.

    Examples
    --------
    >>> ci = newcombe_interval(48, 80, 56, 70)
    >>> round(ci.lower, 4), round(ci.upper, 4)
    (0.0524, 0.3339)
    """
    x1, n1 = _check_successes(x1, n1, "x1", "n1")
    x2, n2 = _check_successes(x2, n2, "x2", "n2")
    conf_level = _check_conf_level(conf_level)
    method = "newcombe-hybrid-score"
    if n1 == 0 or n2 == 0:
        which = "n1" if n1 == 0 else "n2"
        return Interval.failed(conf_level, method, f"{which} is 0: no observations")
    lo, hi = _newcombe_bounds(x1, n1, x2, n2, _z(conf_level))
    return Interval(float(lo), float(hi), conf_level, method)


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h for two proportions, signed as second minus first.

    Parameters
    ----------
    p1, p2 : float
        Proportions in [0, 1].

    Returns
    -------
    float
        ``2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``; conventional benchmarks for
        ``|h|``: 0.2 small, 0.5 medium, 0.8 large (Cohen 1988, ch. 6).

    References
    ----------
    .. [1] Cohen J (1988). Statistical Power Analysis for the Behavioral
       Sciences, 2nd ed., chapter 6.

    Examples
    --------
    >>> round(cohens_h(0.5, 0.75), 4)
    0.5236
    """
    p1 = _check_probability(p1, "p1")
    p2 = _check_probability(p2, "p2")
    return 2.0 * math.asin(math.sqrt(p2)) - 2.0 * math.asin(math.sqrt(p1))


def two_proportions(
    x1: int,
    n1: int,
    x2: int,
    n2: int,
    *,
    conf_level: float = 0.95,
    test: str = "auto",
) -> TwoProportionsResult:
    """Compare two independent proportions (baseline ``x1/n1``, endline ``x2/n2``).

    Parameters
    ----------
    x1, n1 : int
        Successes and sample size, first group (wave 1).
    x2, n2 : int
        Successes and sample size, second group (wave 2).
    conf_level : float, default 0.95
    test : {"auto", "chi-square", "fisher"}, default "auto"
        ``"auto"`` runs Pearson's chi-square test unless an expected count is
        below 5, in which case Fisher's exact test is run.

    Returns
    -------
    TwoProportionsResult

    Notes
    -----
    * Chi-square: Pearson's statistic on the 2x2 table without continuity
      correction, df = 1; identical to R ``prop.test(c(x1, x2), c(n1, n2),
      correct = FALSE)`` and ``chisq.test(tab, correct = FALSE)``.
    * Fisher: two-sided conditional exact test, p-value as R ``fisher.test``
      (tables no more probable than the observed one, tolerance 1e-7).
    * The difference CI is Newcombe's hybrid score interval, not the Wald
      interval R's ``prop.test`` prints.
    * Swapping the groups flips the sign of the difference, its CI and h, and
      leaves the p-value unchanged.

    References
    ----------
    .. [1] Agresti A (2013). Categorical Data Analysis, 3rd ed., sections
       3.2 and 3.5.
    .. [2] Newcombe RG (1998). Stat Med 17:873-890.

    Examples
    --------
    >>> r = two_proportions(4452, 6586, 5578, 6586)
    >>> r.test.test, round(r.test.statistic, 2)
    ('chi-square', 529.93)
    """
    x1, n1 = _check_successes(x1, n1, "x1", "n1")
    x2, n2 = _check_successes(x2, n2, "x2", "n2")
    conf_level = _check_conf_level(conf_level)
    if test not in ("auto", "chi-square", "fisher"):
        raise ValueError(f'test must be "auto", "chi-square" or "fisher", got {test!r}')
    z = _z(conf_level)

    groups = []
    for x, n, label in ((x1, n1, "n1"), (x2, n2, "n2")):
        if n == 0:
            groups.append(
                ProportionEstimate(x, n, None, None, Interval.failed(conf_level, "wilson", f"{label} is 0"))
            )
        else:
            p = x / n
            lo, hi = _wilson_bounds(x, n, z)
            groups.append(
                ProportionEstimate(x, n, p, math.sqrt(p * (1 - p) / n), Interval(float(lo), float(hi), conf_level, "wilson"))
            )
    g1, g2 = groups

    if n1 == 0 or n2 == 0:
        reason = "a group has no observations (" + ("n1" if n1 == 0 else "n2") + " is 0)"
        return TwoProportionsResult(
            group1=g1,
            group2=g2,
            difference=None,
            difference_se=None,
            difference_ci=Interval.failed(conf_level, "newcombe-hybrid-score", reason),
            test=TestResult.failed("chi-square" if test == "chi-square" else "fisher-exact", reason),
            min_expected=None,
            effect_size=EffectSize("cohens_h", None, ok=False, reason=reason),
            ok=False,
            reason=reason,
        )

    p1, p2 = g1.estimate, g2.estimate
    a, b, c, d = x1, n1 - x1, x2, n2 - x2
    total = n1 + n2
    successes = x1 + x2
    failures = total - successes
    min_expected = min(n1, n2) * min(successes, failures) / total

    use_fisher = test == "fisher" or (test == "auto" and min_expected < _EXPECTED_MIN)
    if use_fisher:
        result_test = TestResult("fisher-exact", None, None, _fisher_2x2_pvalue(a, b, c, d))
    elif successes == 0 or failures == 0:
        result_test = TestResult.failed(
            "chi-square", "chi-square undefined: every observation is a success or every one a failure"
        )
    else:
        stat, p = _chi_square_2x2(a, b, c, d)
        result_test = TestResult("chi-square", stat, 1.0, p)

    lo, hi = _newcombe_bounds(x1, n1, x2, n2, z)
    return TwoProportionsResult(
        group1=g1,
        group2=g2,
        difference=p2 - p1,
        difference_se=math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2),
        difference_ci=Interval(float(lo), float(hi), conf_level, "newcombe-hybrid-score"),
        test=result_test,
        min_expected=min_expected,
        effect_size=EffectSize("cohens_h", cohens_h(p1, p2)),
        ok=result_test.ok,
        reason=result_test.reason,
    )
