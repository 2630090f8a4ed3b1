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

import numpy as np
from sqlalchemy import and_, delete, func, or_, select
from sqlmodel import Session, col

from web.accounts.models import utcnow

from .analysis import AnalysisData, analyse, describe_entry, labels_for
from .models import AnalysisCache, InstrumentVersion, Submission, SubmissionScore, Survey, Wave, WaveDesign
from .scoring import ScoringKey, score_answers, scoring_key
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
REPORT_FORMAT = 3  # bump when the report's shape or methods change: old cache entries are ignored
SCORE_BATCH = 2000


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


def _fingerprint(session: Session, survey: Survey, waves: tuple[Wave, Wave], key: _Key) -> str:
    count, last_update, last_id = session.execute(
        select(func.count(), func.max(Submission.updated_at), func.max(Submission.id))
        .where(Submission.survey_id == survey.id, col(Submission.wave_id).in_([w.id for w in waves]))
    ).one()
    parts = [REPORT_FORMAT, count, str(last_update), last_id, key.version_id, key.digest, survey.analysis_scope.value,
             [(w.id, w.design.value) for w in waves]]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _load(session: Session, survey: Survey, baseline: Wave, endline: Wave, key: _Key, by: str | None) -> AnalysisData:
    columns = [Submission.wave_id, Submission.weight, Submission.cluster, Submission.stratum, Submission.respondent_code,
               Submission.arm, SubmissionScore.scores]
    group_fields = [f for f in BREAKDOWN_FIELDS if f in ("segment", "region", "sex", "age_group")]
    columns += [getattr(Submission, f) for f in group_fields]
    by_item = by if by is not None and by not in BREAKDOWN_FIELDS else None
    if by_item is not None:
        columns.append(Submission.answers[by_item].as_string())
    query = (
        select(*columns)
        .join(SubmissionScore, and_(SubmissionScore.submission_id == Submission.id, SubmissionScore.key_digest == key.digest))
        .where(Submission.survey_id == survey.id, col(Submission.wave_id).in_([baseline.id, endline.id]),
               col(Submission.status).in_(analysis_statuses(survey)))
        .order_by(Submission.id)
    )
    rows = session.execute(query).all()
    n, k = len(rows), len(key.key.items)
    if n:
        cols = list(zip(*rows))
        scores = np.frombuffer(b"".join(cols[6]), dtype=np.float32).reshape(n, k).astype(np.float64)
    else:
        cols = [()] * len(columns)
        scores = np.empty((0, k))
    wave = (np.asarray(cols[0], dtype=np.int64) == endline.id).astype(np.int8)
    obj = lambda i: np.array(cols[i], dtype=object) if n else np.array([], dtype=object)  # noqa: E731
    groups = {f: obj(7 + i) for i, f in enumerate(group_fields)}
    groups["arm"] = obj(5)
    groups["stratum"] = obj(3)
    if by_item is not None:
        groups[by_item] = np.array(["" if v is None else str(v) for v in cols[-1]], dtype=object) if n else obj(0)
    clusters = obj(2)
    strata = obj(3)
    arms = obj(5)
    return AnalysisData(
        key=key.key, wave=wave, scores=scores,
        weights=np.asarray(cols[1], dtype=np.float64) if n else np.array([]),
        clusters=clusters if n and np.any(clusters != "") else None,
        strata=strata if n and len(set(strata.tolist()) - {""}) > 1 else None,
        respondent=obj(4),
        arm=arms if n and np.any(arms != "") else None,
        groups=groups,
        panel=baseline.design == WaveDesign.panel and endline.design == WaveDesign.panel,
    )


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
    use_cache: bool = True,
) -> dict:
    """The KAP-shift report of ``survey_id`` between two waves (by name), cached.

    Raises AnalysisRequestError naming the parameter at fault.
    """
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise AnalysisRequestError(f"There is no survey {survey_id}.", field="survey_id")
    if correction not in ("holm", "bh"):
        raise AnalysisRequestError("correction must be holm or bh.", field="correction")
    if baseline == endline:
        raise AnalysisRequestError("Choose two different waves to compare.", field="endline")
    waves = (_wave(session, survey.id, baseline, "baseline"), _wave(session, survey.id, endline, "endline"))
    key = current_key(session=session, survey_id=survey.id)
    item_codes = {it.code for it in key.spec.items() if it.kap_domain == "background" or it.type in ("single_choice", "yes_no_dk")}
    if by is not None and by not in BREAKDOWN_FIELDS and by not in item_codes:
        raise AnalysisRequestError(
            f"Cannot break down by {by!r}: choose one of {', '.join(BREAKDOWN_FIELDS)} or a background item's code.",
            field="by")
    refresh_scores(session=session, survey_id=survey.id, wave_ids=[w.id for w in waves])
    fingerprint = _fingerprint(session, survey, waves, key)
    params = json.dumps([survey.id, baseline, endline, by, correction, language])
    params_key = hashlib.sha256(params.encode()).hexdigest()
    cached = session.execute(select(AnalysisCache).where(AnalysisCache.params_key == params_key)).scalars().first()
    if use_cache and cached is not None and cached.fingerprint == fingerprint:
        return cached.report
    data = _load(session, survey, waves[0], waves[1], key, by)
    report = analyse(data, by=by, correction=correction)
    labels = labels_for(key.key, _item_labels(key.spec, language))
    for section in [report, *report.get("groups", [])]:
        for entry in section["items"] + section["domains"]:
            entry["label"] = labels.get(entry["code"], entry["code"])
            entry["sentence"] = describe_entry(entry, entry["label"], correction)
    report = {"survey_id": survey.id, "survey": survey.title, "baseline": baseline, "endline": endline, "by": by,
              **report, "computed_at": utcnow().isoformat(timespec="seconds")}
    if cached is None:
        session.add(AnalysisCache(survey_id=survey.id, params_key=params_key, fingerprint=fingerprint, report=report))
    else:
        cached.fingerprint, cached.report, cached.computed_at = fingerprint, report, utcnow()
        session.add(cached)
    return report
