"""Paired (panel) comparisons: the same respondents at baseline and endline.

Differences are *after minus before* (second minus first). Pairs with a
missing value (NaN) on either side are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from ._common import (
    EffectSize,
    Interval,
    TestResult,
    _as_1d_float,
    _as_count,
    _check_conf_level,
    _hedges_j,
    _z,
)
from .proportions import _wilson_bounds

__all__ = [
    "PairedProportionsResult",
    "PairedTResult",
    "mcnemar",
    "mcnemar_from_pairs",
    "newcombe_paired_interval",
    "paired_t",
]

_EXACT_BELOW = 25  # exact binomial McNemar when b + c < 25
_EPS = np.finfo(float).eps


@dataclass(frozen=True, slots=True)
class PairedProportionsResult:
    """Paired comparison of a yes/no item (McNemar).

    Attributes
    ----------
    n : int
        Complete pairs used.
    n_dropped : int
        Pairs dropped for a missing value.
    n11, n10, n01, n00 : int
        Pair counts by (before, after): ``n10`` is yes-then-no (McNemar's
        ``b``), ``n01`` no-then-yes (``c``).
    p_before, p_after : float or None
        Marginal proportions.
    difference : float or None
        ``p_after - p_before = (n01 - n10) / n``.
    difference_ci : Interval
        Newcombe's square-and-add interval for paired data
        (:func:`newcombe_paired_interval`).
    test : TestResult
        :func:`mcnemar` on ``b = n10``, ``c = n01``.
    ok : bool
        Whether the test could be computed.
    reason : str or None
    """

    n: int
    n_dropped: int
    n11: int
    n10: int
    n01: int
    n00: int
    p_before: float | None
    p_after: float | None
    difference: float | None
    difference_ci: Interval
    test: TestResult
    ok: bool = True
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PairedTResult:
    """Paired comparison of a numeric score.

    Attributes
    ----------
    n : int
        Complete pairs used.
    n_dropped : int
        Pairs dropped for a missing value.
    mean_before, mean_after : float or None
    mean_difference : float or None
        Mean of ``after - before``.
    sd_difference : float or None
        SD of the differences (ddof = 1).
    se : float or None
        ``sd_difference / sqrt(n)``.
    difference_ci : Interval
        t interval for the mean difference (``method="paired-t"``).
    test : TestResult
        ``"paired-t"``, ``df = n - 1``.
    wilcoxon : TestResult
        Wilcoxon signed-rank test of the differences; ``statistic`` is R's
        ``V`` for ``wilcox.test(after, before, paired = TRUE)``: the sum of
        the ranks of the positive differences (after > before).
    effect_size : EffectSize
        Hedges' g_av: ``mean_difference / ((sd_before + sd_after) / 2)``
        times ``J(n - 1)`` (Lakens 2013).
    cohens_dz : float or None
        ``mean_difference / sd_difference`` (= t / sqrt(n)).
    ok : bool
        Whether the paired t test could be computed.
    reason : str or None
    """

    n: int
    n_dropped: int
    mean_before: float | None
    mean_after: float | None
    mean_difference: float | None
    sd_difference: float | None
    se: float | None
    difference_ci: Interval
    test: TestResult
    wilcoxon: TestResult
    effect_size: EffectSize
    cohens_dz: float | None
    ok: bool = True
    reason: str | None = None


# ----------------------------------------------------------------- helpers


@lru_cache(maxsize=64)
def _signrank_counts(n: int) -> tuple[float, ...]:
    """Number of subsets of {1..n} with each sum 0..n(n+1)/2 (exact for n < 50)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    top = 0
    for k in range(1, n + 1):
        counts[k : top + k + 1] += counts[: top + 1].copy()
        top += k
    return tuple(counts.tolist())


def _psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    """P(V <= q) (or P(V > q)) for the signed-rank statistic, as R ``psignrank``."""
    counts = np.asarray(_signrank_counts(n))
    total = counts.sum()
    q = math.floor(q + 1e-7)
    if lower_tail:
        return 0.0 if q < 0 else float(min(1.0, counts[: q + 1].sum() / total))
    return 1.0 if q < 0 else float(min(1.0, counts[q + 1 :].sum() / total))


def _signed_rank(d: np.ndarray, alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test of the differences ``d`` as R ``wilcox.test(d)``.

    Zero differences are dropped (Wilcoxon's method). Exact when fewer than 50
    non-zero differences remain and there are neither ties nor zeros;
    otherwise normal approximation with tie and continuity corrections.
    ``alternative`` is for the location of ``d`` ("greater": d > 0).
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f'alternative must be "two-sided", "greater" or "less", got {alternative!r}')
    zeros = bool((d == 0).any())
    d = d[d != 0]
    n = d.size
    if n == 0:
        return TestResult.failed("wilcoxon-signed-rank", "all differences are zero")
    ranks = stats.rankdata(np.abs(d))
    v = float(ranks[d > 0].sum())
    _, tie_counts = np.unique(ranks, return_counts=True)
    ties = bool((tie_counts > 1).any())
    if n < 50 and not ties and not zeros:
        if alternative == "two-sided":
            if v > n * (n + 1) / 4.0:
                p = _psignrank(v - 1, n, lower_tail=False)
            else:
                p = _psignrank(v, n)
            p = min(2.0 * p, 1.0)
        elif alternative == "greater":
            p = _psignrank(v - 1, n, lower_tail=False)
        else:
            p = _psignrank(v, n)
        return TestResult("wilcoxon-signed-rank-exact", v, None, p)
    sigma2 = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    if sigma2 <= 0:  # pragma: no cover - impossible with n >= 1 non-zero differences
        return TestResult.failed("wilcoxon-signed-rank", "zero variance")
    zc = v - n * (n + 1) / 4.0
    corr = {"two-sided": math.copysign(0.5, zc) if zc != 0 else 0.0, "greater": 0.5, "less": -0.5}[alternative]
    z = (zc - corr) / math.sqrt(sigma2)
    if alternative == "two-sided":
        p = 2.0 * min(stats.norm.cdf(z), stats.norm.sf(z))
    elif alternative == "greater":
        p = stats.norm.sf(z)
    else:
        p = stats.norm.cdf(z)
    return TestResult("wilcoxon-signed-rank", v, None, float(min(1.0, p)), correction=True)


def _pairs(before, after, names=("before", "after")) -> tuple[np.ndarray, np.ndarray, int]:
    b = _as_1d_float(before, names[0])
    a = _as_1d_float(after, names[1])
    if b.shape != a.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same length, got {b.size} and {a.size}")
    keep = ~(np.isnan(b) | np.isnan(a))
    return b[keep], a[keep], int(b.size - keep.sum())


# ----------------------------------------------------------------- public


def mcnemar(b: int, c: int, *, correct: bool = True, exact: bool | None = None) -> TestResult:
    """McNemar's test for paired proportions from the discordant pair counts.

    Parameters
    ----------
    b : int
        Pairs positive before and negative after (yes -> no).
    c : int
        Pairs negative before and positive after (no -> yes).
    correct : bool, default True
        Continuity correction for the chi-square version (as R).
    exact : bool or None, default None
        ``None`` chooses the exact test when ``b + c < 25``.

    Returns
    -------
    TestResult
        ``"mcnemar-exact"``: two-sided exact binomial test of ``b`` successes
        in ``b + c`` trials with probability 1/2, R ``binom.test(b, b + c)``;
        ``statistic = b``, ``df = None``.
        ``"mcnemar"``: ``(|b - c| - 1)^2 / (b + c)`` (no ``- 1`` when
        ``correct=False`` or ``b == c``), df = 1, R ``mcnemar.test``.
        ``ok=False`` when ``b + c == 0``.

    References
    ----------
    .. [1] McNemar Q (1947). Note on the sampling error of the difference
       between correlated proportions or percentages. Psychometrika
       12:153-157.
    .. [2] Agresti A (2013). Categorical Data Analysis, 3rd ed., section 11.1.

    Examples
    --------
    >>> r = mcnemar(150, 86)
    >>> r.test, round(r.statistic, 3)
    ('mcnemar', 16.818)
    >>> round(mcnemar(1, 8).p_value, 5)
    0.03906
    """
    b = _as_count(b, "b")
    c = _as_count(c, "c")
    if exact is not None and not isinstance(exact, bool):
        raise ValueError(f"exact must be True, False or None, got {exact!r}")
    m = b + c
    use_exact = (m < _EXACT_BELOW) if exact is None else exact
    name = "mcnemar-exact" if use_exact else "mcnemar"
    if m == 0:
        return TestResult.failed(name, "no discordant pairs (b + c = 0)")
    if use_exact:
        p = float(stats.binomtest(b, m, 0.5).pvalue)
        return TestResult(name, float(b), None, min(1.0, p))
    apply_cc = bool(correct) and b != c
    num = (abs(b - c) - (1.0 if apply_cc else 0.0)) ** 2
    stat = num / m
    return TestResult(name, stat, 1.0, float(stats.chi2.sf(stat, 1)), correction=apply_cc)


def newcombe_paired_interval(n11: int, n10: int, n01: int, n00: int, conf_level: float = 0.95) -> Interval:
    """Newcombe's square-and-add interval for ``p_after - p_before`` with paired data.

    Parameters
    ----------
    n11, n10, n01, n00 : int
        Pair counts by (before, after): yes-yes, yes-no, no-yes, no-no.
    conf_level : float, default 0.95

    Returns
    -------
    Interval
        ``method="newcombe-paired"``; ``ok=False`` when there are no pairs.

    Notes
    -----
    Newcombe (1998c) method 10: Wilson limits ``(l1, u1)`` for ``p_before``
    and ``(l2, u2)`` for ``p_after`` combined as
    ``L = d - sqrt((p2 - l2)^2 - 2 phi (p2 - l2)(u1 - p1) + (u1 - p1)^2)`` and
    ``U = d + sqrt((u2 - p2)^2 - 2 phi (u2 - p2)(p1 - l1) + (p1 - l1)^2)``,
    ``d = p2 - p1``. ``phi`` is the correlation of the 2x2 table with
    Newcombe's correction: with ``A = n11 n00 - n10 n01``,
    ``phi = (A - n/2) / sqrt(margins)`` if ``A > n/2``, ``0`` if
    ``0 <= A <= n/2``, ``A / sqrt(margins)`` if ``A < 0``, and 0 when a
    margin is empty; as Fagerland, Lydersen & Laake (2017), R package
    ``contingencytables::Newcombe_square_and_add_CI_paired_2x2`` (which
    reports ``p_before - p_after``, the negated interval).

    References
    ----------
    .. [1] Newcombe RG (1998). Improved confidence intervals for the
       difference between binomial proportions based on paired data. Stat Med
       17:2635-2650.
    .. [2] Fagerland MW, Lydersen S, Laake P (2017). Statistical Analysis of
       Contingency Tables, ch. 8.

    Examples
    --------
    >>> ci = newcombe_paired_interval(59, 6, 16, 80)
    >>> round(ci.lower, 4), round(ci.upper, 4)
    (0.0046, 0.1186)
    """
    n11, n10, n01, n00 = (_as_count(v, k) for v, k in ((n11, "n11"), (n10, "n10"), (n01, "n01"), (n00, "n00")))
    conf_level = _check_conf_level(conf_level)
    method = "newcombe-paired"
    n = n11 + n10 + n01 + n00
    if n == 0:
        return Interval.failed(conf_level, method, "no pairs")
    z = _z(conf_level)
    x1 = n11 + n10  # yes before
    x2 = n11 + n01  # yes after
    p1, p2 = x1 / n, x2 / n
    (l1, l2), (u1, u2) = _wilson_bounds([x1, x2], [n, n], z)
    margins = [x1, n - x1, x2, n - x2]
    if min(margins) == 0:
        phi = 0.0
    else:
        a = n11 * n00 - n10 * n01
        root = math.sqrt(float(x1) * (n - x1) * x2 * (n - x2))
        if a > n / 2:
            phi = (a - n / 2) / root
        elif a >= 0:
            phi = 0.0
        else:
            phi = a / root
    d = p2 - p1
    dl2, du1 = p2 - l2, u1 - p1
    du2, dl1 = u2 - p2, p1 - l1
    lower = d - math.sqrt(max(0.0, dl2**2 - 2 * phi * dl2 * du1 + du1**2))
    upper = d + math.sqrt(max(0.0, du2**2 - 2 * phi * du2 * dl1 + dl1**2))
    return Interval(max(-1.0, lower), min(1.0, upper), conf_level, method)


def mcnemar_from_pairs(
    before, after, *, conf_level: float = 0.95, correct: bool = True, exact: bool | None = None
) -> PairedProportionsResult:
    """McNemar comparison from paired 0/1 answers, with the difference and its CI.

    Parameters
    ----------
    before, after : array_like
        Same-length 1-D arrays of 0/1 (or booleans) per respondent; NaN marks
        a missing answer and drops the pair.
    conf_level : float, default 0.95
    correct, exact
        Passed to :func:`mcnemar`.

    Returns
    -------
    PairedProportionsResult

    Notes
    -----
    The difference ``p_after - p_before`` has Newcombe's paired
    square-and-add interval (method 10, :func:`newcombe_paired_interval`),
    which, unlike the Wald interval, stays inside [-1, 1] and behaves with
    few discordant pairs.

    Examples
    --------
    >>> r = mcnemar_from_pairs([1, 1, 0, 0, 0], [1, 0, 1, 1, 0])
    >>> r.n10, r.n01, r.difference
    (1, 2, 0.2)
    """
    conf_level = _check_conf_level(conf_level)
    b, a, dropped = _pairs(before, after)
    for arr, name in ((b, "before"), (a, "after")):
        if not np.isin(arr, (0.0, 1.0)).all():
            raise ValueError(f"{name} must contain only 0, 1 (or NaN for missing)")
    b = b.astype(bool)
    a = a.astype(bool)
    n11 = int((b & a).sum())
    n10 = int((b & ~a).sum())
    n01 = int((~b & a).sum())
    n00 = int((~b & ~a).sum())
    n = b.size
    test = mcnemar(n10, n01, correct=correct, exact=exact)
    if n == 0:
        reason = "no complete pairs"
        return PairedProportionsResult(
            0, dropped, 0, 0, 0, 0, None, None, None,
            Interval.failed(conf_level, "newcombe-paired", reason),
            TestResult.failed(test.test, reason), False, reason,
        )
    p1 = (n11 + n10) / n
    p2 = (n11 + n01) / n
    return PairedProportionsResult(
        n=n,
        n_dropped=dropped,
        n11=n11,
        n10=n10,
        n01=n01,
        n00=n00,
        p_before=p1,
        p_after=p2,
        difference=(n01 - n10) / n,
        difference_ci=newcombe_paired_interval(n11, n10, n01, n00, conf_level),
        test=test,
        ok=test.ok,
        reason=test.reason,
    )


def paired_t(before, after, *, conf_level: float = 0.95) -> PairedTResult:
    """Paired t test of ``after - before``, with Wilcoxon signed-rank and effect sizes.

    Parameters
    ----------
    before, after : array_like
        Same-length 1-D arrays; a NaN on either side drops the pair.
    conf_level : float, default 0.95

    Returns
    -------
    PairedTResult

    Notes
    -----
    * t, df, p-value and interval as R ``t.test(after, before, paired =
      TRUE)`` (R's ``t.test(before, after, paired = TRUE)`` has the opposite
      sign). ``ok=False`` with fewer than two pairs or constant differences
      (R: "data are essentially constant").
    * Signed-rank p-value as R ``wilcox.test(after, before, paired = TRUE)``:
      zero differences dropped; exact if fewer than 50 non-zero differences
      and no ties or zeros, else normal approximation with tie and continuity
      corrections.
    * Effect size: Hedges' g_av (Lakens 2013) standardises by the mean of the
      two SDs, so it is comparable with the between-groups Hedges' g of
      :func:`surveys.stats.means.welch_t`; bias-corrected by ``J(n - 1)``.
      Cohen's d_z (standardised by the SD of the differences) is also given.

    References
    ----------
    .. [1] Lakens D (2013). Calculating and reporting effect sizes to
       facilitate cumulative science. Front Psychol 4:863.
    .. [2] Hollander M, Wolfe DA, Chicken E (2014). Nonparametric Statistical
       Methods, 3rd ed., ch. 3.

    Examples
    --------
    >>> r = paired_t([1.0, 2.0, 3.0, 4.0], [2.0, 2.5, 4.5, 5.0])
    >>> r.mean_difference, r.test.df
    (1.0, 3.0)
    """
    conf_level = _check_conf_level(conf_level)
    b, a, dropped = _pairs(before, after)
    n = b.size
    d = a - b
    wil = _signed_rank(d) if n > 0 else TestResult.failed("wilcoxon-signed-rank", "no complete pairs")
    mean_b = float(b.mean()) if n else None
    mean_a = float(a.mean()) if n else None
    mean_d = float(d.mean()) if n else None

    def failed(reason: str, sd_d=None) -> PairedTResult:
        return PairedTResult(
            n, dropped, mean_b, mean_a, mean_d, sd_d, None,
            Interval.failed(conf_level, "paired-t", reason),
            TestResult.failed("paired-t", reason), wil,
            EffectSize("hedges_g_av", None, ok=False, reason=reason), None, False, reason,
        )

    if n < 2:
        return failed("fewer than two complete pairs")
    sd_d = float(d.std(ddof=1))
    se = sd_d / math.sqrt(n)
    if se == 0.0 or se < 10.0 * _EPS * abs(mean_d):
        return failed("data are essentially constant: all differences are equal", sd_d)
    t = mean_d / se
    df = n - 1
    p = float(min(1.0, 2.0 * stats.t.sf(abs(t), df)))
    tq = float(stats.t.ppf(1.0 - (1.0 - conf_level) / 2.0, df))

    sd_av = (float(b.std(ddof=1)) + float(a.std(ddof=1))) / 2.0
    if df < 2:
        effect = EffectSize("hedges_g_av", None, ok=False, reason="g_av needs at least three pairs")
    elif sd_av == 0.0:
        effect = EffectSize("hedges_g_av", None, ok=False, reason="both waves have zero SD")
    else:
        effect = EffectSize("hedges_g_av", mean_d / sd_av * _hedges_j(df))

    return PairedTResult(
        n=n,
        n_dropped=dropped,
        mean_before=mean_b,
        mean_after=mean_a,
        mean_difference=mean_d,
        sd_difference=sd_d,
        se=se,
        difference_ci=Interval(mean_d - tq * se, mean_d + tq * se, conf_level, "paired-t"),
        test=TestResult("paired-t", t, float(df), p),
        wilcoxon=wil,
        effect_size=effect,
        cohens_dz=mean_d / sd_d,
    )
