"""Internal consistency of a multi-item scale (e.g. a knowledge index)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._common import Interval, _check_conf_level

__all__ = ["AlphaResult", "cronbach_alpha", "feldt_interval"]


@dataclass(frozen=True, slots=True)
class AlphaResult:
    """Cronbach's alpha.

    Attributes
    ----------
    alpha : float or None
        ``k/(k-1) (1 - sum(item variances) / variance(total))``.
    k : int
        Number of items (columns).
    n : int
        Respondents used (rows without any NaN).
    n_dropped : int
        Rows dropped by listwise deletion.
    se : float or None
        ``sqrt(2 k (1 - alpha)^2 / ((k - 1)(n - 2)))``, as
        ``statpsych::ci.cronbach`` (``None`` when ``n <= 2``).
    ci : Interval
        Feldt interval (:func:`feldt_interval`).
    ok : bool
    reason : str or None
    """

    alpha: float | None
    k: int
    n: int
    n_dropped: int
    se: float | None
    ci: Interval
    ok: bool = True
    reason: str | None = None


def feldt_interval(alpha: float, k: int, n: int, conf_level: float = 0.95) -> Interval:
    """Feldt (1965) confidence interval for Cronbach's alpha.

    Parameters
    ----------
    alpha : float
        Sample Cronbach's alpha (< 1; may be negative).
    k : int
        Number of items, at least 2.
    n : int
        Number of respondents, at least 2.
    conf_level : float, default 0.95

    Returns
    -------
    Interval
        ``method="feldt"``; ``ok=False`` when ``alpha == 1``.

    Notes
    -----
    ``(1 - alpha_hat)/(1 - alpha)`` is F-distributed with ``n - 1`` and
    ``n (k - 1)`` degrees of freedom, so with ``a = 1 - conf_level``:
    ``L = 1 - (1 - alpha) F(1 - a/2; n-1, n(k-1))`` and
    ``U = 1 - (1 - alpha) / F(1 - a/2; n(k-1), n-1)``,
    identical to R ``statpsych::ci.cronbach(a, alpha, k, n)``.

    References
    ----------
    .. [1] Feldt LS (1965). The approximate sampling distribution of
       Kuder-Richardson reliability coefficient twenty. Psychometrika
       30:357-370.

    Examples
    --------
    >>> ci = feldt_interval(0.85, 7, 89)
    >>> round(ci.lower, 4), round(ci.upper, 4)
    (0.7971, 0.8931)
    """
    conf_level = _check_conf_level(conf_level)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number below 1, got {alpha!r}")
    if alpha > 1:
        raise ValueError(f"alpha cannot exceed 1, got {alpha!r}")
    for value, name in ((k, "k"), (n, "n")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    if alpha == 1:
        return Interval.failed(conf_level, "feldt", "alpha is 1: interval undefined")
    a = 1.0 - conf_level
    df1 = n - 1
    df2 = n * (k - 1)
    f1 = float(stats.f.ppf(1.0 - a / 2.0, df1, df2))
    f2 = float(stats.f.ppf(1.0 - a / 2.0, df2, df1))
    return Interval(1.0 - (1.0 - alpha) * f1, 1.0 - (1.0 - alpha) / f2, conf_level, "feldt")


def cronbach_alpha(matrix, *, conf_level: float = 0.95) -> AlphaResult:
    """Cronbach's alpha with Feldt's confidence interval.

    Parameters
    ----------
    matrix : array_like
        2-D, rows = respondents, columns = items. Rows containing any NaN are
        dropped (listwise deletion); ``n`` reports the rows used.
    conf_level : float, default 0.95

    Returns
    -------
    AlphaResult
        ``ok=False`` when fewer than two complete rows remain or the total
        score has zero variance.

    Notes
    -----
    Variances use ddof = 1 (as R ``psych::alpha``'s raw alpha; the ddof
    cancels in the ratio).

    References
    ----------
    .. [1] Cronbach LJ (1951). Coefficient alpha and the internal structure
       of tests. Psychometrika 16:297-334.

    Examples
    --------
    >>> m = [[1, 2, 2], [2, 3, 3], [3, 3, 4], [4, 5, 4]]
    >>> round(cronbach_alpha(m).alpha, 4)
    0.9485
    """
    conf_level = _check_conf_level(conf_level)
    try:
        x = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("matrix must be a 2-D array of numbers") from exc
    if x.ndim != 2:
        raise ValueError(f"matrix must be 2-D (respondents x items), got shape {x.shape}")
    if np.isinf(x).any():
        raise ValueError("matrix contains infinite values")
    k = x.shape[1]
    if k < 2:
        raise ValueError(f"matrix needs at least 2 item columns, got {k}")
    complete = ~np.isnan(x).any(axis=1)
    x = x[complete]
    n = x.shape[0]
    dropped = int(complete.size - n)

    def failed(reason: str) -> AlphaResult:
        return AlphaResult(None, k, n, dropped, None, Interval.failed(conf_level, "feldt", reason), False, reason)

    if n < 2:
        return failed("fewer than two complete respondents")
    total_var = float(x.sum(axis=1).var(ddof=1))
    if total_var == 0.0:
        return failed("total score has zero variance")
    alpha = k / (k - 1) * (1.0 - float(x.var(axis=0, ddof=1).sum()) / total_var)
    alpha = min(alpha, 1.0)
    se = math.sqrt(2 * k * (1 - alpha) ** 2 / ((k - 1) * (n - 2))) if n > 2 else None
    return AlphaResult(alpha, k, n, dropped, se, feldt_interval(alpha, k, n, conf_level))
