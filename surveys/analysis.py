"""The KAP-shift report: every item and domain compared between two waves, overall and by group.

Pure: arrays in (:class:`AnalysisData`), a plain JSON-ready dict out (:func:`analyse`).
The statistics come from :mod:`surveys.stats`; this module picks the right test for the
sampling design, applies the multiple-comparison correction and shapes the report.

Choice of method (see the README's "Analysis" section):

* independent samples, no clusters, strata or weights: Pearson chi-square without continuity
  correction (Fisher's exact test when an expected count is under 5) with Newcombe's hybrid
  score CI for proportions; Welch's t-test with the Mann-Whitney p alongside for means;
* clusters, strata or weights: Taylor-linearised design-based estimates on the stacked waves,
  strata = wave x stratum, clusters nested; Rao-Scott second-order F for proportions
  (R ``svychisq``), design-based t for means and for the difference's CI (R ``svyttest``);
* panel: respondents matched by respondent code; McNemar (exact binomial under 25
  discordant pairs) for proportions, paired t with the Wilcoxon signed-rank p for means.

Strata with a single cluster (a "lonely" PSU: e.g. one interview whose stratum the
enumerator typed or left blank) are treated by the report's ``lonely_psu`` setting, R's
``options(survey.lonely.psu = ...)`` (see :class:`surveys.stats.design.Design`). The default,
``"adjust"``, centres such a stratum at the grand mean of the PSU totals instead of its own
(which does not exist). It always gives a margin of error, and never a smaller one than
leaving the stratum out (it adds a non-negative term where ``"remove"`` adds nothing): the
conservative choice for field data, where such strata come from one stray interview rather
than from the sample plan (R survey, ``?surveyoptions``; Lumley 2010). ``"average"`` fails when every
stratum of a wave is lonely, ``"remove"`` and ``"certainty"`` can understate the margins,
and ``"fail"`` (R's default) blanks every result touching the stratum: one new interview
must never wipe out a report. The report says which strata were affected and how
(``design.lonely_psu``).

Item p-values are adjusted within the report, and within each group, by Holm (default) or
Benjamini-Hochberg; domain p-values form their own family of (at most) three.

With a complex design the whole report comes from two passes over the respondents: the
sums of every item and domain score by PSU and (group, wave, arm) cell
(:func:`surveys.stats.design.cell_sums`) give the means, the Rao-Scott tests, the breakdown
and the difference in differences; a second set by exposure dose gives the dose response.

References
----------
.. [1] Lumley, T. (2010). *Complex Surveys: A Guide to Analysis Using R*. Wiley.
.. [2] Lumley, T. survey: analysis of complex survey samples, R package 4.1-1,
   ``?surveyoptions`` (``survey.lonely.psu``, ``survey.adjust.domain.lonely``).
   https://CRAN.R-project.org/package=survey
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scipy import special, stats as scipy_stats

from .scoring import ScoringKey, domain_scores, exposure_dose, favourable_column
from .stats.design import LONELY_PSU_OPTIONS, CellSums, Design, SvyMean, cell_sums, svychisq
from .stats.means import describe_mean, welch_t
from .stats.multiplicity import p_adjust
from .stats.paired import mcnemar_from_pairs, paired_t
from .stats.proportions import cohens_h, two_proportions, wilson_interval
from .stats.reliability import cronbach_alpha

__all__ = ["AnalysisData", "Coded", "DEFAULT_LONELY_PSU", "DOMAIN_ORDER", "KNOWLEDGE_LEVELS", "LONELY_PSU_OPTIONS",
           "MIN_PER_WAVE", "analyse", "describe_entry", "labels_for"]

DOMAIN_ORDER = ("knowledge", "attitude", "practice")
#: Fewest respondents with an answer in each wave for a comparison to be reported.
MIN_PER_WAVE = 10
DOSE_LEVELS = ("0", "1", "2", "3+")
#: How a stratum with a single cluster is treated unless the request says otherwise.
DEFAULT_LONELY_PSU = "adjust"
#: Knowledge levels by the knowledge score (percent of knowledge items right), with the lowest
#: score of each: Bloom's cut-offs, which most KAP studies use (good 80-100, moderate 60-79,
#: poor below 60; Kaliyaperumal 2004, "Guideline for conducting a knowledge, attitude and
#: practice (KAP) study", Community Ophthalmology 4(1):7-9).
KNOWLEDGE_LEVELS = (("good", 80.0), ("moderate", 60.0), ("poor", -math.inf))


@dataclass(frozen=True, slots=True)
class Coded:
    """A column of text labels kept as integer codes: row ``i`` reads ``levels[codes[i]]``.

    What a database loader builds without a Python string per respondent; anywhere
    :class:`AnalysisData` takes labels it also takes a ``Coded``.
    """

    codes: np.ndarray
    levels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def labels(self) -> np.ndarray:
        """The labels, one per row (an object array)."""
        return np.array(self.levels, dtype=object)[self.codes] if len(self.codes) else np.array([], dtype=object)

    def present(self) -> list[str]:
        """The levels that at least one row has."""
        counts = np.bincount(self.codes, minlength=len(self.levels))
        return [level for level, c in zip(self.levels, counts) if c]


def _coded(values: Any) -> Coded:
    """Labels as a :class:`Coded` (levels sorted)."""
    if isinstance(values, Coded):
        return values
    arr = np.asarray(values, dtype=object).astype(str)
    levels, codes = np.unique(arr, return_inverse=True)
    return Coded(codes.reshape(-1).astype(np.intp), tuple(levels.tolist()))


@dataclass(frozen=True, slots=True)
class AnalysisData:
    """Respondents of the two waves, scored.

    ``wave`` is 0 for the baseline and 1 for the endline. ``scores`` may be float32 (item
    scores are small integers). Optional design arrays may be None: no clusters means each
    respondent is its own PSU; no weights means equal weights. ``groups`` maps a breakdown
    field to its value per respondent ('' = unknown). Label columns (clusters, strata,
    respondent, arm, groups) are arrays of labels or :class:`Coded`.
    """

    key: ScoringKey
    wave: np.ndarray
    scores: np.ndarray
    weights: np.ndarray | None = None
    clusters: np.ndarray | None = None
    strata: np.ndarray | None = None
    respondent: np.ndarray | None = None
    arm: np.ndarray | None = None
    groups: Mapping[str, np.ndarray] = field(default_factory=dict)
    panel: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.wave)
        if self.scores.shape != (n, len(self.key.items)):
            raise ValueError(f"scores must have shape ({n}, {len(self.key.items)}), not {self.scores.shape}")
        for name in ("weights", "clusters", "strata", "respondent", "arm"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} must have one value per respondent ({n}), not {len(value)}")
        if self.weights is not None and np.any(~(np.asarray(self.weights, dtype=float) > 0)):
            raise ValueError("weights must all be positive numbers")


# --- small helpers ---------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _wave_obj(n: int, estimate=None, se=None, lo=None, hi=None, deff=None) -> dict:
    out = {"n": int(n), "estimate": _num(estimate), "se": _num(se), "ci_low": _num(lo), "ci_high": _num(hi)}
    if deff is not None:
        out["design_effect"] = _num(deff)
    return out


def _entry(code: str, domain: str, measure: str, baseline: dict, endline: dict, difference: float, ci, test,
           effect, *, design_effect: float | None = 1.0, **extra) -> dict:
    """A comparison that could be made: ``ci`` has ``lower``/``upper``; ``test`` is a TestResult;
    ``effect`` an EffectSize (or a (value, name) pair)."""
    value, name = effect if isinstance(effect, tuple) else (effect.value, effect.name)
    return {
        "code": code, "domain": domain, "measure": measure, "ok": True, "reason": "",
        "baseline": baseline, "endline": endline, "difference": _num(difference),
        "diff_ci_low": _num(ci.lower), "diff_ci_high": _num(ci.upper), "test": test.test,
        "statistic": _num(test.statistic), "df": _num(test.df), "p_value": _num(test.p_value), "p_adjusted": None,
        "effect_size": _num(value), "effect_size_name": name, "design_effect": design_effect, **extra,
    }


def _rank(test) -> dict:
    return {"test": test.test, "statistic": _num(test.statistic), "p_value": _num(test.p_value)}


def _matched(ctx: "_Context", code: str, domain: str, measure: str, y: np.ndarray, mask: np.ndarray):
    """Matched pairs, or a not-enough-data entry when fewer than MIN_PER_WAVE respondents match."""
    before, after, um0, um1 = _pairs(ctx, y, mask)
    n = len(before)
    if n < MIN_PER_WAVE:
        return _not_enough(code, domain, measure, n, n, f"fewer than {MIN_PER_WAVE} matched respondents ({n})")
    return before, after, {"baseline": um0, "endline": um1}


def _not_enough(code: str, domain: str, measure: str, n0: int, n1: int, reason: str) -> dict:
    return {
        "code": code, "domain": domain, "measure": measure, "ok": False, "reason": reason,
        "baseline": _wave_obj(n0), "endline": _wave_obj(n1),
        "difference": None, "diff_ci_low": None, "diff_ci_high": None, "test": None, "statistic": None,
        "df": None, "p_value": None, "p_adjusted": None, "effect_size": None, "effect_size_name": None,
        "design_effect": None,
    }


def _hedges_g(mean0: float, var0: float, mean1: float, var1: float, n: int) -> float | None:
    """Hedges' g from the two waves' weighted means and weighted variances (``n`` respondents)."""
    pooled = math.sqrt((var0 + var1) / 2)
    if pooled == 0 or n < 4:
        return None
    j = 1 - 3 / (4 * (n - 2) - 1)
    return (mean1 - mean0) / pooled * j


# --- the three designs ------------------------------------------------------------------------


class _Context:
    """What every comparison in one report shares: the design, the waves, the mode."""

    def __init__(self, data: AnalysisData, conf_level: float, lonely_psu: str = DEFAULT_LONELY_PSU):
        self.data = data
        self.lonely_psu = lonely_psu
        self.level = conf_level
        self.wave = np.asarray(data.wave).astype(np.int8)
        n = len(self.wave)
        w = None if data.weights is None else np.asarray(data.weights, dtype=np.float64)
        clusters = None if data.clusters is None else _coded(data.clusters)
        strata = None if data.strata is None else _coded(data.strata)
        has_clusters = clusters is not None and bool(set(clusters.present()) - {""})
        has_strata = strata is not None and len(set(strata.present()) - {""}) > 1
        has_weights = w is not None and not np.allclose(w, w[0] if n else 1.0)
        self.panel = bool(data.panel and data.respondent is not None)
        self.complex = bool(has_clusters or has_strata or has_weights) and not self.panel
        self.weights = w if w is not None else np.ones(n)
        # Stacked design: strata are wave x stratum; clusters are nested in them.
        stacked = self.wave.astype(np.int64)
        if has_strata:
            stacked = strata.codes.astype(np.int64) * 2 + stacked
        psu = None
        if has_clusters:
            psu = clusters.codes.astype(np.int64)
            # A respondent without a cluster is a PSU of its own.
            alone = psu == clusters.levels.index("") if "" in clusters.levels else None
            if alone is not None and alone.any():
                psu = psu.copy()
                psu[alone] = psu.max() + 1 + np.arange(int(alone.sum()))
        self.design = (Design(weights=self.weights, clusters=psu, strata=stacked, lonely_psu=lonely_psu)
                       if self.complex else None)
        self.stacked = stacked
        self.strata_levels = strata.levels if has_strata else None
        self.has_clusters = has_clusters
        self.mode = "panel" if self.panel else ("design" if self.complex else "independent")
        self.respondent = _coded(data.respondent).labels().astype(str) if self.panel else None
        # arm per respondent: 0 comparison, 1 intervention, 2 neither (None: no arms at all)
        self.arm = None
        if data.arm is not None:
            arm = _coded(data.arm)
            lookup = np.array([{"comparison": 0, "intervention": 1}.get(v, 2) for v in arm.levels], dtype=np.int8)
            self.arm = lookup[arm.codes] if len(arm) else np.zeros(0, dtype=np.int8)

    def did_design(self) -> Design:
        if self.design is not None:
            return self.design
        if self.panel:  # the same person in both waves: cluster on the respondent
            return Design(weights=self.weights, clusters=_coded(self.data.respondent).codes)
        return Design(weights=self.weights)


def _level_codes(values: Any) -> tuple[np.ndarray, list[str]]:
    """The breakdown's levels (sorted, '' left out) and each respondent's level index as a
    float (NaN outside every level)."""
    coded = _coded(values)
    levels = sorted(set(coded.present()) - {""})
    index = {level: float(i) for i, level in enumerate(levels)}
    lookup = np.array([index.get(v, np.nan) for v in coded.levels], dtype=np.float64)
    return (lookup[coded.codes] if len(coded) else np.zeros(0)), levels


def _counts(ctx: _Context, valid: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    inside = valid & ~np.isnan(codes)
    idx = codes[inside].astype(np.intp)
    wave = ctx.wave[inside]
    return (np.bincount(idx[wave == 0], minlength=k), np.bincount(idx[wave == 1], minlength=k))


def _proportions(ctx: _Context, code: str, domain: str, y: np.ndarray, codes: np.ndarray,
                 levels: Sequence[str]) -> list[dict]:
    """One proportion comparison per level of the breakdown (``codes`` as from :func:`_level_codes`),
    for independent samples or a panel (a complex design goes through :func:`_design_comparisons`)."""
    k = len(levels)
    if ctx.panel:
        return [_paired_proportion(ctx, code, domain, y, codes == i) for i in range(k)]
    valid = ~np.isnan(y)
    n0, n1 = _counts(ctx, valid, codes, k)
    enough = [min(n0[i], n1[i]) >= MIN_PER_WAVE for i in range(k)]
    out: list[dict | None] = [
        None if enough[i] else _not_enough(code, domain, "proportion", int(n0[i]), int(n1[i]),
                                           f"fewer than {MIN_PER_WAVE} answers in a wave (baseline {n0[i]}, endline {n1[i]})")
        for i in range(k)]
    if not any(enough):
        return out  # type: ignore[return-value]
    inside = valid & ~np.isnan(codes)
    idx, yy, wave = codes[inside].astype(np.intp), y[inside], ctx.wave[inside]
    x0 = np.bincount(idx[wave == 0], weights=yy[wave == 0], minlength=k)
    x1 = np.bincount(idx[wave == 1], weights=yy[wave == 1], minlength=k)
    for i in range(k):
        if out[i] is None:
            out[i] = _simple_proportion(ctx, code, domain, int(round(x0[i])), int(n0[i]), int(round(x1[i])), int(n1[i]))
    return out  # type: ignore[return-value]


def _simple_proportion(ctx: _Context, code, domain, x0, n0, x1, n1) -> dict:
    r = two_proportions(x0, n0, x1, n1, conf_level=ctx.level)
    if not r.ok:
        return _not_enough(code, domain, "proportion", n0, n1, r.reason)
    g0, g1 = r.group1, r.group2
    return _entry(code, domain, "proportion", _wave_obj(n0, g0.estimate, g0.se, g0.ci.lower, g0.ci.upper),
                  _wave_obj(n1, g1.estimate, g1.se, g1.ci.lower, g1.ci.upper), r.difference, r.difference_ci, r.test,
                  (r.effect_size.value, "Cohen's h"))


def _wave_difference(m0, m1, level: float, se: float | None = None) -> dict | None:
    """Endline minus baseline from the two wave means, as R's ``svyttest(y ~ wave, design)``.

    The stacked design puts each wave in its own strata, so the two means share no PSU and
    their covariance is zero: the difference's linearisation variance is the sum of theirs,
    except with ``lonely_psu="average"``, where the scaling depends on the strata of both
    waves together: ``se`` then comes from the contrast of the two wave means.
    The t-test has the domain's degrees of freedom (the two waves' added) minus one.
    """
    df = m0.df + m1.df - 1
    if se is None:
        se = math.sqrt(m0.se ** 2 + m1.se ** 2)
    if df < 1 or se == 0:
        return None
    diff = m1.estimate - m0.estimate
    t = diff / se
    half = float(special.stdtrit(df, 0.5 + level / 2)) * se
    return {"estimate": diff, "se": se, "t": t, "df": df, "p": float(2 * special.stdtr(df, -abs(t))),
            "ci_low": diff - half, "ci_high": diff + half}


def _design_entry(ctx: _Context, code: str, domain: str, measure: str, n0: int, n1: int, m0: SvyMean,
                  m1: SvyMean, chi, var0: float, var1: float, diff_se: float | None = None) -> dict:
    """One design-based comparison from the two waves' means (and, for a proportion, the
    Rao-Scott test of the item by wave); ``var0``/``var1`` are the waves' weighted variances."""
    if min(n0, n1) < MIN_PER_WAVE:
        what = "answers" if measure == "proportion" else "scores"
        return _not_enough(code, domain, measure, n0, n1,
                           f"fewer than {MIN_PER_WAVE} {what} in a wave (baseline {n0}, endline {n1})")
    bad = next((r for r in (m0, m1) if not r.ok), None)
    if bad is not None:
        return _not_enough(code, domain, measure, n0, n1, bad.reason)
    tt = _wave_difference(m0, m1, ctx.level, diff_se)
    if tt is None:
        return _not_enough(code, domain, measure, n0, n1, "no variance or no degrees of freedom")
    deffs = [v for v in (m0.deff, m1.deff) if v is not None]
    entry = {
        "code": code, "domain": domain, "measure": measure, "ok": True, "reason": "",
        "baseline": _wave_obj(n0, m0.estimate, m0.se, m0.ci_low, m0.ci_high, m0.deff),
        "endline": _wave_obj(n1, m1.estimate, m1.se, m1.ci_low, m1.ci_high, m1.deff),
        "difference": _num(tt["estimate"]), "diff_ci_low": _num(tt["ci_low"]), "diff_ci_high": _num(tt["ci_high"]),
        "p_adjusted": None, "design_effect": _num(np.mean(deffs)) if deffs else None,
    }
    if measure == "proportion" and chi is not None and chi.ok:
        entry.update({"test": "rao-scott-f", "statistic": _num(chi.f), "df": _num(chi.ddf), "df_num": _num(chi.ndf),
                      "p_value": _num(chi.p)})
    else:
        entry.update({"test": "design-t", "statistic": _num(tt["t"]), "df": float(tt["df"]), "p_value": _num(tt["p"])})
    if measure == "proportion":
        entry.update({"effect_size": _num(cohens_h(m0.estimate, m1.estimate)), "effect_size_name": "Cohen's h"})
    else:
        entry.update({"effect_size": _num(_hedges_g(m0.estimate, var0, m1.estimate, var1, n0 + n1)),
                      "effect_size_name": "Hedges' g (weighted)"})
    return entry


def _pairs(ctx: _Context, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Baseline and endline values of respondents present in both waves (matched by code)."""
    codes = ctx.respondent
    sel = mask & ~np.isnan(y) & (codes != "")
    base = {c: v for c, v in zip(codes[sel & (ctx.wave == 0)], y[sel & (ctx.wave == 0)])}
    end = {c: v for c, v in zip(codes[sel & (ctx.wave == 1)], y[sel & (ctx.wave == 1)])}
    common = sorted(set(base) & set(end))
    before = np.array([base[c] for c in common], dtype=float)
    after = np.array([end[c] for c in common], dtype=float)
    return before, after, len(base) - len(common), len(end) - len(common)


def _paired_proportion(ctx: _Context, code, domain, y, mask) -> dict:
    matched = _matched(ctx, code, domain, "proportion", y, mask)
    if isinstance(matched, dict):
        return matched
    before, after, unmatched = matched
    n = len(before)
    r = mcnemar_from_pairs(before, after, conf_level=ctx.level)
    if not r.ok:
        return _not_enough(code, domain, "proportion", n, n, r.reason)
    p0, p1 = r.p_before, r.p_after
    c0, c1 = wilson_interval(int(round(p0 * n)), n, ctx.level), wilson_interval(int(round(p1 * n)), n, ctx.level)
    return _entry(code, domain, "proportion", _wave_obj(n, p0, math.sqrt(p0 * (1 - p0) / n), c0.lower, c0.upper),
                  _wave_obj(n, p1, math.sqrt(p1 * (1 - p1) / n), c1.lower, c1.upper), r.difference, r.difference_ci,
                  r.test, (cohens_h(p0, p1), "Cohen's h"), unmatched=unmatched)


def _mean_one(ctx: _Context, code: str, domain: str, y: np.ndarray, mask: np.ndarray) -> dict:
    wave = ctx.wave
    if ctx.panel:
        matched = _matched(ctx, code, domain, "mean", y, mask)
        if isinstance(matched, dict):
            return matched
        before, after, unmatched = matched
        n = len(before)
        r = paired_t(before, after, conf_level=ctx.level)
        if not r.ok:
            return _not_enough(code, domain, "mean", n, n, r.reason)
        d0, d1 = describe_mean(before, ctx.level), describe_mean(after, ctx.level)
        return _entry(code, domain, "mean", _wave_obj(n, d0.mean, d0.se, d0.ci.lower, d0.ci.upper),
                      _wave_obj(n, d1.mean, d1.se, d1.ci.lower, d1.ci.upper), r.mean_difference, r.difference_ci,
                      r.test, r.effect_size, rank_test=_rank(r.wilcoxon), unmatched=unmatched)
    valid = mask & ~np.isnan(y)
    n0, n1 = int(np.sum(valid & (wave == 0))), int(np.sum(valid & (wave == 1)))
    if min(n0, n1) < MIN_PER_WAVE:
        return _not_enough(code, domain, "mean", n0, n1, f"fewer than {MIN_PER_WAVE} scores in a wave (baseline {n0}, endline {n1})")
    r = welch_t(y[valid & (wave == 0)], y[valid & (wave == 1)], conf_level=ctx.level)
    if not r.ok:
        return _not_enough(code, domain, "mean", n0, n1, r.reason)
    return _entry(code, domain, "mean", _wave_obj(n0, r.x.mean, r.x.se, r.x.ci.lower, r.x.ci.upper),
                  _wave_obj(n1, r.y.mean, r.y.se, r.y.ci.lower, r.y.ci.upper), r.difference, r.difference_ci, r.test,
                  r.effect_size, rank_test=_rank(r.mann_whitney))


def _means(ctx: _Context, code: str, domain: str, y: np.ndarray, codes: np.ndarray,
           levels: Sequence[str]) -> list[dict]:
    """One comparison of means per level of the breakdown (independent samples or a panel)."""
    return [_mean_one(ctx, code, domain, y, codes == i) for i in range(len(levels))]


# --- sections ------------------------------------------------------------------------------


def _adjust(entries: list[dict], method: str) -> None:
    p = np.array([e["p_value"] if e.get("p_value") is not None else np.nan for e in entries], dtype=float)
    if not len(p):
        return
    adjusted = p_adjust(p, method=method)
    for e, a in zip(entries, adjusted):
        e["p_adjusted"] = _num(a)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One compared variable: an item (a proportion favourable) or a domain score (a mean)."""

    code: str
    domain: str
    measure: str
    y: np.ndarray


def _outcomes(key: ScoringKey, scores: np.ndarray) -> list[_Outcome]:
    """Every item as favourable or not (a column of ``scores`` itself unless an attitude item),
    then the domain scores."""
    out = [_Outcome(it.code, it.domain, "proportion", favourable_column(it, scores[:, j]))
           for j, it in enumerate(key.items) if it.domain != "exposure"]
    dom = domain_scores(key, scores)
    return out + [_Outcome(name, name, "mean", dom[name]) for name in DOMAIN_ORDER if name in dom]


def _shifts(outcomes: Sequence[_Outcome]) -> list[float | None]:
    """Items are 0/1: summed as they are (exact cell weights for the Rao-Scott test)."""
    return [0.0 if o.measure == "proportion" else None for o in outcomes]


def _by_level(per_outcome: Sequence[Sequence[dict]], outcomes: Sequence[_Outcome], n_levels: int,
              correction: str) -> list[tuple[list[dict], list[dict]]]:
    """(items, domains) for each level; p-values adjusted within each level."""
    out = []
    for i in range(n_levels):
        items = [entries[i] for entries, o in zip(per_outcome, outcomes) if o.measure == "proportion"]
        domains = [entries[i] for entries, o in zip(per_outcome, outcomes) if o.measure == "mean"]
        _adjust(items, correction)
        _adjust(domains, correction)
        out.append((items, domains))
    return out


def _comparisons(ctx: _Context, outcomes: Sequence[_Outcome], codes: np.ndarray, levels: Sequence[str],
                 correction: str) -> list[tuple[list[dict], list[dict]]]:
    """Independent samples or a panel: (items, domains) for each level."""
    per = [(_proportions if o.measure == "proportion" else _means)(ctx, o.code, o.domain, o.y, codes, levels)
           for o in outcomes]
    return _by_level(per, outcomes, len(levels), correction)


def _design_comparisons(ctx: _Context, outcomes: Sequence[_Outcome], sums: CellSums, n_levels: int,
                        correction: str) -> list[tuple[list[dict], list[dict]]]:
    """A complex design: (items, domains) for each level, from sums over cells ``2 * level + wave``.

    Means by wave (R ``svyby(~y, ~level + wave, design, svymean)``), one Rao-Scott test per
    item and level (``svychisq(~y + wave, subset(design, level == l))``), all from the sums.
    """
    means = sums.means(level=ctx.level)
    counts = sums.rows  # (cells, outcomes)
    spread = sums.weighted_var()
    items = [j for j, o in enumerate(outcomes) if o.measure == "proportion"]
    chis = dict(zip(items, sums.chisq([(2 * i, 2 * i + 1) for i in range(n_levels)], items))) if items else {}
    diff_se: list[list[float | None]] = [[None] * n_levels for _ in outcomes]
    if ctx.lonely_psu == "average" and ctx.design is not None and ctx.design.lonely_strata():
        # R svyttest(y ~ wave, subset(design, level == l)): H / (H - L) over both waves' strata
        for i in range(n_levels):
            pair = np.full(sums.n_cells, -1)
            pair[2 * i], pair[2 * i + 1] = 0, 1
            for j, fit in enumerate(sums.merge(pair, 2).contrast([-1.0, 1.0], level=ctx.level)):
                diff_se[j][i] = fit.se if fit.ok else None
    per = [
        [_design_entry(ctx, o.code, o.domain, o.measure, int(counts[2 * i, j]), int(counts[2 * i + 1, j]),
                       means[j][2 * i], means[j][2 * i + 1], chis[j][i] if j in chis else None,
                       float(spread[2 * i, j]), float(spread[2 * i + 1, j]), diff_se[j][i])
         for i in range(n_levels)]
        for j, o in enumerate(outcomes)
    ]
    return _by_level(per, outcomes, n_levels, correction)


def _did(ctx: _Context, outcomes: Sequence[_Outcome], sums: CellSums | None = None) -> dict | None:
    """Difference in differences (``svyglm(y ~ wave * arm)``'s interaction) of every outcome.

    ``sums`` are the outcomes' sums over cells ``2 * wave + intervention`` when already made.
    """
    if ctx.arm is None:
        return None
    known = ctx.arm < 2
    cell = ctx.wave.astype(np.intp) * 2 + ctx.arm
    if np.count_nonzero(np.bincount(cell[known], minlength=4)) < 4:
        return None
    if sums is None:
        sums = cell_sums([o.y for o in outcomes], ctx.did_design(), np.where(known, cell, -1), 4,
                         shift=_shifts(outcomes), squares=False)
    fits = sums.contrast([1.0, -1.0, -1.0, 1.0], level=ctx.level)
    counts = sums.rows  # (cells, outcomes)
    names = ("baseline_comparison", "baseline_intervention", "endline_comparison", "endline_intervention")
    entries = []
    for j, (o, fit) in enumerate(zip(outcomes, fits)):
        n = {name: int(counts[c, j]) for c, name in enumerate(names)}
        entry = {"code": o.code, "domain": o.domain, "measure": o.measure, "ok": False, "n": n, "estimate": None,
                 "se": None, "ci_low": None, "ci_high": None, "df": None, "p_value": None}
        if min(n.values()) < MIN_PER_WAVE:
            entry["reason"] = f"fewer than {MIN_PER_WAVE} answers in a wave-by-arm cell"
        elif not fit.ok:
            entry["reason"] = fit.reason
        else:
            # (endline - baseline) in the intervention arm minus the same in the comparison arm
            entry.update({"ok": True, "reason": "", "estimate": _num(fit.estimate), "se": _num(fit.se),
                          "ci_low": _num(fit.ci_low), "ci_high": _num(fit.ci_high), "df": float(fit.df),
                          "p_value": _num(fit.p)})
        entries.append(entry)
    n_items = sum(1 for o in outcomes if o.measure == "proportion")
    return {"method": "svyglm(y ~ wave * arm): the wave:arm interaction", "items": entries[:n_items],
            "domains": entries[n_items:]}


def _knowledge_levels(ctx: _Context, outcomes: Sequence[_Outcome], codes: np.ndarray, levels: Sequence[str]) -> dict | None:
    """Shares of respondents with good, moderate and poor knowledge (:data:`KNOWLEDGE_LEVELS`) in each
    wave, overall and in each group of the breakdown, and whether the distribution changed.

    Shares are weighted means of each level's indicator with their 95% CIs (R ``svymean`` of
    ``I(level == k)``). The change between waves is tested on the three-level table: Pearson's
    chi-square for independent simple samples; the Rao-Scott F (R ``svychisq(~level + wave)``)
    for a complex design, and for a panel with the respondent as the cluster, since the same
    people answer in both waves.
    """
    know = next((o.y for o in outcomes if o.code == "knowledge" and o.measure == "mean"), None)
    if know is None:
        return None
    valid = ~np.isnan(know)
    if not (valid & (ctx.wave == 0)).any() and not (valid & (ctx.wave == 1)).any():
        return None
    level = np.full(len(know), -1, dtype=np.intp)
    for k in range(len(KNOWLEDGE_LEVELS) - 1, -1, -1):  # poor first, each higher cut-off overwrites
        level[valid & (know >= KNOWLEDGE_LEVELS[k][1])] = k
    names = [name for name, _ in KNOWLEDGE_LEVELS]
    indicators = [np.where(valid, (level == k).astype(np.float64), np.nan) for k in range(len(names))]
    design = ctx.did_design()
    ng = len(levels)
    group = np.where(np.isnan(codes), -1, codes).astype(np.intp) if ng else np.zeros(len(know), dtype=np.intp)
    # cells: 0-1 everyone by wave, then 2 + 2 g + wave for each group
    overall = cell_sums(indicators, design, np.where(valid, ctx.wave, -1), 2).means(level=ctx.level)
    by_group = (cell_sums(indicators, design, np.where(valid & (group >= 0), 2 * group + ctx.wave, -1), 2 * ng)
                .means(level=ctx.level) if ng else None)

    def wave_shares(means: list[list[SvyMean]], cell: int, n: int) -> dict:
        out: dict[str, Any] = {"n": n}
        for k, name in enumerate(names):
            m = means[k][cell]
            out[name] = {"estimate": _num(m.estimate) if n else None, "ci_low": _num(m.ci_low) if n and m.ok else None,
                         "ci_high": _num(m.ci_high) if n and m.ok else None}
        return out

    def change(mask: np.ndarray) -> dict:
        n0, n1 = int(np.sum(mask & (ctx.wave == 0))), int(np.sum(mask & (ctx.wave == 1)))
        if min(n0, n1) < MIN_PER_WAVE:
            return {"ok": False, "p_value": None, "test": None,
                    "reason": f"fewer than {MIN_PER_WAVE} knowledge scores in a wave (baseline {n0}, endline {n1})"}
        if ctx.mode == "independent":
            table = np.array([[np.sum(mask & (ctx.wave == w) & (level == k)) for w in (0, 1)] for k in range(len(names))])
            table = table[table.sum(axis=1) > 0]
            if len(table) < 2:
                return {"ok": False, "p_value": None, "test": None, "reason": "every respondent is at the same level"}
            chi2, p, dof, _ = scipy_stats.chi2_contingency(table, correction=False)
            return {"ok": True, "p_value": _num(p), "test": "Pearson chi-square", "statistic": _num(chi2), "df": int(dof),
                    "reason": ""}
        r = svychisq(np.where(mask, level, np.nan), ctx.wave, design, domain=mask)
        if not r.ok:
            return {"ok": False, "p_value": None, "test": None, "reason": r.reason}
        return {"ok": True, "p_value": _num(r.p), "test": "Rao-Scott F", "statistic": _num(r.f), "df": _num(r.ndf),
                "ddf": _num(r.ddf), "reason": ""}

    n_wave = [int(np.sum(valid & (ctx.wave == w))) for w in (0, 1)]
    result: dict[str, Any] = {
        "levels": [{"code": name, "from": None if math.isinf(cut) else cut} for name, cut in KNOWLEDGE_LEVELS],
        "baseline": wave_shares(overall, 0, n_wave[0]), "endline": wave_shares(overall, 1, n_wave[1]),
        "change": change(valid),
    }
    if ng:
        groups = []
        for g, value in enumerate(levels):
            inside = valid & (group == g)
            n0, n1 = int(np.sum(inside & (ctx.wave == 0))), int(np.sum(inside & (ctx.wave == 1)))
            groups.append({"value": value, "baseline": wave_shares(by_group, 2 * g, n0),
                           "endline": wave_shares(by_group, 2 * g + 1, n1), "change": change(inside)})
        result["groups"] = groups
    return result


def _exposure(ctx: _Context, outcomes: Sequence[_Outcome]) -> dict | None:
    """Endline outcomes by number of campaign channels heard (0, 1, 2, 3+) and the trend."""
    key = ctx.data.key
    if not key.columns("exposure").size:
        return None
    dose = exposure_dose(key, ctx.data.scores)
    end = (ctx.wave == 1) & ~np.isnan(dose)
    if not end.any():
        return None
    capped = np.minimum(np.nan_to_num(dose, nan=0.0), 3.0).astype(np.intp)
    design = ctx.design if ctx.design is not None else Design(weights=ctx.weights)
    everyone = np.bincount(capped[end], minlength=4)
    distribution = {lvl: int(everyone[i]) for i, lvl in enumerate(DOSE_LEVELS)}
    # R: svyby(~y, ~dose, subset(design, wave == endline), svymean) and svyglm(y ~ dose, ...)
    sums = cell_sums([o.y for o in outcomes], design, np.where(end, capped, -1), 4, shift=_shifts(outcomes))
    dose_means = sums.means(level=ctx.level)
    slopes = sums.slope(np.arange(4.0), level=ctx.level)
    counts = sums.rows  # (dose, outcomes)
    entries = []
    for j, (o, means, fit) in enumerate(zip(outcomes, dose_means, slopes)):
        n_by = counts[:, j]
        by_dose = []
        for i, lvl in enumerate(DOSE_LEVELS):
            m = means[i]
            if not m.ok:
                by_dose.append({"dose": lvl, "n": int(n_by[i]), "estimate": None, "se": None, "ci_low": None, "ci_high": None})
            else:
                by_dose.append({"dose": lvl, "n": int(n_by[i]), "estimate": _num(m.estimate), "se": _num(m.se),
                                "ci_low": _num(m.ci_low), "ci_high": _num(m.ci_high)})
        trend = {"slope": None, "se": None, "ci_low": None, "ci_high": None, "df": None, "p_value": None, "ok": False,
                 "reason": "fewer than two exposure levels have answers"}
        if np.count_nonzero(n_by) >= 2 and int(n_by.sum()) >= MIN_PER_WAVE:
            if fit.ok:
                trend = {"slope": _num(fit.estimate), "se": _num(fit.se), "ci_low": _num(fit.ci_low),
                         "ci_high": _num(fit.ci_high), "df": float(fit.df), "p_value": _num(fit.p), "ok": True, "reason": ""}
            else:
                trend["reason"] = fit.reason
        entries.append({"code": o.code, "domain": o.domain, "measure": o.measure, "by_dose": by_dose, "trend": trend})
    n_items = sum(1 for o in outcomes if o.measure == "proportion")
    return {"levels": list(DOSE_LEVELS), "respondents": distribution,
            "channels": [it.channel or it.code for it in key.items if it.domain == "exposure"],
            "items": entries[:n_items], "domains": entries[n_items:]}


def _reliability(ctx: _Context) -> dict:
    key = ctx.data.key
    cols = key.columns("attitude")
    out = {}
    for w, name in ((0, "baseline"), (1, "endline")):
        if cols.size < 2:
            out[name] = {"ok": False, "reason": "fewer than two attitude items"}
            continue
        # complete rows only (cronbach_alpha would drop the others), one column at a time
        complete = ctx.wave == w
        for j in cols:
            complete &= ~np.isnan(ctx.data.scores[:, j])
        block = np.column_stack([ctx.data.scores[complete, j].astype(np.float64) for j in cols])
        r = cronbach_alpha(block, conf_level=ctx.level) if len(block) >= 3 else None
        if r is None or not r.ok:
            out[name] = {"ok": False, "reason": r.reason if r is not None else "fewer than 3 respondents"}
        else:
            out[name] = {"ok": True, "alpha": _num(r.alpha), "ci_low": _num(r.ci.lower), "ci_high": _num(r.ci.upper),
                         "n": r.n, "k": r.k, "method": "Cronbach's alpha, Feldt CI"}
    return out


def analyse(data: AnalysisData, *, by: str | None = None, correction: str = "holm", conf_level: float = 0.95,
            lonely_psu: str = DEFAULT_LONELY_PSU, wave_names: tuple[str, str] = ("baseline", "endline")) -> dict:
    """Compare the two waves of ``data``; see the module docstring for the methods.

    ``lonely_psu`` says how a stratum with a single cluster is treated (R's
    ``survey.lonely.psu``: one of :data:`LONELY_PSU_OPTIONS`); ``wave_names`` name the waves
    in the report's sentences.

    Returns a JSON-ready dict with ``design``, ``correction``, ``items``, ``domains``,
    ``reliability``, and when they apply ``groups`` (with ``by``), ``did``, ``exposure`` and
    ``knowledge_levels``.
    """
    if correction not in ("holm", "bh"):
        raise ValueError("correction must be 'holm' or 'bh'")
    if lonely_psu not in LONELY_PSU_OPTIONS:
        raise ValueError(f"lonely_psu must be one of {', '.join(LONELY_PSU_OPTIONS)}")
    if by is not None and by not in data.groups:
        raise ValueError(f"unknown breakdown {by!r}; choose one of: {', '.join(sorted(data.groups)) or 'none'}")
    ctx = _Context(data, conf_level, lonely_psu)
    n = len(ctx.wave)
    outcomes = _outcomes(data.key, data.scores)
    codes, levels = _level_codes(data.groups[by]) if by is not None else (np.zeros(n), [])
    did_sums = None
    if ctx.mode == "design":
        # one pass over the rows: sums by PSU x (level, wave, arm), merged for each section
        ng = len(levels)
        level = np.where(np.isnan(codes), ng, codes).astype(np.intp) if by is not None else np.zeros(n, dtype=np.intp)
        cells = (level * 2 + ctx.wave) * 3 + (ctx.arm if ctx.arm is not None else 2)
        sums = cell_sums([o.y for o in outcomes], ctx.design, cells, (ng + 1) * 6, shift=_shifts(outcomes))
        cell = np.arange((ng + 1) * 6)
        g, w, a = cell // 6, (cell // 3) % 2, cell % 3
        [(items, domains)] = _design_comparisons(ctx, outcomes, sums.merge(w, 2), 1, correction)
        by_level = (_design_comparisons(ctx, outcomes, sums.merge(np.where(g < ng, g * 2 + w, -1), 2 * ng), ng,
                                        correction) if ng else [])
        if ctx.arm is not None:
            did_sums = sums.merge(np.where(a < 2, w * 2 + a, -1), 4)
    else:
        [(items, domains)] = _comparisons(ctx, outcomes, np.zeros(n), ["all"], correction)
        by_level = _comparisons(ctx, outcomes, codes, levels, correction) if by is not None else []
    report: dict[str, Any] = {
        "design": {
            "type": "panel" if ctx.panel else "independent",
            "clustered": bool(ctx.design is not None and data.clusters is not None),
            "weighted": bool(ctx.complex and data.weights is not None and not np.allclose(ctx.weights, ctx.weights[0])),
            "stratified": bool(ctx.complex and data.strata is not None),
            "method": {"panel": "matched pairs", "design": "Taylor linearisation (design-based)",
                       "independent": "independent samples"}[ctx.mode],
            "respondents": {"baseline": int(np.sum(ctx.wave == 0)), "endline": int(np.sum(ctx.wave == 1))},
        },
        "correction": correction,
        "conf_level": conf_level,
        "items": items,
        "domains": domains,
        "reliability": _reliability(ctx),
    }
    if ctx.design is not None:
        report["design"]["lonely_psu"] = _lonely_summary(ctx, wave_names)
    if ctx.panel:
        people = ctx.respondent
        b, e = set(people[(ctx.wave == 0) & (people != "")]), set(people[(ctx.wave == 1) & (people != "")])
        report["design"]["matched"] = len(b & e)
        report["design"]["unmatched"] = {"baseline": len(b - e), "endline": len(e - b),
                                         "without_code": int(np.sum(people == ""))}
    if by is not None:
        inside = ~np.isnan(codes)
        per_wave = np.bincount(codes[inside].astype(np.intp) * 2 + ctx.wave[inside], minlength=2 * len(levels))
        report["groups"] = [
            {"by": by, "value": value, "n": {"baseline": int(per_wave[2 * i]), "endline": int(per_wave[2 * i + 1])},
             "items": g_items, "domains": g_domains}
            for i, (value, (g_items, g_domains)) in enumerate(zip(levels, by_level))]
    did = _did(ctx, outcomes, did_sums)
    if did is not None:
        report["did"] = did
    exposure = _exposure(ctx, outcomes)
    if exposure is not None:
        report["exposure"] = exposure
    knowledge = _knowledge_levels(ctx, outcomes, codes, levels)
    if knowledge is not None:
        report["knowledge_levels"] = knowledge
    if ctx.design is not None and report["design"]["lonely_psu"]["strata"]:
        _plain_reasons(report)
    return report


# --- single-cluster ("lonely PSU") strata ------------------------------------------------------

_TREATMENT = {
    "adjust": ("{their} variance was estimated around the overall mean instead of {its} own stratum's "
               "(conservative: margins of error can only be a little wider)."),
    "average": "{they} were given the average variance of the other strata.",
    "remove": "{they} were left out of the margins of error, which may therefore be too narrow.",
    "certainty": ("{they} were treated as fully sampled: {they_l} add nothing to the margins of error, "
                  "which may therefore be too narrow."),
    "fail": ("margins of error and tests that include {them} cannot be computed: the affected results "
             "are left blank. Choose another treatment of single-cluster strata to see them."),
}
_SHORT = {"adjust": "estimated around the overall mean (conservative)", "average": "given the average of the other strata",
          "remove": "left out of the margins of error", "certainty": "treated as fully sampled",
          "fail": "results that include them are not computed"}
#: What the lonely-PSU reasons of surveys.stats become in the report.
_LONELY_REASON = ("a stratum with a single cluster is part of this result and single-cluster strata are set to "
                  "fail (see the note on single-cluster strata)")
_ALL_LONELY = "every stratum in this result has a single cluster, so there is no other stratum to average over"


def _lonely_summary(ctx: _Context, wave_names: tuple[str, str]) -> dict:
    """Which design strata (stratum x wave) have a single cluster and how they were treated,
    in plain words (``summary``) with the technical detail apart (``detail``)."""
    option = ctx.lonely_psu
    design = ctx.design
    unit = "cluster" if ctx.has_clusters else "respondent"
    strata = []
    for code in design.lonely_strata():
        code = int(code)
        wave = wave_names[code % 2]
        stratum = None
        if ctx.strata_levels is not None:
            label = ctx.strata_levels[code // 2]
            stratum = label if label != "" else "(no stratum given)"
        strata.append({"stratum": stratum, "wave": wave, "respondents": int(np.sum(ctx.stacked == code))})
    out = {"option": option, "strata": strata, "summary": "", "detail": ""}
    if not strata:
        return out
    n = len(strata)
    where = "; ".join(f"{s['stratum']} in the {s['wave']}" if s["stratum"] is not None else f"the {s['wave']}"
                      for s in strata)
    what = (f"1 stratum had a single {unit} ({where}): " if n == 1
            else f"{n} strata had a single {unit} ({where}): ")
    words = ({"their": "its", "its": "its", "they": "it", "they_l": "it", "them": "it"} if n == 1 else
             {"their": "their", "its": "their", "they": "they", "they_l": "they", "them": "them"})
    treatment = _TREATMENT[option].format(**words)
    out["summary"] = (what + treatment + " If a stratum or cluster was mistyped, correct it on the interview "
                      "and the report will follow.")
    out["short"] = _SHORT[option]
    rows = ", ".join(f"{s['stratum'] or 'all'} x {s['wave']} ({s['respondents']} respondent"
                     f"{'' if s['respondents'] == 1 else 's'})" for s in strata)
    out["detail"] = (f"Treatment: R survey options(survey.lonely.psu = '{option}'), in every estimate "
                     f"(means, differences between waves and groups, Rao-Scott tests, difference in differences, "
                     f"exposure trend). The design strata are stratum x wave, clusters nested in them; "
                     f"strata with a single {unit}: {rows}. Degrees of freedom are unchanged (R degf).")
    return out


def _plain_reasons(report: dict) -> None:
    """Replace the statistics module's lonely-PSU reasons (which name design strata by their
    internal code) with words for a programme lead."""
    def fix(entry: dict) -> None:
        for holder in (entry, entry.get("trend") or {}):
            reason = holder.get("reason") or ""
            if "only one PSU" in reason:
                holder["reason"] = _LONELY_REASON
            elif "single PSU, so there is no variance to average" in reason:
                holder["reason"] = _ALL_LONELY

    sections = [report, *report.get("groups", []), report.get("did") or {}, report.get("exposure") or {}]
    for section in sections:
        for entry in section.get("items", []) + section.get("domains", []):
            fix(entry)


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _p_text(p: float | None) -> str:
    if p is None:
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def describe_entry(entry: Mapping[str, Any], label: str, correction: str) -> str:
    """One plain-language sentence for a lead, e.g. "Knowledge of the 2014 law rose from 41% to
    68% (+27 points, 95% CI 19 to 35; p < 0.001 after Holm correction)."."""
    if label.rstrip().endswith("?"):
        lead = {"knowledge": "Correct answers to", "attitude": "Favourable answers to",
                "practice": "The desired practice on"}.get(entry.get("domain", ""), "Answers to")
        label = f"{lead} “{label.strip()}”"
    if not entry.get("ok"):
        return f"{label}: not enough data ({entry.get('reason', 'no reason given')})."
    b, e = entry["baseline"]["estimate"], entry["endline"]["estimate"]
    diff, lo, hi = entry["difference"], entry["diff_ci_low"], entry["diff_ci_high"]
    p = entry.get("p_adjusted") if entry.get("p_adjusted") is not None else entry.get("p_value")
    after = " after Holm correction" if correction == "holm" else " after Benjamini-Hochberg correction"
    if entry.get("p_adjusted") is None:
        after = ""
    if entry["measure"] == "proportion":
        verb = "rose" if diff > 0 else ("fell" if diff < 0 else "stayed")
        change = f"{diff * 100:+.0f} points, 95% CI {lo * 100:.0f} to {hi * 100:.0f}"
        text = f"{label} {verb} from {_pct(b)} to {_pct(e)} ({change}; {_p_text(p)}{after})."
    else:
        verb = "rose" if diff > 0 else ("fell" if diff < 0 else "stayed")
        text = (f"{label} {verb} from {b:.0f} to {e:.0f} out of 100 ({diff:+.1f}, 95% CI {lo:.1f} to {hi:.1f}; "
                f"{_p_text(p)}{after}).")
    significant = p is not None and p < 0.05
    return text if significant else text[:-1] + " — not a significant change."


def labels_for(key: ScoringKey, item_labels: Mapping[str, str]) -> dict[str, str]:
    names = {"knowledge": "Knowledge score", "attitude": "Attitude score", "practice": "Practice score"}
    return {**names, **{it.code: item_labels.get(it.code, it.code) for it in key.items}}
