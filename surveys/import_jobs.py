"""Importing a file of responses: check it, then store its good rows, with progress on disk.

An import runs in two passes over the file, each streaming (:mod:`surveys.imports` reads it):

1. **Check** (:func:`check_file`): every row is parsed, its wave looked up, its answers
   checked with :func:`surveys.rules.check_answers` exactly as the service will check them,
   and its submission id looked up (one query per batch) to tell new rows from rows already
   stored and from ids stored with different answers (conflicts). Nothing is written.
   The result is an :class:`ImportReport`: counts, and the problems of the bad rows, each
   naming its row number, the item and the value.
2. **Store** (:func:`store_file`): only when the check found no bad row, or the user
   confirmed (the import screen's button, the CLI's ``--yes``). Each row goes through
   :func:`surveys.service.submit` (source ``import``) inside its own SAVEPOINT, so a row
   is stored whole or not at all and one failing row never takes others with it; the
   session commits every ``batch_size`` rows.

Atomicity and restarts: per row, not per file. A crash loses at most the batch not yet
committed; running the same import again skips every row already stored (same submission
id, same content: ``submit`` returns ``created=False``), so a restart or a second import
of the same file never duplicates anything. A row whose id is stored with other answers
is not imported: ``submit`` keeps it aside as a :class:`~surveys.models.SubmissionConflict`
for a supervisor, once per distinct content.

The web screen runs both passes in a background thread with its own sessions
(:func:`start_job`); the job's state lives in ``DATA_DIR/imports/<job id>/job.json``
(replaced atomically after every batch, read by the progress bar), next to the uploaded
file and ``problems.csv``. No table is needed: a job is a few kilobytes of JSON, and the
submissions themselves are the record of what was imported. A job that stops moving for
:data:`STALE_AFTER` seconds (its process died) shows as interrupted and can be resumed.
"""

from __future__ import annotations

import csv
import json
import logging
import operator
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, Engine
from sqlmodel import Session, col

from surveys import frame_service, rules, service
from surveys.frame import Frame
from surveys.imports import ImportFileError, ParsedRow, RowProblem, read_header, read_responses, row_from_json
from surveys.models import ImportRun, InstrumentVersion, Submission, SubmissionIn, SubmissionStatus, Survey, Wave
from surveys.spec import InstrumentSpec
from web.accounts.models import User, utcnow
from web.accounts.service import record_audit
from web.exports_safe import safe_row

__all__ = [
    "JOB_STATES",
    "PROBLEMS_SHOWN",
    "RUNNING_STATES",
    "STALE_AFTER",
    "ImportJob",
    "ImportReport",
    "JobError",
    "cancel_job",
    "check_file",
    "confirm_job",
    "create_job",
    "job_source",
    "list_jobs",
    "load_job",
    "plan_file",
    "problems_csv_path",
    "receive_kobo",
    "replan",
    "resume_job",
    "run_job",
    "start_job",
    "store_file",
]

log = logging.getLogger("konbit.imports")

#: Seconds without progress after which a running job counts as interrupted.
STALE_AFTER = 120
#: Problems kept in the job file for the screen (all of them go to problems.csv).
PROBLEMS_SHOWN = 200
#: Good rows shown in the preview.
SAMPLE_ROWS = 10
JOB_STATES = ("mapping", "checking", "checked", "importing", "done", "failed", "cancelled")
RUNNING_STATES = frozenset({"checking", "importing"})
_BATCH = 500
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{16,40}$")
_KEEP_DAYS = 14
# The design fields submit() copies and hashes, and its design dict: the bulk path must hash
# exactly as submit() does, or a re-import would look like a conflict.
_DESIGN_FIELDS = service._DESIGN_FIELDS
_submission_design = service._design

Progress = Callable[[str, int, float], None]  # (phase, rows done, fraction of the file read)


# What a check (and then a store) found; ``problems`` holds the first PROBLEMS_SHOWN.
@dataclass
class ImportReport:
    rows: int = 0  # data rows read
    new: int = 0  # good rows not stored yet
    already: int = 0  # stored before with the same content
    repeated: int = 0  # repeated within the file with the same content
    bad: int = 0  # rows with problems: not imported
    conflicts: int = 0  # of the bad rows: ids stored before with different answers
    created: int = 0  # stored by the store pass
    kept_aside: int = 0  # conflicts the store pass kept aside for a supervisor
    refused: int = 0  # rows the store pass refused (the data changed since the check)
    problem_count: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)  # the first good rows, for the preview

    @property
    def good(self) -> int:
        return self.new + self.already + self.repeated

    def add_problem(self, problem: RowProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(problem)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "problems"}
        data["good"] = self.good
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "problems"}
        report = cls(**known)
        report.problems = [RowProblem(**p) for p in data.get("problems", [])]
        return report


# --- rows to payloads -------------------------------------------------------------------------


class _Rows:
    """What a survey needs to turn parsed rows into submit() payloads, with look-ups cached."""

    def __init__(self, session: Session, survey: Survey) -> None:
        self.session = session
        self.survey = survey
        self.latest = service.latest_version(session=session, survey=survey)
        self.spec = service.version_spec(self.latest)
        self._waves: dict[str, Wave | None] = {}
        self._versions: dict[int, InstrumentSpec] = {self.latest.id: self.spec}  # type: ignore[dict-item]
        self._frames: dict[int, Frame] = {}
        # submit()'s quality thresholds (service._quality_settings)
        self.quality = rules.QualitySettings(min_seconds_per_answer=survey.min_seconds_per_answer,
                                             dont_know_threshold=survey.dont_know_threshold)

    def wave(self, name: str) -> Wave | None:
        key = name.lower()
        if key not in self._waves:
            self._waves[key] = service.get_wave(session=self.session, survey=self.survey, wave=name)
        return self._waves[key]

    def frame(self, wave: Wave) -> Frame:
        if wave.id not in self._frames:
            self._frames[wave.id] = frame_service.get_frame(session=self.session, wave_id=wave.id)
        return self._frames[wave.id]

    def version_spec(self, version_id: int) -> InstrumentSpec:
        if version_id not in self._versions:
            version = self.session.get(InstrumentVersion, version_id)
            self._versions[version_id] = service.version_spec(version)  # type: ignore[arg-type]
        return self._versions[version_id]

    def payload(self, row: ParsedRow) -> tuple[SubmissionIn | None, Wave | None]:
        """The row as a SubmissionIn, or None with its problems added to ``row``."""
        if row.problems:
            return None, None
        wave = self.wave(row.wave)
        if wave is None:
            row.problems.append(RowProblem(row.row, f"this survey has no wave {row.wave!r}", "wave", None, row.wave))
            return None, None
        data = {"uuid": row.uuid, "answers": row.answers, **row.design}
        try:
            # completed from the frame as submit() completes it, so both paths hash alike
            return service.complete_from_frame(self.frame(wave), SubmissionIn.model_validate(data)), wave
        except ValidationError as exc:
            for e in exc.errors():
                name = ".".join(str(p) for p in e["loc"]) or "row"
                value = data.get(name)
                row.problems.append(RowProblem(row.row, f"{name}: {e['msg']}", name, None, None if value is None else str(value)))
            return None, None

    def check(self, row: ParsedRow, data: SubmissionIn, version_id: int) -> rules.CheckedAnswers | None:
        """The answers checked as submit() checks an import, or None with the problems added to ``row``."""
        ended = _utc(data.ended_at)
        try:
            return rules.check_answers(self.version_spec(version_id), data.answers, language=data.language or None,
                                       today=ended.date() if ended else None, lenient_constraints=True,
                                       interview=str(data.uuid))
        except rules.AnswersInvalid as err:
            for p in err.problems:
                row.problems.append(RowProblem(row.row, p.message, p.code or None, None, row.answers.get(p.code)))
            return None

    @staticmethod
    def digest(checked: rules.CheckedAnswers, data: SubmissionIn, wave: Wave, version_id: int) -> str:
        """The content hash submit() stores for this payload."""
        return rules.content_hash(checked.answers, _submission_design(data, wave.id, version_id))

    def values(self, data: SubmissionIn, wave: Wave, version_id: int, checked: rules.CheckedAnswers, digest: str,
               now: datetime) -> dict[str, Any]:
        """The submission table row submit() would add (quality flags included)."""
        started, ended = _utc(data.started_at), _utc(data.ended_at)
        flags = rules.quality_flags(self.version_spec(version_id), checked.answers, started_at=started, ended_at=ended,
                                    settings=self.quality, constraint_failures=checked.constraint_failures)
        flags += service.design_flags(self.frame(wave), wave, data, ended)  # kept and flagged, never dropped
        return {
            "uuid": data.uuid, "survey_id": self.survey.id, "wave_id": wave.id, "instrument_version_id": version_id,
            "enumerator_id": None, "enumerator_name": data.enumerator_name[:64], "source": "import",
            "status": SubmissionStatus.received, "started_at": started, "ended_at": ended, "answers": checked.answers,
            "content_hash": digest, "flags": flags, "revision": 1, "review_comment": "", "reviewed_by_id": None,
            "reviewed_at": None, "received_at": now, "updated_at": now,
            **{key: getattr(data, key) for key in _DESIGN_FIELDS},
        }


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _sample(row: ParsedRow, data: SubmissionIn, wave: Wave, checked: rules.CheckedAnswers, stored: bool) -> dict[str, Any]:
    return {"row": row.row, "uuid": data.uuid, "wave": wave.name, "answers": len(checked.answers),
            "region": data.region, "segment": data.segment, "respondent_code": data.respondent_code,
            "started_at": data.started_at.isoformat() if data.started_at else "", "stored": stored}


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    batch: list[ParsedRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stored(session: Session, uuids: list[str]) -> dict[str, tuple[int, str, int]]:
    """uuid -> (survey id, content hash, instrument version id) of those already stored."""
    if not uuids:
        return {}
    query = select(Submission.uuid, Submission.survey_id, Submission.content_hash, Submission.instrument_version_id)
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: psycopg would parse an IN list of 500 parameters afresh for every batch.
        query = query.where(col(Submission.uuid) == any_(bindparam("uuids", uuids, type_=postgresql.ARRAY(String))))
    else:
        query = query.where(col(Submission.uuid).in_(uuids))
    return {u: (s, h, v) for u, s, h, v in session.execute(query).all()}


def _check_wave_option(rows: _Rows, wave: str | None) -> None:
    if wave and rows.wave(wave) is None:
        names = ", ".join(w.name for w in service.list_waves(session=rows.session, survey=rows.survey)) or "none yet"
        raise ImportFileError([f"This survey has no wave {wave!r} (its waves: {names})."])


# --- the two passes ---------------------------------------------------------------------------


def plan_file(*, session: Session, survey: Survey, source: Any, filename: str, wave: str | None,
              mapping: Mapping[str, str]) -> list[str]:
    """Read only the header: the column plan's description, or ImportFileError."""
    rows = _Rows(session, survey)
    _check_wave_option(rows, wave)
    with read_responses(source, spec=rows.spec, filename=filename, mapping=mapping, wave=wave) as reader:
        return reader.plan.describe()


def check_file(*, session: Session, survey: Survey, source: Any, filename: str, wave: str | None = None,
               mapping: Mapping[str, str] | None = None, on_progress: Progress | None = None,
               problems_out: IO[str] | None = None) -> ImportReport:
    """Pass 1: what importing the file would do, row by row; writes nothing to the database.

    Raises ImportFileError when the file cannot be used at all. ``problems_out`` receives
    every problem as CSV (row, item, column, value, problem). The session is rolled back
    after every batch (it only reads), so no transaction stays open for the whole file.
    """
    rows = _Rows(session, survey)
    _check_wave_option(rows, wave)
    report = ImportReport()
    writer = csv.writer(problems_out) if problems_out is not None else None
    if writer:
        writer.writerow(["row", "item", "column", "value", "problem"])
    with read_responses(source, spec=rows.spec, filename=filename, mapping=mapping or {}, wave=wave) as reader:
        report.plan = reader.plan.describe()
        for batch in _batches(reader, _BATCH):
            stored = _stored(session, [r.uuid for r in batch if r.uuid and not r.problems and r.duplicate_of is None])
            for row in batch:
                report.rows += 1
                if row.duplicate_of is not None and not row.problems:
                    report.repeated += 1
                    continue
                data, wave_row = rows.payload(row)
                if data is not None and wave_row is not None:
                    existing = stored.get(row.uuid)
                    version_id = existing[2] if existing and existing[0] == survey.id else rows.latest.id
                    checked = rows.check(row, data, version_id)  # type: ignore[arg-type]
                    if checked is not None:
                        digest = rows.digest(checked, data, wave_row, version_id)  # type: ignore[arg-type]
                        if len(report.sample) < SAMPLE_ROWS:
                            report.sample.append(_sample(row, data, wave_row, checked, existing is not None))
                        if existing is None:
                            report.new += 1
                        elif existing[0] == survey.id and existing[1] == digest:
                            report.already += 1
                        else:
                            report.conflicts += 1
                            where = "this survey" if existing[0] == survey.id else f"survey {existing[0]}"
                            row.problems.append(RowProblem(
                                row.row, f"the submission id {row.uuid} is already stored in {where} with different "
                                "answers: it will be kept aside for a supervisor, not imported", "uuid", None, row.uuid))
                if row.problems:
                    report.bad += 1
                    for problem in row.problems:
                        report.add_problem(problem)
                        if writer:
                            writer.writerow(safe_row([problem.row, problem.item or "", problem.column or "",
                                                      problem.value or "", problem.message]))
            session.rollback()  # end the read transaction: a long check must not hold one open
            if on_progress:
                on_progress("checking", report.rows, reader.fraction())
    return report


def store_file(*, engine: Engine, survey_id: int, source: Any, filename: str, wave: str | None = None,
               mapping: Mapping[str, str] | None = None, actor: User | None = None, report: ImportReport | None = None,
               on_progress: Progress | None = None, batch_size: int = _BATCH) -> ImportReport:
    """Pass 2: store the good rows, committing every ``batch_size`` rows; returns the completed ``report``.

    Uses its own session on ``engine`` (a background thread may call it). Rows with problems
    are skipped, and counted in ``report`` when no check ran before (``report`` is None).

    New rows are checked, hashed and flagged exactly as :func:`surveys.service.submit` does
    (same rules, same design hash, source ``import``) and inserted a batch at a time inside a
    SAVEPOINT, as one ``executemany`` of ``INSERT ... ON CONFLICT (uuid) DO NOTHING`` (psycopg
    sends it as one pipeline, sqlite3 runs it in C). The batch is kept only if every row was
    inserted. Every other row goes through ``submit()`` itself, in its own SAVEPOINT: ids
    already stored with other content (conflicts, corrections), and every row of a batch whose
    bulk insert failed or inserted fewer rows than it was given (another request stored one of
    those ids since the batch was read: ``submit()`` then tells a resend from a conflict).
    """
    checked_before = report is not None
    report = report or ImportReport()
    report.created = report.kept_aside = report.refused = 0
    with Session(engine, expire_on_commit=False) as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            raise ImportFileError([f"Survey {survey_id} no longer exists."])
        rows = _Rows(session, survey)
        _check_wave_option(rows, wave)
        insert = _insert_statement(engine.dialect)
        run = _start_run(session, survey_id=survey_id, source=source, filename=filename, wave=wave, actor=actor)
        done = 0
        try:
            with read_responses(source, spec=rows.spec, filename=filename, mapping=mapping or {}, wave=wave) as reader:
                if not checked_before:
                    report.plan = reader.plan.describe()
                for batch in _batches(reader, batch_size):
                    done += len(batch)
                    _store_batch(session, rows, batch, insert, report, count=not checked_before)
                    # The run's counts go in the batch's own transaction: after a crash they are what entered.
                    run.batches += 1
                    run.rows_read, run.created, run.kept_aside, run.updated_at = done, report.created, report.kept_aside, utcnow()
                    session.add(run)
                    session.commit()
                    if on_progress:
                        on_progress("importing", done, reader.fraction())
        except BaseException as exc:
            session.rollback()
            _end_run(session, run, status="failed", error=f"{type(exc).__name__}: {exc}"[:500], actor=actor,
                     filename=filename, wave=wave)
            session.commit()
            raise
        _end_run(session, run, status="completed", actor=actor, filename=filename, wave=wave, report=report)
        session.commit()
    return report


def _file_digest(source: Any) -> str:
    """SHA-256 of the file being imported ('' when it is a stream that cannot be read twice)."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256()
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    if isinstance(source, (bytes, bytearray, memoryview)):
        digest.update(bytes(source))
        return digest.hexdigest()
    return ""


def _start_run(session: Session, *, survey_id: int, source: Any, filename: str, wave: str | None,
               actor: User | None) -> ImportRun:
    """Write the run's record (and its audit entry) before the first batch; a stale run of the same
    file, left by a process that died, is marked interrupted and this run resumes it."""
    sha = _file_digest(source)
    now = utcnow()
    stale = []
    if sha:
        stale = session.exec(select(ImportRun).where(ImportRun.survey_id == survey_id, ImportRun.file_sha256 == sha,
                                                     ImportRun.status == "running")).scalars().all()
        stale = [r for r in stale if _gone(r.holder) or (now - _aware(r.updated_at)).total_seconds() > STALE_AFTER]
    for old in stale:
        old.status, old.finished_at = "interrupted", now
        old.error = "The import stopped (its process ended) after this many rows; a later run of the same file resumed it."
        session.add(old)
        record_audit(session=session, actor=actor, action="submission.import_interrupted", entity_type="survey",
                     entity_id=survey_id, summary=f"An import of {old.filename} stopped after {old.created} submissions"[:500],
                     details={"run": old.id, "created": old.created, "kept_aside": old.kept_aside, "batches": old.batches,
                              "rows_read": old.rows_read, "file": old.filename, "sha256": old.file_sha256},
                     actor_name=None if actor else "system")
    run = ImportRun(survey_id=survey_id, filename=filename[:200], file_sha256=sha, wave=(wave or "")[:80],
                    actor_id=actor.id if actor else None, actor_name=actor.username if actor else "system",
                    resumed_from_id=stale[-1].id if stale else None, holder=_holder())
    session.add(run)
    session.flush()
    record_audit(session=session, actor=actor, action="submission.import_started", entity_type="survey",
                 entity_id=survey_id, summary=f"Started importing {filename}"[:500] + (" (resuming)" if stale else ""),
                 details={"run": run.id, "file": filename[:200], "sha256": sha, "wave": wave or "",
                          "resumes": [r.id for r in stale]},
                 actor_name=None if actor else "system")
    session.commit()
    return run


def _end_run(session: Session, run: ImportRun, *, status: str, actor: User | None, filename: str, wave: str | None,
             report: ImportReport | None = None, error: str = "") -> None:
    run = session.get(ImportRun, run.id) or run
    run.status, run.finished_at, run.updated_at, run.error = status, utcnow(), utcnow(), error
    session.add(run)
    if status == "completed":
        record_audit(session=session, actor=actor, action="submission.import", entity_type="survey",
                     entity_id=run.survey_id, summary=f"Imported {run.created} submissions from {filename}"[:500],
                     details={"run": run.id, "created": run.created, "kept_aside": run.kept_aside,
                              "refused": report.refused if report else 0, "file": filename[:200], "wave": wave or "",
                              "resumed_from": run.resumed_from_id},
                     actor_name=None if actor else "system")
    else:
        record_audit(session=session, actor=actor, action="submission.import_failed", entity_type="survey",
                     entity_id=run.survey_id, summary=f"The import of {filename} failed after {run.created} submissions"[:500],
                     details={"run": run.id, "created": run.created, "kept_aside": run.kept_aside, "error": error},
                     actor_name=None if actor else "system")


def _holder() -> str:
    import socket  # noqa: PLC0415

    return f"{socket.gethostname()[:100]}:{os.getpid()}"


def _gone(holder: str) -> bool:
    """Whether the process that held a run is known to be dead (same host, no such process)."""
    import socket  # noqa: PLC0415

    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname()[:100] or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _insert_statement(dialect: Dialect) -> _BulkInsert:
    return _BulkInsert(dialect)


class _BulkInsert:
    """``INSERT INTO submission ... ON CONFLICT (uuid) DO NOTHING`` for many rows at once.

    Called with the session and a list of column -> value dicts (all with the same keys), it
    returns how many rows went in. No RETURNING: with it SQLAlchemy renders one multi-row
    VALUES statement per batch, which psycopg must parse afresh every time (too many
    parameters to cache); the row count says whether every row went in.

    The statement is compiled once and run as one DBAPI ``executemany`` of rows whose values
    went through their column types' bind processors, as SQLAlchemy would pass them: it does
    the same per row, with much more work around it. When the compiled statement would need
    anything else (a column default computed at execution), the rows go through
    ``session.execute`` instead.
    """

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert  # noqa: PLC0415
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert  # noqa: PLC0415
        self.dialect = dialect
        self.statement = (dialect_insert(Submission.__table__).on_conflict_do_nothing(index_elements=["uuid"])
                          .execution_options(preserve_rowcount=True))
        self._plans: dict[tuple[str, ...], Any] = {}

    def __call__(self, session: Session, rows: list[dict[str, Any]]) -> int:
        keys = tuple(rows[0])
        if keys not in self._plans:
            self._plans[keys] = self._plan(keys)
        plan = self._plans[keys]
        if plan is None:
            return session.execute(self.statement, rows).rowcount
        sql, positional, get, processed = plan
        params: list[Any] = []
        for row in rows:
            if positional:
                values = list(get(row))
                for i, process in processed:
                    values[i] = process(values[i])
                params.append(tuple(values))
            else:
                values = dict(row)
                for key, process in processed:
                    values[key] = process(values[key])
                params.append(values)
        result = session.connection().exec_driver_sql(sql, params, execution_options={"preserve_rowcount": True})
        return result.rowcount

    def _plan(self, keys: tuple[str, ...]) -> Any:
        """(SQL, positional, getter of the values in order, [(index or key, bind processor)]), or None."""
        table = Submission.__table__
        compiled = self.statement.compile(dialect=self.dialect, column_keys=list(keys), for_executemany=True)
        binds = {name: bind.key for bind, name in compiled.bind_names.items()}
        if (compiled.insert_prefetch or compiled.postfetch or compiled.returning or set(binds.values()) != set(keys)
                or any(name != key for name, key in binds.items())):
            return None  # something the DBAPI alone cannot do: let SQLAlchemy run it
        order = list(compiled.positiontup) if compiled.positional else list(keys)
        processors = [(i if compiled.positional else key, process) for i, key in enumerate(order)
                      if (process := table.c[key].type.dialect_impl(self.dialect).bind_processor(self.dialect))]
        return compiled.string, compiled.positional, operator.itemgetter(*order), processors


def _store_batch(session: Session, rows: _Rows, batch: list[ParsedRow], insert: Any, report: ImportReport, *,
                 count: bool) -> None:
    """One batch: skip what is stored already, bulk-insert what is new, submit() the rest."""
    ready: list[tuple[ParsedRow, SubmissionIn, Wave]] = []
    for row in batch:
        if count:
            report.rows += 1
        if row.duplicate_of is not None and not row.problems:
            if count:
                report.repeated += 1
            continue
        data, wave = rows.payload(row)
        if data is None or wave is None:
            if count:
                report.bad += 1
                for problem in row.problems:
                    report.add_problem(problem)
            continue
        ready.append((row, data, wave))
    stored = _stored(session, [data.uuid for _, data, _ in ready])
    now = utcnow()
    new: list[tuple[ParsedRow, SubmissionIn, Wave, dict[str, Any]]] = []
    slow: list[tuple[ParsedRow, SubmissionIn, Wave]] = []
    for row, data, wave in ready:
        existing = stored.get(data.uuid)
        if existing is not None and existing[0] != rows.survey.id:
            slow.append((row, data, wave))  # another survey's id: submit() keeps it aside
            continue
        version_id = existing[2] if existing is not None else rows.latest.id
        checked = rows.check(row, data, version_id)  # type: ignore[arg-type]
        if checked is None:
            if count:
                report.bad += 1
            else:
                report.refused += 1  # the data changed since the check
            for problem in row.problems:
                report.add_problem(problem)
            continue
        digest = rows.digest(checked, data, wave, version_id)  # type: ignore[arg-type]
        if existing is None:
            new.append((row, data, wave, rows.values(data, wave, version_id, checked, digest, now)))  # type: ignore[arg-type]
        elif existing[1] == digest:
            if count:
                report.already += 1
        else:
            slow.append((row, data, wave))  # a correction's earlier content, or a conflict: submit() decides
    if new:
        added = [values for *_, values in new]
        whole = False
        savepoint = session.begin_nested()
        try:
            whole = insert(session, added) == len(added)
        except Exception:
            savepoint.rollback()
            log.exception("bulk insert of an import into survey %s failed; storing row by row", rows.survey.id)
        else:
            if whole:
                savepoint.commit()
            else:  # some id was stored since the batch was read (another import, a phone): submit() decides
                savepoint.rollback()
        if whole:
            report.created += len(added)
            if count:
                report.new += len(added)
            _refresh_panel_flags(session, added)
        else:
            slow.extend((row, data, wave) for row, data, wave, _ in new)
    for row, data, wave in slow:
        _store_one(session, rows.survey, wave, data, row, report, count=count)


def _refresh_panel_flags(session: Session, added: list[dict[str, Any]]) -> None:
    """What submit() does after each insert, for a batch: flag respondent codes that repeat in a wave."""
    codes: dict[int, set[str]] = {}
    for values in added:
        if values["respondent_code"]:
            codes.setdefault(values["wave_id"], set()).add(values["respondent_code"])
    table = Submission.__table__
    for wave_id, wanted in codes.items():
        found: dict[str, list[tuple[int, list]]] = {}
        for chunk in _chunks(sorted(wanted), 500):
            for sub_id, code, flags in session.execute(
                select(table.c.id, table.c.respondent_code, table.c.flags).where(
                    table.c.wave_id == wave_id, table.c.respondent_code.in_(chunk),
                    table.c.status != SubmissionStatus.rejected)):
                found.setdefault(code, []).append((sub_id, flags or []))
        updates = []
        for code, subs in found.items():
            for sub_id, flags in subs:
                kept = [f for f in flags if f.get("code") != "panel_repeat"]
                if len(subs) > 1:
                    kept.append(rules.panel_repeat_flag(code, len(subs)))
                if kept != flags:
                    updates.append({"sid": sub_id, "new_flags": kept})
        if updates:
            session.execute(table.update().where(table.c.id == bindparam("sid")).values(flags=bindparam("new_flags")),
                            updates)


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _store_one(session: Session, survey: Survey, wave: Wave, data: SubmissionIn, row: ParsedRow,
               report: ImportReport, *, count: bool = False) -> None:
    savepoint = session.begin_nested()
    try:
        _, created = service.submit(session=session, survey=survey, wave=wave, payload=data, enumerator=None,
                                    source="import", audit=False)
    except service.SubmissionConflictError:
        savepoint.commit()  # keep the conflict row submit() added for the supervisor
        report.kept_aside += 1
        if count:
            report.bad += 1
            report.conflicts += 1
            report.add_problem(RowProblem(row.row, f"the submission id {data.uuid} is already stored with different "
                                          "answers: kept aside for a supervisor, not imported", "uuid", None, data.uuid))
    except service.SubmissionInvalid as err:
        savepoint.rollback()
        if count:
            report.bad += 1
        else:
            report.refused += 1
        for p in err.problems:
            report.add_problem(RowProblem(row.row, p.message, p.code or None, None, row.answers.get(p.code)))
    except Exception:
        savepoint.rollback()
        log.exception("row %s of an import into survey %s failed", row.row, survey.id)
        if count:
            report.bad += 1
        else:
            report.refused += 1
        report.add_problem(RowProblem(row.row, "could not be stored (unexpected error, logged)", None))
    else:
        savepoint.commit()
        if created:
            report.created += 1
            if count:
                report.new += 1
        elif count:
            report.already += 1


# --- Kobo REST Service ----------------------------------------------------------------------


def receive_kobo(*, session: Session, survey: Survey, payload: Mapping[str, Any], wave: str | None,
                 actor: User | None, ip: str = "") -> tuple[Submission, bool]:
    """One submission pushed by KoboToolbox: parsed like a CSV row, then submit() (source ``kobo``).

    Raises ImportFileError (no id, no known column), ``service.SubmissionInvalid`` (with every
    problem, the row's included) or ``service.SubmissionConflictError``. The caller commits.
    """
    rows = _Rows(session, survey)
    _check_wave_option(rows, wave)
    row = row_from_json(payload, spec=rows.spec, wave=wave)
    data, wave_row = rows.payload(row)
    if data is None or wave_row is None:
        raise service.SubmissionInvalid([rules.AnswerProblem(p.item or "", p.message) for p in row.problems])
    return service.submit(session=session, survey=survey, wave=wave_row, payload=data, enumerator=None, source="kobo",
                          ip=ip, audit=True)


# --- jobs on disk --------------------------------------------------------------------------------


class JobError(ValueError):
    """The job cannot do what was asked (unknown, not yours, wrong state)."""

    def __init__(self, message: str, status_code: int = 400):
        self.message = message
        self.status_code = status_code
        super().__init__(message)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# One import as the screen follows it; saved as job.json in its directory.
@dataclass
class ImportJob:
    id: str
    survey_id: int
    user_id: int | None
    filename: str
    wave: str | None
    mapping: dict[str, str]
    state: str = "mapping"
    confirmed: bool = False  # import the good rows even if there are bad ones
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    phase_rows: int = 0
    fraction: float = 0.0
    header: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    @property
    def stale(self) -> bool:
        if self.state not in RUNNING_STATES:
            return False
        updated = datetime.fromisoformat(self.updated_at)
        return (datetime.now(timezone.utc) - updated).total_seconds() > STALE_AFTER

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES and not self.stale

    @property
    def percent(self) -> int:
        return max(0, min(100, int(self.fraction * 100)))

    def import_report(self) -> ImportReport:
        return ImportReport.from_dict(self.report)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(running=self.running, interrupted=self.stale, percent=self.percent)
        return data


def _jobs_root(data_dir: Path) -> Path:
    return Path(data_dir) / "imports"


def _job_dir(data_dir: Path, job_id: str) -> Path:
    if not _JOB_ID.match(job_id):
        raise JobError("There is no such import.", 404)
    return _jobs_root(data_dir) / job_id


def _save(data_dir: Path, job: ImportJob) -> None:
    job.updated_at = _now()
    directory = _job_dir(data_dir, job.id)
    tmp = directory / f"job.json.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(asdict(job), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, directory / "job.json")  # readers never see half a file


def load_job(data_dir: Path, job_id: str, *, survey_id: int | None = None, user: User | None = None) -> ImportJob:
    """The job, if it exists, belongs to ``survey_id`` and was started by ``user`` (or user is an admin)."""
    path = _job_dir(data_dir, job_id) / "job.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        raise JobError("There is no such import.", 404) from None
    job = ImportJob(**{k: v for k, v in data.items() if k in ImportJob.__dataclass_fields__})
    if survey_id is not None and job.survey_id != survey_id:
        raise JobError("There is no such import.", 404)
    if user is not None and job.user_id != user.id and user.role.value != "admin":
        raise JobError("This import was started by someone else.", 403)
    return job


def job_source(data_dir: Path, job: ImportJob) -> Path:
    return _job_dir(data_dir, job.id) / ("source" + Path(job.filename).suffix.lower()[:6])


def problems_csv_path(data_dir: Path, job: ImportJob) -> Path:
    return _job_dir(data_dir, job.id) / "problems.csv"


def list_jobs(data_dir: Path, *, survey_id: int, user: User, limit: int = 10) -> list[ImportJob]:
    """The user's recent imports into the survey (all users' for an admin), newest first."""
    root = _jobs_root(data_dir)
    if not root.is_dir():
        return []
    jobs = []
    for directory in root.iterdir():
        try:
            jobs.append(load_job(data_dir, directory.name, survey_id=survey_id, user=user))
        except JobError:
            continue
    jobs.sort(key=lambda j: j.created_at, reverse=True)
    return jobs[:limit]


def _purge_old(data_dir: Path) -> None:
    root = _jobs_root(data_dir)
    if not root.is_dir():
        return
    cutoff = time.time() - _KEEP_DAYS * 86400
    for directory in root.iterdir():
        try:
            if directory.is_dir() and directory.stat().st_mtime < cutoff:
                shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue


def create_job(data_dir: Path, *, session: Session, survey: Survey, user: User | None, filename: str,
               upload: IO[bytes], wave: str | None, mapping: Mapping[str, str], confirmed: bool = False) -> ImportJob:
    """Keep the uploaded file and read its header. State ``mapping`` when the columns need help.

    ``confirmed`` imports the good rows even if the check finds bad ones (the CLI's ``--yes``).
    """
    _purge_old(data_dir)
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".txt", ".tsv", ".xlsx", ".xlsm"):
        raise JobError("Upload a .csv or .xlsx file as exported by KoboToolbox or ODK Central.", 400)
    job = ImportJob(id=secrets.token_urlsafe(18), survey_id=survey.id, user_id=user.id if user else None,  # type: ignore[arg-type]
                    filename=Path(filename).name[:200], wave=wave or None, mapping=dict(mapping))
    directory = _job_dir(data_dir, job.id)
    directory.mkdir(parents=True)
    with open(job_source(data_dir, job), "wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)
    replan(data_dir, job, session=session, survey=survey)
    if confirmed:
        job.confirmed = True
        _save(data_dir, job)
    return job


def replan(data_dir: Path, job: ImportJob, *, session: Session, survey: Survey, wave: str | None = None,
           mapping: Mapping[str, str] | None = None) -> ImportJob:
    """Read the header again (with a new wave or mapping); ``checking`` if usable, else ``mapping``."""
    if job.running or job.state in ("done", "cancelled"):
        raise JobError("This import can no longer be changed.", 409)
    if wave is not None:
        job.wave = wave or None
    if mapping is not None:
        job.mapping = dict(mapping)
    source = job_source(data_dir, job)
    job.header = _header(source, job.filename)
    try:
        job.plan = plan_file(session=session, survey=survey, source=source, filename=job.filename, wave=job.wave,
                             mapping=job.mapping)
        job.file_problems = []
        job.state = "checking"
    except ImportFileError as err:
        job.file_problems = err.problems
        job.plan = []
        job.state = "mapping"
    job.report, job.phase_rows, job.fraction, job.error, job.confirmed = {}, 0, 0.0, "", False
    _save(data_dir, job)
    return job


def _header(source: Path, filename: str) -> list[str]:
    """The file's column names, for the mapping form (empty when unreadable)."""
    try:
        return read_header(source, filename=filename)
    except ImportFileError:
        return []


_running: set[str] = set()
_running_lock = threading.Lock()


def start_job(engine: Engine, data_dir: Path, job: ImportJob, *, actor_id: int | None) -> threading.Thread | None:
    """Run the job's pending passes in a background thread with its own sessions."""
    with _running_lock:
        if job.id in _running:
            return None
        _running.add(job.id)
    thread = threading.Thread(target=_run_guarded, args=(engine, Path(data_dir), job.id, actor_id),
                              name=f"import-{job.id[:8]}", daemon=True)
    thread.start()
    return thread


def _run_guarded(engine: Engine, data_dir: Path, job_id: str, actor_id: int | None) -> None:
    try:
        run_job(engine, data_dir, job_id, actor_id=actor_id)
    finally:
        with _running_lock:
            _running.discard(job_id)


def run_job(engine: Engine, data_dir: Path, job_id: str, *, actor_id: int | None) -> ImportJob:
    """Check the file, then store its good rows if there is no bad one or the user confirmed.

    1. ``checking``: pass 1, progress saved after every batch; then ``checked`` when bad rows
       wait for a confirmation.
    2. ``importing``: pass 2 (after confirmation, or straight away when every row is good).
    3. ``done`` (the uploaded file is deleted) or ``failed`` with the error.
    """
    job = load_job(data_dir, job_id)
    source = job_source(data_dir, job)

    def progress(phase: str, rows: int, fraction: float) -> None:
        job.state, job.phase_rows, job.fraction = phase, rows, fraction
        _save(data_dir, job)

    try:
        with Session(engine, expire_on_commit=False) as session:
            actor = session.get(User, actor_id) if actor_id else None
            if job.state in ("checking", "mapping") or not job.report:
                survey = session.get(Survey, job.survey_id)
                if survey is None:
                    raise ImportFileError([f"Survey {job.survey_id} no longer exists."])
                progress("checking", 0, 0.0)
                with open(problems_csv_path(data_dir, job), "w", encoding="utf-8", newline="") as problems:
                    report = check_file(session=session, survey=survey, source=source, filename=job.filename,
                                        wave=job.wave, mapping=job.mapping, on_progress=progress, problems_out=problems)
                session.rollback()
                job.report = report.to_dict()
                if report.bad and not job.confirmed:
                    job.state, job.fraction = "checked", 1.0
                    _save(data_dir, job)
                    return job
            report = job.import_report()
            progress("importing", 0, 0.0)
            store_file(engine=engine, survey_id=job.survey_id, source=source, filename=job.filename, wave=job.wave,
                       mapping=job.mapping, actor=actor, report=report, on_progress=progress)
            job.report = report.to_dict()
            job.state, job.fraction = "done", 1.0
            _save(data_dir, job)
            source.unlink(missing_ok=True)
    except ImportFileError as err:
        job.state, job.error = "failed", "; ".join(err.problems)
        _save(data_dir, job)
    except Exception as err:  # the thread must leave a readable state behind
        log.exception("import job %s failed", job_id)
        job.state, job.error = "failed", f"Unexpected error ({type(err).__name__}); it has been logged."
        _save(data_dir, job)
    return job


def confirm_job(data_dir: Path, job: ImportJob) -> ImportJob:
    """The user accepts that the bad rows are left out: the store pass may run."""
    if job.state != "checked" and not (job.stale and job.state == "importing"):
        raise JobError("This import is not waiting for a confirmation.", 409)
    job.confirmed = True
    job.state = "importing"
    _save(data_dir, job)
    return job


def resume_job(data_dir: Path, job: ImportJob) -> ImportJob:
    """Start an interrupted job again from the pass it was in (stored rows are skipped)."""
    if not job.stale and job.state != "failed":
        raise JobError("This import is not interrupted.", 409)
    if job.state == "failed" and not job.report:
        job.state = "checking"
    elif job.state == "failed":
        job.state = "importing"
    _save(data_dir, job)
    return job


def cancel_job(data_dir: Path, job: ImportJob) -> ImportJob:
    if job.running:
        raise JobError("This import is running; wait for it to finish.", 409)
    if job.state == "done":
        raise JobError("This import is finished.", 409)
    job.state = "cancelled"
    _save(data_dir, job)
    job_source(data_dir, job).unlink(missing_ok=True)
    return job


def report_lines(report: ImportReport) -> list[str]:
    """The counts of a report as sentences (CLI and screen)."""
    lines = [f"{report.rows} rows read: {report.good} good, {report.bad} with problems."]
    if report.good:
        lines.append(f"  {report.new} new, {report.already} already imported, {report.repeated} repeated in the file.")
    if report.conflicts:
        lines.append(f"  {report.conflicts} ids already stored with different answers (kept aside, not imported).")
    return lines


def problem_lines(problems: Iterable[RowProblem], limit: int = 50) -> list[str]:
    out = []
    for i, p in enumerate(problems):
        if i >= limit:
            out.append("  …")
            break
        out.append(f"  {p}")
    return out
