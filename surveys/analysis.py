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

Item p-values are adjusted within the report, and within each group, by Holm (default) or
Benjamini-Hochberg; domain p-values form their own family of (at most) three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .scoring import ScoringKey, domain_scores, exposure_dose, favourable
from scipy import special

from .stats.design import Design, svychisq, svycontrast_means, svymean, svyslope
from .stats.means import describe_mean, welch_t
from .stats.multiplicity import p_adjust
from .stats.paired import mcnemar_from_pairs, paired_t
from .stats.proportions import cohens_h, two_proportions, wilson_interval
from .stats.reliability import cronbach_alpha

__all__ = ["AnalysisData", "DOMAIN_ORDER", "MIN_PER_WAVE", "analyse", "describe_entry", "labels_for"]

DOMAIN_ORDER = ("knowledge", "attitude", "practice")
#: Fewest respondents with an answer in each wave for a comparison to be reported.
MIN_PER_WAVE = 10
DOSE_LEVELS = ("0", "1", "2", "3+")


@dataclass(frozen=True, slots=True)
class AnalysisData:
    """Respondents of the two waves, scored.

    ``wave`` is 0 for the baseline and 1 for the endline. Optional design arrays may be None:
    no clusters means each respondent is its own PSU; no weights means equal weights.
    ``groups`` maps a breakdown field to its value per respondent ('' = unknown).
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


def _weighted_sd(y: np.ndarray, w: np.ndarray) -> float:
    mean = np.sum(w * y) / np.sum(w)
    return float(np.sqrt(np.sum(w * (y - mean) ** 2) / np.sum(w)))


def _hedges_g_weighted(y0, w0, y1, w1) -> float | None:
    n = len(y0) + len(y1)
    pooled = math.sqrt((_weighted_sd(y0, w0) ** 2 + _weighted_sd(y1, w1) ** 2) / 2)
    if pooled == 0 or n < 4:
        return None
    j = 1 - 3 / (4 * (n - 2) - 1)
    return (float(np.average(y1, weights=w1)) - float(np.average(y0, weights=w0))) / pooled * j


def _int_codes(labels) -> np.ndarray:
    """Integer codes of string labels (fast: fixed-width unicode, not Python objects)."""
    arr = np.asarray(labels, dtype=object).astype(str)
    return np.unique(arr, return_inverse=True)[1].reshape(-1).astype(np.int64)


# --- the three designs ------------------------------------------------------------------------


class _Context:
    """What every comparison in one report shares: the design, the waves, the mode."""

    def __init__(self, data: AnalysisData, conf_level: float):
        self.data = data
        self.level = conf_level
        self.wave = np.asarray(data.wave).astype(np.int8)
        n = len(self.wave)
        w = None if data.weights is None else np.asarray(data.weights, dtype=np.float64)
        has_clusters = data.clusters is not None and np.any(np.asarray(data.clusters, dtype=object) != "")
        has_strata = data.strata is not None and len(set(np.asarray(data.strata, dtype=object).tolist()) - {""}) > 1
        has_weights = w is not None and not np.allclose(w, w[0] if n else 1.0)
        self.panel = bool(data.panel and data.respondent is not None)
        self.complex = bool(has_clusters or has_strata or has_weights) and not self.panel
        self.weights = w if w is not None else np.ones(n)
        # Stacked design: strata are wave x stratum; clusters are nested in them.
        strata = self.wave.astype(np.int64)
        if has_strata:
            strata = _int_codes(data.strata) * 2 + strata
        clusters = None
        if has_clusters:
            raw = np.asarray(data.clusters, dtype=object)
            codes = _int_codes(raw)
            # A respondent without a cluster is a PSU of its own.
            alone = raw == ""
            if alone.any():
                codes = codes.copy()
                codes[alone] = codes.max() + 1 + np.arange(int(alone.sum()))
            clusters = codes
        self.design = Design(weights=self.weights, clusters=clusters, strata=strata) if self.complex else None
        self.mode = "panel" if self.panel else ("design" if self.complex else "independent")

    def did_design(self) -> Design:
        if self.design is not None:
            return self.design
        if self.panel:  # the same person in both waves: cluster on the respondent
            return Design(weights=self.weights, clusters=_int_codes(self.data.respondent))
        return Design(weights=self.weights)


def _codes(groups: np.ndarray, levels: Sequence[str]) -> np.ndarray:
    """Group index per respondent as floats (NaN outside every level): the fast path of ``by``."""
    index = {level: float(i) for i, level in enumerate(levels)}
    return np.array([index.get(v, np.nan) for v in groups.tolist()], dtype=np.float64)


def _counts(ctx: _Context, valid: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    inside = valid & ~np.isnan(codes)
    idx = codes[inside].astype(np.intp)
    wave = ctx.wave[inside]
    return (np.bincount(idx[wave == 0], minlength=k), np.bincount(idx[wave == 1], minlength=k))


def _proportions(ctx: _Context, code: str, domain: str, y: np.ndarray, codes: np.ndarray, levels: Sequence[str],
                 means=None) -> list[dict]:
    """One proportion comparison per level of the breakdown (``codes`` as from :func:`_codes`)."""
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
    if not ctx.complex:
        inside = valid & ~np.isnan(codes)
        idx, yy, wave = codes[inside].astype(np.intp), y[inside], ctx.wave[inside]
        x0 = np.bincount(idx[wave == 0], weights=yy[wave == 0], minlength=k)
        x1 = np.bincount(idx[wave == 1], weights=yy[wave == 1], minlength=k)
        for i in range(k):
            if out[i] is None:
                out[i] = _simple_proportion(ctx, code, domain, int(round(x0[i])), int(n0[i]), int(round(x1[i])), int(n1[i]))
        return out  # type: ignore[return-value]
    return _design_comparisons(ctx, code, domain, "proportion", y, codes, k, n0, n1, out, means)


def _simple_proportion(ctx: _Context, code, domain, x0, n0, x1, n1) -> dict:
    r = two_proportions(x0, n0, x1, n1, conf_level=ctx.level)
    if not r.ok:
        return _not_enough(code, domain, "proportion", n0, n1, r.reason)
    g0, g1 = r.group1, r.group2
    return _entry(code, domain, "proportion", _wave_obj(n0, g0.estimate, g0.se, g0.ci.lower, g0.ci.upper),
                  _wave_obj(n1, g1.estimate, g1.se, g1.ci.lower, g1.ci.upper), r.difference, r.difference_ci, r.test,
                  (r.effect_size.value, "Cohen's h"))


def _wave_difference(m0, m1, level: float) -> dict | None:
    """Endline minus baseline from the two wave means, as R's ``svyttest(y ~ wave, design)``.

    The stacked design puts each wave in its own strata, so the two means share no PSU and
    their covariance is zero: the difference's linearisation variance is the sum of theirs.
    The t-test has the domain's degrees of freedom (the two waves' added) minus one.
    """
    df = m0.df + m1.df - 1
    se = math.sqrt(m0.se ** 2 + m1.se ** 2)
    if df < 1 or se == 0:
        return None
    diff = m1.estimate - m0.estimate
    t = diff / se
    half = float(special.stdtrit(df, 0.5 + level / 2)) * se
    return {"estimate": diff, "se": se, "t": t, "df": df, "p": float(2 * special.stdtr(df, -abs(t))),
            "ci_low": diff - half, "ci_high": diff + half}


def _design_comparisons(ctx: _Context, code, domain, measure, y, codes, k, n0, n1, out, means=None) -> list[dict]:
    """Design-based comparisons for every level at once (``by=``: one pass over the data per statistic)."""
    d, wave = ctx.design, ctx.wave
    if means is None:
        means = svymean(y, d, by=codes * 2 + wave, na_rm=True, level=ctx.level)
    chis = svychisq(y, wave, d, by=codes, na_rm=True) if measure == "proportion" else {}
    for i in range(k):
        if out[i] is not None:
            continue
        m0, m1 = means.get(float(2 * i)), means.get(float(2 * i + 1))
        bad = next((r for r in (m0, m1) if r is None or not r.ok), None)
        if bad is not None or m0 is None or m1 is None:
            reason = bad.reason if bad is not None else "a wave has no answers"
            out[i] = _not_enough(code, domain, measure, int(n0[i]), int(n1[i]), reason)
            continue
        tt = _wave_difference(m0, m1, ctx.level)
        if tt is None:
            out[i] = _not_enough(code, domain, measure, int(n0[i]), int(n1[i]), "no variance or no degrees of freedom")
            continue
        deffs = [v for v in (m0.deff, m1.deff) if v is not None]
        entry = {
            "code": code, "domain": domain, "measure": measure, "ok": True, "reason": "",
            "baseline": _wave_obj(int(n0[i]), m0.estimate, m0.se, m0.ci_low, m0.ci_high, m0.deff),
            "endline": _wave_obj(int(n1[i]), m1.estimate, m1.se, m1.ci_low, m1.ci_high, m1.deff),
            "difference": _num(tt["estimate"]), "diff_ci_low": _num(tt["ci_low"]), "diff_ci_high": _num(tt["ci_high"]),
            "p_adjusted": None, "design_effect": _num(np.mean(deffs)) if deffs else None,
        }
        chi = chis.get(float(i))
        if measure == "proportion" and chi is not None and chi.ok:
            entry.update({"test": "rao-scott-f", "statistic": _num(chi.f), "df": _num(chi.ddf), "df_num": _num(chi.ndf),
                          "p_value": _num(chi.p)})
        else:
            entry.update({"test": "design-t", "statistic": _num(tt["t"]), "df": float(tt["df"]), "p_value": _num(tt["p"])})
        if measure == "proportion":
            entry.update({"effect_size": _num(cohens_h(m0.estimate, m1.estimate)), "effect_size_name": "Cohen's h"})
        else:
            sel = (codes == i) & ~np.isnan(y)
            sel0, sel1 = sel & (wave == 0), sel & (wave == 1)
            entry.update({"effect_size": _num(_hedges_g_weighted(y[sel0], ctx.weights[sel0], y[sel1], ctx.weights[sel1])),
                          "effect_size_name": "Hedges' g (weighted)"})
        out[i] = entry
    return out


def _pairs(ctx: _Context, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Baseline and endline values of respondents present in both waves (matched by code)."""
    codes = np.asarray(ctx.data.respondent, dtype=object).astype(str)
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


def _means(ctx: _Context, code: str, domain: str, y: np.ndarray, codes: np.ndarray, levels: Sequence[str],
           means=None) -> list[dict]:
    """One comparison of means per level of the breakdown."""
    k = len(levels)
    if not ctx.complex:
        return [_mean_one(ctx, code, domain, y, codes == i) for i in range(k)]
    n0, n1 = _counts(ctx, ~np.isnan(y), codes, k)
    out = [None if min(n0[i], n1[i]) >= MIN_PER_WAVE else
           _not_enough(code, domain, "mean", int(n0[i]), int(n1[i]),
                       f"fewer than {MIN_PER_WAVE} scores in a wave (baseline {n0[i]}, endline {n1[i]})") for i in range(k)]
    if all(o is not None for o in out):
        return out  # type: ignore[return-value]
    return _design_comparisons(ctx, code, domain, "mean", y, codes, k, n0, n1, out, means)


# --- sections ------------------------------------------------------------------------------


def _adjust(entries: list[dict], method: str) -> None:
    p = np.array([e["p_value"] if e.get("p_value") is not None else np.nan for e in entries], dtype=float)
    if not len(p):
        return
    adjusted = p_adjust(p, method=method)
    for e, a in zip(entries, adjusted):
        e["p_adjusted"] = _num(a)


def _comparisons(ctx: _Context, fav: np.ndarray, dom: Mapping[str, np.ndarray], codes: np.ndarray,
                 levels: Sequence[str], correction: str) -> list[tuple[list[dict], list[dict]]]:
    """(items, domains) for each level; p-values adjusted within each level."""
    key = ctx.data.key
    item_cols = [j for j, it in enumerate(key.items) if it.domain != "exposure"]
    dom_names = [name for name in DOMAIN_ORDER if name in dom]
    means: Sequence = [None] * (len(item_cols) + len(dom_names))
    if ctx.complex and not ctx.panel:
        # every column's wave-by-group means in one call (R svyby), Fortran order for speed
        Y = np.asfortranarray(np.column_stack([fav[:, item_cols], *[dom[n] for n in dom_names]]))
        means = svymean(Y, ctx.design, by=codes * 2 + ctx.wave, na_rm=True, level=ctx.level)
    per_item = [_proportions(ctx, key.items[j].code, key.items[j].domain, fav[:, j], codes, levels, means[c])
                for c, j in enumerate(item_cols)]
    per_domain = [_means(ctx, name, name, dom[name], codes, levels, means[len(item_cols) + c])
                  for c, name in enumerate(dom_names)]
    out = []
    for i in range(len(levels)):
        items = [entries[i] for entries in per_item]
        domains = [entries[i] for entries in per_domain]
        _adjust(items, correction)
        _adjust(domains, correction)
        out.append((items, domains))
    return out


def _did(ctx: _Context, fav: np.ndarray, dom: Mapping[str, np.ndarray], mask: np.ndarray) -> dict | None:
    arm = ctx.data.arm
    if arm is None:
        return None
    arm = np.asarray(arm, dtype=object).astype(str)
    treated = (arm == "intervention").astype(float)
    known = mask & np.isin(arm, ["intervention", "comparison"])
    cells = {(w, a) for w, a in zip(ctx.wave[known].tolist(), treated[known].tolist())}
    if len(cells) < 4:
        return None
    design = ctx.did_design()
    cells = np.where(known, ctx.wave * 2 + treated, np.nan)

    key = ctx.data.key
    columns = [(it.code, it.domain, "proportion", fav[:, j]) for j, it in enumerate(key.items) if it.domain != "exposure"]
    columns += [(name, name, "mean", dom[name]) for name in DOMAIN_ORDER if name in dom]
    fits = svycontrast_means(np.asfortranarray(np.column_stack([c[3] for c in columns])), design, cells,
                             [1.0, -1.0, -1.0, 1.0], level=ctx.level)
    entries = []
    for (code, domain, measure, y), fit in zip(columns, fits):
        sel = known & ~np.isnan(y)
        counts = {f"{'endline' if w else 'baseline'}_{'intervention' if a else 'comparison'}": int(np.sum(sel & (ctx.wave == w) & (treated == a)))
                  for w in (0, 1) for a in (0, 1)}
        entry = {"code": code, "domain": domain, "measure": measure, "ok": False, "n": counts, "estimate": None,
                 "se": None, "ci_low": None, "ci_high": None, "df": None, "p_value": None}
        if min(counts.values()) < MIN_PER_WAVE:
            entry["reason"] = f"fewer than {MIN_PER_WAVE} answers in a wave-by-arm cell"
        elif not fit.ok:
            entry["reason"] = fit.reason
        else:
            # (endline - baseline) in the intervention arm minus the same in the comparison arm
            entry.update({"ok": True, "reason": "", "estimate": _num(fit.estimate), "se": _num(fit.se),
                          "ci_low": _num(fit.ci_low), "ci_high": _num(fit.ci_high), "df": float(fit.df),
                          "p_value": _num(fit.p)})
        entries.append(entry)
    n_items = sum(1 for c in columns if c[2] == "proportion")
    return {"method": "svyglm(y ~ wave * arm): the wave:arm interaction", "items": entries[:n_items],
            "domains": entries[n_items:]}


def _exposure(ctx: _Context, fav: np.ndarray, dom: Mapping[str, np.ndarray], mask: np.ndarray) -> dict | None:
    key = ctx.data.key
    if not key.columns("exposure").size:
        return None
    dose = exposure_dose(key, ctx.data.scores)
    end = mask & (ctx.wave == 1) & ~np.isnan(dose)
    if not end.any():
        return None
    capped = np.minimum(np.nan_to_num(dose, nan=0.0), 3.0)
    design = ctx.design if ctx.design is not None else Design(weights=ctx.weights)
    distribution = {lvl: int(np.sum(end & (capped == i))) for i, lvl in enumerate(DOSE_LEVELS)}

    columns = [(it.code, it.domain, "proportion", fav[:, j]) for j, it in enumerate(key.items) if it.domain != "exposure"]
    columns += [(name, name, "mean", dom[name]) for name in DOMAIN_ORDER if name in dom]
    Y = np.asfortranarray(np.column_stack([c[3] for c in columns]))
    dose_means = svymean(Y, design, domain=end, by=capped, na_rm=True, level=ctx.level)
    slopes = svyslope(Y, capped, design, domain=end, level=ctx.level)
    entries = []
    for (code, domain, measure, y), means, fit in zip(columns, dose_means, slopes):
        sel = end & ~np.isnan(y)
        n_by = np.bincount(capped[sel].astype(np.intp), minlength=4)
        by_dose = []
        for i, lvl in enumerate(DOSE_LEVELS):
            m = means.get(float(i))
            if m is None or not m.ok:
                by_dose.append({"dose": lvl, "n": int(n_by[i]), "estimate": None, "se": None, "ci_low": None, "ci_high": None})
            else:
                by_dose.append({"dose": lvl, "n": int(n_by[i]), "estimate": _num(m.estimate), "se": _num(m.se),
                                "ci_low": _num(m.ci_low), "ci_high": _num(m.ci_high)})
        trend = {"slope": None, "se": None, "ci_low": None, "ci_high": None, "df": None, "p_value": None, "ok": False,
                 "reason": "fewer than two exposure levels have answers"}
        if np.count_nonzero(n_by) >= 2 and int(sel.sum()) >= MIN_PER_WAVE:
            if fit.ok:
                trend = {"slope": _num(fit.estimate), "se": _num(fit.se), "ci_low": _num(fit.ci_low),
                         "ci_high": _num(fit.ci_high), "df": float(fit.df), "p_value": _num(fit.p), "ok": True, "reason": ""}
            else:
                trend["reason"] = fit.reason
        entries.append({"code": code, "domain": domain, "measure": measure, "by_dose": by_dose, "trend": trend})
    n_items = sum(1 for c in columns if c[2] == "proportion")
    return {"levels": list(DOSE_LEVELS), "respondents": distribution,
            "channels": [it.channel or it.code for it in key.items if it.domain == "exposure"],
            "items": entries[:n_items], "domains": entries[n_items:]}


def _reliability(ctx: _Context, mask: np.ndarray) -> dict:
    key = ctx.data.key
    cols = key.columns("attitude")
    out = {}
    for w, name in ((0, "baseline"), (1, "endline")):
        if cols.size < 2:
            out[name] = {"ok": False, "reason": "fewer than two attitude items"}
            continue
        block = ctx.data.scores[mask & (ctx.wave == w)][:, cols]
        r = cronbach_alpha(block, conf_level=ctx.level) if len(block) >= 3 else None
        if r is None or not r.ok:
            out[name] = {"ok": False, "reason": r.reason if r is not None else "fewer than 3 respondents"}
        else:
            out[name] = {"ok": True, "alpha": _num(r.alpha), "ci_low": _num(r.ci.lower), "ci_high": _num(r.ci.upper),
                         "n": r.n, "k": r.k, "method": "Cronbach's alpha, Feldt CI"}
    return out


def analyse(data: AnalysisData, *, by: str | None = None, correction: str = "holm", conf_level: float = 0.95) -> dict:
    """Compare the two waves of ``data``; see the module docstring for the methods.

    Returns a JSON-ready dict with ``design``, ``correction``, ``items``, ``domains``,
    ``reliability``, and when they apply ``groups`` (with ``by``), ``did`` and ``exposure``.
    """
    if correction not in ("holm", "bh"):
        raise ValueError("correction must be 'holm' or 'bh'")
    if by is not None and by not in data.groups:
        raise ValueError(f"unknown breakdown {by!r}; choose one of: {', '.join(sorted(data.groups)) or 'none'}")
    ctx = _Context(data, conf_level)
    # Column-major: every statistic reads one item's column at a time.
    fav = np.asfortranarray(favourable(data.key, data.scores))
    dom = domain_scores(data.key, data.scores)
    everyone = np.ones(len(ctx.wave), dtype=bool)
    [(items, domains)] = _comparisons(ctx, fav, dom, np.zeros(len(ctx.wave)), ["all"], correction)
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
        "reliability": _reliability(ctx, everyone),
    }
    if ctx.panel:
        codes = np.asarray(data.respondent, dtype=object).astype(str)
        b, e = set(codes[(ctx.wave == 0) & (codes != "")]), set(codes[(ctx.wave == 1) & (codes != "")])
        report["design"]["matched"] = len(b & e)
        report["design"]["unmatched"] = {"baseline": len(b - e), "endline": len(e - b),
                                         "without_code": int(np.sum(codes == ""))}
    if by is not None:
        values = np.asarray(data.groups[by], dtype=object).astype(str)
        levels = sorted(set(values.tolist()) - {""})
        codes = _codes(values, levels)
        groups = []
        for i, (value, (g_items, g_domains)) in enumerate(zip(levels, _comparisons(ctx, fav, dom, codes, levels, correction))):
            mask = codes == i
            groups.append({"by": by, "value": value, "n": {"baseline": int(np.sum(mask & (ctx.wave == 0))),
                                                              "endline": int(np.sum(mask & (ctx.wave == 1)))},
                           "items": g_items, "domains": g_domains})
        report["groups"] = groups
    did = _did(ctx, fav, dom, everyone)
    if did is not None:
        report["did"] = did
    exposure = _exposure(ctx, fav, dom, everyone)
    if exposure is not None:
        report["exposure"] = exposure
    return report


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
