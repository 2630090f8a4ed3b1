"""Sample size and minimum detectable change for a change in a proportion.

Sizes are *per survey round* (baseline and endline each), for two
independent cross-sectional samples.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from scipy import optimize, stats

from ._common import _check_probability

__all__ = [
    "SampleSizeResult",
    "DetectableChangeResult",
    "sample_size_two_proportions",
    "minimum_detectable_change",
]

_METHODS = ("fanta", "fleiss", "fleiss_cc")


@dataclass(frozen=True, slots=True)
class SampleSizeResult:
    """Required sample size per survey round.

    Attributes
    ----------
    method : str
        ``"fanta"``, ``"fleiss"`` or ``"fleiss_cc"``.
    p1, p2 : float
        Baseline proportion and the endline proportion to detect.
    alpha, power : float
    sided : int
        1 or 2.
    design_effect : float
    nonresponse : float
        Expected non-response fraction.
    z_alpha, z_beta : float
        ``z_{1 - alpha/sided}`` and ``z_{power}``.
    n_raw : float
        Unrounded size including the design effect.
    n : int
        ``n_raw`` rounded up: completed interviews needed.
    n_inflated : int
        ``ceil(n_raw / (1 - nonresponse))``: interviews to attempt.
    """

    method: str
    p1: float
    p2: float
    alpha: float
    power: float
    sided: int
    design_effect: float
    nonresponse: float
    z_alpha: float
    z_beta: float
    n_raw: float
    n: int
    n_inflated: int


@dataclass(frozen=True, slots=True)
class DetectableChangeResult:
    """Smallest change from ``p1`` detectable with ``n`` per round.

    Attributes
    ----------
    method : str
    n : float
        Sample size per round (completed interviews).
    p1 : float
    alpha, power : float
    sided : int
    design_effect : float
    direction : str
        ``"increase"`` or ``"decrease"``: which solution ``p2`` reports.
    p2 : float or None
        Detectable endline proportion in ``direction``.
    change : float or None
        ``p2 - p1``.
    p2_increase, p2_decrease : float or None
        Solutions above and below ``p1``; ``None`` when no change in that
        direction is detectable with ``n``.
    ok : bool
        False when no change in ``direction`` is detectable.
    reason : str or None
    """

    method: str
    n: float
    p1: float
    alpha: float
    power: float
    sided: int
    design_effect: float
    direction: str
    p2: float | None
    change: float | None
    p2_increase: float | None
    p2_decrease: float | None
    ok: bool = True
    reason: str | None = None


# ----------------------------------------------------------------- helpers


#: Largest sample size reported: beyond it the change is, in practice, undetectable.
MAX_SAMPLE = 1e9


def _n_required(p1: float, p2: float, z_alpha: float, z_beta: float, method: str = "fanta", design_effect: float = 1.0) -> float:
    """Unrounded sample size per round for given normal quantiles.

    ``fanta``:     D (z_a + z_b)^2 (p1 q1 + p2 q2) / (p2 - p1)^2
    ``fleiss``:    D [z_a sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2)]^2 / (p2 - p1)^2
    ``fleiss_cc``: D n'/4 (1 + sqrt(1 + 4 / (n' |p2 - p1|)))^2, n' = fleiss with D = 1
    """
    delta = abs(p2 - p1)
    var_sum = p1 * (1 - p1) + p2 * (1 - p2)
    if delta**2 == 0.0:  # equal, or so close that the square underflows (p1 = 5e-324, p2 = 0): no finite n
        return math.inf
    if method == "fanta":
        n = (z_alpha + z_beta) ** 2 * var_sum / delta**2
    else:
        pbar = (p1 + p2) / 2.0
        n = (z_alpha * math.sqrt(2 * pbar * (1 - pbar)) + z_beta * math.sqrt(var_sum)) ** 2 / delta**2
        if method == "fleiss_cc":
            if n * delta == 0.0:
                return math.inf
            n = n / 4.0 * (1.0 + math.sqrt(1.0 + 4.0 / (n * delta))) ** 2
    return design_effect * n


def _ceil(value: float) -> int:
    """Round up, ignoring floating-point noise below 1e-9."""
    return int(math.ceil(round(value, 9)))


def _check_design(alpha, power, sided, design_effect, method):
    alpha = _check_probability(alpha, "alpha", open_interval=True)
    power = _check_probability(power, "power", open_interval=True)
    if power < 0.5:
        raise ValueError(f"power must be at least 0.5, got {power!r}")
    if isinstance(sided, bool) or sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided!r}")
    if isinstance(design_effect, bool) or not isinstance(design_effect, numbers.Real) or not math.isfinite(design_effect) or design_effect <= 0:
        raise ValueError(f"design_effect must be a positive number, got {design_effect!r}")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    z_alpha = float(stats.norm.isf(alpha / sided))
    z_beta = float(stats.norm.ppf(power))
    return alpha, power, float(design_effect), z_alpha, z_beta


# ----------------------------------------------------------------- public


def sample_size_two_proportions(
    p1: float,
    p2: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
    sided: int = 2,
    design_effect: float = 1.0,
    nonresponse: float = 0.0,
    method: str = "fanta",
) -> SampleSizeResult:
    """Sample size per survey round to detect a change from ``p1`` to ``p2``.

    Parameters
    ----------
    p1 : float
        Baseline proportion, in [0, 1].
    p2 : float
        Endline proportion to detect, in [0, 1], different from ``p1``.
    alpha : float, default 0.05
        Significance level.
    power : float, default 0.80
        Power, in [0.5, 1).
    sided : {1, 2}, default 2
        One- or two-sided test. FANTA's guide uses one-sided tests; the
        default matches the two-sided tests of :mod:`surveys.stats`.
    design_effect : float, default 1.0
        Multiplier for cluster sampling (FANTA's D; 2 is its usual default).
    nonresponse : float, default 0.0
        Expected non-response fraction in [0, 1).
    method : {"fanta", "fleiss", "fleiss_cc"}, default "fanta"
        ``"fanta"``: ``n = D (z_a + z_b)^2 (p1 q1 + p2 q2) / (p2 - p1)^2``
        (Magnitude of Change guide, Stukel & Deitchler / FANTA).
        ``"fleiss"``: Fleiss (1981) without continuity correction,
        ``n = D [z_a sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2)]^2 /
        (p2 - p1)^2``; R ``power.prop.test`` solves the same equation.
        ``"fleiss_cc"``: Fleiss with the continuity correction of Fleiss,
        Tytun & Ury (1980), ``n'/4 (1 + sqrt(1 + 4/(n' |p2 - p1|)))^2``;
        the design effect multiplies the corrected simple-random-sample size.

    Returns
    -------
    SampleSizeResult

    Notes
    -----
    ``z_a = z_{1 - alpha/sided}`` and ``z_b = z_{power}`` are exact normal
    quantiles, so FANTA's worked example (0.40 to 0.30, one-sided, D = 2)
    gives n = 556.43 rather than the guide's 555.77, which used the rounded
    values 1.645 and 0.84.

    References
    ----------
    .. [1] FANTA (Food and Nutrition Technical Assistance Project).
       Sampling guide / Magnitude of change: sample size formula for
       comparing two proportions.
    .. [2] Fleiss JL, Levin B, Paik MC (2003). Statistical Methods for Rates
       and Proportions, 3rd ed., section 4.2.

    Examples
    --------
    >>> r = sample_size_two_proportions(0.40, 0.30, sided=1, design_effect=2)
    >>> round(r.n_raw, 2), r.n
    (556.43, 557)
    """
    p1 = _check_probability(p1, "p1")
    p2 = _check_probability(p2, "p2")
    if p1 == p2:
        raise ValueError("p1 and p2 must differ: there is no change to detect")
    alpha, power, design_effect, z_alpha, z_beta = _check_design(alpha, power, sided, design_effect, method)
    nonresponse = _check_probability(nonresponse, "nonresponse")
    if nonresponse >= 1:
        raise ValueError(f"nonresponse must be below 1, got {nonresponse!r}")
    n_raw = _n_required(p1, p2, z_alpha, z_beta, method, design_effect)
    if not math.isfinite(n_raw) or n_raw > MAX_SAMPLE:
        raise ValueError(f"p1 = {p1:g} and p2 = {p2:g} are too close: detecting that change would take more than "
                         f"{MAX_SAMPLE:,.0f} respondents per round")
    return SampleSizeResult(
        method=method,
        p1=p1,
        p2=p2,
        alpha=alpha,
        power=power,
        sided=sided,
        design_effect=design_effect,
        nonresponse=nonresponse,
        z_alpha=z_alpha,
        z_beta=z_beta,
        n_raw=n_raw,
        n=_ceil(n_raw),
        n_inflated=_ceil(n_raw / (1.0 - nonresponse)),
    )


def minimum_detectable_change(
    n: float,
    p1: float,
    *,
    alpha: float = 0.05,
    power: float = 0.80,
    sided: int = 2,
    design_effect: float = 1.0,
    method: str = "fanta",
    direction: str = "increase",
) -> DetectableChangeResult:
    """Smallest change from ``p1`` detectable with ``n`` completed interviews per round.

    Parameters
    ----------
    n : float
        Sample size per round (completed interviews, design effect included
        in the survey as fielded), > 0.
    p1 : float
        Baseline proportion, in [0, 1].
    alpha, power, sided, design_effect, method
        As in :func:`sample_size_two_proportions`.
    direction : {"increase", "decrease"}, default "increase"
        Which solution to report in ``p2``/``change``; both are always in
        ``p2_increase`` and ``p2_decrease``.

    Returns
    -------
    DetectableChangeResult

    Notes
    -----
    Solves ``n_required(p1, p2) = n`` for ``p2`` on each side of ``p1`` by
    Brent's method; ``n_required`` decreases monotonically as ``p2`` moves
    away from ``p1``. A side is ``None`` when even ``p2 = 1`` (or 0) needs
    more than ``n``.

    Examples
    --------
    >>> r = minimum_detectable_change(556.43, 0.40, sided=1, design_effect=2)
    >>> round(r.p2_decrease, 3)
    0.3
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or not math.isfinite(n) or n <= 0:
        raise ValueError(f"n must be a positive number, got {n!r}")
    p1 = _check_probability(p1, "p1")
    alpha, power, design_effect, z_alpha, z_beta = _check_design(alpha, power, sided, design_effect, method)
    if direction not in ("increase", "decrease"):
        raise ValueError(f'direction must be "increase" or "decrease", got {direction!r}')
    n = float(n)

    def solve(edge: float) -> float | None:
        if abs(edge - p1) < 1e-9:  # p1 at (or a rounding error from) the edge: no room to move that way
            return None

        def f(p2: float) -> float:
            return _n_required(p1, p2, z_alpha, z_beta, method, design_effect) - n

        if f(edge) > 0:
            return None
        near = p1 + math.copysign(1e-12, edge - p1)
        lo, hi = (near, edge) if edge > p1 else (edge, near)
        return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12))

    up = solve(1.0)
    down = solve(0.0)
    p2 = up if direction == "increase" else down
    reason = None if p2 is not None else f"no {direction} from p1 = {p1} is detectable with n = {n:g}"
    return DetectableChangeResult(
        method=method,
        n=n,
        p1=p1,
        alpha=alpha,
        power=power,
        sided=sided,
        design_effect=design_effect,
        direction=direction,
        p2=p2,
        change=None if p2 is None else p2 - p1,
        p2_increase=up,
        p2_decrease=down,
        ok=p2 is not None,
        reason=reason,
    )
