"""KAP scoring: from one respondent's answers to item scores, and from item scores to domain scores.

Pure functions over :class:`surveys.spec.InstrumentSpec`; no database.

Per item (one column of the score matrix):

* knowledge: 1 if correct, 0 if not ("don't know" counts as not correct), NaN when the item did
  not apply (skipped by relevance, unanswered, or refused). A select_multiple item is correct
  when the chosen set equals the key's set.
* attitude: the reverse-coded scale point, 1 to k (k = 4 or 5); "don't know" and refusals are
  NaN. Favourable means one of the top two points.
* practice: 1 if the desired practice (any of the desired choices), 0 if not, NaN when missing.
* exposure: 1 if the respondent says they saw or heard it (a yes, or a desired choice, or any
  real choice of a select_multiple), 0 if not, NaN when missing.

Domain scores per respondent, on 0 to 100: knowledge is the percent correct of the knowledge
items that applied; attitude is the mean of the reverse-coded attitude items rescaled from
1..k to 0..100; practice is the percent of applicable practice items with the desired answer.
Exposure dose is the number of exposure items answered yes.

References
----------
Kaliyaperumal K. (2004). Guideline for conducting a knowledge, attitude and practice (KAP) study.
AECS Illumination 4(1):7-9 (Bloom's cut-off points for knowledge levels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .spec import LIKERT_TYPES, InstrumentSpec, ItemSpec

__all__ = [
    "DONT_KNOW",
    "REFUSED",
    "BloomCutoffs",
    "ScoredItem",
    "ScoringKey",
    "bloom_levels",
    "domain_scores",
    "exposure_dose",
    "favourable",
    "favourable_column",
    "score_answers",
    "score_many",
    "scoring_key",
]

#: Choice names read as "don't know" (case-insensitive).
DONT_KNOW = frozenset({"dk", "dont_know", "dontknow", "don_t_know", "do_not_know", "ns", "nsp", "ne_sait_pas",
                       "pa_konnen", "pakonnen", "no_se", "unknown", "98", "-98"})
#: Choice names read as a refusal or no answer: treated as missing.
REFUSED = frozenset({"refused", "refuse", "rf", "no_answer", "na", "n_a", "prefer_not", "99", "-99", ""})
YES = frozenset({"yes", "y", "1", "true", "wi", "oui", "si", "sí"})
NONE_CHOICES = frozenset({"none", "okenn", "aucun", "ninguno", "0"})
SCORED_DOMAINS = ("knowledge", "attitude", "practice", "exposure")


@dataclass(frozen=True, slots=True)
class ScoredItem:
    """One column of the score matrix."""

    code: str
    domain: str
    multiple: bool
    correct: frozenset[str] = frozenset()
    desired: frozenset[str] = frozenset()
    points: tuple[str, ...] = ()  # attitude: the choice names from least to most agreeing
    reverse: bool = False
    channel: str | None = None

    @property
    def scale_points(self) -> int:
        return len(self.points)


@dataclass(frozen=True, slots=True)
class ScoringKey:
    """Which items are scored, in column order, and how."""

    items: tuple[ScoredItem, ...]

    def columns(self, domain: str) -> np.ndarray:
        return np.array([i for i, it in enumerate(self.items) if it.domain == domain], dtype=np.intp)

    def index(self, code: str) -> int:
        for i, it in enumerate(self.items):
            if it.code == code:
                return i
        raise KeyError(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(it.code for it in self.items)


def _scored(item: ItemSpec, spec: InstrumentSpec) -> ScoredItem | None:
    domain = item.kap_domain
    if domain not in SCORED_DOMAINS or item.choice_list is None:
        return None
    multiple = item.type == "multiple_choice"
    if domain == "attitude":
        if item.type not in LIKERT_TYPES and item.type != "single_choice":
            return None
        names = tuple(c.name for c in spec.choice_lists.get(item.choice_list, ())
                      if c.name.lower() not in DONT_KNOW and c.name.lower() not in REFUSED)
        if len(names) < 2:
            return None
        return ScoredItem(item.code, domain, False, points=names, reverse=item.kap_reverse)
    if domain == "knowledge" and not item.kap_correct:
        return None
    if domain == "practice" and not item.kap_desired:
        return None
    return ScoredItem(item.code, domain, multiple, correct=frozenset(item.kap_correct),
                      desired=frozenset(item.kap_desired), channel=item.kap_channel)


def scoring_key(spec: InstrumentSpec) -> ScoringKey:
    """The scoring key of an instrument: every knowledge, attitude, practice and exposure item
    that carries what scoring needs (a correct answer, a scale, a desired practice), outside repeats."""
    in_repeats = {it.code for sec in spec.sections if sec.in_repeat for it in sec.items}  # asked per repetition
    return ScoringKey(tuple(s for it in spec.items()
                            if it.code not in in_repeats and (s := _scored(it, spec)) is not None))


def _chosen(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return str(value).split()


def _score_item(item: ScoredItem, value: object) -> float:
    chosen = _chosen(value)
    lowered = [c.lower() for c in chosen]
    if not chosen or all(c in REFUSED for c in lowered):
        return np.nan
    if item.domain == "attitude":
        if lowered[0] in DONT_KNOW or chosen[0] not in item.points:
            return np.nan
        point = item.points.index(chosen[0]) + 1
        return float(item.scale_points + 1 - point if item.reverse else point)
    if item.domain == "knowledge":
        if any(c in DONT_KNOW for c in lowered):
            return 0.0
        return 1.0 if (set(chosen) == item.correct if item.multiple else chosen[0] in item.correct) else 0.0
    if item.domain == "practice":
        if any(c in DONT_KNOW for c in lowered) and not item.desired & set(chosen):
            return 0.0
        return 1.0 if item.desired & set(chosen) else 0.0
    # exposure
    if item.desired:
        return 1.0 if item.desired & set(chosen) else 0.0
    if item.multiple:
        real = [c for c in lowered if c not in DONT_KNOW and c not in NONE_CHOICES]
        return 1.0 if real else 0.0
    return 1.0 if lowered[0] in YES else 0.0


def score_answers(key: ScoringKey, answers: Mapping[str, object]) -> np.ndarray:
    """One respondent's score row (float64, NaN where an item did not apply)."""
    return np.array([_score_item(it, answers.get(it.code)) for it in key.items], dtype=np.float64)


def score_many(key: ScoringKey, answer_sets: Iterable[Mapping[str, object]]) -> np.ndarray:
    """Score rows for many respondents: an (n, items) float64 matrix."""
    rows = [score_answers(key, a) for a in answer_sets]
    if not rows:
        return np.empty((0, len(key.items)))
    return np.vstack(rows)


def favourable(key: ScoringKey, scores: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
    """The matrix with attitude columns turned into 1 (top two points) / 0 / NaN.

    Column-major (every statistic reads one item at a time). Its values are 0, 1 and NaN,
    exact in any float ``dtype``: float32 halves the memory of a large report.
    """
    out = np.empty(np.shape(scores), dtype=dtype, order="F")
    for j, it in enumerate(key.items):
        out[:, j] = favourable_column(it, scores[:, j])
    return out


def favourable_column(item: ScoredItem, column: np.ndarray) -> np.ndarray:
    """One column of :func:`favourable`: an attitude item's scores turned into 1 (top two
    points) / 0 / NaN; any other item's scores as they are (the same array)."""
    if item.domain != "attitude":
        return column
    with np.errstate(invalid="ignore"):
        out = np.where(np.isnan(column), np.nan, column >= item.scale_points - 1)
    return out.astype(np.result_type(column.dtype, np.float32), copy=False)


def _mean_of_columns(columns: Iterable[np.ndarray], n: int) -> np.ndarray:
    """Row means of the non-missing values of ``columns`` (NaN for a row with none), in float64."""
    total, count = np.zeros(n), np.zeros(n)
    for col in columns:
        valid = ~np.isnan(col)
        total += np.where(valid, col, 0.0)
        count += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def domain_scores(key: ScoringKey, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Per-respondent knowledge, attitude and practice scores on 0-100 (NaN when no item applied)."""
    n = np.shape(scores)[0]
    out: dict[str, np.ndarray] = {}
    for domain in ("knowledge", "practice"):
        cols = key.columns(domain)
        if cols.size:
            out[domain] = 100.0 * _mean_of_columns((scores[:, j].astype(np.float64) for j in cols), n)
    cols = key.columns("attitude")
    if cols.size:
        out["attitude"] = _mean_of_columns(
            ((scores[:, j].astype(np.float64) - 1.0) / (key.items[j].scale_points - 1.0) * 100.0 for j in cols), n)
    return out


def exposure_dose(key: ScoringKey, scores: np.ndarray) -> np.ndarray:
    """How many exposure items each respondent answered yes (NaN if none was answered)."""
    cols = key.columns("exposure")
    n = np.shape(scores)[0]
    if not cols.size:
        return np.full(n, np.nan)
    total, answered = np.zeros(n), np.zeros(n, dtype=np.int64)
    for j in cols:
        col = scores[:, j]
        valid = ~np.isnan(col)
        total += np.where(valid, col, 0.0)
        answered += valid
    return np.where(answered > 0, total, np.nan)


@dataclass(frozen=True, slots=True)
class BloomCutoffs:
    """Knowledge levels: good at ``good`` and over, moderate from ``moderate``, poor below."""

    good: float = 80.0
    moderate: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.moderate < self.good <= 100:
            raise ValueError("cut-offs must satisfy 0 <= moderate < good <= 100")


def bloom_levels(knowledge: np.ndarray, cutoffs: BloomCutoffs = BloomCutoffs()) -> np.ndarray:
    """'good', 'moderate', 'poor' or '' (no score) for each knowledge score."""
    k = np.asarray(knowledge, dtype=np.float64)
    out = np.full(k.shape, "", dtype=object)
    with np.errstate(invalid="ignore"):
        out[k >= cutoffs.good] = "good"
        out[(k >= cutoffs.moderate) & (k < cutoffs.good)] = "moderate"
        out[k < cutoffs.moderate] = "poor"
    return out
