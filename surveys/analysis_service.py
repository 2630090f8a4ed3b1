"""Analysis from the database: score submissions once, load two waves as arrays, cache reports.

* Every submission's item scores are stored (``submission_score``) in the layout of the survey's
  current scoring key, computed with the key of the instrument version it was collected with.
  They are refreshed when the submission changes or the key does: a report only ever scores
  what is new.
* A report is cached with a fingerprint of what it was computed from (the submissions of its
  two waves, their statuses, the instrument and the survey's settings); when nothing changed
  the cached report is returned as it was.

Services take a ``Session`` and keyword-only arguments and never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import and_, delete, func, or_, select
from sqlmodel import Session, col

from web.accounts.models import utcnow

from .analysis import (
    DEFAULT_LONELY_PSU,
    LONELY_PSU_OPTIONS,
    AnalysisData,
    Coded,
    analyse,
    describe_entry,
    labels_for,
)
from .models import AnalysisCache, InstrumentVersion, Submission, SubmissionScore, Survey, Wave, WaveDesign
from .scoring import ScoringKey, score_answers, scoring_key
from . import privacy
from .frame_service import not_waiting, waiting
from .service import analysis_statuses
from .spec import InstrumentSpec, spec_from_dict

__all__ = [
    "BREAKDOWN_FIELDS",
    "AnalysisRequestError",
    "current_key",
    "get_report",
    "refresh_scores",
]

#: Respondent fields a report can be broken down by (besides any background item's code).
BREAKDOWN_FIELDS = ("segment", "region", "sex", "age_group", "arm", "stratum")
REPORT_FORMAT = 6  # bump when the report's shape or methods change: old cache entries are ignored
SCORE_BATCH = 2000
FETCH_BATCH = 20_000  # rows read from the database cursor at a time
_SEP = "\x1f"  # joins a row's text columns into one string (ASCII unit separator)


class AnalysisRequestError(ValueError):
    """The request names something that does not exist or cannot be compared; ``field`` names it."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class _Key:
    version_id: int
    spec: InstrumentSpec
    key: ScoringKey
    digest: str


def _digest(key: ScoringKey) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def _latest_version(session: Session, survey_id: int) -> InstrumentVersion:
    version = session.execute(
        select(InstrumentVersion).where(InstrumentVersion.survey_id == survey_id)
        .order_by(col(InstrumentVersion.version).desc()).limit(1)
    ).scalars().first()
    if version is None:
        raise AnalysisRequestError("This survey has no instrument yet.", field="survey_id")
    return version


def current_key(*, session: Session, survey_id: int) -> _Key:
    """The scoring key of the survey's latest instrument version."""
    version = _latest_version(session, survey_id)
    spec = spec_from_dict(version.spec)
    key = scoring_key(spec)
    return _Key(version.id, spec, key, _digest(key))


def refresh_scores(*, session: Session, survey_id: int, wave_ids: Sequence[int] | None = None) -> int:
    """Score the submissions that have no score row, an outdated one, or one from another key.

    Returns how many were (re)scored. Scores go in the layout of the current key; a submission
    collected with an older version is scored with that version's key and its columns placed
    by item code (NaN where the old version lacks the item).
    """
    target = current_key(session=session, survey_id=survey_id)
    conditions = [Submission.survey_id == survey_id]
    if wave_ids:
        conditions.append(col(Submission.wave_id).in_(list(wave_ids)))
    stale = (
        select(Submission.id, Submission.instrument_version_id, Submission.answers)
        .outerjoin(SubmissionScore, SubmissionScore.submission_id == Submission.id)
        .where(*conditions)
        .where(or_(col(SubmissionScore.submission_id).is_(None), SubmissionScore.key_digest != target.digest,
                   SubmissionScore.scored_at < Submission.updated_at))
        .order_by(Submission.id)
    )
    keys: dict[int, tuple[ScoringKey, np.ndarray]] = {}
    done = 0
    rows = session.execute(stale).all()
    for start in range(0, len(rows), SCORE_BATCH):
        batch = rows[start:start + SCORE_BATCH]
        ids = [r[0] for r in batch]
        session.execute(delete(SubmissionScore).where(col(SubmissionScore.submission_id).in_(ids)))
        now = utcnow()
        values = []
        for sub_id, version_id, answers in batch:
            if version_id not in keys:
                if version_id == target.version_id:
                    keys[version_id] = (target.key, np.arange(len(target.key.items)))
                else:
                    version = session.get(InstrumentVersion, version_id)
                    own = scoring_key(spec_from_dict(version.spec))
                    positions = np.array([own.codes.index(c) if c in own.codes else -1 for c in target.key.codes])
                    keys[version_id] = (own, positions)
            own, positions = keys[version_id]
            raw = score_answers(own, answers or {})
            row = np.where(positions >= 0, raw[np.maximum(positions, 0)], np.nan) if len(positions) else raw
            values.append({"submission_id": sub_id, "key_digest": target.digest,
                           "scores": row.astype(np.float32).tobytes(), "scored_at": now})
        if values:
            session.execute(SubmissionScore.__table__.insert(), values)
        done += len(batch)
    return done


def _wave(session: Session, survey_id: int, name: str, field: str) -> Wave:
    wave = session.execute(select(Wave).where(Wave.survey_id == survey_id, Wave.name == name)).scalars().first()
    if wave is None:
        names = session.execute(select(Wave.name).where(Wave.survey_id == survey_id).order_by(Wave.id)).scalars().all()
        raise AnalysisRequestError(f"There is no wave {name!r} in this survey; waves: {', '.join(names) or 'none'}.",
                                   field=field)
    return wave


def _fingerprint(session: Session, survey: Survey, waves: tuple[Wave, Wave], key: _Key) -> tuple[str, int]:
    """What the report depends on, hashed; and how many submissions the two waves hold."""
    count, last_update, last_id = session.execute(
        select(func.count(), func.max(Submission.updated_at), func.max(Submission.id))
        .where(Submission.survey_id == survey.id, col(Submission.wave_id).in_([w.id for w in waves]))
    ).one()
    parts = [REPORT_FORMAT, count, str(last_update), last_id, key.version_id, key.digest, survey.analysis_scope.value,
             [(w.id, w.design.value) for w in waves]]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest(), count


class _Labels:
    """Builds a :class:`Coded` column from batches of text values without keeping them."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.parts: list[np.ndarray] = []

    def add(self, values: Sequence[Any]) -> None:
        index = self.index
        for v in dict.fromkeys(values):
            if v not in index:
                index[v] = len(index)
        self.parts.append(np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values)))

    def coded(self, label=lambda v: v) -> Coded:
        """Levels sorted, as ``np.unique`` would give them."""
        raw = list(self.index)
        levels = sorted({label(v) for v in raw})
        position = {level: i for i, level in enumerate(levels)}
        lookup = np.array([position[label(v)] for v in raw], dtype=np.int32)
        codes = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int32)
        return Coded(lookup[codes], tuple(levels))


def compile_with_values(query, dialect) -> tuple[Any, dict[str, Any]]:
    """``query`` compiled for ``dialect``, with each parameter through its type's bind processor."""
    compiled = query.compile(dialect=dialect)
    values = {}
    for name, value in compiled.construct_params().items():
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        values[name] = process(value) if process is not None else value
    return compiled, values


def _fetch(session: Session, query) -> Any:
    """Run a Core select on the session's connection and return the DB-API cursor.

    Rows come back as plain tuples, without SQLAlchemy's per-row result objects and result
    processing: the caller reads integers, floats, text and bytes. Parameters still go
    through their types' bind processors (a JSON path, an enum). On PostgreSQL the cursor
    uses psycopg's binary protocol. The query must not use expanding parameters (``in_``).
    """
    connection = session.connection()
    dialect = connection.dialect
    compiled, values = compile_with_values(query, dialect)
    params = tuple(values[name] for name in compiled.positiontup) if compiled.positional else values
    raw = connection.connection.driver_connection
    cursor = raw.cursor(binary=True) if dialect.name == "postgresql" else raw.cursor()
    cursor.execute(str(compiled), params)
    return cursor


def _load(session: Session, survey: Survey, baseline: Wave, endline: Wave, key: _Key, by: str | None, *,
          expected: int = 0, joined: bool = True) -> AnalysisData:
    """The two waves as arrays, read straight from the database cursor in batches.

    The text columns of a row (cluster, stratum, arm and the breakdown field) come joined in
    one string (unless ``joined`` is False), coded once per batch; scores are float32 blobs
    written straight into one matrix, sized for ``expected`` rows (more if need be). A
    submission whose stored scores are missing or stale is scored on the way.
    """
    panel = baseline.design == WaveDesign.panel and endline.design == WaveDesign.panel
    text = [Submission.cluster, Submission.stratum, Submission.arm]
    by_item = by if by is not None and by not in BREAKDOWN_FIELDS else None
    if by is not None and by_item is None:
        text.append(getattr(Submission, by))
    if joined:
        together = text[0]
        for column in text[1:]:
            together = together + _SEP + column
        text_columns = [together]
    else:
        text_columns = text
    columns = [Submission.id, Submission.wave_id, Submission.weight, SubmissionScore.scores, *text_columns]
    extra = len(columns)
    if by_item is not None:
        columns.append(Submission.answers[by_item].as_string())
    if panel:
        columns.append(Submission.respondent_code)
    fresh = and_(SubmissionScore.submission_id == Submission.id, SubmissionScore.key_digest == key.digest,
                 SubmissionScore.scored_at >= Submission.updated_at)
    query = (
        select(*columns).outerjoin(SubmissionScore, fresh)
        .where(Submission.survey_id == survey.id,
               or_(Submission.wave_id == baseline.id, Submission.wave_id == endline.id),
               or_(*[Submission.status == status for status in analysis_statuses(survey)]),
               not_waiting())  # outside the sampling frame: waits for a supervisor (surveys.frame_service)
    )
    k = len(key.key.items)
    ids, waves, weights = [], [], []
    # one contiguous row per item (so one column per item of its transpose, what statistics read)
    scores_t = np.empty((k, max(expected, 1)), dtype=np.float32)
    n = 0
    stale: list[np.ndarray] = []
    labels = [_Labels() for _ in columns[4:]]  # the text columns, then the breakdown item and respondent
    missing = bytes(np.full(k, np.nan, dtype=np.float32).data)
    cursor = _fetch(session, query)
    try:
        while rows := cursor.fetchmany(FETCH_BATCH):
            m = len(rows)
            ids.append(np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=m))
            waves.append(np.fromiter(map(itemgetter(1), rows), dtype=np.int64, count=m))
            weights.append(np.fromiter(map(itemgetter(2), rows), dtype=np.float64, count=m))
            blobs = list(map(itemgetter(3), rows))
            if None in blobs:
                stale.append(ids[-1][np.array([b is None for b in blobs])])
                blobs = [missing if b is None else b for b in blobs]
            if n + m > scores_t.shape[1]:  # more than expected (new submissions meanwhile)
                scores_t = np.concatenate([scores_t[:, :n], np.empty((k, max(n + m, 2 * n)), dtype=np.float32)],
                                          axis=1)
            scores_t[:, n:n + m] = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(m, k).T
            n += m
            for i, column in enumerate(labels, start=4):
                column.add(list(map(itemgetter(i), rows)))
            del rows, blobs
    finally:
        cursor.close()
    scores = scores_t[:, :n].T
    row_ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    if stale:
        _score_stale(session, survey, [baseline.id, endline.id], key, np.concatenate(stale), row_ids, scores)

    if joined:
        parts = labels[0].coded()
        split = [level.split(_SEP) for level in parts.levels]
        if any(len(p) != len(text) for p in split):  # a label holds the separator itself
            return _load(session, survey, baseline, endline, key, by, expected=expected, joined=False)
        fields = [_part(parts, split, i) for i in range(len(text))]
    else:
        fields = [column.coded() for column in labels[:len(text)]]
    clusters, strata, arms = fields[:3]
    groups = {}
    if by is not None:
        groups[by] = fields[3] if by_item is None else labels[extra - 4].coded(lambda v: "" if v is None else str(v))
    return AnalysisData(
        key=key.key, wave=(np.concatenate(waves) == endline.id).astype(np.int8) if n else np.zeros(0, dtype=np.int8),
        scores=scores,
        weights=np.concatenate(weights) if n else np.array([]),
        clusters=clusters if set(clusters.present()) - {""} else None,
        strata=strata if len(set(strata.present()) - {""}) > 1 else None,
        respondent=labels[-1].coded(lambda v: v or "") if panel else None,
        arm=arms if set(arms.present()) - {""} else None,
        groups=groups,
        panel=panel,
    )


def _part(joined: Coded, split: list[list[str]], i: int) -> Coded:
    """Column ``i`` of text columns read joined (``split``: each joined level's parts)."""
    levels = sorted({p[i] for p in split})
    position = {level: j for j, level in enumerate(levels)}
    lookup = np.array([position[p[i]] for p in split], dtype=np.int32)
    return Coded(lookup[joined.codes], tuple(levels))


def _score_stale(session: Session, survey: Survey, wave_ids: list[int], key: _Key, stale: np.ndarray,
                 row_ids: np.ndarray, scores: np.ndarray) -> None:
    """Score the submissions whose stored scores were missing or stale, and put them in place."""
    refresh_scores(session=session, survey_id=survey.id, wave_ids=wave_ids)
    order = np.argsort(row_ids, kind="stable")
    k = scores.shape[1]
    for start in range(0, len(stale), SCORE_BATCH):
        batch = [int(i) for i in stale[start:start + SCORE_BATCH]]
        found = session.execute(
            select(SubmissionScore.submission_id, SubmissionScore.scores)
            .where(col(SubmissionScore.submission_id).in_(batch), SubmissionScore.key_digest == key.digest)
        ).all()
        if found:
            rows = order[np.searchsorted(row_ids, [sub_id for sub_id, _ in found], sorter=order)]
            scores[rows] = np.frombuffer(b"".join(blob for _, blob in found), dtype=np.float32).reshape(len(found), k)


_WAITING_REASON = {"stratum": "stratum is not in the sampling frame",
                   "cluster": "cluster is not in the sampling frame",
                   "weight": "weight differs from the sampling frame's"}


def _waiting(session: Session, survey: Survey, waves: tuple[Wave, Wave]) -> dict[str, Any]:
    """The interviews the report leaves out until a supervisor decides, with a sentence per reason:
    "3 interviews wait for a supervisor: their cluster is not in the sampling frame"."""
    by_field = waiting(session=session, survey_id=survey.id, wave_ids=[w.id for w in waves],
                       statuses=analysis_statuses(survey))
    messages = []
    for name, n in sorted(by_field.items()):
        reason = _WAITING_REASON.get(name, _WAITING_REASON["cluster"])
        messages.append(f"{n} interviews wait for a supervisor: their {reason}" if n != 1
                        else f"1 interview waits for a supervisor: its {reason}")
    return {"count": sum(by_field.values()), "by_field": by_field, "messages": messages}


def _item_labels(spec: InstrumentSpec, language: str) -> dict[str, str]:
    out = {}
    for item in spec.items():
        labels = item.labels or {}
        out[item.code] = labels.get(language) or labels.get(spec.default_language) or next(iter(labels.values()), item.code)
    return out


def get_report(
    *,
    session: Session,
    survey_id: int,
    baseline: str,
    endline: str,
    by: str | None = None,
    correction: str = "holm",
    language: str = "en",
    lonely_psu: str = DEFAULT_LONELY_PSU,
    use_cache: bool = True,
) -> dict:
    """The KAP-shift report of ``survey_id`` between two waves (by name), cached.

    ``lonely_psu`` is how strata with a single cluster are treated (R's
    ``survey.lonely.psu``; default ``"adjust"``, see :mod:`surveys.analysis`).

    Raises AnalysisRequestError naming the parameter at fault.
    """
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise AnalysisRequestError(f"There is no survey {survey_id}.", field="survey_id")
    if correction not in ("holm", "bh"):
        raise AnalysisRequestError("correction must be holm or bh.", field="correction")
    if lonely_psu not in LONELY_PSU_OPTIONS:
        raise AnalysisRequestError(f"lonely_psu must be one of {', '.join(LONELY_PSU_OPTIONS)}.", field="lonely_psu")
    if baseline == endline:
        raise AnalysisRequestError("Choose two different waves to compare.", field="endline")
    waves = (_wave(session, survey.id, baseline, "baseline"), _wave(session, survey.id, endline, "endline"))
    key = current_key(session=session, survey_id=survey.id)
    personal = privacy.personal_codes(key.spec.items())
    if by is not None and by in personal:
        raise AnalysisRequestError(
            f"Cannot break down by {by!r}: it is personal data (marked personal in the form), and a breakdown would show "
            "each respondent's value. Choose a segment, a region or another background item.", field="by")
    item_codes = {it.code for it in key.spec.items()
                  if (it.kap_domain == "background" or it.type in ("single_choice", "yes_no_dk")) and it.code not in personal}
    if by is not None and by not in BREAKDOWN_FIELDS and by not in item_codes:
        raise AnalysisRequestError(
            f"Cannot break down by {by!r}: choose one of {', '.join(BREAKDOWN_FIELDS)} or a background item's code.",
            field="by")
    # Nothing changed since the cached report: return it without touching the submissions.
    # Otherwise _load scores whatever is new or changed on the way.
    fingerprint, submissions = _fingerprint(session, survey, waves, key)
    params = json.dumps([survey.id, baseline, endline, by, correction, language, lonely_psu])
    params_key = hashlib.sha256(params.encode()).hexdigest()
    cached = session.execute(select(AnalysisCache).where(AnalysisCache.params_key == params_key)).scalars().first()
    if use_cache and cached is not None and cached.fingerprint == fingerprint:
        return cached.report
    data = _load(session, survey, waves[0], waves[1], key, by, expected=submissions)
    report = analyse(data, by=by, correction=correction, lonely_psu=lonely_psu, wave_names=(baseline, endline))
    labels = labels_for(key.key, _item_labels(key.spec, language))
    for section in [report, *report.get("groups", [])]:
        for entry in section["items"] + section["domains"]:
            entry["label"] = labels.get(entry["code"], entry["code"])
            entry["sentence"] = describe_entry(entry, entry["label"], correction)
    report = {"survey_id": survey.id, "survey": survey.title, "baseline": baseline, "endline": endline, "by": by,
              **report, "waiting": _waiting(session, survey, waves), "computed_at": utcnow().isoformat(timespec="seconds")}
    if cached is None:
        session.add(AnalysisCache(survey_id=survey.id, params_key=params_key, fingerprint=fingerprint, report=report))
    else:
        cached.fingerprint, cached.report, cached.computed_at = fingerprint, report, utcnow()
        session.add(cached)
    return report
