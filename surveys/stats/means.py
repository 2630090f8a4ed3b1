"""Means of two independent samples (e.g. a knowledge score at baseline and endline).

Differences are *second minus first*: ``mean(y) - mean(x)``. Missing values
(NaN) are dropped; infinite values are rejected.
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
    _check_conf_level,
    _hedges_j,
)

__all__ = ["MeanSummary", "WelchResult", "describe_mean", "welch_t"]

_EPS = np.finfo(float).eps


@dataclass(frozen=True, slots=True)
class MeanSummary:
    """Mean of one sample with a t-based confidence interval.

    Attributes
    ----------
    n : int
        Observations used (non-missing).
    n_missing : int
        NaN values dropped.
    mean : float or None
        ``None`` when ``n == 0``.
    sd : float or None
        Sample standard deviation (ddof = 1); ``None`` when ``n < 2``.
    se : float or None
        ``sd / sqrt(n)``.
    ci : Interval
        ``mean +- t(1 - (1 - conf)/2, n - 1) se`` (``method="t"``).
    ok : bool
        False when ``n < 2`` (no standard error).
    reason : str or None
    """

    n: int
    n_missing: int
    mean: float | None
    sd: float | None
    se: float | None
    ci: Interval
    ok: bool = True
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class WelchResult:
    """Welch two-sample comparison of means, second minus first.

    Attributes
    ----------
    x, y : MeanSummary
        First (baseline) and second (endline) sample.
    difference : float or None
        ``mean(y) - mean(x)``.
    se : float or None
        ``sqrt(var(x)/nx + var(y)/ny)``.
    difference_ci : Interval
        Welch t interval for ``mean(y) - mean(x)`` (``method="welch-t"``).
    test : TestResult
        ``"welch-t"``: ``statistic = difference / se``, Welch-Satterthwaite df.
    mann_whitney : TestResult
        Wilcoxon-Mann-Whitney rank-sum test; ``statistic`` is R's ``W`` for
        ``wilcox.test(y, x)``, i.e. the number of (y, x) pairs with
        ``y > x`` plus half the ties. ``"mann-whitney-exact"`` or
        ``"mann-whitney"`` (normal approximation, continuity correction).
    effect_size : EffectSize
        Hedges' g: ``(mean(y) - mean(x)) / s_pooled * J(nx + ny - 2)``.
    ok : bool
        Whether the Welch t test could be computed.
    reason : str or None
    """

    x: MeanSummary
    y: MeanSummary
    difference: float | None
    se: float | None
    difference_ci: Interval
    test: TestResult
    mann_whitney: TestResult
    effect_size: EffectSize
    ok: bool = True
    reason: str | None = None


# ----------------------------------------------------------------- helpers


@lru_cache(maxsize=256)
def _wilcox_counts(m: int, n: int) -> tuple[float, ...]:
    """Counts of the Mann-Whitney U = 0..m*n over all C(m+n, m) arrangements.

    Uses f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u), additions only, so the
    float counts are accurate to relative rounding error.
    """
    if m > n:
        m, n = n, m
    prev = [np.ones(1) for _ in range(n + 1)]  # f(0, j)
    for i in range(1, m + 1):
        cur = [np.ones(1)]  # f(i, 0)
        for j in range(1, n + 1):
            arr = np.zeros(i * j + 1)
            above = prev[j]
            arr[j : j + above.size] += above
            left = cur[j - 1]
            arr[: left.size] += left
            cur.append(arr)
        prev = cur
    return tuple(prev[n].tolist())


def _pwilcox(q: float, m: int, n: int, lower_tail: bool = True) -> float:
    """P(U <= q) (or P(U > q)) for the Mann-Whitney U, as R ``pwilcox``."""
    counts = np.asarray(_wilcox_counts(m, n))
    total = counts.sum()
    q = math.floor(q + 1e-7)
    if lower_tail:
        if q < 0:
            return 0.0
        return float(min(1.0, counts[: q + 1].sum() / total))
    if q < 0:
        return 1.0
    return float(min(1.0, counts[q + 1 :].sum() / total))


def _mann_whitney(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> TestResult:
    """Wilcoxon rank-sum test of ``y`` against ``x`` as R ``wilcox.test(y, x)``.

    Exact when both samples have fewer than 50 observations and there are no
    ties; otherwise normal approximation with tie correction and continuity
    correction. ``alternative`` refers to y relative to x.
    """
    nx, ny = x.size, y.size
    if nx == 0 or ny == 0:
        return TestResult.failed("mann-whitney", "a sample has no observations")
    ranks = stats.rankdata(np.concatenate([y, x]))
    w = float(ranks[:ny].sum() - ny * (ny + 1) / 2.0)
    _, tie_counts = np.unique(ranks, return_counts=True)
    ties = bool((tie_counts > 1).any())
    if nx < 50 and ny < 50 and not ties:
        if alternative == "two-sided":
            if w > nx * ny / 2.0:
                p = _pwilcox(w - 1, ny, nx, lower_tail=False)
            else:
                p = _pwilcox(w, ny, nx)
            p = min(2.0 * p, 1.0)
        elif alternative == "greater":
            p = _pwilcox(w - 1, ny, nx, lower_tail=False)
        else:
            p = _pwilcox(w, ny, nx)
        return TestResult("mann-whitney-exact", w, None, p)
    n = nx + ny
    sigma2 = (nx * ny / 12.0) * ((n + 1) - float((tie_counts**3 - tie_counts).sum()) / (n * (n - 1)))
    if sigma2 <= 0:
        return TestResult.failed("mann-whitney", "all observations are tied")
    zc = w - nx * ny / 2.0
    corr = {"two-sided": math.copysign(0.5, zc) if zc != 0 else 0.0, "greater": 0.5, "less": -0.5}[alternative]
    z = (zc - corr) / math.sqrt(sigma2)
    if alternative == "two-sided":
        p = 2.0 * min(stats.norm.cdf(z), stats.norm.sf(z))
    elif alternative == "greater":
        p = stats.norm.sf(z)
    else:
        p = stats.norm.cdf(z)
    return TestResult("mann-whitney", w, None, float(min(1.0, p)), correction=True)


def _summary(values: np.ndarray, n_missing: int, conf_level: float) -> MeanSummary:
    n = values.size
    if n == 0:
        reason = "no observations"
        return MeanSummary(0, n_missing, None, None, None, Interval.failed(conf_level, "t", reason), False, reason)
    mean = float(values.mean())
    if n == 1:
        reason = "one observation: standard error undefined"
        return MeanSummary(1, n_missing, mean, None, None, Interval.failed(conf_level, "t", reason), False, reason)
    sd = float(values.std(ddof=1))
    se = sd / math.sqrt(n)
    tq = float(stats.t.ppf(1.0 - (1.0 - conf_level) / 2.0, n - 1))
    return MeanSummary(n, n_missing, mean, sd, se, Interval(mean - tq * se, mean + tq * se, conf_level, "t"))


def _drop_nan(values: np.ndarray) -> tuple[np.ndarray, int]:
    keep = ~np.isnan(values)
    return values[keep], int(values.size - keep.sum())


# ----------------------------------------------------------------- public


def describe_mean(x, conf_level: float = 0.95) -> MeanSummary:
    """Sample size, mean, SD, standard error and t confidence interval.

    Parameters
    ----------
    x : array_like
        1-D sample; NaN values are dropped and counted in ``n_missing``.
    conf_level : float, default 0.95

    Returns
    -------
    MeanSummary
        ``ok=False`` when fewer than two observations remain.

    Notes
    -----
    The interval is R ``t.test(x)$conf.int``.

    Examples
    --------
    >>> s = describe_mean([1.0, 2.0, 3.0, float("nan")])
    >>> s.n, s.n_missing, s.mean
    (3, 1, 2.0)
    """
    conf_level = _check_conf_level(conf_level)
    values, n_missing = _drop_nan(_as_1d_float(x, "x"))
    return _summary(values, n_missing, conf_level)


def welch_t(x, y, conf_level: float = 0.95) -> WelchResult:
    """Welch's unequal-variance t test of ``mean(y) - mean(x)``, with Mann-Whitney and Hedges' g.

    Parameters
    ----------
    x : array_like
        First sample (baseline). NaN values are dropped.
    y : array_like
        Second sample (endline). NaN values are dropped.
    conf_level : float, default 0.95

    Returns
    -------
    WelchResult

    Notes
    -----
    * Same statistic, df, p-value and interval as R ``t.test(y, x)``
      (``var.equal = FALSE``); R's ``t.test(x, y)`` reports the opposite sign.
      Fails (``ok=False``) when a sample has fewer than two observations or
      both are constant (R: "data are essentially constant").
    * The rank-sum p-value is R ``wilcox.test(y, x)``: exact when both
      samples have fewer than 50 values and there are no ties, otherwise the
      normal approximation with tie and continuity corrections.
    * Hedges' g uses the pooled SD and the exact correction
      ``J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2))``,
      ``df = nx + ny - 2`` (Hedges 1981), about ``1 - 3/(4 df - 1)``.

    References
    ----------
    .. [1] Welch BL (1947). The generalization of "Student's" problem when
       several different population variances are involved. Biometrika
       34:28-35.
    .. [2] Hollander M, Wolfe DA, Chicken E (2014). Nonparametric Statistical
       Methods, 3rd ed., ch. 4.
    .. [3] Hedges LV (1981). Distribution theory for Glass's estimator of
       effect size and related estimators. J Educ Stat 6:107-128.

    Examples
    --------
    >>> g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    >>> g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    >>> r = welch_t(g1, g2)
    >>> round(r.test.statistic, 4), round(r.test.df, 3)
    (1.8608, 17.776)
    """
    conf_level = _check_conf_level(conf_level)
    xv, x_missing = _drop_nan(_as_1d_float(x, "x"))
    yv, y_missing = _drop_nan(_as_1d_float(y, "y"))
    sx = _summary(xv, x_missing, conf_level)
    sy = _summary(yv, y_missing, conf_level)
    mw = _mann_whitney(xv, yv)

    def failed(reason: str) -> WelchResult:
        return WelchResult(
            x=sx,
            y=sy,
            difference=(sy.mean - sx.mean) if sx.mean is not None and sy.mean is not None else None,
            se=None,
            difference_ci=Interval.failed(conf_level, "welch-t", reason),
            test=TestResult.failed("welch-t", reason),
            mann_whitney=mw,
            effect_size=EffectSize("hedges_g", None, ok=False, reason=reason),
            ok=False,
            reason=reason,
        )

    if xv.size < 2 or yv.size < 2:
        return failed("each sample needs at least two observations")
    nx, ny = xv.size, yv.size
    vx_n = sx.sd**2 / nx
    vy_n = sy.sd**2 / ny
    se = math.sqrt(vx_n + vy_n)
    if se < 10.0 * _EPS * max(abs(sx.mean), abs(sy.mean)) or se == 0.0:
        return failed("data are essentially constant: zero variance in both samples")
    diff = sy.mean - sx.mean
    # Welch-Satterthwaite df, written with the variance shares (no underflow for tiny variances)
    fx, fy = vx_n / (vx_n + vy_n), vy_n / (vx_n + vy_n)
    df = 1.0 / (fx**2 / (nx - 1) + fy**2 / (ny - 1))
    t = diff / se
    p = float(min(1.0, 2.0 * stats.t.sf(abs(t), df)))
    tq = float(stats.t.ppf(1.0 - (1.0 - conf_level) / 2.0, df))

    df_pooled = nx + ny - 2
    sp = math.sqrt(((nx - 1) * sx.sd**2 + (ny - 1) * sy.sd**2) / df_pooled)
    if sp > 0:
        effect = EffectSize("hedges_g", diff / sp * _hedges_j(df_pooled))
    else:  # pragma: no cover - sp == 0 implies se == 0, handled above
        effect = EffectSize("hedges_g", None, ok=False, reason="pooled SD is 0")

    return WelchResult(
        x=sx,
        y=sy,
        difference=diff,
        se=se,
        difference_ci=Interval(diff - tq * se, diff + tq * se, conf_level, "welch-t"),
        test=TestResult("welch-t", t, float(df), p),
        mann_whitney=mw,
        effect_size=effect,
    )
