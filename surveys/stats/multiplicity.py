"""Adjusting p-values for multiple comparisons (many KAP indicators at once)."""

from __future__ import annotations

import numpy as np

__all__ = ["p_adjust"]

_METHODS = {"holm": "holm", "bh": "bh", "fdr": "bh", "bonferroni": "bonferroni"}


def p_adjust(pvalues, method: str = "holm") -> np.ndarray:
    """Adjust p-values for multiple testing, exactly as R ``p.adjust``.

    Parameters
    ----------
    pvalues : array_like
        1-D p-values in [0, 1]. NaN entries are passed through as NaN and do
        not count towards the number of tests ``m``.
    method : {"holm", "bh", "bonferroni"}, default "holm"
        ``"holm"``: Holm (1979) step-down, controls the family-wise error
        rate. ``"bh"`` (aliases ``"BH"``, ``"fdr"``): Benjamini-Hochberg
        (1995) step-up, controls the false discovery rate. ``"bonferroni"``:
        ``min(1, m p)``. Case-insensitive.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (float), same length and order as the input.

    Notes
    -----
    With ``m`` non-missing p-values sorted increasingly, ``p_(1) <= ... <=
    p_(m)``: Holm gives ``min(1, max_{j <= i} (m - j + 1) p_(j))``; BH gives
    ``min(1, min_{j >= i} m p_(j) / j)``.

    References
    ----------
    .. [1] Holm S (1979). A simple sequentially rejective multiple test
       procedure. Scand J Stat 6:65-70.
    .. [2] Benjamini Y, Hochberg Y (1995). Controlling the false discovery
       rate. JRSS B 57:289-300.

    Examples
    --------
    >>> p_adjust([0.01, 0.02, 0.03, 0.04, 0.05], "holm").round(4).tolist()
    [0.05, 0.08, 0.09, 0.09, 0.09]
    >>> p_adjust([0.01, 0.02, 0.03, 0.04, 0.05], "bh").round(4).tolist()
    [0.05, 0.05, 0.05, 0.05, 0.05]
    """
    if not isinstance(method, str) or method.lower() not in _METHODS:
        raise ValueError(f'method must be "holm", "bh" (or "fdr") or "bonferroni", got {method!r}')
    kind = _METHODS[method.lower()]
    try:
        p = np.asarray(pvalues, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("pvalues must be a 1-D array of numbers") from exc
    if p.ndim == 0:
        p = p.reshape(1)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, got an array of shape {p.shape}")
    present = ~np.isnan(p)
    values = p[present]
    if ((values < 0) | (values > 1)).any():
        raise ValueError("pvalues must lie in [0, 1] (NaN allowed for missing)")
    out = np.full(p.shape, np.nan)
    m = values.size
    if m == 0:
        return out
    if kind == "bonferroni":
        adj = np.minimum(1.0, m * values)
    elif kind == "holm":
        order = np.argsort(values, kind="stable")
        i = np.arange(1, m + 1)
        adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - i + 1) * values[order]))
        adj = np.empty(m)
        adj[order] = adj_sorted
    else:  # bh
        order = np.argsort(-values, kind="stable")  # decreasing
        i = np.arange(m, 0, -1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(m / i * values[order]))
        adj = np.empty(m)
        adj[order] = adj_sorted
    out[present] = adj
    return out
