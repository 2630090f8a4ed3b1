"""Shared result types and input checks for :mod:`surveys.stats`.

Conventions used across the package
-----------------------------------
* **Direction.** Every difference is *second minus first*: ``p2 - p1``,
  ``mean(y) - mean(x)``, ``after - before`` (endline minus baseline). A
  positive difference means the endline value is larger.
* **Two-sided tests.** All p-values are two-sided.
* **No silent NaN.** When a statistic cannot be computed (no data, zero
  variance, no discordant pairs ...) the result carries ``ok=False`` and a
  human-readable ``reason``; the numeric fields that could not be computed
  are ``None`` rather than ``nan``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln

__all__ = ["TestResult", "Interval", "EffectSize"]


@dataclass(frozen=True, slots=True)
class TestResult:
    """Outcome of one hypothesis test.

    Attributes
    ----------
    test : str
        Short name of the test actually run, e.g. ``"chi-square"``,
        ``"fisher-exact"``, ``"welch-t"``, ``"paired-t"``, ``"mcnemar"``,
        ``"mcnemar-exact"``, ``"mann-whitney"``, ``"mann-whitney-exact"``,
        ``"wilcoxon-signed-rank"``, ``"wilcoxon-signed-rank-exact"``.
    statistic : float or None
        Test statistic (see the producing function for its definition).
    df : float or None
        Degrees of freedom, ``None`` for tests that have none.
    p_value : float or None
        Two-sided p-value in [0, 1]; ``None`` when ``ok`` is False.
    correction : bool
        Whether a continuity correction was applied.
    ok : bool
        False when the test could not be computed.
    reason : str or None
        Why the test could not be computed (``None`` when ``ok``).
    """

    __test__ = False  # not a pytest test class

    test: str
    statistic: float | None
    df: float | None
    p_value: float | None
    correction: bool = False
    ok: bool = True
    reason: str | None = None

    @classmethod
    def failed(cls, test: str, reason: str) -> "TestResult":
        """A result for a test that could not be computed."""
        return cls(test=test, statistic=None, df=None, p_value=None, ok=False, reason=reason)


@dataclass(frozen=True, slots=True)
class Interval:
    """A two-sided confidence interval.

    Attributes
    ----------
    lower, upper : float or None
        Bounds; ``None`` when ``ok`` is False.
    conf_level : float
        Confidence level, e.g. 0.95.
    method : str
        How it was computed, e.g. ``"wilson"``, ``"newcombe-10"``, ``"t"``.
    ok, reason
        As in :class:`TestResult`.
    """

    lower: float | None
    upper: float | None
    conf_level: float
    method: str
    ok: bool = True
    reason: str | None = None

    @classmethod
    def failed(cls, conf_level: float, method: str, reason: str) -> "Interval":
        return cls(lower=None, upper=None, conf_level=conf_level, method=method, ok=False, reason=reason)

    def contains(self, value: float) -> bool:
        """True if ``lower <= value <= upper`` (False when not ``ok``)."""
        if not self.ok:
            return False
        return self.lower <= value <= self.upper


@dataclass(frozen=True, slots=True)
class EffectSize:
    """A named standardised effect size.

    Attributes
    ----------
    name : str
        e.g. ``"cohens_h"``, ``"hedges_g"``, ``"hedges_g_av"``.
    value : float or None
        Signed value, second minus first; ``None`` when ``ok`` is False.
    ok, reason
        As in :class:`TestResult`.
    """

    name: str
    value: float | None
    ok: bool = True
    reason: str | None = None


# ----------------------------------------------------------------- helpers


def _show(value) -> str:
    """``repr`` of a value for a message, a numpy scalar as the plain Python value
    (``2.5``, not ``np.float64(2.5)``)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    return repr(value)


def _check_conf_level(conf_level: float, name: str = "conf_level") -> float:
    if isinstance(conf_level, bool) or not isinstance(conf_level, numbers.Real):
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {_show(conf_level)}")
    conf_level = float(conf_level)
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {_show(conf_level)}")
    return conf_level


def _check_probability(p: float, name: str, *, open_interval: bool = False) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not math.isfinite(float(p)):
        raise ValueError(f"{name} must be a finite number in [0, 1], got {_show(p)}")
    p = float(p)
    if open_interval:
        if not 0.0 < p < 1.0:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {_show(p)}")
    elif not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {_show(p)}")
    return p


def _as_count(value, name: str) -> int:
    """A non-negative integer count (ints, numpy ints or integral floats)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer count, got {_show(value)}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
        out = int(value)
    else:
        raise ValueError(f"{name} must be a non-negative integer count, got {_show(value)}")
    if out < 0:
        raise ValueError(f"{name} must be a non-negative integer count, got {_show(value)}")
    return out


def _check_successes(x, n, xname: str, nname: str) -> tuple[int, int]:
    x = _as_count(x, xname)
    n = _as_count(n, nname)
    if x > n:
        raise ValueError(f"{xname} ({x}) cannot exceed {nname} ({n})")
    return x, n


def _z(conf_level: float) -> float:
    """Two-sided standard normal quantile for ``conf_level``."""
    return float(stats.norm.isf((1.0 - conf_level) / 2.0))


def _as_1d_float(x, name: str) -> np.ndarray:
    """A 1-D float array; NaN allowed (missing), +-inf rejected."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def _hedges_j(df: float) -> float:
    """Exact small-sample correction J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)).

    Hedges (1981); approximately ``1 - 3 / (4 df - 1)``.
    """
    return float(math.exp(gammaln(df / 2.0) - 0.5 * math.log(df / 2.0) - gammaln((df - 1.0) / 2.0)))


def _clip01(p: float) -> float:
    return min(1.0, max(0.0, float(p)))
