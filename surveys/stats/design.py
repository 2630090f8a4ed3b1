"""Design-based statistics for complex survey samples.

Pure numpy/scipy reimplementation of the parts of R's ``survey`` package
(Lumley) that Konbit needs to compare KAP survey waves: Taylor-linearised
(ultimate-cluster) variances for stratified, clustered, weighted samples,
means with design effects, domain (subpopulation) estimation, design-based
t-tests, Rao-Scott corrected chi-square tests and Gaussian survey regression.

Every function was checked against R 4.2.2 / ``survey`` 4.1-1; the R scripts
and their printed output live in ``tests/surveys/stats/R/``.

Conventions
-----------
* A :class:`Design` holds one value per respondent (row). Clusters are
  always nested in strata (R ``svydesign(..., nest = TRUE)``): cluster ``3``
  of stratum ``"north"`` and cluster ``3`` of stratum ``"south"`` are
  different primary sampling units (PSUs).
* Only the first sampling stage enters the variance (the "ultimate cluster"
  estimator). This is exactly what R does for a one-stage design and for a
  multistage design declared without ``fpc``; R adds later-stage terms only
  when a multistage design has an ``fpc`` for every stage.
* Domains (subpopulations) are estimated as R's ``subset(design, ...)``:
  rows outside the domain keep their PSU and stratum but contribute zero
  influence, so the variance uses the full design. Domain degrees of
  freedom are, as in R's ``degf(subset(...))``, the number of PSUs with at
  least one domain row minus the number of strata with at least one.
* When a quantity cannot be estimated (empty domain, a stratum with a single
  PSU, zero variance of a test statistic, no degrees of freedom) the result
  has ``ok=False`` and a ``reason``; the affected fields are ``None``, never
  ``NaN``. A mean whose values do not vary is still ``ok`` with ``se=0``.
* ``svymean``, ``svyttest`` and ``svychisq`` take ``by=`` (R ``svyby``): one
  result per group, all from a single pass over the rows. For many items and
  segments, call them once per item with ``by=`` (e.g. a segment-by-wave code)
  rather than once per domain; on 400,000 rows a call takes a few
  milliseconds.
* For a whole report (many variables, groups, tests), :func:`cell_sums` sums
  every variable once by PSU and cell; :class:`CellSums` then gives means,
  Rao-Scott tests between cells, contrasts of cell means (difference in
  differences) and slopes over cells (dose response) from those sums alone,
  and merges cells into coarser ones. ``svymean``, ``svycontrast_means`` and
  ``svyslope`` (for a small-integer predictor) are built on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

__all__ = [
    "LONELY_PSU_OPTIONS",
    "CellSums",
    "Design",
    "SvyMean",
    "SvyTTest",
    "SvyChisq",
    "SvyGlm",
    "SvyLincom",
    "svymean",
    "svyttest",
    "svychisq",
    "svyglm_gaussian",
    "svycontrast_means",
    "svyslope",
    "cell_sums",
]

# R's onestrat() treats a stratum whose finite population correction leaves
# less than this fraction unsampled as self-representing (no variance).
_CERTAINTY_TOL = 1e-7
# Non-negative integer labels below this are used directly as codes, with no
# sort (np.unique), which matters on 10^5-10^6 rows.
_MAX_DIRECT_CODES = 64
#: R's ``options(survey.lonely.psu = ...)`` values, R's default first.
LONELY_PSU_OPTIONS = ("fail", "remove", "adjust", "average", "certainty")


# ---------------------------------------------------------------------------
# Design
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Design:
    """A complex sample design: weights, clusters (PSUs), strata and fpc.

    Equivalent to R's ``svydesign(ids = ~clusters, strata = ~strata,
    weights = ~weights, fpc = ~fpc, nest = TRUE)``. The PSU and stratum codes
    and the per-stratum variance multipliers are computed once, when the
    design is built, and reused by every estimator.

    Parameters
    ----------
    weights : array_like of float, optional
        Sampling weights, one per row, finite and strictly positive. Default:
        all 1 (an unweighted sample). Exclude respondents with a domain
        (``domain=`` of the estimators), not with zero weights.
    clusters : array_like, optional
        Primary sampling unit label of each row (any sortable labels). Labels
        are nested in strata. Default: each row is its own PSU (R ``id = ~1``).
    strata : array_like, optional
        First-stage stratum of each row. Default: a single stratum.
    fpc : array_like of float, optional
        First-stage finite population correction, constant within a stratum,
        as in R: either the number of PSUs in the stratum's population (all
        values >= 1, and at least one > 1) or the first-stage sampling
        fraction (all values in (0, 1]). Default: sampling with replacement.
    lonely_psu : {"fail", "remove", "adjust", "average", "certainty"}, default "fail"
        What to do with a stratum that has a single PSU (a "lonely" PSU), as
        R's ``options(survey.lonely.psu = ...)``; see Notes. R's default is
        ``"fail"``.
    adjust_domain_lonely : bool, default False
        As R's ``options(survey.adjust.domain.lonely = TRUE)``: also apply
        ``"adjust"`` or ``"average"`` to a stratum that has several PSUs in
        the design but only one with rows of the domain being estimated.

    Attributes
    ----------
    n : int
        Number of rows.
    n_psu : int
        Number of PSUs (after nesting clusters in strata).
    n_strata : int
        Number of strata.
    df : int
        Design degrees of freedom, ``n_psu - n_strata`` (R ``degf``).

    Raises
    ------
    ValueError
        If no array is given (use :meth:`Design.srs`), the arrays differ in
        length or are not 1-D, weights are not finite and positive, labels
        are missing, or ``fpc`` is invalid (mixes counts and fractions, varies
        within a stratum, or implies more than 100% sampling).

    Notes
    -----
    For a total or a mean linearised to influence values :math:`z_i`, the
    variance is that of R's ``svyrecvar`` (Lumley 2010, sec. 2.2; Binder
    1983):

    .. math::

        \\hat V = \\sum_h (1 - f_h) \\frac{n_h}{n_h - 1}
                  \\sum_{i=1}^{n_h} (z_{hi} - \\bar z_h)^2,

    where :math:`z_{hi}` is the total of :math:`z` over PSU :math:`i` of
    stratum :math:`h`, :math:`n_h` the number of PSUs of stratum :math:`h`
    and :math:`f_h` its first-stage sampling fraction (0 without ``fpc``).
    A stratum sampled completely (``f_h = 1``) contributes nothing, as in R.

    A stratum with a single PSU (not sampled completely) has no variance
    estimate of its own. ``lonely_psu`` says what to do, exactly as R's
    ``svyrecvar`` (``onestrat``/``onestage`` in ``survey/R/multistage.R``):

    ``"fail"``
        R's default, an error in R; here the estimate has ``ok=False`` and a
        ``reason`` naming the stratum.
    ``"remove"`` and ``"certainty"``
        The stratum contributes nothing to the variance (as if its PSU had
        been sampled with certainty). The margin of error can be too small.
    ``"adjust"``
        The stratum's PSU total is centred at the grand mean of the PSU totals
        (``colSums(x) / n_psu``) instead of its stratum mean, with multiplier
        :math:`1 - f_h`: conservative. For the estimators of this module the
        influence values sum to zero, so the grand mean is 0, which is also
        what survey 4.1-1 uses (it centres at zero; survey >= 4.2 centres at
        the grand mean: the same here).
    ``"average"``
        The stratum is left out and the sum over the other strata is scaled
        by ``H / (H - L)``, with ``H`` the strata that have rows of the domain
        and ``L`` the lonely ones among them: lonely strata get the average
        variance of the others. If every stratum is lonely, ``ok=False``.

    For a domain, a stratum enters only if one of its PSUs has a row of the
    domain (R drops the other rows when subsetting). A stratum with several
    PSUs of which only one has domain rows is an ordinary stratum (its other
    PSU totals are 0), unless ``adjust_domain_lonely`` is True and
    ``lonely_psu`` is ``"adjust"`` (centred at the grand mean) or
    ``"average"`` (left out and averaged), as R's
    ``survey.adjust.domain.lonely``. Degrees of freedom do not change (R's
    ``degf``).

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
       Wiley.
    .. [2] Binder, D. A. (1983). On the variances of asymptotically normal
       estimators from complex surveys. *International Statistical Review*
       51(3), 279-292.
    .. [3] Lumley, T. (2021). survey: analysis of complex survey samples, R
       package 4.1-1: ``?surveyoptions`` and ``svyrecvar`` (``onestrat``,
       ``onestage`` in ``R/multistage.R``).
       https://CRAN.R-project.org/package=survey

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design
    >>> d = Design(weights=[2.0, 2.0, 3.0, 3.0, 1.0, 1.0],
    ...            clusters=[1, 1, 2, 2, 1, 2],
    ...            strata=["a", "a", "a", "a", "b", "b"])
    >>> d
    Design(n=6, n_psu=4, n_strata=2, df=2, fpc=False)
    >>> lonely = Design(clusters=[1, 2, 3], strata=["a", "a", "b"], lonely_psu="adjust")
    >>> lonely.lonely_strata()
    ('b',)
    """

    weights: np.ndarray | None = None
    clusters: np.ndarray | None = None
    strata: np.ndarray | None = None
    fpc: np.ndarray | None = None
    lonely_psu: str = "fail"
    adjust_domain_lonely: bool = False

    n: int = field(init=False)
    n_psu: int = field(init=False)
    n_strata: int = field(init=False)
    df: int = field(init=False)
    # row -> PSU code; PSU codes are sorted by stratum
    _psu: np.ndarray = field(init=False)
    # PSU -> stratum code, and first PSU of each stratum (for reduceat)
    _psu_stratum: np.ndarray = field(init=False)
    _stratum_start: np.ndarray = field(init=False)
    # per stratum: number of PSUs, (1 - f) n/(n - 1), single non-certainty PSU
    _n_h: np.ndarray = field(init=False)
    _scale_h: np.ndarray = field(init=False)
    _lonely_h: np.ndarray = field(init=False)
    _certain_h: np.ndarray = field(init=False)
    _one_minus_f_h: np.ndarray = field(init=False)
    _scale_psu: np.ndarray = field(init=False)
    _stratum_labels: np.ndarray = field(init=False)
    _w: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.lonely_psu not in LONELY_PSU_OPTIONS:
            raise ValueError(
                f"lonely_psu must be one of {', '.join(LONELY_PSU_OPTIONS)}, "
                f"got {self.lonely_psu!r}"
            )
        if not isinstance(self.adjust_domain_lonely, (bool, np.bool_)):
            raise ValueError("adjust_domain_lonely must be True or False")
        set_(self, "adjust_domain_lonely", bool(self.adjust_domain_lonely))
        given = {
            name: getattr(self, name)
            for name in ("weights", "clusters", "strata", "fpc")
            if getattr(self, name) is not None
        }
        if not given:
            raise ValueError(
                "Design needs at least one of weights, clusters, strata or fpc "
                "(to know the number of rows); use Design.srs(n) for an "
                "unweighted simple random sample"
            )
        arrays = {}
        n = None
        for name, value in given.items():
            arr = np.array(value, copy=True)
            if arr.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(
                    f"{name} has {arr.shape[0]} rows but the other design "
                    f"arrays have {n}"
                )
            arrays[name] = arr
        if n == 0:
            raise ValueError("the design arrays are empty (0 rows)")

        if "weights" in arrays:
            try:
                w = arrays["weights"].astype(np.float64, copy=False)  # already a private copy
            except (TypeError, ValueError) as exc:
                raise ValueError("weights must be numeric") from exc
            if not np.all(np.isfinite(w)) or np.any(w <= 0):
                raise ValueError(
                    "weights must be finite and strictly positive (use an "
                    "estimator's domain= to exclude rows)"
                )
        else:
            w = np.ones(n)

        if "strata" in arrays:
            s_labels, s_code = _labels_to_codes(arrays["strata"], "strata")
        else:
            s_labels = np.array(["(all)"], dtype=object)
            s_code = np.zeros(n, dtype=np.int64)
        n_strata = len(s_labels)

        if "clusters" in arrays:
            _, c_code = _labels_to_codes(arrays["clusters"], "clusters")
            n_c = int(c_code.max()) + 1
            key = s_code * n_c + c_code
            psu_keys, psu = _dense_codes(key)
            psu_stratum = (psu_keys // n_c).astype(np.int64)
        else:
            order = np.argsort(s_code, kind="stable")
            psu = np.empty(n, dtype=np.int64)
            psu[order] = np.arange(n, dtype=np.int64)
            psu_stratum = s_code[order]
        n_psu = len(psu_stratum)
        n_h = np.bincount(psu_stratum, minlength=n_strata).astype(np.int64)
        stratum_start = np.concatenate(([0], np.cumsum(n_h)[:-1])).astype(np.intp)

        one_minus_f = np.ones(n_strata)
        if "fpc" in arrays:
            one_minus_f = _fpc_to_unsampled_fraction(
                arrays["fpc"], s_code, n_h, s_labels
            )
        certainty = one_minus_f < _CERTAINTY_TOL
        lonely = (n_h == 1) & ~certainty
        scale_h = np.where(
            n_h > 1, one_minus_f * n_h / np.maximum(n_h - 1, 1), one_minus_f
        )
        scale_h = np.where(certainty | lonely, 0.0, scale_h)

        for name, arr in arrays.items():
            arr.setflags(write=False)
            set_(self, name, arr)
        w.setflags(write=False)
        set_(self, "_w", w)
        set_(self, "n", int(n))
        set_(self, "n_psu", int(n_psu))
        set_(self, "n_strata", int(n_strata))
        set_(self, "df", int(n_psu - n_strata))
        set_(self, "_psu", psu)
        set_(self, "_psu_stratum", psu_stratum)
        set_(self, "_stratum_start", stratum_start)
        set_(self, "_n_h", n_h)
        set_(self, "_scale_h", scale_h)
        set_(self, "_lonely_h", lonely)
        set_(self, "_certain_h", certainty)
        set_(self, "_one_minus_f_h", one_minus_f)
        set_(self, "_scale_psu", scale_h[psu_stratum])
        set_(self, "_stratum_labels", s_labels)

    @classmethod
    def srs(cls, n: int) -> Design:
        """Unweighted simple random sample with replacement of ``n`` rows.

        Examples
        --------
        >>> Design.srs(10).df
        9
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        return cls(weights=np.ones(int(n)))

    def __repr__(self) -> str:
        return (
            f"Design(n={self.n}, n_psu={self.n_psu}, n_strata={self.n_strata}, "
            f"df={self.df}, fpc={self.fpc is not None})"
        )

    def lonely_strata(self) -> tuple:
        """Labels of the strata with a single PSU that is not a certainty PSU.

        Examples
        --------
        >>> Design(clusters=[1, 2, 3], strata=[1, 1, 2]).lonely_strata()
        (2,)
        """
        return tuple(_item(v) for v in self._stratum_labels[self._lonely_h])

    def degf(self, domain: Any = None) -> int:
        """Design degrees of freedom, of the whole design or of a domain.

        As R's ``degf(design)`` and ``degf(subset(design, domain))``: PSUs
        with at least one domain row minus strata with at least one.

        Examples
        --------
        >>> d = Design(clusters=[1, 1, 2, 3], strata=[1, 1, 1, 2])
        >>> d.degf(), d.degf([True, True, False, True])
        (1, 0)
        """
        mask = _check_domain(domain, self.n)
        if mask is None:
            return self.df
        wd = np.where(mask, self._w, 0.0)
        return _domain_df(self, np.bincount(self._psu, wd, self.n_psu))[0]


def _labels_to_codes(labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique labels and the integer code of every row."""
    if labels.dtype.kind in "iu" and labels.size:
        return _dense_codes(labels)
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError(f"{name} has missing values (NaN)")
    if labels.dtype.kind == "O" and any(v is None for v in labels):
        raise ValueError(f"{name} has missing values (None)")
    try:
        uniq, code = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"{name} labels must be mutually sortable") from exc
    return uniq, code.reshape(-1).astype(np.int64)


def _dense_codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(labels, return_inverse=True)`` for integers, without a sort when their range
    is small (a table lookup: what makes building a design on 10^6 rows cheap)."""
    lo, hi = int(labels.min()), int(labels.max())
    if hi - lo > 4 * labels.size + 1024:
        uniq, code = np.unique(labels, return_inverse=True)
        return uniq, code.reshape(-1).astype(np.int64)
    shifted = labels.astype(np.int64) - lo
    present = np.bincount(shifted, minlength=hi - lo + 1) > 0
    lookup = np.cumsum(present) - 1
    return (np.flatnonzero(present) + lo).astype(labels.dtype), lookup[shifted]


def _fpc_to_unsampled_fraction(
    fpc: np.ndarray, s_code: np.ndarray, n_h: np.ndarray, s_labels: np.ndarray
) -> np.ndarray:
    """Per-stratum 1 - f from an R-style fpc column (counts or fractions)."""
    try:
        fpc = fpc.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("fpc must be numeric") from exc
    if not np.all(np.isfinite(fpc)) or np.any(fpc <= 0):
        raise ValueError("fpc must be finite and strictly positive")
    fpc_h = np.empty(len(n_h))
    fpc_h[s_code] = fpc
    if np.any(fpc != fpc_h[s_code]):
        bad = s_labels[s_code[np.flatnonzero(fpc != fpc_h[s_code])[0]]]
        raise ValueError(f"fpc must be constant within a stratum (stratum {_item(bad)!r})")
    if np.any(fpc > 1):
        if np.any(fpc < 1):
            raise ValueError(
                "fpc mixes population sizes (>= 1) and sampling fractions "
                "(< 1); R requires all fpc >= 1 or all fpc <= 1"
            )
        too_small = fpc_h < n_h
        if np.any(too_small):
            bad = s_labels[np.flatnonzero(too_small)[0]]
            raise ValueError(
                f"fpc implies more than 100% sampling in stratum {_item(bad)!r}: "
                "fpc is the number of PSUs in the stratum population and must "
                "be at least the number sampled"
            )
        return (fpc_h - n_h) / fpc_h
    return 1.0 - fpc_h


# ---------------------------------------------------------------------------
# Linearisation core
# ---------------------------------------------------------------------------
#
# The estimators reduce the data to sums over "buckets". A bucket is a pair
# (PSU, group): the group is a level of ``by`` (or the one domain), and rows
# outside the domain or with a missing value fall into one extra group that is
# discarded. Each sum is then a single np.bincount over a precomputed key
# ``psu * width + group``, and everything after it works on arrays of size
# n_psu x groups. This is what keeps 10^5-10^6 rows in the millisecond range.


def _psu_totals(design: Design, z: np.ndarray) -> np.ndarray:
    """Totals of row influence values ``z`` (n or n x k) over each PSU."""
    if z.ndim == 1:
        return np.bincount(design._psu, weights=z, minlength=design.n_psu)
    return np.column_stack(
        [np.bincount(design._psu, weights=z[:, j], minlength=design.n_psu)
         for j in range(z.shape[1])]
    )


def _centred(design: Design, totals: np.ndarray) -> np.ndarray:
    """PSU totals minus their stratum mean (over all PSUs of the stratum)."""
    sums = np.add.reduceat(totals, design._stratum_start, axis=0)
    if totals.ndim == 1:
        means = sums / design._n_h
    else:
        means = sums / design._n_h.reshape((-1,) + (1,) * (totals.ndim - 1))
    return totals - means[design._psu_stratum]


def _lonely_active(design: Design) -> bool:
    """Whether a lonely-PSU rule can change a variance of this design."""
    return bool(design._lonely_h.any()) or (
        design.adjust_domain_lonely and design.lonely_psu in ("adjust", "average")
    )


def _deviations(
    design: Design, totals: np.ndarray, counts: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred PSU totals, their multipliers and an overall factor, lonely PSUs handled.

    ``totals`` has shape (n_psu, k); ``counts`` (rows used per PSU) has shape (n_psu, k),
    (n_psu, 1) or (n_psu,) for one domain shared by every column, or is None (every row
    used). Returns ``dev`` (n_psu, k), ``weight`` (n_psu, k) and ``factor`` (k,) such that
    the variance of column j is ``factor[j] * sum(weight[:, j] * dev[:, j] ** 2)``: R's
    ``onestage`` over ``onestrat`` with ``options(survey.lonely.psu)``.
    """
    dev = _centred(design, totals)
    k = totals.shape[1]
    weight = np.broadcast_to(design._scale_psu[:, None], totals.shape)
    factor = np.ones(k)
    mode = design.lonely_psu
    if not _lonely_active(design) or mode in ("fail", "remove", "certainty"):
        # fail: reported by _groups_df; remove / certainty: the lonely stratum adds 0
        return dev, weight, factor
    if counts is None:
        touched = np.ones((design.n_psu, 1), dtype=bool)
    else:
        touched = (counts if counts.ndim == 2 else counts[:, None]) > 0
    n_in = np.add.reduceat(touched.astype(np.int64), design._stratum_start, axis=0)
    present = n_in > 0  # (n_strata, k or 1): the stratum has rows of the domain
    lonely = design._lonely_h[:, None] & present
    special = lonely
    if design.adjust_domain_lonely:
        regular = (design._n_h > 1) & ~design._certain_h
        special = lonely | (regular[:, None] & (n_in == 1))
    if not special.any():
        return dev, weight, factor
    special_psu = np.broadcast_to(special[design._psu_stratum], totals.shape)
    if mode == "adjust":
        # centre at the grand mean of the PSU totals of the strata in the domain
        n_psu_in = np.maximum((design._n_h[:, None] * present).sum(axis=0), 1)
        grand = totals.sum(axis=0) / n_psu_in
        dev = np.where(special_psu, totals - grand, dev)
        lonely_psu = np.broadcast_to(lonely[design._psu_stratum], totals.shape)
        weight = np.where(lonely_psu, design._one_minus_f_h[design._psu_stratum][:, None], weight)
    else:  # average: leave them out and scale the others up
        weight = np.where(special_psu, 0.0, weight)
        n_strata = np.broadcast_to(present.sum(axis=0), (k,))
        n_ok = n_strata - np.broadcast_to(special.sum(axis=0), (k,))
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(n_ok > 0, n_strata / np.maximum(n_ok, 1), np.nan)
    return dev, weight, factor


def _var_from_totals(
    design: Design, totals: np.ndarray, counts: np.ndarray | None = None
) -> np.ndarray:
    """Stratified between-PSU variance (R ``svyrecvar``) of each column.

    ``counts`` are the rows used per PSU (same shape as ``totals``, or one column for a
    domain shared by all); None when every row is used.
    """
    one = totals.ndim == 1
    t = totals[:, None] if one else totals
    if counts is not None and counts.ndim == 1 and not one:
        counts = counts[:, None]
    elif counts is not None and counts.ndim == 1:
        counts = counts[:, None]
    dev, weight, factor = _deviations(design, t, counts)
    var = factor * np.einsum("pk,pk->k", weight, dev * dev)
    return var[0] if one else var


def _cov_from_totals(
    design: Design, totals: np.ndarray, counts: np.ndarray | None = None
) -> np.ndarray:
    """Stratified between-PSU covariance matrix of the columns of ``totals`` (one domain,
    ``counts`` rows used per PSU, shape (n_psu,), or None for every row)."""
    c = None if counts is None else np.asarray(counts).reshape(-1, 1)
    dev, weight, factor = _deviations(design, totals, c)
    return factor[0] * ((dev * weight).T @ dev)


def _lonely_reason(label: Any) -> str:
    return (
        f"stratum {_item(label)} has only one PSU, so the variance cannot be "
        "estimated (R survey: lonely.psu = 'fail')"
    )


_ALL_LONELY_REASON = (
    "every stratum of the domain has a single PSU, so there is no variance to "
    "average (R survey: lonely.psu = 'average')"
)


def _domain_df_full(design: Design) -> str:
    """Lonely-PSU failure reason for the whole design ("" if none)."""
    return _groups_df(design, np.ones((design.n_psu, 1)))[1][0]


def _domain_df(design: Design, psu_weight: np.ndarray) -> tuple[int, str]:
    """Degrees of freedom of one domain and the lonely-PSU failure, if any.

    ``psu_weight`` is the domain weight (or row count) of every PSU.
    """
    df, reasons = _groups_df(design, psu_weight[:, None])
    return int(df[0]), reasons[0]


def _groups_df(design: Design, counts: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Design df of each group (column of ``counts``, rows used per PSU).

    As R's ``degf(subset(...))``: PSUs with at least one row used minus
    strata with at least one. The reason is non-empty when a stratum touched
    by the group has a single, non-certainty PSU.
    """
    touched = counts > 0
    n_in = np.add.reduceat(touched.astype(np.int64), design._stratum_start, axis=0)
    strata_touched = n_in > 0
    df = touched.sum(axis=0) - strata_touched.sum(axis=0)
    reasons = [""] * counts.shape[1]
    mode = design.lonely_psu
    if mode == "fail" and design._lonely_h.any():
        bad = design._lonely_h[:, None] & strata_touched
        for g in np.flatnonzero(bad.any(axis=0)):
            reasons[g] = _lonely_reason(design._stratum_labels[np.flatnonzero(bad[:, g])[0]])
    elif mode == "average" and _lonely_active(design):
        special = design._lonely_h[:, None] & strata_touched
        if design.adjust_domain_lonely:
            regular = (design._n_h > 1) & ~design._certain_h
            special = special | (regular[:, None] & (n_in == 1))
        for g in np.flatnonzero(strata_touched.any(axis=0)):
            if special[:, g].sum() == strata_touched[:, g].sum():
                reasons[g] = _ALL_LONELY_REASON
    return df, reasons


@dataclass(frozen=True, slots=True)
class _Buckets:
    """Row -> bucket key ``psu * width + group`` and the group labels."""

    key: np.ndarray
    width: int
    n_groups: int
    labels: tuple | None  # by labels, None without by
    partial: bool  # some rows are excluded or grouped: counts are needed


def _buckets(
    design: Design, excluded: np.ndarray | None, by: tuple | None
) -> _Buckets:
    if by is None:
        if excluded is None:
            return _Buckets(design._psu, 1, 1, None, False)
        return _Buckets(design._psu * 2 + excluded, 2, 1, None, True)
    values, codes = by
    n_by = len(values)
    labels = tuple(_item(v) for v in values)
    if excluded is None:
        return _Buckets(design._psu * n_by + codes, n_by, n_by, labels, True)
    codes = codes.copy()
    codes[excluded] = n_by
    return _Buckets(design._psu * (n_by + 1) + codes, n_by + 1, n_by, labels, True)


def _sums(
    design: Design, key: np.ndarray, n_buckets: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Bucket sums, shape (n_psu, n_buckets)."""
    return np.bincount(key, weights=weights, minlength=design.n_psu * n_buckets).reshape(
        design.n_psu, n_buckets
    )


def _check_domain(domain: Any, n: int) -> np.ndarray | None:
    if domain is None:
        return None
    mask = np.asarray(domain)
    if mask.dtype != np.bool_:
        raise ValueError(f"domain must be a boolean array, got dtype {mask.dtype}")
    if mask.shape != (n,):
        raise ValueError(f"domain must have shape ({n},), got {mask.shape}")
    return mask


def _check_by(by: Any, n: int) -> tuple[tuple | None, np.ndarray | None]:
    """``((values, codes), missing)`` for a by variable, or ``(None, None)``."""
    if by is None:
        return None, None
    values, codes, missing, _ = _factor(by, "by", n)
    return (values, codes), missing


def _check_numeric(y: Any, name: str, n: int, ndims: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimension(s)")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but the design has {n}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} has infinite values")
    return arr


def _check_level(level: float) -> float:
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(level)


def _excluded(
    mask: np.ndarray | None,
    missing: np.ndarray | None,
    na_rm: bool,
    name: str,
    by_missing: np.ndarray | None = None,
) -> np.ndarray | None:
    """Rows left out: outside the domain, missing, or with a missing by.

    Missing values outside the domain are ignored (R subsets first). Returns
    ``None`` when every row is used.
    """
    if missing is not None:
        inside = missing if mask is None else missing & mask
        if not inside.any():
            missing = None
        elif not na_rm:
            raise ValueError(
                f"{name} has missing values; pass na_rm=True to drop them (as "
                "R's na.rm = TRUE: the rows leave the domain, the design is kept)"
            )
    out = None if mask is None else ~mask
    for extra in (missing, by_missing):
        if extra is not None:
            out = extra if out is None else out | extra
    return out


def _factor(
    a: Any, name: str, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
    """Code a label column for cross-tabulation.

    Returns ``(values, codes, missing, direct)``. When ``direct`` the codes
    are the labels themselves (small non-negative integers) and ``values`` is
    ``arange(max + 1)``; otherwise ``values`` are the sorted unique labels.
    ``missing`` marks NaN/None rows (their code is 0), or is ``None``.
    """
    arr = np.asarray(a)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be 1-D with {n} rows, got shape {arr.shape}")
    kind = arr.dtype.kind
    missing = None
    if kind == "b":
        return np.array([False, True]), arr.astype(np.int64), None, True
    if kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi < _MAX_DIRECT_CODES:
            return np.arange(hi + 1), arr.astype(np.int64), None, True
        values, codes = np.unique(arr, return_inverse=True)
        return values, codes.reshape(-1).astype(np.int64), None, False
    if kind == "f":
        nan = np.isnan(arr)
        if nan.any():
            missing = nan
            arr = np.where(nan, 0.0, arr)
        if np.isinf(arr).any():
            raise ValueError(f"{name} has infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi < _MAX_DIRECT_CODES:
            as_int = arr.astype(np.int64)
            if np.array_equal(as_int, arr):
                return np.arange(int(hi) + 1).astype(np.float64), as_int, missing, True
        keep = arr if missing is None else arr[~missing]
        values = np.unique(keep)
        codes = np.searchsorted(values, arr).astype(np.int64)
        if missing is not None:
            codes[missing] = 0
        return values, codes, missing, False
    if kind == "O":
        nan = np.fromiter(
            (v is None or (isinstance(v, float) and v != v) for v in arr),
            dtype=bool,
            count=n,
        )
        keep = arr
        if nan.any():
            missing = nan
            keep = arr[~nan]
        try:
            values = np.unique(keep)
        except TypeError as exc:
            raise ValueError(f"{name} labels must be mutually sortable") from exc
        codes = np.zeros(n, dtype=np.int64)
        if missing is None:
            codes[:] = np.searchsorted(values, keep)
        else:
            codes[~missing] = np.searchsorted(values, keep)
        return values, codes, missing, False
    if kind in "US":
        values, codes = np.unique(arr, return_inverse=True)
        return values, codes.reshape(-1).astype(np.int64), None, False
    raise ValueError(f"{name} has unsupported dtype {arr.dtype}")


def _item(v: Any) -> Any:
    """Plain Python scalar for a numpy label."""
    return v.item() if isinstance(v, np.generic) else v


def _shift(y: np.ndarray) -> float:
    """A rough centre of ``y`` (from its first rows) to subtract before summing.

    Sums of squares are then accumulated around a value close to the mean,
    which keeps them accurate when the mean is large relative to the spread.
    """
    head = y[:1024]
    head = head[~np.isnan(head)]
    return float(head.mean()) if head.size else 0.0


def _is_zero(var: float, scale: float) -> bool:
    """Whether a variance is zero up to rounding, for data of size ``scale``."""
    return not var > (1e-12 * scale) ** 2


def _t_quantile(df: float, level: float) -> float:
    return float(special.stdtrit(df, 0.5 + level / 2))


def _z_quantile(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2))


def _t_pvalue(t: np.ndarray | float, df: float) -> np.ndarray | float:
    return 2.0 * special.stdtr(df, -np.abs(t))


def _by_result(b: _Buckets, present: np.ndarray, results: list) -> Any:
    """The single result, or a dict by label of the groups that have rows."""
    if b.labels is None:
        return results[0]
    return {b.labels[g]: results[g] for g in range(b.n_groups) if present[g]}


# ---------------------------------------------------------------------------
# svymean
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SvyMean:
    """Design-based mean of one variable (R ``svymean(..., deff = TRUE)``).

    Attributes
    ----------
    ok : bool
        False when the standard error cannot be estimated; see ``reason``.
    reason : str
        Why ``ok`` is False ("" when ok).
    estimate : float or None
        Weighted mean over the domain (None for an empty domain).
    se : float or None
        Linearisation standard error (0 when every value in the domain is the
        same).
    ci_low, ci_high : float or None
        Confidence interval, normal by default (R ``confint(svymean(...))``)
        or Student t with ``df`` degrees of freedom when ``ci="t"``.
    level : float
        Confidence level.
    deff : float or None
        Design effect as R's ``deff = TRUE``: the variance over that of the
        mean of a simple random sample *without* replacement of ``n`` units
        from a population of ``sum_weights``. None when the weights do not
        sum to more than ``n`` (they are not scaled to the population; R
        returns NA or Inf) or the values do not vary.
    deff_replace : float or None
        Design effect against sampling *with* replacement (R
        ``deff = "replace"``), the Kish-style deff for normalised weights.
    n : int
        Rows used (in the domain, not missing).
    sum_weights : float
        Sum of their weights: the estimated domain population size.
    df : int
        Design degrees of freedom of the domain (R ``degf(subset(...))``).
    """

    ok: bool
    reason: str
    estimate: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    deff: float | None
    deff_replace: float | None
    n: int
    sum_weights: float
    df: int


def svymean(
    y: Any,
    design: Design,
    *,
    domain: Any = None,
    by: Any = None,
    na_rm: bool = False,
    level: float = 0.95,
    ci: str = "normal",
) -> Any:
    """Design-based mean, standard error, confidence interval and deff.

    Reproduces R's ``svymean(~y, design, deff = TRUE)``; for a domain
    ``svymean(~y, subset(design, domain), deff = TRUE)``; with ``by``,
    ``svyby(~y, ~by, design, svymean, deff = TRUE)``.

    Parameters
    ----------
    y : array_like of float, shape (n,) or (n, k)
        The variable, or ``k`` variables (e.g. survey items) at once. NaN
        marks a missing value. For speed, pass a 2-D array in column-major
        (Fortran) order, e.g. ``np.column_stack`` of the items transposed, or
        call once per item.
    design : Design
        The sample design.
    domain : array_like of bool, shape (n,), optional
        Subpopulation to estimate for (rows outside keep their PSU and
        stratum, as R's ``subset``). Default: everyone.
    by : array_like, shape (n,), optional
        Groups (e.g. segment, or a wave-by-segment code): one estimate per
        group, each a domain. Rows whose ``by`` is missing are left out.
    na_rm : bool, default False
        Drop missing values (each column separately for a 2-D ``y``), as R's
        ``na.rm = TRUE``; they leave the domain. If False, missing values in
        the domain raise ``ValueError``.
    level : float, default 0.95
        Confidence level.
    ci : {"normal", "t"}, default "normal"
        ``"normal"`` is R's ``confint(svymean(...))``; ``"t"`` uses a t
        distribution with the domain's design degrees of freedom, as
        ``confint(..., df = degf(design))`` and as recommended by Korn &
        Graubard (1999) for designs with few PSUs.

    Returns
    -------
    SvyMean, dict or tuple
        A :class:`SvyMean`; with ``by`` a dict from each group label that has
        rows to its :class:`SvyMean`; for a 2-D ``y`` a tuple of those, one
        per column.

    Notes
    -----
    The mean :math:`\\bar y = \\sum w_i y_i / \\sum w_i` (over the domain) is
    linearised to :math:`z_i = w_i (y_i - \\bar y) / \\sum w_i`, zero outside
    the domain, and its variance is that of :class:`Design` (Binder 1983;
    Lumley 2010, ch. 2).

    The design effect follows R exactly: with :math:`N = \\sum w_i` and
    :math:`n` the rows used, :math:`s^2 = \\frac{n}{n-1} \\sum w_i (y_i -
    \\bar y)^2 / N` and ``deff = V / (s^2 (N - n) / (N n))``;
    ``deff_replace = V / (s^2 / n)`` (Kish 1965; Lumley 2010, sec. 2.3).

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
       Wiley.
    .. [2] Binder, D. A. (1983). On the variances of asymptotically normal
       estimators from complex surveys. *International Statistical Review*
       51(3), 279-292.
    .. [3] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health
       Surveys*. Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svymean
    >>> d = Design(weights=[10., 10., 20., 20., 5., 5.],
    ...            clusters=[1, 1, 2, 2, 3, 3])
    >>> knows = np.array([1., 0., 1., 1., 0., 0.])
    >>> r = svymean(knows, d)
    >>> round(r.estimate, 4), round(r.se, 4), r.df
    (0.7143, 0.2474, 2)
    >>> sub = svymean(knows, d, domain=np.array([True, True, True, False, False, False]))
    >>> round(sub.estimate, 4), sub.n
    (0.75, 3)
    >>> {k: round(v.estimate, 3) for k, v in svymean(knows, d, by=["F", "M"] * 3).items()}
    {'F': 0.857, 'M': 0.571}
    """
    level = _check_level(level)
    if ci not in ("normal", "t"):
        raise ValueError(f"ci must be 'normal' or 't', got {ci!r}")
    arr = _check_numeric(y, "y", design.n, (1, 2))
    mask = _check_domain(domain, design.n)
    by_info, by_missing = _check_by(by, design.n)
    cols = arr[:, None] if arr.ndim == 1 else arr
    if not na_rm:
        for j in range(cols.shape[1]):
            nan = np.isnan(cols[:, j])
            _excluded(mask, nan if nan.any() else None, False, "y", by_missing)
    excl = _excluded(mask, None, na_rm, "y", by_missing)
    if by_info is None:
        cells, n_cells, labels = np.zeros(design.n, dtype=np.intp), 1, None
    else:
        cells, n_cells = by_info[1], len(by_info[0])
        labels = tuple(_item(v) for v in by_info[0])
    if excl is not None:
        cells = np.where(excl, -1, cells)
    sums = cell_sums(cols, design, cells, n_cells)
    means = sums.means(level=level, ci=ci)
    present = sums.rows > 0  # (cells, columns)
    out = [
        means[j][0] if labels is None else
        {labels[g]: means[j][g] for g in range(n_cells) if present[g, j]}
        for j in range(cols.shape[1])
    ]
    return out[0] if arr.ndim == 1 else tuple(out)


def _means_from_sums(
    design: Design, a: np.ndarray, b: np.ndarray, c: np.ndarray, n: np.ndarray,
    shift: np.ndarray, level: float, ci: str,
) -> list[SvyMean]:
    """One SvyMean per column of the PSU x group sums ``a`` (weights), ``b`` (weighted values
    less ``shift``), ``c`` (their squares) and ``n`` (rows), each of shape (n_psu, groups)."""
    total_w = a.sum(axis=0)
    n_obs = n.sum(axis=0)
    present = n_obs > 0
    safe_w = np.where(present, total_w, 1.0)
    mean_c = b.sum(axis=0) / safe_w
    var = _var_from_totals(design, (b - a * mean_c) / safe_w, n)
    ss = c.sum(axis=0) - total_w * mean_c**2
    dfs, reasons = _groups_df(design, n)
    return [
        _mean_result(
            float(mean_c[j]) + float(shift[j]), float(mean_c[j]), float(var[j]), float(ss[j]),
            int(n_obs[j]), float(total_w[j]), int(dfs[j]), reasons[j], level, ci,
        ) if present[j] else _empty_mean(level)
        for j in range(a.shape[1])
    ]


def _empty_mean(level: float) -> SvyMean:
    return SvyMean(
        ok=False, reason="empty domain: no rows with a non-missing value",
        estimate=None, se=None, ci_low=None, ci_high=None, level=level,
        deff=None, deff_replace=None, n=0, sum_weights=0.0, df=0,
    )


def _mean_result(
    ybar: float, ybar_c: float, var: float, ss: float, n_obs: int, total_w: float,
    df: int, reason: str, level: float, ci: str,
) -> SvyMean:
    if not reason and ci == "t" and df <= 0:
        reason = "the domain has no design degrees of freedom for a t interval"
    if reason:
        return SvyMean(
            ok=False, reason=reason, estimate=ybar, se=None, ci_low=None,
            ci_high=None, level=level, deff=None, deff_replace=None, n=n_obs,
            sum_weights=total_w, df=df,
        )
    ss = max(ss, 0.0)
    scale = max(abs(ybar_c), np.sqrt(ss / total_w))
    if _is_zero(var, scale):
        var = 0.0
    se = float(np.sqrt(var))
    q = _t_quantile(df, level) if ci == "t" else _z_quantile(level)
    deff = deff_replace = None
    if n_obs > 1 and var > 0 and not _is_zero(ss / total_w, scale):
        s2 = n_obs / (n_obs - 1) * ss / total_w
        deff_replace = var / (s2 / n_obs)
        if total_w > n_obs:
            deff = var / (s2 * (total_w - n_obs) / (total_w * n_obs))
    return SvyMean(
        ok=True, reason="", estimate=ybar, se=se, ci_low=ybar - q * se,
        ci_high=ybar + q * se, level=level, deff=deff, deff_replace=deff_replace,
        n=n_obs, sum_weights=total_w, df=df,
    )


# ---------------------------------------------------------------------------
# svyttest
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SvyTTest:
    """Design-based two-group t-test (R ``svyttest(y ~ g, design)``).

    Attributes
    ----------
    ok : bool
        False when the test cannot be computed; see ``reason``.
    reason : str
        Why ``ok`` is False ("" when ok).
    levels : tuple
        The group labels present, sorted; ``levels[1]`` is "group 1".
    estimate : float or None
        Difference in means, group ``levels[1]`` minus group ``levels[0]``.
    mean0, mean1 : float or None
        Weighted means of the two groups.
    se : float or None
        Linearisation standard error of the difference.
    t : float or None
        ``estimate / se``.
    df : int
        Degrees of freedom, design df of the domain minus 1 (R's
        ``svyglm`` residual df ``degf + 1 - 2``).
    p : float or None
        Two-sided p-value from a t distribution with ``df``.
    ci_low, ci_high : float or None
        Confidence interval of the difference (t with ``df``, as R).
    level : float
        Confidence level.
    n : int
        Rows used.
    """

    ok: bool
    reason: str
    levels: tuple
    estimate: float | None
    mean0: float | None
    mean1: float | None
    se: float | None
    t: float | None
    df: int
    p: float | None
    ci_low: float | None
    ci_high: float | None
    level: float
    n: int


def svyttest(
    y: Any,
    group: Any,
    design: Design,
    *,
    domain: Any = None,
    by: Any = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> Any:
    """Design-based t-test of a difference in means between two groups.

    Reproduces R's ``svyttest(y ~ g, design)`` (and on ``subset(design,
    domain)``): the slope of a survey-weighted regression of ``y`` on a group
    indicator, with a linearisation (sandwich) standard error and a t
    reference distribution with ``degf(design) - 1`` degrees of freedom.

    Parameters
    ----------
    y : array_like of float, shape (n,)
        Outcome (a 0/1 indicator gives a difference in proportions).
    group : array_like, shape (n,)
        Group labels with exactly two distinct values among the rows used
        (e.g. wave ``0``/``1``, arm ``"control"``/``"treatment"``). The
        difference is the larger label minus the smaller.
    design : Design
        The sample design.
    domain : array_like of bool, shape (n,), optional
        Subpopulation (R ``subset``).
    by : array_like, shape (n,), optional
        One test per group of ``by`` (each a domain); returns a dict.
    na_rm : bool, default False
        Drop rows with a missing ``y`` or ``group`` (R's ``svyglm`` drops
        them); if False they raise ``ValueError``.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    SvyTTest or dict
        With ``by``, a dict from each group label that has rows to its test.

    Raises
    ------
    ValueError
        If ``group`` has more than two levels among the rows used (R: "group
        must be binary"), or on invalid input.

    Notes
    -----
    For the two-group regression the influence of the slope is
    :math:`w_i (y_i - \\bar y_{g_i}) (g_i / W_1 - (1 - g_i) / W_0)`, with
    :math:`W_g` the weight total of group :math:`g` (Binder 1983), so its
    PSU totals come from the PSU-by-group sums of :math:`w` and :math:`wy`.

    References
    ----------
    .. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*,
       sec. 3.4 and 5.2. Wiley.
    .. [2] Binder, D. A. (1983). On the variances of asymptotically normal
       estimators from complex surveys. *International Statistical Review*
       51(3), 279-292.
    .. [3] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health
       Surveys*. Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svyttest
    >>> d = Design(clusters=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> r = svyttest([3., 4., 2., 5., 6., 8., 7., 9.],
    ...              [0, 0, 0, 0, 1, 1, 1, 1], d)
    >>> r.levels, r.estimate, r.df
    ((0, 1), 4.0, 2)
    >>> round(r.t, 3), round(r.p, 4)
    (9.798, 0.0103)
    """
    level = _check_level(level)
    yy = _check_numeric(y, "y", design.n, (1,))
    mask = _check_domain(domain, design.n)
    by_info, by_missing = _check_by(by, design.n)
    values, codes, g_missing, _ = _factor(group, "group", design.n)
    nan = np.isnan(yy)
    missing = (nan if g_missing is None else nan | g_missing) if nan.any() else g_missing
    excl = _excluded(mask, missing, na_rm, "y or group", by_missing)
    b = _buckets(design, excl, by_info)
    n_lev = len(values)
    key = b.key * n_lev + codes
    shape = (design.n_psu, b.width, n_lev)
    size = design.n_psu * b.width * n_lev
    g = b.n_groups
    counts = np.bincount(key, minlength=size).reshape(shape)[:, :g]
    used = np.flatnonzero(counts.sum(axis=(0, 1)) > 0)
    if len(used) > 2:
        raise ValueError(
            f"group must have two levels among the rows used, found {len(used)}: "
            f"{[_item(v) for v in values[used]]}"
        )
    c = _shift(yy)
    yc = yy - c if c != 0.0 else yy
    a_sums = np.bincount(key, design._w, size).reshape(shape)[:, :g]
    b_sums = np.bincount(key, design._w * yc, size).reshape(shape)[:, :g]
    psu_counts = counts.sum(axis=2)
    n_obs = psu_counts.sum(axis=0)
    if b.partial:
        dfs, reasons = _groups_df(design, psu_counts)
    else:
        dfs, reasons = np.array([design.df]), [_domain_df_full(design)]
    results = [
        _ttest_group(design, values, used, counts[:, j], a_sums[:, j], b_sums[:, j],
                     c, int(n_obs[j]), int(dfs[j]) - 1, reasons[j], level)
        for j in range(g)
    ]
    return _by_result(b, n_obs > 0, results)


def _ttest_group(
    design: Design, values: np.ndarray, used: np.ndarray, counts: np.ndarray,
    a_sums: np.ndarray, b_sums: np.ndarray, shift: float, n_obs: int, df: int,
    reason: str, level: float,
) -> SvyTTest:
    here = [int(i) for i in used if counts[:, i].sum() > 0]
    levels = tuple(_item(values[i]) for i in here)

    def fail(why: str, **kw: Any) -> SvyTTest:
        base: dict[str, Any] = dict(estimate=None, mean0=None, mean1=None)
        base.update(kw)
        return SvyTTest(
            ok=False, reason=why, levels=levels, se=None, t=None, df=df, p=None,
            ci_low=None, ci_high=None, level=level, n=n_obs, **base,
        )

    if n_obs == 0:
        return fail("empty domain: no rows with non-missing y and group")
    if len(here) < 2:
        return fail("group has a single level among the rows used; a t-test needs two")
    lo, hi = here
    w0, w1 = a_sums[:, lo].sum(), a_sums[:, hi].sum()
    m0c, m1c = b_sums[:, lo].sum() / w0, b_sums[:, hi].sum() / w1
    diff = float(m1c - m0c)
    kw = dict(estimate=diff, mean0=float(m0c + shift), mean1=float(m1c + shift))
    if reason:
        return fail(reason, **kw)
    if df <= 0:
        return fail("no residual degrees of freedom (design df - 1 <= 0)", **kw)
    totals = (b_sums[:, hi] - m1c * a_sums[:, hi]) / w1 - (
        b_sums[:, lo] - m0c * a_sums[:, lo]
    ) / w0
    var = float(_var_from_totals(design, totals, counts.sum(axis=1)))
    if _is_zero(var, max(abs(m0c), abs(m1c))):
        return fail("zero variance: the difference has no sampling variability", **kw)
    se = float(np.sqrt(var))
    t = diff / se
    q = _t_quantile(df, level)
    return SvyTTest(
        ok=True, reason="", levels=levels, se=se, t=t, df=df,
        p=float(_t_pvalue(t, df)), ci_low=diff - q * se, ci_high=diff + q * se,
        level=level, n=n_obs, **kw,
    )


# ---------------------------------------------------------------------------
# svychisq
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SvyChisq:
    """Rao-Scott corrected test of association in a two-way table.

    Attributes
    ----------
    ok : bool
        False when the test cannot be computed; see ``reason``.
    reason : str
        Why ``ok`` is False ("" when ok).
    f : float or None
        Rao-Scott second-order corrected statistic, Pearson's X^2 divided by
        the trace of the design-effect matrix (R ``statistic = "F"``).
    ndf, ddf : float or None
        Numerator degrees of freedom ``d0`` (Satterthwaite) and denominator
        ``d0 * df``.
    p : float or None
        Upper tail of F(ndf, ddf) at ``f``.
    chisq : float or None
        Pearson X^2 of the weighted table scaled to ``n`` rows.
    mean_deff : float or None
        Mean generalised design effect, ``trace(Delta) / ((r-1)(c-1))``.
    x_levels, group_levels : tuple
        Row and column labels present among the rows used.
    proportions : numpy.ndarray or None
        Weighted cell proportions, shape (rows, columns).
    df : int
        Design degrees of freedom of the domain.
    n : int
        Rows used.
    """

    ok: bool
    reason: str
    f: float | None
    ndf: float | None
    ddf: float | None
    p: float | None
    chisq: float | None
    mean_deff: float | None
    x_levels: tuple
    group_levels: tuple
    proportions: np.ndarray | None
    df: int
    n: int


def svychisq(
    x: Any,
    group: Any,
    design: Design,
    *,
    domain: Any = None,
    by: Any = None,
    na_rm: bool = True,
) -> Any:
    """Rao-Scott corrected Pearson chi-square test of association.

    Reproduces R's ``svychisq(~x + group, design)`` with its default
    ``statistic = "F"``: Pearson's X^2 of the weighted table, divided by the
    mean eigenvalue of the generalised design-effect matrix, referred to an F
    distribution with Satterthwaite-matched degrees of freedom (the
    second-order Rao-Scott correction).

    Parameters
    ----------
    x : array_like, shape (n,)
        Row variable: binary (e.g. knows the hotline 0/1) or categorical.
        Small non-negative integer codes are fastest.
    group : array_like, shape (n,)
        Column variable, e.g. wave or arm. Any number (>= 2) of levels.
    design : Design
        The sample design.
    domain : array_like of bool, shape (n,), optional
        Subpopulation (R ``subset``).
    by : array_like, shape (n,), optional
        One test per group of ``by`` (each a domain); returns a dict.
    na_rm : bool, default True
        Drop rows where ``x`` or ``group`` is missing (NaN or None), as R's
        default; if False they raise ``ValueError``.

    Returns
    -------
    SvyChisq or dict
        With ``by``, a dict from each group label that has rows to its test.

    Notes
    -----
    With cell proportions :math:`\\hat p` (covariance :math:`\\hat V` from the
    design), :math:`C` a basis of the interaction contrasts and :math:`D =
    \\mathrm{diag}(\\hat p)`, the design-effect matrix is :math:`\\Delta =
    (C^T D^{-1} C / n)^{-1} C^T D^{-1} \\hat V D^{-1} C`. Then :math:`F =
    X^2 / \\mathrm{tr}\\,\\Delta`, :math:`d_0 = (\\mathrm{tr}\\,\\Delta)^2 /
    \\mathrm{tr}\\,\\Delta^2` and :math:`F \\sim F(d_0, d_0 \\nu)`, where
    :math:`\\nu` is the design df (Rao & Scott 1984; Lumley 2010, sec. 6.2).
    The statistic does not depend on the row count used to scale the table.
    Levels are those present among the rows used.

    References
    ----------
    .. [1] Rao, J. N. K. and Scott, A. J. (1984). On chi-squared tests for
       multiway contingency tables with cell proportions estimated from
       survey data. *Annals of Statistics* 12(1), 46-60.
    .. [2] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*.
       Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svychisq
    >>> rng = np.random.default_rng(1)
    >>> d = Design(clusters=np.repeat(np.arange(20), 10))
    >>> wave = np.repeat(np.arange(20) % 2, 10)
    >>> knows = (rng.random(200) < 0.3 + 0.3 * wave).astype(int)
    >>> r = svychisq(knows, wave, d)
    >>> r.ok, round(r.ndf, 3), round(r.f, 2), r.p < 0.01
    (True, 1.0, 29.53, True)
    """
    mask = _check_domain(domain, design.n)
    by_info, by_missing = _check_by(by, design.n)
    xv, xc, x_miss, _ = _factor(x, "x", design.n)
    gv, gc, g_miss, _ = _factor(group, "group", design.n)
    if x_miss is None:
        missing = g_miss
    elif g_miss is None:
        missing = x_miss
    else:
        missing = x_miss | g_miss
    excl = _excluded(mask, missing, na_rm, "x or group", by_missing)
    b = _buckets(design, excl, by_info)
    kx, kg = len(xv), len(gv)
    n_cells = kx * kg
    cell = xc + kx * gc if kg > 1 else xc
    key = b.key * n_cells + cell
    size = design.n_psu * b.width * n_cells
    g = b.n_groups
    table = np.bincount(key, weights=design._w, minlength=size).reshape(
        design.n_psu, b.width, kg, kx
    )[:, :g]
    if b.partial:
        counts = _sums(design, b.key, b.width)[:, :g]
        n_obs = counts.sum(axis=0)
        dfs, reasons = _groups_df(design, counts)
    else:
        n_obs = np.array([design.n])
        dfs, reasons = np.array([design.df]), [_domain_df_full(design)]
    if kx == 2 and kg == 2:  # every group at once (the usual case: a yes/no item by wave)
        results = _chisq_2x2(design, table.reshape(design.n_psu, g, 4), xv, gv, n_obs, dfs, reasons)
    else:
        results = [
            _chisq_group(design, table[:, j], xv, gv, int(n_obs[j]), int(dfs[j]), reasons[j])
            for j in range(g)
        ]
    return _by_result(b, n_obs > 0, results)


def _chisq_group(
    design: Design, table: np.ndarray, xv: np.ndarray, gv: np.ndarray, n_obs: int,
    df: int, reason: str,
) -> SvyChisq:
    """Rao-Scott F for one domain from its PSU x group x x weighted table."""
    cells = table.sum(axis=0)  # (kg, kx)
    rows_present = np.flatnonzero(cells.sum(axis=0) > 0)
    cols_present = np.flatnonzero(cells.sum(axis=1) > 0)
    x_levels = tuple(_item(v) for v in xv[rows_present])
    g_levels = tuple(_item(v) for v in gv[cols_present])

    def fail(why: str, props: np.ndarray | None = None) -> SvyChisq:
        return SvyChisq(
            ok=False, reason=why, f=None, ndf=None, ddf=None, p=None,
            chisq=None, mean_deff=None, x_levels=x_levels,
            group_levels=g_levels, proportions=props, df=df, n=n_obs,
        )

    if n_obs == 0:
        return fail("empty domain: no rows with non-missing x and group")
    nr, nc = len(rows_present), len(cols_present)
    if nr < 2 or nc < 2:
        return fail(
            f"need at least two levels of x and of group among the rows used "
            f"(found {nr} and {nc})"
        )
    n_psu = table.shape[0]
    # cells in R's order: rows (x) vary fastest
    sub = table[:, cols_present][:, :, rows_present].reshape(n_psu, nr * nc)
    psu_w = sub.sum(axis=1)
    total_w = float(psu_w.sum())
    p = sub.sum(axis=0) / total_w
    props = p.reshape(nc, nr).T.copy()
    if reason:
        return fail(reason, props)
    if df <= 0:
        return fail("no design degrees of freedom in the domain", props)
    if nr == 2 and nc == 2:
        tr = float(_rao_scott_2x2(design, sub[:, None, :], np.array([n_obs]))[0])
        tr2 = tr * tr
    else:
        v = _cov_from_totals(design, (sub - np.outer(psu_w, p)) / total_w, psu_w)
        cmat = _interaction_contrasts(nr, nc)
        inv_p = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), 0.0)
        dc = cmat * inv_p[:, None]  # D^-1 C
        denom = cmat.T @ dc / n_obs
        numr = dc.T @ v @ dc
        try:
            delta = np.linalg.solve(denom, numr)
        except np.linalg.LinAlgError:
            return fail("singular table: the contrast matrix cannot be inverted", props)
        tr = float(np.trace(delta))
        tr2 = float(np.trace(delta @ delta))
    if not (tr > 1e-10 and tr2 > 0):
        return fail("zero variance: the table has no sampling variability", props)
    expected = np.outer(props.sum(axis=1), props.sum(axis=0))
    chisq = float(n_obs * np.sum((props - expected) ** 2 / expected))
    d0 = tr * tr / tr2
    f_stat = chisq / tr
    return SvyChisq(
        ok=True, reason="", f=f_stat, ndf=d0, ddf=d0 * df,
        p=float(special.fdtrc(d0, d0 * df, f_stat)), chisq=chisq,
        mean_deff=tr / ((nr - 1) * (nc - 1)), x_levels=x_levels,
        group_levels=g_levels, proportions=props, df=df, n=n_obs,
    )


# R's interaction contrast of a 2 x 2 table (cells (x0, g0), (x1, g0), (x0, g1), (x1, g1)),
# up to a factor of 4 that cancels in Delta.
_CONTRAST_2X2 = np.array([1.0, -1.0, -1.0, 1.0])


def _rao_scott_2x2(design: Design, t: np.ndarray, n_obs: np.ndarray) -> np.ndarray:
    """The design effect of many 2 x 2 tables at once (the one eigenvalue of Delta).

    ``t`` holds the weighted PSU totals of each table's four cells, shape (n_psu, tables, 4),
    in R's order (x varies fastest). With a single contrast ``c``, Delta is the scalar
    ``c' D^-1 V D^-1 c / (c' D^-1 c / n)``; its numerator is the design variance of the PSU
    totals of ``D^-1 c`` applied to the linearised cell proportions.
    """
    psu_w = t.sum(axis=2)
    total_w = psu_w.sum(axis=0)
    p = t.sum(axis=0) / total_w[:, None]
    inv_p = np.where(p > 0, 1.0 / np.where(p > 0, p, 1.0), 0.0)
    dc = _CONTRAST_2X2 * inv_p
    denom = (_CONTRAST_2X2 * dc).sum(axis=1) / n_obs
    dev = (t - psu_w[:, :, None] * p) / total_w[:, None]
    return _var_from_totals(design, np.einsum("pkc,kc->pk", dev, dc), psu_w) / denom


def _chisq_2x2(
    design: Design, t: np.ndarray, xv: np.ndarray, gv: np.ndarray, n_obs: np.ndarray,
    dfs: np.ndarray, reasons: list[str],
) -> list[SvyChisq]:
    """Rao-Scott F of many 2 x 2 tables (PSU totals ``t``, shape (n_psu, tables, 4)), vectorised.

    Tables with an empty row or column, no degrees of freedom, a lonely PSU or no
    variance go through :func:`_chisq_group`, which says why they fail.
    """
    cells = t.sum(axis=0)
    full = ((cells[:, 0] + cells[:, 2] > 0) & (cells[:, 1] + cells[:, 3] > 0)
            & (cells[:, 0] + cells[:, 1] > 0) & (cells[:, 2] + cells[:, 3] > 0))
    clean = np.flatnonzero(full & (n_obs > 0) & (dfs > 0) & np.array([not r for r in reasons], dtype=bool))
    out: list[SvyChisq | None] = [None] * t.shape[1]
    if clean.size:
        tr = _rao_scott_2x2(design, t[:, clean], n_obs[clean].astype(np.float64))
        psu_w = t[:, clean].sum(axis=2)
        p = cells[clean] / psu_w.sum(axis=0)[:, None]
        props = p[:, [[0, 2], [1, 3]]]  # (tables, x, group)
        expected = props.sum(axis=2)[:, :, None] * props.sum(axis=1)[:, None, :]
        chisq = n_obs[clean] * ((props - expected) ** 2 / expected).sum(axis=(1, 2))
        x_levels, g_levels = tuple(_item(v) for v in xv), tuple(_item(v) for v in gv)
        for i, k in enumerate(clean):
            d, tr2 = float(tr[i]), float(tr[i]) * float(tr[i])
            if not (d > 1e-10 and tr2 > 0):
                continue
            df = int(dfs[k])
            d0 = d * d / tr2
            f_stat = float(chisq[i]) / d
            out[k] = SvyChisq(
                ok=True, reason="", f=f_stat, ndf=d0, ddf=d0 * df,
                p=float(special.fdtrc(d0, d0 * df, f_stat)), chisq=float(chisq[i]),
                mean_deff=d, x_levels=x_levels, group_levels=g_levels,
                proportions=props[i].copy(), df=df, n=int(n_obs[k]),
            )
    return [
        r if r is not None else _chisq_group(design, t[:, k].reshape(-1, 2, 2), xv, gv, int(n_obs[k]),
                                             int(dfs[k]), reasons[k])
        for k, r in enumerate(out)
    ]


def _interaction_contrasts(nr: int, nc: int) -> np.ndarray:
    """R's ``Cmat``: interaction columns orthogonalised against main effects.

    Cells are ordered with the row index varying fastest. Only the column
    space matters (trace(Delta) and trace(Delta^2) are basis-free), but the
    construction follows R's ``svychisq`` for clarity.
    """
    rows = np.tile(np.arange(nr), nc)
    cols = np.repeat(np.arange(nc), nr)
    r_dummies = (rows[:, None] == np.arange(1, nr)).astype(float)
    c_dummies = (cols[:, None] == np.arange(1, nc)).astype(float)
    x1 = np.column_stack([np.ones(nr * nc), r_dummies, c_dummies])
    inter = (r_dummies[:, :, None] * c_dummies[:, None, :]).reshape(nr * nc, -1)
    q, _ = np.linalg.qr(x1)
    return inter - q @ (q.T @ inter)


# ---------------------------------------------------------------------------
# svyglm (gaussian)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SvyLincom:
    """A linear combination of regression coefficients (R ``svycontrast``).

    Attributes
    ----------
    ok, reason : bool, str
        As for the other results.
    estimate, se, t, p, ci_low, ci_high : float or None
        Estimate, standard error, t statistic, two-sided p-value and
        confidence interval (t with ``df``, as ``summary(svyglm)``).
    df : int
        Residual degrees of freedom of the model.
    level : float
        Confidence level.
    """

    ok: bool
    reason: str
    estimate: float | None
    se: float | None
    t: float | None
    df: int
    p: float | None
    ci_low: float | None
    ci_high: float | None
    level: float


@dataclass(frozen=True, slots=True)
class SvyGlm:
    """Survey-weighted linear regression (R ``svyglm(family = gaussian())``).

    Attributes
    ----------
    ok : bool
        False when the standard errors cannot be estimated; see ``reason``.
    reason : str
        Why ``ok`` is False ("" when ok).
    names : tuple of str
        Coefficient names (``"(Intercept)"`` first when one was added).
    coef : numpy.ndarray or None
        Weighted least-squares coefficients.
    se, t, p : numpy.ndarray or None
        Linearisation (sandwich) standard errors, t statistics and two-sided
        p-values with ``df`` degrees of freedom (R ``summary(svyglm)``).
    ci_low, ci_high : numpy.ndarray or None
        Confidence intervals, t with ``df`` (R ``confint(svyglm)``).
    vcov : numpy.ndarray or None
        Design-based covariance matrix of ``coef`` (R ``vcov``).
    df : int
        Residual degrees of freedom, design df of the domain + 1 - number of
        coefficients (R ``df.residual``).
    level : float
        Confidence level.
    n : int
        Rows used.
    """

    ok: bool
    reason: str
    names: tuple
    coef: np.ndarray | None
    se: np.ndarray | None
    t: np.ndarray | None
    p: np.ndarray | None
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    vcov: np.ndarray | None
    df: int
    level: float
    n: int

    def lincom(self, weights: Any) -> SvyLincom:
        """Estimate ``sum(weights * coef)`` with its design-based error.

        Parameters
        ----------
        weights : array_like of float or dict
            One weight per coefficient, or a mapping from coefficient name to
            weight (others 0).

        Examples
        --------
        >>> import numpy as np
        >>> from surveys.stats.design import Design, svyglm_gaussian
        >>> d = Design(clusters=np.arange(8) // 2)
        >>> m = svyglm_gaussian([1., 2., 2., 4., 3., 6., 4., 9.],
        ...                     np.arange(8.), d, names=["x"])
        >>> c = m.lincom({"(Intercept)": 1, "x": 2})
        >>> bool(np.isclose(c.estimate, m.coef[0] + 2 * m.coef[1]))
        True
        """
        if isinstance(weights, dict):
            unknown = set(weights) - set(self.names)
            if unknown:
                raise ValueError(f"weights names unknown coefficients: {sorted(unknown)}")
            vec = np.array([float(weights.get(nm, 0.0)) for nm in self.names])
        else:
            vec = np.asarray(weights, dtype=np.float64)
            if vec.shape != (len(self.names),):
                raise ValueError(
                    f"weights must have {len(self.names)} entries, got shape {vec.shape}"
                )
        if not self.ok:
            est = None if self.coef is None else float(vec @ self.coef)
            return SvyLincom(
                ok=False, reason=self.reason, estimate=est, se=None, t=None,
                df=self.df, p=None, ci_low=None, ci_high=None, level=self.level,
            )
        est = float(vec @ self.coef)
        var = float(vec @ self.vcov @ vec)
        if not var > 0:
            return SvyLincom(
                ok=False, reason="zero variance: the combination is not random",
                estimate=est, se=None, t=None, df=self.df, p=None, ci_low=None,
                ci_high=None, level=self.level,
            )
        se = float(np.sqrt(var))
        t = est / se
        q = _t_quantile(self.df, self.level)
        return SvyLincom(
            ok=True, reason="", estimate=est, se=se, t=t, df=self.df,
            p=float(_t_pvalue(t, self.df)), ci_low=est - q * se,
            ci_high=est + q * se, level=self.level,
        )


def _matvec(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ b`` for a tall column-major ``x``, column by column (faster)."""
    out = x[:, 0] * b[0]
    for j in range(1, x.shape[1]):
        out += x[:, j] * b[j]
    return out


def svyglm_gaussian(
    y: Any,
    X: Any,
    design: Design,
    *,
    names: Any = None,
    add_intercept: bool = True,
    domain: Any = None,
    na_rm: bool = False,
    level: float = 0.95,
) -> SvyGlm:
    """Survey-weighted least squares with a linearisation (sandwich) variance.

    Reproduces R's ``svyglm(y ~ x1 + x2 + ..., design)`` (family gaussian)
    and ``summary``/``confint``/``vcov`` of it. Build interaction and dummy
    columns yourself: for a difference-in-differences ``y ~ wave * arm`` pass
    ``X = [wave, arm, wave * arm]`` (0/1 columns); the last coefficient is
    the difference in differences. For a dose-response trend pass the
    exposure count as a column; its coefficient is the slope.

    Parameters
    ----------
    y : array_like of float, shape (n,)
        Outcome.
    X : array_like of float, shape (n,) or (n, p)
        Predictors (without the intercept unless ``add_intercept=False``).
    design : Design
        The sample design.
    names : sequence of str, optional
        Names of the columns of ``X``; default ``x1, x2, ...``.
    add_intercept : bool, default True
        Prepend a column of ones named ``"(Intercept)"`` (as R's formula).
    domain : array_like of bool, shape (n,), optional
        Subpopulation (R ``subset``).
    na_rm : bool, default False
        Drop rows with a missing ``y`` or ``X`` (R's default ``na.omit`` in
        ``svyglm``); if False they raise ``ValueError``.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    SvyGlm

    Notes
    -----
    The coefficients solve :math:`\\sum w_i x_i (y_i - x_i^T \\beta) = 0`.
    Their influence functions are :math:`w_i e_i x_i^T (X^T W X)^{-1}` and
    the covariance is the design covariance of those (Binder 1983; Lumley
    2010, ch. 5). Residual df are ``degf + 1 - p`` as R. A design matrix
    that is rank deficient among the rows used gives ``ok=False`` (R would
    drop the aliased columns).

    References
    ----------
    .. [1] Binder, D. A. (1983). On the variances of asymptotically normal
       estimators from complex surveys. *International Statistical Review*
       51(3), 279-292.
    .. [2] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*,
       ch. 5. Wiley.
    .. [3] Korn, E. L. and Graubard, B. I. (1999). *Analysis of Health
       Surveys*. Wiley.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svyglm_gaussian
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> village = np.arange(n) // 10
    >>> wave = (village % 2).astype(float)
    >>> arm = ((village // 2) % 2).astype(float)
    >>> y = 1 + 0.5 * wave + 0.2 * arm + 1.0 * wave * arm + rng.normal(size=n)
    >>> m = svyglm_gaussian(y, np.column_stack([wave, arm, wave * arm]),
    ...                     Design(clusters=village),
    ...                     names=["wave", "arm", "wave:arm"])
    >>> m.names
    ('(Intercept)', 'wave', 'arm', 'wave:arm')
    >>> m.df, bool(m.p[3] < 0.05)
    (36, True)
    """
    level = _check_level(level)
    yy = _check_numeric(y, "y", design.n, (1,))
    xx = _check_numeric(X, "X", design.n, (1, 2))
    if xx.ndim == 1:
        xx = xx[:, None]
    k = xx.shape[1]
    if names is None:
        col_names = [f"x{j + 1}" for j in range(k)]
    else:
        col_names = [str(nm) for nm in names]
        if len(col_names) != k:
            raise ValueError(f"names has {len(col_names)} entries but X has {k} columns")
    # column-major, so that every column is contiguous
    full = np.empty((design.n, k + add_intercept), order="F")
    if add_intercept:
        full[:, 0] = 1.0
        col_names = ["(Intercept)"] + col_names
    full[:, int(add_intercept):] = xx
    xx = full
    names_t = tuple(col_names)
    p_coef = xx.shape[1]
    mask = _check_domain(domain, design.n)
    missing = np.isnan(yy) | np.isnan(xx).any(axis=1)
    excl = _excluded(mask, missing if missing.any() else None, na_rm, "y or X")
    if excl is None:
        wd = design._w
        n_obs = design.n
        df_design, reason = design.df, _domain_df_full(design)
    else:
        wd = np.where(excl, 0.0, design._w)
        n_obs = design.n - int(np.count_nonzero(excl))
        counts = np.bincount(design._psu, weights=~excl, minlength=design.n_psu)
        df_design, reason = _domain_df(design, counts)
        if missing.any():
            yy = np.where(missing, 0.0, yy)
            xx[missing] = 0.0
    df = df_design + 1 - p_coef

    def fail(why: str, coef: np.ndarray | None = None) -> SvyGlm:
        return SvyGlm(
            ok=False, reason=why, names=names_t, coef=coef, se=None, t=None,
            p=None, ci_low=None, ci_high=None, vcov=None, df=df, level=level,
            n=n_obs,
        )

    if n_obs == 0:
        return fail("empty domain: no rows with non-missing y and X")
    xw = xx * wd[:, None]
    xtwx = xw.T @ xx
    diag = np.diag(xtwx)
    if not np.all(diag > 0):
        return fail("X is rank deficient among the rows used (a column is all zero)")
    scale = 1.0 / np.sqrt(diag)
    xtwx_s = xtwx * np.outer(scale, scale)
    eig = np.linalg.eigvalsh(xtwx_s)
    if eig[0] <= 1e-12 * eig[-1]:
        return fail("X is rank deficient among the rows used (aliased columns)")
    inv_s = np.linalg.inv(xtwx_s)
    a_inv = inv_s * np.outer(scale, scale)  # (X'WX)^-1
    coef = a_inv @ (xw.T @ yy)
    resid = yy - _matvec(xx, coef)
    step = a_inv @ (xw.T @ resid)  # one step of iterative refinement
    coef = coef + step
    resid = resid - _matvec(xx, step)
    if reason:
        return fail(reason, coef)
    if df <= 0:
        return fail(
            "no residual degrees of freedom (design df + 1 - coefficients <= 0)",
            coef,
        )
    score_totals = _psu_totals(design, xw * resid[:, None])
    vcov = _cov_from_totals(design, score_totals @ a_inv, None if excl is None else counts)
    vcov = (vcov + vcov.T) / 2
    var = np.diag(vcov)
    if not np.all(var > 0):
        return fail("zero variance for at least one coefficient", coef)
    se = np.sqrt(var)
    t = coef / se
    qt = _t_quantile(df, level)
    return SvyGlm(
        ok=True, reason="", names=names_t, coef=coef, se=se, t=t,
        p=_t_pvalue(t, df), ci_low=coef - qt * se, ci_high=coef + qt * se,
        vcov=vcov, df=df, level=level, n=n_obs,
    )


# ---------------------------------------------------------------------------
# Closed forms of two saturated or one-predictor regressions (fast paths)
# ---------------------------------------------------------------------------


def _lincom_result(estimate: float, var: float, df: int, level: float, why: str = "") -> SvyLincom:
    if why:
        return SvyLincom(False, why, None, None, None, df, None, None, None, level)
    if df < 1:
        return SvyLincom(False, "no degrees of freedom left", None, None, None, df, None, None, None, level)
    se = float(np.sqrt(max(var, 0.0)))
    if se == 0.0:
        return SvyLincom(False, "zero variance", estimate, 0.0, None, df, None, None, None, level)
    t = estimate / se
    half = _t_quantile(df, level) * se
    return SvyLincom(True, "", estimate, se, t, df, float(_t_pvalue(t, df)), estimate - half, estimate + half, level)


def _columns(y: Any, design: Design) -> tuple[np.ndarray, bool]:
    arr = _check_numeric(y, "y", design.n, (1, 2))
    return (arr[:, None], False) if arr.ndim == 1 else (arr, True)


def _lincoms(est: np.ndarray, var: np.ndarray, counts: np.ndarray, design: Design, lost: int, level: float,
             why: list[str], two_d: bool) -> Any:
    dfs, reasons = _groups_df(design, counts)
    out = tuple(
        _lincom_result(float(est[j]), float(var[j]), int(dfs[j]) + lost, level, why[j] or reasons[j])
        for j in range(len(est))
    )
    return out if two_d else out[0]


def svycontrast_means(
    y: Any, design: Design, cells: Any, contrast: Any, *, level: float = 0.95
) -> Any:
    """A linear combination of domain means, with its linearisation variance.

    ``sum_c contrast[c] * mean_c`` where ``mean_c`` is the weighted mean of ``y`` over the
    rows whose ``cells`` code is ``c`` (0 to k-1; negative or NaN rows and NaN ``y`` are
    left out). This is the coefficient contrast of the saturated survey regression
    ``svyglm(y ~ factor(cell), design)``: e.g. with cells ``2 * wave + arm`` and contrast
    ``(1, -1, -1, 1)`` it is the ``wave:arm`` interaction of ``svyglm(y ~ wave * arm)``
    (difference in differences), with the same estimate, standard error and residual
    degrees of freedom (``degf`` of the rows used + 1 - k), computed in a few passes
    instead of a weighted least-squares fit. A 2-D ``y`` gives one result per column.

    Notes
    -----
    The influence of row i in cell c on ``mean_c`` is ``w_i (y_i - mean_c) / W_c``; the
    contrast's influence is their weighted sum and its variance is the design's
    between-PSU variance of the PSU totals (Binder 1983). See :meth:`CellSums.contrast`.

    References
    ----------
    .. [1] Binder, D. A. (1983). On the variances of asymptotically normal estimators
       from complex surveys. *International Statistical Review* 51(3), 279-292.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svycontrast_means
    >>> d = Design(clusters=np.arange(8) // 2)
    >>> r = svycontrast_means([1., 2., 2., 4., 3., 6., 4., 9.], d, [0, 0, 0, 0, 1, 1, 1, 1], [-1, 1])
    >>> r.estimate, r.df
    (3.25, 2)
    """
    level = _check_level(level)
    Y, two_d = _columns(y, design)
    coef = np.asarray(contrast, dtype=np.float64)
    k = coef.shape[0]
    c = np.asarray(cells, dtype=np.float64)
    if c.shape != (design.n,):
        raise ValueError(f"cells must have one code per row ({design.n})")
    in_cell = ~np.isnan(c) & (c >= 0)
    code = np.where(in_cell, c, -1).astype(np.intp)
    if np.any(code >= k):
        raise ValueError("cells must be coded 0 to len(contrast) - 1")
    out = cell_sums(Y, design, code, k, squares=False).contrast(coef, level=level)
    return tuple(out) if two_d else out[0]


def svyslope(y: Any, x: Any, design: Design, *, domain: Any = None, level: float = 0.95) -> Any:
    """The slope of ``svyglm(y ~ x, design)`` (gaussian), in closed form.

    Same estimate, linearisation standard error and residual degrees of freedom
    (``degf`` of the rows used - 1) as :func:`svyglm_gaussian` with one predictor, for a
    trend test such as the change in a score per extra campaign channel heard. A 2-D
    ``y`` gives one result per column. When ``x`` takes a few small non-negative integer
    values (a count, a dose) the slope comes from :meth:`CellSums.slope`, one pass over the
    rows for every column.

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, svyslope
    >>> d = Design(clusters=np.arange(8) // 2)
    >>> r = svyslope([1., 2., 2., 4., 3., 6., 4., 9.], [0, 1, 0, 1, 0, 1, 0, 1], d)
    >>> round(r.estimate, 4), r.df
    (2.75, 2)
    """
    level = _check_level(level)
    Y, two_d = _columns(y, design)
    xv = _check_numeric(x, "x", design.n, (1,))
    mask = _check_domain(domain, design.n)
    base = ~np.isnan(xv) if mask is None else (~np.isnan(xv) & mask)
    xs = np.where(base, xv, 0.0)
    values, codes, _, direct = _factor(xs, "x", design.n)
    if direct:
        cells = np.where(base, codes, -1)
        out = cell_sums(Y, design, cells, len(values), squares=False).slope(values, level=level)
        return tuple(out) if two_d else out[0]
    m = Y.shape[1]
    est, var, why = np.zeros(m), np.zeros(m), [""] * m
    counts = np.zeros((design.n_psu, m))
    for j in range(m):
        use = base & ~np.isnan(Y[:, j])
        w = np.where(use, design._w, 0.0)
        counts[:, j] = np.bincount(design._psu, w, design.n_psu)
        sw = w.sum()
        if sw <= 0:
            why[j] = "no respondents"
            continue
        ys = np.where(use, Y[:, j], 0.0)
        wx, wy = w * xs, w * ys
        xbar, ybar = wx.sum() / sw, wy.sum() / sw
        dx = np.where(use, xs - xbar, 0.0)
        wdx = w * dx
        sxx = (wdx * dx).sum()
        if sxx <= 0:
            why[j] = "the predictor does not vary"
            continue
        b = (wdx * (ys - ybar)).sum() / sxx
        z = wdx * np.where(use, ys - ybar - b * dx, 0.0) / sxx
        est[j] = b
        var[j] = float(_var_from_totals(design, _psu_totals(design, z), counts[:, j]))
    return _lincoms(est, var, counts, design, -1, level, why, two_d)


# ---------------------------------------------------------------------------
# Many estimates from one pass over the rows
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class CellSums:
    """Weighted sums of ``m`` variables over every (PSU, cell) pair.

    A cell is a level of a code given per row, e.g. ``2 * segment + wave``. Every
    linearisation estimator in this module only needs, per PSU and cell, the weight total
    of the rows with a value, the weighted sum of the values and of their squares, and the
    row count. Computed once (a few ``np.bincount`` per variable, see :func:`cell_sums`),
    they give the means of every cell, Rao-Scott tests between pairs of cells, contrasts
    of cell means (difference in differences) and slopes over cells (dose response) for
    every variable, without another pass over the rows; :meth:`merge` sums cells into
    coarser ones (a segment-by-wave table into waves).

    Attributes
    ----------
    design : Design
    a, b, c : numpy.ndarray, shape (m, n_psu, n_cells)
        Sums of ``w``, ``w (y - shift)`` and ``w (y - shift)^2`` over the rows of each PSU
        and cell where ``y`` is not missing (``c`` is None when squares were not asked for).
    n : numpy.ndarray, shape (m, n_psu, n_cells)
        Rows summed (whole numbers, stored as floats).
    shift : numpy.ndarray, shape (m,)
        What was subtracted from each variable before summing (see :func:`cell_sums`).
    binary : numpy.ndarray of bool, shape (m,)
        Variables whose values are all 0 or 1, summed with ``shift=0``: their ``b`` are
        exact cell weights of the 1s, what :meth:`chisq` needs.
    """

    design: Design
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray | None
    n: np.ndarray
    shift: np.ndarray
    binary: np.ndarray

    @property
    def n_cells(self) -> int:
        return self.a.shape[2]

    @property
    def rows(self) -> np.ndarray:
        """Rows summed in each cell, shape (n_cells, m), as integers."""
        return np.rint(self.n.sum(axis=1).T).astype(np.int64)

    def merge(self, groups: Any, n_groups: int | None = None) -> CellSums:
        """Sums over coarser cells: cell ``i`` goes into ``groups[i]`` (negative: left out).

        Examples
        --------
        >>> import numpy as np
        >>> d = Design(clusters=[1, 1, 2, 2])
        >>> s = cell_sums([1., 2., 3., 4.], d, [0, 1, 2, 3])
        >>> s.merge([0, 0, 1, -1]).rows.ravel().tolist()
        [2, 1]
        """
        g = np.asarray(groups, dtype=np.intp)
        if g.shape != (self.n_cells,):
            raise ValueError(f"groups must give one group per cell ({self.n_cells})")
        k = int(g.max()) + 1 if n_groups is None else int(n_groups)
        if k < 1 or g.max() >= k:
            raise ValueError("groups must be coded 0 to n_groups - 1 (negative: left out)")
        into = np.zeros((self.n_cells, k))
        keep = np.flatnonzero(g >= 0)
        into[keep, g[keep]] = 1.0

        def fold(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr @ into

        return CellSums(self.design, fold(self.a), fold(self.b), fold(self.c), fold(self.n),
                        self.shift, self.binary)

    def _flat(self, arr: np.ndarray) -> np.ndarray:
        """(m, n_psu, cells) -> (n_psu, m * cells), grouped by variable."""
        return arr.transpose(1, 0, 2).reshape(arr.shape[1], -1)

    def means(self, *, level: float = 0.95, ci: str = "normal") -> list[list[SvyMean]]:
        """The mean of every variable in every cell (R ``svyby(~y, ~cell, design, svymean,
        deff = TRUE)``), indexed ``[variable][cell]``; an empty cell is ``ok=False``."""
        level = _check_level(level)
        if ci not in ("normal", "t"):
            raise ValueError(f"ci must be 'normal' or 't', got {ci!r}")
        if self.c is None:
            raise ValueError("means need the sums of squares: cell_sums(..., squares=True)")
        k = self.n_cells
        flat = _means_from_sums(self.design, self._flat(self.a), self._flat(self.b), self._flat(self.c),
                                self._flat(self.n), np.repeat(self.shift, k), level, ci)
        return [flat[j * k:(j + 1) * k] for j in range(len(self.shift))]

    def weighted_var(self) -> np.ndarray:
        """Weighted variance ``sum w (y - mean)^2 / sum w`` of every cell, shape (cells, m)
        (NaN for an empty cell): the spread behind a standardised effect size."""
        if self.c is None:
            raise ValueError("the variance needs the sums of squares: cell_sums(..., squares=True)")
        w = self.a.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_c = self.b.sum(axis=1) / w
            sq = self.c.sum(axis=1) / w
            var = sq - mean_c**2
            # zero up to rounding when every value is the same (as svymean's se)
            var = np.where(var > (1e-12 * np.maximum(np.abs(mean_c), np.sqrt(np.abs(sq)))) ** 2, var, 0.0)
            return np.where(w > 0, var, np.nan).T

    def chisq(self, pairs: Any, variables: Any = None) -> list[list[SvyChisq]]:
        """Rao-Scott tests of 0/1 variables against each pair of cells, ``[variable][pair]``.

        For a pair ``(i, j)`` this is R's ``svychisq(~y + g, subset(design, cell %in% c(i, j)))``
        with ``g`` telling cell ``i`` from cell ``j``: e.g. with cells ``2 * segment + wave``,
        the pair ``(2 s, 2 s + 1)`` tests the change between waves in segment ``s``. The
        table's group levels are reported as ``(0, 1)``, its x levels as ``(0.0, 1.0)``.
        ``variables`` picks some of the variables (indices; default all).

        Raises
        ------
        ValueError
            If a variable is not 0/1 summed with ``shift=0`` (see ``CellSums.binary``).
        """
        pr = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
        idx = np.arange(len(self.shift)) if variables is None else np.asarray(variables, dtype=np.intp)
        if not self.binary[idx].all():
            raise ValueError("chisq needs 0/1 variables summed with shift=0 (see CellSums.binary)")
        if pr.size and (pr.min() < 0 or pr.max() >= self.n_cells):
            raise ValueError("pairs must name cells 0 to n_cells - 1")
        a, b, n = self.a[idx], self.b[idx], self.n[idx]  # (variables, n_psu, cells)
        a0, a1, y0, y1 = a[:, :, pr[:, 0]], a[:, :, pr[:, 1]], b[:, :, pr[:, 0]], b[:, :, pr[:, 1]]
        t = np.stack([a0 - y0, y0, a1 - y1, y1], axis=-1)  # (variables, n_psu, pairs, 4)
        t = t.transpose(1, 0, 2, 3).reshape(self.design.n_psu, -1, 4)  # tables ordered (variable, pair)
        counts = self._flat(n[:, :, pr[:, 0]] + n[:, :, pr[:, 1]])
        dfs, reasons = _groups_df(self.design, counts)
        flat = _chisq_2x2(self.design, t, np.array([0.0, 1.0]), np.array([0, 1]),
                          np.rint(counts.sum(axis=0)).astype(np.int64), dfs, reasons)
        k = len(pr)
        return [flat[j * k:(j + 1) * k] for j in range(len(idx))]

    def contrast(self, coef: Any, *, level: float = 0.95) -> list[SvyLincom]:
        """``sum_c coef[c] * mean_c`` for every variable, as :func:`svycontrast_means`."""
        level = _check_level(level)
        coef = np.asarray(coef, dtype=np.float64)
        k = self.n_cells
        if coef.shape != (k,):
            raise ValueError(f"contrast must have one coefficient per cell ({k})")
        W = self.a.sum(axis=1)  # (m, k)
        empty = (W <= 0).any(axis=1)
        safe = np.where(W > 0, W, 1.0)
        mean_c = self.b.sum(axis=1) / safe
        est = (mean_c + self.shift[:, None]) @ coef
        z = np.einsum("mpk,mk->pm", self.b - self.a * mean_c[:, None, :], coef / safe)
        var = _var_from_totals(self.design, z, self.n.sum(axis=2).T)
        why = ["a cell has no respondents" if e else "" for e in empty]
        est, var = np.where(empty, 0.0, est), np.where(empty, 0.0, var)
        return list(_lincoms(est, var, self.n.sum(axis=2).T, self.design, 1 - k, level, why, True))

    def slope(self, x: Any, *, level: float = 0.95) -> list[SvyLincom]:
        """The slope of ``svyglm(y ~ x, subset(design, cell >= 0))`` for every variable, where
        ``x[c]`` is the predictor's value in cell ``c``, as :func:`svyslope`."""
        level = _check_level(level)
        xv = np.asarray(x, dtype=np.float64)
        k = self.n_cells
        if xv.shape != (k,):
            raise ValueError(f"x must have one value per cell ({k})")
        A, B = self.a.sum(axis=1), self.b.sum(axis=1)  # (m, k)
        sw = A.sum(axis=1)
        safe_w = np.where(sw > 0, sw, 1.0)
        xbar = A @ xv / safe_w
        ybar_c = B.sum(axis=1) / safe_w
        dx = xv - xbar[:, None]  # (m, k)
        sxx = (A * dx * dx).sum(axis=1)
        varies = ((A > 0).sum(axis=1) >= 2) & (sxx > 0)
        safe_sxx = np.where(varies, sxx, 1.0)
        slope = (dx * (B - ybar_c[:, None] * A)).sum(axis=1) / safe_sxx
        resid = self.b - (ybar_c[:, None] + slope[:, None] * dx)[:, None, :] * self.a  # (m, n_psu, k)
        z = np.einsum("mpk,mk->pm", resid, dx) / safe_sxx
        var = _var_from_totals(self.design, z, self.n.sum(axis=2).T)
        why = ["no respondents" if s <= 0 else ("" if v else "the predictor does not vary")
               for s, v in zip(sw, varies)]
        ok = np.array([not w for w in why], dtype=bool)
        est, var = np.where(ok, slope, 0.0), np.where(ok, var, 0.0)
        return list(_lincoms(est, var, self.n.sum(axis=2).T, self.design, -1, level, why, True))


def _variables(y: Any, design: Design) -> list[np.ndarray]:
    """The columns of ``y`` (1-D, 2-D, or a sequence of 1-D arrays), checked."""
    if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) == 1:
        cols = [np.asarray(v) for v in y]
    else:
        arr = np.asarray(y)
        cols = [arr] if arr.ndim == 1 else [arr[:, j] for j in range(arr.shape[1])] if arr.ndim == 2 else []
        if arr.ndim not in (1, 2):
            raise ValueError("y must have 1 or 2 dimension(s)")
    for col in cols:
        if col.dtype.kind not in "biuf":
            raise ValueError(f"y must be numeric, got dtype {col.dtype}")
        if col.shape != (design.n,):
            raise ValueError(f"y has {col.shape[0]} rows but the design has {design.n}")
    return cols


def cell_sums(
    y: Any, design: Design, cells: Any, n_cells: int | None = None, *, shift: Any = None,
    squares: bool = True,
) -> CellSums:
    """Sum one or many variables over every (PSU, cell) pair, in one pass over the rows.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, m), or a sequence of m arrays of shape (n,)
        The variables; NaN marks a missing value, left out of that variable's sums (R's
        ``na.rm = TRUE``: the row leaves the domain, the design is kept). float32 columns
        are summed in float64.
    design : Design
    cells : array_like of int, shape (n,)
        Cell of every row, 0 to ``n_cells - 1``; a negative code leaves the row out (outside
        the domain). Rows keep their PSU and stratum either way, as R's ``subset``.
    n_cells : int, optional
        Default: the largest code + 1.
    shift : float or sequence of (float or None), optional
        Subtracted from each variable before summing, so that sums of squares stay accurate
        when a mean is large relative to the spread; None (the default) takes a rough centre
        of the variable, as :func:`svymean`. Pass 0 for a 0/1 variable, whose sums are then
        exact cell weights (what :meth:`CellSums.chisq` needs).
    squares : bool, default True
        Also sum the squares (means and their design effects need them; contrasts and
        slopes do not).

    Returns
    -------
    CellSums

    Examples
    --------
    >>> import numpy as np
    >>> from surveys.stats.design import Design, cell_sums
    >>> d = Design(weights=[1., 1., 2., 2.], clusters=[1, 1, 2, 2])
    >>> s = cell_sums(np.array([[1., 0.], [0., 1.], [1., np.nan], [1., 1.]]), d, [0, 1, 0, 1], shift=0)
    >>> s.a.sum(axis=1).tolist()  # weight totals: [variable][cell]
    [[3.0, 3.0], [1.0, 3.0]]
    >>> bool(s.binary.all())
    True
    """
    cols = _variables(y, design)
    m = len(cols)
    code = np.asarray(cells)
    if code.shape != (design.n,):
        raise ValueError(f"cells must have one code per row ({design.n})")
    if code.dtype.kind not in "iu":
        raise ValueError(f"cells must be integer codes, got dtype {code.dtype}")
    k = (int(code.max()) + 1 if design.n else 0) if n_cells is None else int(n_cells)
    k = max(k, 1)
    if design.n and code.max() >= k:
        raise ValueError("cells must be coded 0 to n_cells - 1 (negative: left out)")
    shifts = [shift] * m if shift is None or np.ndim(shift) == 0 else list(shift)
    if len(shifts) != m:
        raise ValueError(f"shift must give one value per variable ({m})")
    size = design.n_psu * k  # the extra last bucket collects the rows left out
    key = design._psu * k + code
    if (code < 0).any():
        key = np.where(code < 0, size, key)
    w = design._w
    shape = (m, design.n_psu, k)
    a, b, n = np.empty(shape), np.empty(shape), np.empty(shape)
    c = np.empty(shape) if squares else None
    used_shift = np.zeros(m)
    binary = np.zeros(m, dtype=bool)
    base = None  # weight totals and counts of the rows with a cell, for variables without NaN
    for j, col in enumerate(cols):
        col = col.astype(np.float64, copy=False)
        nan = np.isnan(col)
        has_nan = bool(nan.any())
        if np.isinf(col).any():
            raise ValueError("y has infinite values")
        s = _shift(col) if shifts[j] is None else float(shifts[j])
        used_shift[j] = s
        # y in {0, 1} makes w y^2 = w y: the sum of squares is the sum
        binary[j] = s == 0.0 and not np.any((col != 0.0) & (col != 1.0) & ~nan)
        yc = col - s if s != 0.0 else col
        kj = np.where(nan, size, key) if has_nan else key
        if has_nan or base is None:
            sums = (np.bincount(kj, w, size + 1)[:size], np.bincount(kj, None, size + 1)[:size])
            if not has_nan:
                base = sums
        else:
            sums = base
        a[j] = sums[0].reshape(design.n_psu, k)
        n[j] = sums[1].reshape(design.n_psu, k)
        wy = w * yc
        b[j] = np.bincount(kj, wy, size + 1)[:size].reshape(design.n_psu, k)
        if c is not None:
            c[j] = b[j] if binary[j] else np.bincount(kj, wy * yc, size + 1)[:size].reshape(design.n_psu, k)
    return CellSums(design, a, b, c, n, used_shift, binary)
