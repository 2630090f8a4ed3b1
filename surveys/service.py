"""Queries and commands of the surveys package.

Every function is keyword-only, takes a ``Session`` and never commits: it adds and flushes,
and the route, job or CLI command that owns the unit of work commits (or rolls back).
Creations, updates, reviews and deletions add an audit event to the same session.

Public API (stable: the data-entry form, imports and exports call it)
---------------------------------------------------------------------

Surveys and instrument versions::

    create_survey(*, session, spec: InstrumentSpec, actor: User | None, title=None, description="", ip="") -> Survey
    create_survey_from_xlsform(*, session, data: bytes, actor, title=None, description="", ip="") -> Survey
        # raises surveys.xlsform.XLSFormError (problems by sheet/row/column); nothing is added
    create_survey_from_dict(*, session, spec_dict: dict, actor, title=None, description="", ip="") -> Survey
        # raises SpecInvalid
    update_survey(*, session, survey, survey_update: SurveyUpdate, actor, ip="") -> Survey
    delete_survey(*, session, survey, actor, ip="") -> None          # SurveyError once it has submissions
    list_surveys(*, session) -> list[Survey]
    get_survey(*, session, survey_id: int) -> Survey | None
    add_version(*, session, survey, spec: InstrumentSpec, actor, note="", ip="") -> InstrumentVersion
    add_version_from_xlsform(*, session, survey, data: bytes, actor, note="", ip="") -> InstrumentVersion
    add_version_from_dict(*, session, survey, spec_dict: dict, actor, note="", ip="") -> InstrumentVersion
    list_versions(*, session, survey) -> list[InstrumentVersion]           # oldest first
    latest_version(*, session, survey) -> InstrumentVersion
    get_version(*, session, survey, version: int) -> InstrumentVersion | None   # by number
    version_spec(version: InstrumentVersion) -> InstrumentSpec             # cached: versions never change
    version_xlsform(version: InstrumentVersion) -> bytes
    submission_counts_by_version(*, session, survey) -> dict[int, int]     # version id -> submissions

Versions are immutable: there is no function that changes one. A new spec always makes a
new version (number + 1); submissions keep the version they were collected with.

Waves::

    create_wave(*, session, survey, wave_create: WaveCreate, actor, ip="") -> Wave
    update_wave(*, session, wave, wave_update: WaveUpdate, actor, ip="") -> Wave
    delete_wave(*, session, wave, actor, ip="") -> None              # SurveyError once it has submissions
    list_waves(*, session, survey) -> list[Wave]
    get_wave(*, session, survey, wave: str | int) -> Wave | None     # by id or by name

Submissions::

    submit(*, session, survey, wave, payload: SubmissionIn | Mapping, enumerator: User | None,
           source="web", ip="", audit=True, today=None) -> tuple[Submission, bool]
        # (submission, created). See its docstring: idempotent by uuid, SubmissionConflictError,
        # SubmissionInvalid (-> 422), safe under concurrency.
    correct_submission(*, session, submission, correction: SubmissionCorrection, actor, ip="") -> Submission
    review_submissions(*, session, submissions, status, comment, actor, ip="") -> list[Submission]
    get_submission(*, session, submission_id, viewer: User) -> Submission | None   # None when not visible
    list_submissions(*, session, viewer, filters=SubmissionFilter(), offset=0, limit=50) -> SubmissionPage
    submission_public(*, session, submissions, viewer, detail) -> list[SubmissionPublic]  # personal answers: surveys.privacy
    list_revisions(*, session, submission) -> list[SubmissionRevision]              # oldest first
    flag_summary(*, session, viewer, filters=SubmissionFilter()) -> list[EnumeratorFlags]
    status_counts(*, session, survey, viewer=None) -> dict[tuple[int, SubmissionStatus], int]
    submission_design(source, wave_id, version_id) -> dict   # what submit() hashes with the answers
    quality_settings(survey) -> rules.QualitySettings         # the thresholds submit() flags with
    DESIGN_FIELDS                                             # design fields copied from a payload
    can_see_all(user) -> bool               # supervisors, leads, admins; others see their own only
    can_correct(submission, user) -> bool   # its enumerator, while received or has_issues
    analysis_statuses(survey) -> tuple[SubmissionStatus, ...]   # what analyses count (analysis_scope)

Conflicts::

    list_conflicts(*, session, survey_id=None, include_resolved=False) -> list[SubmissionConflict]
    resolve_conflict(*, session, conflict, actor, note="", ip="") -> SubmissionConflict

Errors (all ``SurveyError``, a ``ValueError`` with ``message`` and ``status_code``)::

    SurveyError               400 (403 for "not yours")
    SpecInvalid               422, ``problems``: list[str]
    SubmissionInvalid         422, ``problems``: list[rules.AnswerProblem] (item code + why)
    WaveClosed                422, a SubmissionInvalid
    SubmissionConflictError   409, ``conflict`` (the SubmissionConflict added to the session: COMMIT it)
                              and ``existing`` (the stored Submission)
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import String, case, cast, func
from sqlmodel import Session, col, select

from surveys import frame_service, privacy, rules
from surveys.frame import Frame
from surveys.models import (
    AnalysisScope,
    InstrumentVersion,
    Submission,
    SubmissionConflict,
    SubmissionCorrection,
    SubmissionIn,
    SubmissionPublic,
    SubmissionRevision,
    SubmissionStatus,
    Survey,
    SurveyUpdate,
    Wave,
    WaveCreate,
    WaveUpdate,
)
from surveys.spec import InstrumentSpec, spec_from_dict, spec_to_dict
from web.accounts.models import Role, User, utcnow
from web.accounts.permissions import allowed
from web.accounts.service import record_audit
from web.db import insert_now

__all__ = [
    "DESIGN_FIELDS",
    "LENIENT_SOURCES",
    "SOURCES",
    "EnumeratorFlags",
    "SpecInvalid",
    "SubmissionConflictError",
    "SubmissionFilter",
    "SubmissionInvalid",
    "SubmissionPage",
    "SurveyError",
    "WaveClosed",
    "accept_conflict",
    "add_version",
    "add_version_from_dict",
    "add_version_from_xlsform",
    "analysis_statuses",
    "can_correct",
    "can_see_all",
    "correct_submission",
    "create_survey",
    "create_survey_from_dict",
    "create_survey_from_xlsform",
    "create_wave",
    "delete_survey",
    "delete_wave",
    "flag_summary",
    "get_submission",
    "get_survey",
    "get_version",
    "get_wave",
    "latest_version",
    "list_conflicts",
    "list_revisions",
    "list_submissions",
    "list_surveys",
    "list_versions",
    "list_waves",
    "resolve_conflict",
    "review_submissions",
    "status_counts",
    "quality_settings",
    "submission_counts_by_version",
    "submission_design",
    "submission_public",
    "complete_from_frame",
    "design_flags",
    "submit",
    "update_survey",
    "update_wave",
    "version_spec",
    "version_xlsform",
]

#: Where a submission can come from.
SOURCES = frozenset({"web", "api", "import", "kobo", "odk"})
#: Sources of data collected elsewhere (ODK Collect: offline, on the form's own checks): constraints are
#: flagged, not refused, and closed waves accept them.
LENIENT_SOURCES = frozenset({"import", "kobo", "odk"})
#: Statuses a supervisor may set (``received`` comes back only with a correction).
REVIEW_STATUSES = (SubmissionStatus.approved, SubmissionStatus.has_issues, SubmissionStatus.rejected)
#: The design and background fields a submission copies from its payload (and hashes with its answers).
DESIGN_FIELDS = ("language", "segment", "region", "cluster", "stratum", "weight", "respondent_code", "arm",
                 "sex", "age_group")
_DESIGN_FIELDS = DESIGN_FIELDS  # the earlier private name, still used by surveys.import_jobs


# --- errors -------------------------------------------------------------------------------


class SurveyError(ValueError):
    """Something the user asked for cannot be done; ``message`` says why."""

    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None):
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        super().__init__(message)


class SpecInvalid(SurveyError):
    """An instrument given as JSON is not usable; ``problems`` lists why."""

    status_code = 422

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the instrument: " + "; ".join(self.problems))


class SubmissionInvalid(SurveyError):
    """A submission cannot be stored; ``problems`` names each item (or field) and why. Nothing was added."""

    status_code = 422

    def __init__(self, problems: Sequence[rules.AnswerProblem]):
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the submission: "
                         + "; ".join(str(p) for p in self.problems))


class WaveClosed(SubmissionInvalid):
    """The wave no longer takes submissions from the field."""

    def __init__(self, wave: Wave):
        super().__init__([rules.AnswerProblem("wave", f"wave {wave.name!r} is closed to new submissions; "
                                                      "ask a supervisor to reopen it")])


class SubmissionConflictError(SurveyError):
    """The uuid exists with other content: the resend was kept aside as ``conflict`` (commit it!)."""

    status_code = 409

    def __init__(self, conflict: SubmissionConflict, existing: Submission):
        self.conflict = conflict
        self.existing = existing
        super().__init__(
            f"A submission with uuid {existing.uuid} was already received with different answers. "
            f"This version was not stored but kept aside for a supervisor (conflict {conflict.id}); "
            "to change a submission, correct it instead of sending it again."
        )


# --- who sees what --------------------------------------------------------------------------


def can_see_all(user: User) -> bool:
    """Supervisors, leads and admins see every submission; enumerators (and others) only their own."""
    return allowed(user.role, "surveys.review") or allowed(user.role, "surveys.design")


def can_correct(submission: Submission, user: User) -> bool:
    """Only the enumerator who sent it corrects it, while it is received or sent back."""
    return (submission.enumerator_id is not None and submission.enumerator_id == user.id
            and submission.status in (SubmissionStatus.received, SubmissionStatus.has_issues))


def analysis_statuses(survey: Survey) -> tuple[SubmissionStatus, ...]:
    """The statuses analyses of ``survey`` count, per its ``analysis_scope``."""
    if survey.analysis_scope == AnalysisScope.approved:
        return (SubmissionStatus.approved,)
    return (SubmissionStatus.received, SubmissionStatus.has_issues, SubmissionStatus.approved)


# --- surveys and versions -------------------------------------------------------------------


def _audit(session: Session, actor: User | None, action: str, entity: Any, summary: str, ip: str = "",
           details: dict | None = None) -> None:
    record_audit(session=session, actor=actor, action=action, entity_type=type(entity).__tablename__,
                 entity_id=entity.id, summary=summary, details=details, ip=ip,
                 actor_name=None if actor else "system")


def _check(spec: InstrumentSpec) -> None:
    problems = rules.check_spec(spec)
    if problems:
        raise SpecInvalid(problems)


def _spec_from_dict(spec_dict: Any) -> InstrumentSpec:
    try:
        spec = spec_from_dict(spec_dict)
    except (ValueError, TypeError) as err:
        raise SpecInvalid([str(err)]) from None
    _check(spec)
    return spec


def create_survey(*, session: Session, spec: InstrumentSpec, actor: User | None, title: str | None = None,
                  description: str = "", ip: str = "") -> Survey:
    """A new survey with ``spec`` as its version 1. ``title`` defaults to the spec's title."""
    title = (title or spec.title or "Untitled survey").strip()[:200]
    survey = Survey(title=title, description=description[:4000], created_by_id=actor.id if actor else None)
    session.add(survey)
    session.flush()
    version = _add_version(session, survey, spec, actor, note="")
    _audit(session, actor, "survey.create", survey, f"Created survey {survey.title!r} (version 1, "
           f"{sum(1 for _ in spec.items())} items)", ip, {"version_id": version.id})
    return survey


def create_survey_from_xlsform(*, session: Session, data: bytes, actor: User | None, title: str | None = None,
                               description: str = "", ip: str = "") -> Survey:
    """Read an XLSForm and create the survey; ``XLSFormError`` lists every problem and nothing is added."""
    from surveys.xlsform import read_xlsform  # noqa: PLC0415

    spec = read_xlsform(data, title=title or None)
    return create_survey(session=session, spec=spec, actor=actor, title=title, description=description, ip=ip)


def create_survey_from_dict(*, session: Session, spec_dict: Any, actor: User | None, title: str | None = None,
                            description: str = "", ip: str = "") -> Survey:
    """Create a survey from a spec in ``spec_to_dict`` layout; ``SpecInvalid`` if it is not usable."""
    spec = _spec_from_dict(spec_dict)
    return create_survey(session=session, spec=spec, actor=actor, title=title, description=description, ip=ip)


def update_survey(*, session: Session, survey: Survey, survey_update: SurveyUpdate, actor: User | None,
                  ip: str = "") -> Survey:
    """Change a survey's title, description, analysis scope or quality thresholds."""
    changes = {}
    for key, value in survey_update.model_dump(exclude_unset=True).items():
        if value is None:
            continue
        if isinstance(value, str):
            value = value.strip()
        old = getattr(survey, key)
        if old != value:
            changes[key] = [getattr(old, "value", old), getattr(value, "value", value)]
            setattr(survey, key, value)
    if changes:
        session.add(survey)
        session.flush()
        _audit(session, actor, "survey.update", survey, f"Changed {', '.join(changes)} of survey {survey.title!r}", ip,
               {"changes": changes})
    return survey


def _count(session: Session, *where: Any) -> int:
    return session.exec(select(func.count()).select_from(Submission).where(*where)).one()


def delete_survey(*, session: Session, survey: Survey, actor: User | None, ip: str = "") -> None:
    """Delete a survey with its versions and waves; refused once it has submissions."""
    n = _count(session, Submission.survey_id == survey.id)
    if n:
        raise SurveyError(f"Survey {survey.title!r} has {n} submissions: it cannot be deleted.")
    _audit(session, actor, "survey.delete", survey, f"Deleted survey {survey.title!r}", ip)
    for conflict in session.exec(select(SubmissionConflict).where(SubmissionConflict.survey_id == survey.id)):
        session.delete(conflict)
    for wave in list_waves(session=session, survey=survey):
        session.delete(wave)
    for version in list_versions(session=session, survey=survey):
        session.delete(version)
    session.flush()
    session.delete(survey)
    session.flush()


def list_surveys(*, session: Session) -> list[Survey]:
    return list(session.exec(select(Survey).order_by(col(Survey.created_at).desc(), col(Survey.id).desc())).all())


def get_survey(*, session: Session, survey_id: int) -> Survey | None:
    return session.get(Survey, survey_id)


def _add_version(session: Session, survey: Survey, spec: InstrumentSpec, actor: User | None, note: str) -> InstrumentVersion:
    current = session.exec(select(func.max(InstrumentVersion.version)).where(InstrumentVersion.survey_id == survey.id)).one()
    version = InstrumentVersion(
        survey_id=survey.id, version=(current or 0) + 1, title=spec.title[:200] or survey.title,
        spec=spec_to_dict(spec), note=note[:1000], created_by_id=actor.id if actor else None,
    )
    session.add(version)
    session.flush()
    return version


def add_version(*, session: Session, survey: Survey, spec: InstrumentSpec, actor: User | None, note: str = "",
                ip: str = "") -> InstrumentVersion:
    """A new instrument version (number + 1); earlier versions and their submissions are untouched."""
    version = _add_version(session, survey, spec, actor, note)
    _audit(session, actor, "instrument.create", version,
           f"Added version {version.version} of survey {survey.title!r}", ip, {"survey_id": survey.id})
    return version


def add_version_from_xlsform(*, session: Session, survey: Survey, data: bytes, actor: User | None, note: str = "",
                             ip: str = "") -> InstrumentVersion:
    """Read an XLSForm as a new version; ``XLSFormError`` lists every problem and nothing is added."""
    from surveys.xlsform import read_xlsform  # noqa: PLC0415

    spec = read_xlsform(data)
    return add_version(session=session, survey=survey, spec=spec, actor=actor, note=note, ip=ip)


def add_version_from_dict(*, session: Session, survey: Survey, spec_dict: Any, actor: User | None, note: str = "",
                          ip: str = "") -> InstrumentVersion:
    spec = _spec_from_dict(spec_dict)
    return add_version(session=session, survey=survey, spec=spec, actor=actor, note=note, ip=ip)


def list_versions(*, session: Session, survey: Survey) -> list[InstrumentVersion]:
    return list(session.exec(select(InstrumentVersion).where(InstrumentVersion.survey_id == survey.id)
                             .order_by(col(InstrumentVersion.version))).all())


def latest_version(*, session: Session, survey: Survey) -> InstrumentVersion:
    version = session.exec(select(InstrumentVersion).where(InstrumentVersion.survey_id == survey.id)
                           .order_by(col(InstrumentVersion.version).desc()).limit(1)).first()
    if version is None:  # pragma: no cover - every survey is created with version 1
        raise SurveyError(f"Survey {survey.id} has no instrument.")
    return version


def get_version(*, session: Session, survey: Survey, version: int) -> InstrumentVersion | None:
    return session.exec(select(InstrumentVersion).where(InstrumentVersion.survey_id == survey.id,
                                                        InstrumentVersion.version == version)).first()


def version_spec(version: InstrumentVersion) -> InstrumentSpec:
    """The version's InstrumentSpec (cached per version: a version never changes)."""
    return _spec_cache_get(_spec_key(version.id, version.created_at), version.spec)


_SPECS: dict[tuple[int, str], InstrumentSpec] = {}


_VERSION_NUMBERS = "konbit.version_numbers"  # session.info key: {version id: version number} seen in this session


def _version_ref(session: Session, *where: Any) -> tuple[int, _dt.datetime | None] | None:
    """(id, created_at) of the newest instrument version matching ``where``, without its spec.
    Its number is remembered for the session (:func:`submission_public` needs no query for it)."""
    found = session.exec(select(InstrumentVersion.id, InstrumentVersion.created_at, InstrumentVersion.version)
                         .where(*where).order_by(col(InstrumentVersion.version).desc()).limit(1)).first()
    if found is None:
        return None
    session.info.setdefault(_VERSION_NUMBERS, {})[found[0]] = found[2]
    return found[0], found[1]


def _spec_key(version_id: int | None, created_at: _dt.datetime | None) -> tuple[int, str]:
    return version_id or 0, created_at.isoformat() if created_at else ""


def _spec_of(session: Session, ref: tuple[int, _dt.datetime | None]) -> InstrumentSpec:
    """The spec of a version found by :func:`_version_ref`: its JSON is read and parsed only once."""
    spec = _SPECS.get(_spec_key(*ref))
    return spec if spec is not None else version_spec(session.get(InstrumentVersion, ref[0]))


def _version_for(session: Session, survey: Survey, number: int | None,
                 current_id: int | None) -> tuple[int, InstrumentSpec]:
    """(id, spec) of the version an interview names by ``number``, else ``current_id`` (what a
    stored submission was collected with), else the survey's latest."""
    if number is not None:
        ref = _version_ref(session, InstrumentVersion.survey_id == survey.id, InstrumentVersion.version == number)
        if ref is None:
            raise SubmissionInvalid([rules.AnswerProblem("version", f"survey {survey.id} has no version {number}")])
    elif current_id is not None:
        ref = _version_ref(session, InstrumentVersion.id == current_id)
    else:
        ref = _version_ref(session, InstrumentVersion.survey_id == survey.id)
    if ref is None:  # pragma: no cover - every survey is created with version 1, and versions are never deleted
        raise SurveyError(f"Survey {survey.id} has no instrument.")
    return ref[0], _spec_of(session, ref)


def _spec_cache_get(key: tuple[int, str], data: dict) -> InstrumentSpec:
    spec = _SPECS.get(key)
    if spec is None:
        spec = spec_from_dict(data)
        if len(_SPECS) > 256:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def version_xlsform(version: InstrumentVersion) -> bytes:
    """The version as an XLSForm (``.xlsx`` bytes) that ODK Collect and KoboCollect accept."""
    from surveys.xlsform import write_xlsform  # noqa: PLC0415

    return write_xlsform(version_spec(version))


def submission_counts_by_version(*, session: Session, survey: Survey) -> dict[int, int]:
    rows = session.exec(select(Submission.instrument_version_id, func.count()).where(Submission.survey_id == survey.id)
                        .group_by(Submission.instrument_version_id)).all()
    return {vid: n for vid, n in rows}


# --- waves ----------------------------------------------------------------------------------


def _wave_name_taken(session: Session, survey_id: int, name: str, exclude: int | None = None) -> bool:
    query = select(Wave.id).where(Wave.survey_id == survey_id, func.lower(Wave.name) == name.lower())
    if exclude is not None:
        query = query.where(Wave.id != exclude)
    return session.exec(query).first() is not None


def create_wave(*, session: Session, survey: Survey, wave_create: WaveCreate, actor: User | None, ip: str = "") -> Wave:
    """A new wave; its name must be unique in the survey."""
    if _wave_name_taken(session, survey.id, wave_create.name):
        raise SurveyError(f"Survey {survey.title!r} already has a wave named {wave_create.name!r}.")
    wave = Wave(survey_id=survey.id, **wave_create.model_dump())
    session.add(wave)
    session.flush()
    _audit(session, actor, "wave.create", wave, f"Added wave {wave.name!r} ({wave.kind.value}, {wave.design.value}) "
           f"to survey {survey.title!r}", ip)
    return wave


def update_wave(*, session: Session, wave: Wave, wave_update: WaveUpdate, actor: User | None, ip: str = "") -> Wave:
    """Change a wave: name, kind, design, dates, open or closed, notes."""
    data = wave_update.model_dump(exclude_unset=True)
    for key in ("name", "kind", "design", "is_open", "notes"):
        if key in data and data[key] is None:
            del data[key]
    if "name" in data and _wave_name_taken(session, wave.survey_id, data["name"], exclude=wave.id):
        raise SurveyError(f"This survey already has a wave named {data['name']!r}.")
    starts = data.get("starts_on", wave.starts_on)
    ends = data.get("ends_on", wave.ends_on)
    if starts and ends and ends < starts:
        raise SurveyError("The wave cannot end before it starts.")
    changes = {}
    for key, value in data.items():
        old = getattr(wave, key)
        if old != value:
            changes[key] = [_jsonable(old), _jsonable(value)]
            setattr(wave, key, value)
    if changes:
        session.add(wave)
        session.flush()
        _audit(session, actor, "wave.update", wave, f"Changed {', '.join(changes)} of wave {wave.name!r}", ip,
               {"changes": changes})
    return wave


def _jsonable(value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return getattr(value, "value", value)


def delete_wave(*, session: Session, wave: Wave, actor: User | None, ip: str = "") -> None:
    """Delete a wave; refused once it has submissions."""
    n = _count(session, Submission.wave_id == wave.id)
    if n:
        raise SurveyError(f"Wave {wave.name!r} has {n} submissions: close it instead of deleting it.")
    _audit(session, actor, "wave.delete", wave, f"Deleted wave {wave.name!r}", ip, {"survey_id": wave.survey_id})
    session.delete(wave)
    session.flush()


def list_waves(*, session: Session, survey: Survey) -> list[Wave]:
    return list(session.exec(select(Wave).where(Wave.survey_id == survey.id)
                             .order_by(col(Wave.starts_on).is_(None), col(Wave.starts_on), col(Wave.id))).all())


def _as_id(value: str | int) -> int | None:
    """``value`` as a database id: an int, or a string of ASCII digits, within 64 bits."""
    if isinstance(value, str):
        value = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else -1
    return value if 0 <= value < 2**63 else None


def get_wave(*, session: Session, survey: Survey, wave: str | int) -> Wave | None:
    """The survey's wave with this id (an int, or a string of digits) or this name."""
    wave_id = _as_id(wave)
    if wave_id is not None:
        found = session.get(Wave, wave_id)
        if found is not None and found.survey_id == survey.id:
            return found
    if isinstance(wave, int):
        return None
    return session.exec(select(Wave).where(Wave.survey_id == survey.id, func.lower(Wave.name) == str(wave).lower())).first()


def get_survey_wave(*, session: Session, survey_id: int, wave: str | int) -> tuple[Survey, Wave] | None:
    """The survey and its wave with this id (an int, or a string of digits) or name, in one query;
    None when either is missing (:func:`get_survey` and :func:`get_wave` then tell which, and a
    wave whose name is digits is found by name)."""
    wave_id = _as_id(wave)
    if isinstance(wave, int) and wave_id is None:
        return None
    found = session.exec(select(Survey, Wave).join(Wave, col(Wave.survey_id) == Survey.id).where(
        Survey.id == survey_id,
        Wave.id == wave_id if wave_id is not None else func.lower(Wave.name) == str(wave).lower())).first()
    return (found[0], found[1]) if found is not None else None


# --- submissions ------------------------------------------------------------------------------


def _payload(payload: SubmissionIn | Mapping[str, Any]) -> SubmissionIn:
    if isinstance(payload, SubmissionIn):
        return payload
    try:
        return SubmissionIn.model_validate(payload)
    except ValidationError as exc:
        raise SubmissionInvalid([
            rules.AnswerProblem(".".join(str(p) for p in e["loc"]) or "payload", e["msg"]) for e in exc.errors()
        ]) from None


def _utc(value: _dt.datetime | None) -> _dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)


def _stamp(value: _dt.datetime | None) -> str | None:
    value = _utc(value)
    return value.isoformat() if value else None


def submission_design(source: Any, wave_id: int, version_id: int) -> dict[str, Any]:
    """The design dict of a submission or a SubmissionIn: what :func:`submit` hashes with the answers
    (``rules.content_hash(answers, submission_design(...))``) and what revisions keep."""
    design = {key: getattr(source, key) for key in DESIGN_FIELDS}
    design["weight"] = float(design["weight"])
    design.update(wave_id=wave_id, instrument_version_id=version_id,
                  started_at=_stamp(source.started_at), ended_at=_stamp(source.ended_at))
    return design


_design = submission_design  # the earlier private name, still used by surveys.import_jobs


def _by_uuid(session: Session, uuid: str) -> Submission | None:
    return session.exec(select(Submission).where(Submission.uuid == uuid)).first()


def quality_settings(survey: Survey) -> rules.QualitySettings:
    """The survey's quality-flag thresholds, as :func:`submit` applies them."""
    return rules.QualitySettings(min_seconds_per_answer=survey.min_seconds_per_answer,
                                 dont_know_threshold=survey.dont_know_threshold)


_quality_settings = quality_settings


def _refresh_panel_flags(session: Session, wave_id: int, respondent_code: str) -> None:
    """Flag every non-rejected submission of the wave sharing ``respondent_code`` when there are several."""
    if not respondent_code:
        return
    rows = session.exec(select(Submission).where(
        Submission.wave_id == wave_id, Submission.respondent_code == respondent_code,
        Submission.status != SubmissionStatus.rejected)).all()
    for sub in rows:
        flags = [f for f in sub.flags if f.get("code") != "panel_repeat"]
        if len(rows) > 1:
            flags.append(rules.panel_repeat_flag(respondent_code, len(rows)))
        if flags != sub.flags:
            sub.flags = flags
            session.add(sub)
    session.flush()


def _known_hashes(session: Session, existing: Submission) -> set[str]:
    """The content hashes of the submission and of every earlier revision of it."""
    hashes = {existing.content_hash}
    if existing.revision > 1:
        for rev in session.exec(select(SubmissionRevision).where(SubmissionRevision.submission_id == existing.id)):
            design = {k: v for k, v in rev.design.items() if k != "status"}
            hashes.add(rules.content_hash(rev.answers, design))
    return hashes


def _resent(session: Session, existing: Submission, digest: str, survey: Survey, data: SubmissionIn,
            enumerator: User | None, source: str, ip: str) -> tuple[Submission, bool]:
    """A uuid that exists: the same content is the same submission; other content is a conflict."""
    if existing.survey_id == survey.id and digest in _known_hashes(session, existing):
        return existing, False
    raw = data.model_dump(mode="json")
    for conflict in session.exec(select(SubmissionConflict).where(SubmissionConflict.uuid == existing.uuid,
                                                                  col(SubmissionConflict.resolved).is_(False))):
        if conflict.payload == raw:  # the phone retried the same refused version: keep one copy
            raise SubmissionConflictError(conflict, existing)
    conflict = SubmissionConflict(uuid=existing.uuid, survey_id=survey.id, payload=raw,
                                  enumerator_id=enumerator.id if enumerator else None,
                                  note=f"Sent by {source}; differs from submission {existing.id}.")
    session.add(conflict)
    session.flush()
    _audit(session, enumerator, "submission.conflict", conflict,
           f"Kept aside a resend of {existing.uuid} with different content", ip, {"submission_id": existing.id})
    raise SubmissionConflictError(conflict, existing)


def submit(
    *,
    session: Session,
    survey: Survey,
    wave: Wave,
    payload: SubmissionIn | Mapping[str, Any],
    enumerator: User | None,
    source: str = "web",
    ip: str = "",
    audit: bool = True,
    today: _dt.date | None = None,
) -> tuple[Submission, bool]:
    """Store one interview, whole or not at all; return ``(submission, created)``.

    Parameters
    ----------
    session : Session
        Flushed, not committed: commit after this returns, and also after a
        ``SubmissionConflictError`` (the conflict row is in the session).
    survey, wave : Survey, Wave
        Where it goes (``payload.wave`` is ignored here: the API route resolves it).
    payload : SubmissionIn or Mapping
        The interview (see :class:`surveys.models.SubmissionIn`): ``uuid``, ``answers``,
        ``version`` (instrument version number; default the survey's latest, or the stored
        submission's on a resend), ``started_at``, ``ended_at`` and the design fields
        ``language, segment, region, cluster, stratum, weight, respondent_code, arm, sex,
        age_group`` (and ``enumerator_name`` for imports). A Mapping is validated first.
    enumerator : User or None
        Who sent it (None for imports that only name the enumerator).
    source : str
        ``web`` (data-entry form), ``api``, ``import`` or ``kobo``. For ``import`` and
        ``kobo`` a broken constraint is kept and flagged ``outside_constraint`` instead of
        refused, and a closed wave still accepts the data.
    audit : bool
        Add a ``submission.create`` audit event (imports pass False and audit the batch).
    today : date, optional
        ``today()`` in constraints; default the interview's end date.

    Returns
    -------
    (Submission, bool)
        ``created`` is False when the uuid was already stored with the same content (a resend):
        the stored submission is returned and nothing is added.

    Raises
    ------
    SubmissionInvalid
        (422) Each problem names the item code (or payload field) and why: unknown item,
        wrong type, not a choice, required and missing, constraint broken, closed wave.
        Answers to items that are not relevant are dropped, not refused (see surveys.rules).
    SubmissionConflictError
        (409) The uuid exists with different content: a SubmissionConflict was added for a
        supervisor (one per distinct resend) and the stored submission is unchanged.

    Notes
    -----
    Safe when two requests send the same uuid at once, on SQLite and PostgreSQL: a new
    interview is stored with ``INSERT ... ON CONFLICT (uuid) DO NOTHING``; when that inserts
    nothing (the uuid was stored before, or by the other request meanwhile), the stored row is
    read and compared, so exactly one row exists and the loser gets it back (or a conflict).
    An interview invalid against the latest version is looked up too: a resend is checked
    against the version it was stored with.
    Quality flags are computed on arrival; a repeated respondent code flags every
    submission of the wave that carries it.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    data = _payload(payload)
    if wave.survey_id != survey.id:
        raise SubmissionInvalid([rules.AnswerProblem("wave", f"wave {wave.name!r} is not a wave of this survey")])
    frame = frame_service.get_frame(session=session, wave_id=wave.id)
    data = complete_from_frame(frame, data)
    lenient = source in LENIENT_SOURCES
    if wave.is_open or lenient:
        # A new interview (the usual case) goes in without its uuid being looked up first: the
        # insert does nothing when the uuid is stored, and only then is the stored one read.
        try:
            submission = _store_new(session, survey, wave, data, enumerator, source, ip, audit, lenient, today, frame)
        except SubmissionInvalid:
            if _by_uuid(session, data.uuid) is None:
                raise
            submission = None  # invalid against the latest version: a resend is checked against its own below
        if submission is not None:
            return submission, True
    existing = _by_uuid(session, data.uuid)
    if existing is None:
        if not (wave.is_open or lenient):
            raise WaveClosed(wave)
        raise SurveyError(f"Submission {data.uuid} could not be stored; send it again.")  # pragma: no cover - deleted meanwhile
    *_, digest = _checked(session, survey, wave, data, existing.instrument_version_id
                          if existing.survey_id == survey.id else None, lenient, today)
    return _resent(session, existing, digest, survey, data, enumerator, source, ip)


def _checked(session: Session, survey: Survey, wave: Wave, data: SubmissionIn, current_id: int | None,
             lenient: bool, today: _dt.date | None) -> tuple[int, InstrumentSpec, rules.CheckedAnswers, str]:
    """(version id, spec, checked answers, content hash) of an interview, or SubmissionInvalid."""
    version_id, spec = _version_for(session, survey, data.version, current_id)
    ended = _utc(data.ended_at)
    try:
        checked = rules.check_answers(spec, data.answers, language=data.language or None,
                                      today=today or (ended.date() if ended else None),
                                      lenient_constraints=lenient, interview=str(data.uuid))
    except rules.AnswersInvalid as err:
        raise SubmissionInvalid(err.problems) from None
    return version_id, spec, checked, rules.content_hash(checked.answers, submission_design(data, wave.id, version_id))


def complete_from_frame(frame: Frame, data: SubmissionIn) -> SubmissionIn:
    """``data`` with the stratum and weight the wave's frame gives it when it left them out
    (done before hashing: a resend is completed, and hashed, the same way)."""
    fill = frame.completion(data.stratum, data.cluster, weight_given="weight" in data.model_fields_set)
    return data.model_copy(update=fill) if fill else data


def design_flags(frame: Frame, wave: Wave, data: Any, ended_at: _dt.datetime | None) -> list[dict[str, Any]]:
    """The flags the wave puts on an interview: outside its sampling frame, after its end date."""
    return (frame_service.frame_flags(frame, data.stratum, data.cluster, float(data.weight))
            + frame_service.late_flag(wave, ended_at))


def _store_new(session: Session, survey: Survey, wave: Wave, data: SubmissionIn, enumerator: User | None,
               source: str, ip: str, audit: bool, lenient: bool, today: _dt.date | None,
               frame: Frame | None = None) -> Submission | None:
    """Check and insert a new interview; None when its uuid is stored already."""
    version_id, spec, checked, digest = _checked(session, survey, wave, data, None, lenient, today)
    started, ended = _utc(data.started_at), _utc(data.ended_at)
    flags = rules.quality_flags(spec, checked.answers, started_at=started, ended_at=ended,
                                settings=quality_settings(survey), constraint_failures=checked.constraint_failures)
    if frame is None:
        frame = frame_service.get_frame(session=session, wave_id=wave.id)
    flags += design_flags(frame, wave, data, ended)
    now = utcnow()
    submission = Submission(
        uuid=data.uuid, survey_id=survey.id, wave_id=wave.id, instrument_version_id=version_id,
        enumerator_id=enumerator.id if enumerator else None,
        enumerator_name=(enumerator.username if enumerator else data.enumerator_name)[:64],
        source=source, started_at=started, ended_at=ended, answers=checked.answers, content_hash=digest,
        flags=flags, received_at=now, updated_at=now,
        **{key: getattr(data, key) for key in DESIGN_FIELDS},
    )
    if not insert_now(session, submission, unless_taken="uuid"):
        return None
    _refresh_panel_flags(session, wave.id, submission.respondent_code)
    if audit:
        _audit(session, enumerator, "submission.create", submission,
               f"Received {submission.uuid} for wave {wave.name!r} ({source})", ip,
               {"survey_id": survey.id, "dropped": list(checked.dropped)} if checked.dropped else {"survey_id": survey.id})
    return submission


def _snapshot(session: Session, submission: Submission, actor: User | None, note: str) -> SubmissionRevision:
    design = submission_design(submission, submission.wave_id, submission.instrument_version_id)
    design["status"] = submission.status.value
    rev = SubmissionRevision(submission_id=submission.id, revision=submission.revision, answers=dict(submission.answers),
                             design=design, changed_by_id=actor.id if actor else None, note=note[:2000])
    session.add(rev)
    return rev


def correct_submission(*, session: Session, submission: Submission, correction: SubmissionCorrection,
                       actor: User, ip: str = "") -> Submission:
    """Its enumerator corrects a submission: the earlier state is kept as a revision, status goes back to received.

    The answers are checked against the submission's own instrument version, strictly.
    Raises SurveyError (403) for anyone but its enumerator, SurveyError (400) once approved
    or rejected, SubmissionInvalid (422) for bad answers.
    """
    if submission.enumerator_id != actor.id:
        raise SurveyError("Only the enumerator who sent a submission may correct it.", status_code=403)
    if not can_correct(submission, actor):
        raise SurveyError(f"This submission is {submission.status.value.replace('_', ' ')}: it can no longer be corrected.")
    version = session.get(InstrumentVersion, submission.instrument_version_id)
    spec = version_spec(version)
    changes = correction.model_dump(exclude_unset=True, exclude={"answers", "note"})
    language = changes.get("language") or submission.language or None
    try:
        checked = rules.check_answers(spec, correction.answers, language=language,
                                      today=submission.ended_at.date() if submission.ended_at else None,
                                      interview=str(submission.uuid))
    except rules.AnswersInvalid as err:
        raise SubmissionInvalid(err.problems) from None
    note = correction.note.strip()
    old_status = _replace_content(session, submission, spec, checked, changes, actor,
                                  f"Corrected by {actor.username}" + (f": {note}" if note else ""))
    _audit(session, actor, "submission.correct", submission,
           f"Corrected {submission.uuid} (revision {submission.revision}, was {old_status.value})", ip,
           {"note": note} if note else None)
    return submission


def _replace_content(session: Session, submission: Submission, spec: InstrumentSpec, checked: rules.CheckedAnswers,
                     changes: Mapping[str, Any], actor: User, revision_note: str) -> SubmissionStatus:
    """Keep the submission's state as a revision, then give it new answers (and ``changes`` to its
    other fields): the next revision, back to received, hash and flags recomputed. Returns the old status."""
    old_code, old_status = submission.respondent_code, submission.status
    _snapshot(session, submission, actor, revision_note)
    for key, value in changes.items():
        if value is not None:
            setattr(submission, key, value)
    submission.answers = checked.answers
    submission.revision += 1
    submission.status = SubmissionStatus.received
    submission.updated_at = utcnow()
    submission.content_hash = rules.content_hash(
        checked.answers, submission_design(submission, submission.wave_id, submission.instrument_version_id))
    survey = session.get(Survey, submission.survey_id)
    submission.flags = rules.quality_flags(spec, checked.answers, started_at=submission.started_at,
                                           ended_at=submission.ended_at, settings=quality_settings(survey),
                                           constraint_failures=checked.constraint_failures)
    wave = session.get(Wave, submission.wave_id)
    submission.flags = submission.flags + design_flags(frame_service.get_frame(session=session, wave_id=submission.wave_id), wave,
                                     submission, submission.ended_at)
    session.add(submission)
    session.flush()
    _refresh_panel_flags(session, submission.wave_id, submission.respondent_code)
    if old_code != submission.respondent_code:
        _refresh_panel_flags(session, submission.wave_id, old_code)
    return old_status


def review_submissions(*, session: Session, submissions: Sequence[Submission], status: SubmissionStatus | str,
                       comment: str, actor: User, ip: str = "", override_reason: str = "") -> list[Submission]:
    """A supervisor approves, rejects or sends back (has_issues) submissions, with a comment.

    A comment is required to send back or reject. Each change keeps the earlier state as a
    revision (with the status) and is audited. Separation of duties: nobody reviews an interview
    they collected; an administrator may, giving ``override_reason`` (audited). A selection
    holding one's own interviews is refused whole: nothing is changed.
    """
    status = SubmissionStatus(status)
    if status not in REVIEW_STATUSES:
        raise SurveyError("A review approves, rejects or sends back (has issues).")
    comment = comment.strip()
    if status != SubmissionStatus.approved and not comment:
        raise SurveyError("Say what is wrong: a comment is required to send back or reject a submission.")
    own = [sub for sub in submissions if sub.enumerator_id is not None and sub.enumerator_id == actor.id]
    reason = " ".join((override_reason or "").split())[:500]
    if own and (actor.role != Role.admin or not reason):
        ids = ", ".join(f"#{sub.id}" for sub in own[:10]) + (f" and {len(own) - 10} more" if len(own) > 10 else "")
        if actor.role == Role.admin:
            raise SurveyError(f"You collected {ids}: to review your own interviews, say why no one else can "
                              "(override_reason; kept in the audit trail).", status_code=422)
        raise SurveyError(f"You collected {ids}: another supervisor must review your own interviews. Nothing was changed.",
                          status_code=403)
    now = utcnow()
    changed = []
    for sub in submissions:
        if sub.status == status and sub.review_comment == comment:
            continue
        before = sub.status
        _snapshot(session, sub, actor, f"{before.value} → {status.value} by {actor.username}"
                  + (f": {comment}" if comment else ""))
        sub.status = status
        if status == SubmissionStatus.approved:
            sub.flags = frame_service.accept_out_of_frame(sub.flags, actor)
        sub.review_comment = comment[:2000]
        sub.reviewed_by_id = actor.id
        sub.reviewed_at = now
        sub.updated_at = now
        session.add(sub)
        changed.append(sub)
        if SubmissionStatus.rejected in (before, status) and before != status:
            session.flush()
            _refresh_panel_flags(session, sub.wave_id, sub.respondent_code)
        details = {"comment": comment} if comment else {}
        if sub in own:
            details["override_reason"] = reason  # an administrator reviewing an interview they collected
        _audit(session, actor, f"submission.{status.value}", sub, f"{before.value} → {status.value}: {sub.uuid}", ip,
               details or None)
    session.flush()
    return changed


def get_submission(*, session: Session, submission_id: int, viewer: User) -> Submission | None:
    """The submission if ``viewer`` may see it (enumerators: their own only), else None."""
    sub = session.get(Submission, submission_id)
    if sub is None or (not can_see_all(viewer) and sub.enumerator_id != viewer.id):
        return None
    return sub


# Filters of the submission lists (empty means any).
@dataclass(frozen=True, slots=True)
class SubmissionFilter:
    survey_id: int | None = None
    wave_id: int | None = None
    status: SubmissionStatus | None = None
    enumerator_id: int | None = None
    flag: str | None = None
    source: str | None = None
    q: str = ""  # uuid or respondent code, prefix


@dataclass(frozen=True, slots=True)
class SubmissionPage:
    items: list[Submission]
    total: int
    offset: int
    limit: int


def _filtered(query: Any, viewer: User | None, filters: SubmissionFilter) -> Any:
    if viewer is not None and not can_see_all(viewer):
        query = query.where(Submission.enumerator_id == viewer.id)
    if filters.survey_id is not None:
        query = query.where(Submission.survey_id == filters.survey_id)
    if filters.wave_id is not None:
        query = query.where(Submission.wave_id == filters.wave_id)
    if filters.status is not None:
        query = query.where(Submission.status == SubmissionStatus(filters.status))
    if filters.enumerator_id is not None:
        query = query.where(Submission.enumerator_id == filters.enumerator_id)
    if filters.source:
        query = query.where(Submission.source == filters.source)
    if filters.flag:
        if filters.flag == "any":
            query = query.where(cast(Submission.flags, String) != "[]")
        else:
            if filters.flag not in rules.FLAG_LABELS:
                raise SurveyError(f"Unknown flag {filters.flag!r} (one of: any, {', '.join(rules.FLAG_LABELS)}).")
            # flags are stored as JSON text on both databases: [{"code": "too_short", ...}]
            query = query.where(cast(Submission.flags, String).like(f'%"{filters.flag}"%'))
    if filters.q.strip():
        q = filters.q.strip()
        query = query.where(col(Submission.uuid).startswith(q) | col(Submission.respondent_code).startswith(q))
    return query


def list_submissions(*, session: Session, viewer: User, filters: SubmissionFilter = SubmissionFilter(),
                     offset: int = 0, limit: int = 50) -> SubmissionPage:
    """The submissions ``viewer`` may see that match ``filters``, newest first, a page at a time."""
    offset, limit = max(0, offset), max(1, min(limit, 500))
    total = session.exec(_filtered(select(func.count()).select_from(Submission), viewer, filters)).one()
    items = session.exec(_filtered(select(Submission), viewer, filters)
                         .order_by(col(Submission.received_at).desc(), col(Submission.id).desc())
                         .offset(offset).limit(limit)).all()
    return SubmissionPage(items=list(items), total=total, offset=offset, limit=limit)


def personal_codes_of(*, session: Session, version_ids: Iterable[int]) -> dict[int, frozenset[str]]:
    """Instrument version id -> the codes of its items marked personal (cached per version)."""
    cache: dict[int, frozenset[str]] = session.info.setdefault("konbit.personal_codes", {})
    missing = set(version_ids) - cache.keys()
    if missing:
        # A version never changes: its codes are kept for the process, keyed as the spec cache is, so
        # a request reads two small columns instead of the whole spec (every API submission asks).
        need = []
        for version_id, created_at in session.exec(select(InstrumentVersion.id, InstrumentVersion.created_at)
                                                   .where(col(InstrumentVersion.id).in_(missing))):
            codes = _PERSONAL.get(_spec_key(version_id, created_at))
            if codes is None:
                need.append(version_id)
            else:
                cache[version_id] = codes
        for version in session.exec(select(InstrumentVersion).where(col(InstrumentVersion.id).in_(need))) if need else ():
            codes = privacy.personal_codes(version_spec(version).items())
            _PERSONAL[_spec_key(version.id, version.created_at)] = cache[version.id] = codes
    return {v: cache.get(v, frozenset()) for v in version_ids}


_PERSONAL: dict[tuple[int, str], frozenset[str]] = {}


def answers_filter(*, session: Session, submission: Submission, viewer: User | None, detail: bool):
    """A function that gives ``viewer`` the answers of ``submission`` (or of one of its revisions)
    it may read under :mod:`surveys.privacy`: the answers as they are, or without the personal items."""
    if privacy.may_see_personal(viewer, enumerator_id=submission.enumerator_id, detail=detail):
        return lambda answers: dict(answers or {})
    codes = personal_codes_of(session=session, version_ids=[submission.instrument_version_id])[submission.instrument_version_id]
    return lambda answers: privacy.redact(answers, codes)[0]


def submission_public(*, session: Session, submissions: Iterable[Submission], viewer: User | None, detail: bool = False,
                      waves: Iterable[Wave] = (), users: Iterable[User] = ()) -> list[SubmissionPublic]:
    """API views of submissions, with wave names, version numbers and enumerator names looked up once
    (``waves`` and ``users`` the caller already holds are not looked up again).

    Personal answers follow :mod:`surveys.privacy` for ``viewer``: ``detail`` is one interview
    opened on its own, not a list or a bulk answer.
    """
    subs = list(submissions)
    personal = personal_codes_of(session=session, version_ids={s.instrument_version_id for s in subs})
    wave_names = {w.id: w.name for w in waves}
    user_names = {u.id: u.username for u in users}
    wave_ids = {s.wave_id for s in subs} - wave_names.keys()
    version_ids = {s.instrument_version_id for s in subs}
    user_ids = {s.enumerator_id for s in subs if s.enumerator_id} - user_names.keys()
    if wave_ids:
        wave_names.update(session.exec(select(Wave.id, Wave.name).where(col(Wave.id).in_(wave_ids))).all())
    known = session.info.get(_VERSION_NUMBERS, {})
    versions = {v: known[v] for v in version_ids if v in known}
    if version_ids - versions.keys():
        versions.update(session.exec(select(InstrumentVersion.id, InstrumentVersion.version)
                                     .where(col(InstrumentVersion.id).in_(version_ids - versions.keys()))).all())
    if user_ids:
        user_names.update(session.exec(select(User.id, User.username).where(col(User.id).in_(user_ids))).all())
    out = []
    for s in subs:
        data = s.model_dump()
        data.update(wave=wave_names.get(s.wave_id, ""), instrument_version=versions.get(s.instrument_version_id, 0),
                    enumerator=user_names.get(s.enumerator_id, s.enumerator_name) if s.enumerator_id
                    else s.enumerator_name)
        if not privacy.may_see_personal(viewer, enumerator_id=s.enumerator_id, detail=detail):
            data["answers"], data["personal_hidden"] = privacy.redact(s.answers, personal.get(s.instrument_version_id, frozenset()))
        out.append(SubmissionPublic.model_validate(data))
    return out


def list_revisions(*, session: Session, submission: Submission) -> list[SubmissionRevision]:
    return list(session.exec(select(SubmissionRevision).where(SubmissionRevision.submission_id == submission.id)
                             .order_by(col(SubmissionRevision.changed_at), col(SubmissionRevision.id))).all())


# Quality flags of one enumerator's submissions.
@dataclass(frozen=True, slots=True)
class EnumeratorFlags:
    enumerator_id: int | None
    enumerator: str
    submissions: int
    flagged: int
    flags: dict[str, int] = field(default_factory=dict)


def flag_summary(*, session: Session, viewer: User, filters: SubmissionFilter = SubmissionFilter()) -> list[EnumeratorFlags]:
    """Per enumerator: submissions, how many carry a flag, and counts by flag code (most flagged first).

    One grouped query: the database counts, a row per enumerator comes back (not a row per
    submission: 4.8 s and every row's flags decoded in Python at 1,000,000 submissions).
    """
    text_flags = cast(Submission.flags, String)
    flagged = func.sum(case((text_flags != "[]", 1), else_=0))
    # flags are stored as JSON text on both databases: [{"code": "too_short", ...}]
    per_code = [func.sum(case((text_flags.like(f'%"{code}"%'), 1), else_=0)) for code in rules.FLAG_LABELS]
    query = (select(Submission.enumerator_id, Submission.enumerator_name, func.count(), flagged, *per_code)
             .group_by(Submission.enumerator_id, Submission.enumerator_name))
    rows = session.exec(_filtered(query, viewer, filters)).all()
    ids = {row[0] for row in rows if row[0]}
    users = dict(session.exec(select(User.id, User.username).where(col(User.id).in_(ids))).all()) if ids else {}
    merged: dict[tuple, list[int]] = {}
    for enumerator_id, name, n, n_flagged, *codes in rows:
        # one account's submissions under several names (the name was typed on the phone) count once
        key = (enumerator_id, users.get(enumerator_id, name) if enumerator_id else (name or "(unknown)"))
        counts = merged.setdefault(key, [0] * (2 + len(codes)))
        for i, value in enumerate((n, n_flagged, *codes)):
            counts[i] += int(value or 0)
    summary = [EnumeratorFlags(enumerator_id=k[0], enumerator=k[1], submissions=c[0], flagged=c[1],
                               flags={code: v for code, v in zip(rules.FLAG_LABELS, c[2:]) if v})
               for k, c in merged.items()]
    return sorted(summary, key=lambda e: (-e.flagged, e.enumerator))


def status_counts(*, session: Session, survey: Survey, viewer: User | None = None) -> dict[tuple[int, SubmissionStatus], int]:
    """Submissions by (wave id, status) for ``survey`` (only the viewer's own for enumerators)."""
    query = _filtered(select(Submission.wave_id, Submission.status, func.count()), viewer,
                      SubmissionFilter(survey_id=survey.id)).group_by(Submission.wave_id, Submission.status)
    return {(wave_id, SubmissionStatus(status)): n for wave_id, status, n in session.exec(query).all()}


# --- conflicts --------------------------------------------------------------------------------


def list_conflicts(*, session: Session, survey_id: int | None = None, include_resolved: bool = False) -> list[SubmissionConflict]:
    query = select(SubmissionConflict)
    if survey_id is not None:
        query = query.where(SubmissionConflict.survey_id == survey_id)
    if not include_resolved:
        query = query.where(col(SubmissionConflict.resolved).is_(False))
    return list(session.exec(query.order_by(col(SubmissionConflict.received_at).desc(), col(SubmissionConflict.id).desc())
                             .limit(500)).all())


def resolve_conflict(*, session: Session, conflict: SubmissionConflict, actor: User, note: str = "",
                     ip: str = "") -> SubmissionConflict:
    """A supervisor marks a conflict as dealt with (the stored submission is not changed)."""
    conflict.resolved = True
    note = note.strip()
    if note:
        conflict.note = (conflict.note + f"\nResolved by {actor.username}: {note}").strip()[:2000]
    session.add(conflict)
    session.flush()
    _audit(session, actor, "conflict.resolve", conflict, f"Resolved the conflict on {conflict.uuid}", ip,
           {"note": note} if note else None)
    return conflict


def accept_conflict(*, session: Session, conflict: SubmissionConflict, actor: User, note: str = "",
                    ip: str = "") -> Submission:
    """A supervisor decides the resend kept aside is the right one: it replaces the stored submission.

    The stored state is kept as a revision (nothing is lost), the submission goes back to
    received with the resend's answers, times, wave, version and design fields, checked as
    the first time (strictly, except for imports), and the conflict is marked resolved.
    Raises SurveyError (400) when the conflict is already resolved, (409) when its stored
    submission is gone, SubmissionInvalid (422) when the resend's answers do not pass.
    """
    if conflict.resolved:
        raise SurveyError("This conflict is already resolved.")
    submission = _by_uuid(session, conflict.uuid)
    if submission is None or submission.survey_id != conflict.survey_id:
        raise SurveyError(f"The stored submission {conflict.uuid} no longer exists: mark the conflict resolved.",
                          status_code=409)
    data = _payload(conflict.payload)
    survey = session.get(Survey, submission.survey_id)
    wave = None
    if data.wave not in (None, ""):
        wave = get_wave(session=session, survey=survey, wave=data.wave)
        if wave is None:
            raise SubmissionInvalid([rules.AnswerProblem("wave", f"survey {survey.id} has no wave {data.wave!r}")])
    version_id, spec = _version_for(session, survey, data.version, submission.instrument_version_id)
    ended = _utc(data.ended_at)
    try:
        checked = rules.check_answers(spec, data.answers, language=data.language or None,
                                      today=ended.date() if ended else None,
                                      lenient_constraints=submission.source in LENIENT_SOURCES, interview=str(data.uuid))
    except rules.AnswersInvalid as err:
        raise SubmissionInvalid(err.problems) from None
    changes: dict[str, Any] = {key: getattr(data, key) for key in DESIGN_FIELDS}
    changes.update(started_at=_utc(data.started_at), ended_at=ended, instrument_version_id=version_id,
                   wave_id=wave.id if wave is not None else None)
    note = note.strip()
    old_status = _replace_content(
        session, submission, spec, checked, changes, actor,
        f"Replaced by the resend kept aside (conflict {conflict.id}), accepted by {actor.username}"
        + (f": {note}" if note else ""))
    conflict.resolved = True
    conflict.note = (conflict.note + f"\nAccepted by {actor.username}" + (f": {note}" if note else "")).strip()[:2000]
    session.add(conflict)
    session.flush()
    _audit(session, actor, "conflict.accept", conflict,
           f"Accepted the resend of {conflict.uuid}: submission {submission.id} is now revision {submission.revision} "
           f"(was {old_status.value})", ip, {"submission_id": submission.id, **({"note": note} if note else {})})
    return submission
