"""Tables of the surveys package: surveys, instrument versions, waves, submissions and their history."""

from __future__ import annotations

import enum
import uuid as uuid_module
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PField
from sqlalchemy import JSON, Column, Enum, Index, LargeBinary, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

__all__ = [
    "AnalysisScope",
    "ConflictPublic",
    "InstrumentVersion",
    "InstrumentVersionPublic",
    "ReviewRequest",
    "SamplingUnit",
    "SamplingUnitIn",
    "Submission",
    "SubmissionConflict",
    "SubmissionCorrection",
    "SubmissionIn",
    "SubmissionPublic",
    "SubmissionRevision",
    "SubmissionStatus",
    "Survey",
    "SurveyCreate",
    "SurveyPublic",
    "SurveyUpdate",
    "Wave",
    "WaveCreate",
    "WaveDesign",
    "WaveKind",
    "WavePublic",
    "WaveUpdate",
]


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


class AnalysisScope(str, enum.Enum):
    approved = "approved"  # only submissions a supervisor approved
    non_rejected = "non_rejected"  # everything not rejected


class WaveKind(str, enum.Enum):
    baseline = "baseline"
    midline = "midline"
    endline = "endline"
    pre = "pre"
    post = "post"


class WaveDesign(str, enum.Enum):
    independent = "independent"  # fresh samples each wave
    panel = "panel"  # the same respondents, matched by respondent code


class SubmissionStatus(str, enum.Enum):
    received = "received"
    has_issues = "has_issues"
    approved = "approved"
    rejected = "rejected"


# A KAP survey: what instrument versions and waves hang from.
class Survey(SQLModel, table=True):
    __tablename__ = "survey"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=4000)
    analysis_scope: AnalysisScope = Field(default=AnalysisScope.non_rejected, sa_column=Column(_enum(AnalysisScope), nullable=False))
    # Don't-know share above which a submission is flagged.
    dont_know_threshold: float = Field(default=0.3, ge=0, le=1)
    # An interview shorter than this many seconds per answered question is flagged.
    min_seconds_per_answer: float = Field(default=4.0, ge=0, le=600)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# One version of a survey's questionnaire; immutable once a submission uses it.
class InstrumentVersion(SQLModel, table=True):
    __tablename__ = "instrument_version"
    __table_args__ = (UniqueConstraint("survey_id", "version", name="uq_instrument_version"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    version: int
    title: str = Field(max_length=200)
    # surveys.spec.spec_to_dict of the InstrumentSpec
    spec: dict = Field(sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# A round of data collection with its sampling design.
class Wave(SQLModel, table=True):
    __tablename__ = "wave"
    __table_args__ = (UniqueConstraint("survey_id", "name", name="uq_wave_name"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=40)  # e.g. "baseline", "endline-2026"
    kind: WaveKind = Field(sa_column=Column(_enum(WaveKind), nullable=False))
    design: WaveDesign = Field(default=WaveDesign.independent, sa_column=Column(_enum(WaveDesign), nullable=False))
    starts_on: date | None = None
    ends_on: date | None = None
    is_open: bool = True  # enumerators may submit to it
    notes: str = Field(default="", max_length=2000)
    # Interviews the fieldwork aims at (from the power calculation); None: not set.
    target_sample: int | None = Field(default=None, ge=1, le=10_000_000)


# One unit of a wave's sampling frame: a cluster (PSU) of a stratum, with its weight if declared.
# A wave with no unit has no frame: its design values are not checked.
class SamplingUnit(SQLModel, table=True):
    __tablename__ = "sampling_unit"
    __table_args__ = (UniqueConstraint("wave_id", "stratum", "cluster", name="uq_sampling_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    wave_id: int = Field(foreign_key="wave.id", index=True, ondelete="CASCADE")
    stratum: str = Field(default="", max_length=80)
    cluster: str = Field(default="", max_length=80)
    weight: float | None = Field(default=None, gt=0)


# One interview, stored whole; its uuid is made by the client so a resend is recognised.
class Submission(SQLModel, table=True):
    __tablename__ = "submission"
    __table_args__ = (
        Index("ix_submission_survey_wave_status", "survey_id", "wave_id", "status"),
        Index("ix_submission_enumerator", "enumerator_id", "received_at"),
        # The report's fingerprint (count, latest update, largest id of two waves) from the index alone.
        Index("ix_submission_survey_wave_updated", "survey_id", "wave_id", "updated_at", "id"),
        # The review list's order (received_at DESC, id DESC), read backwards: overall and per survey.
        Index("ix_submission_received", "received_at", "id"),
        Index("ix_submission_survey_received", "survey_id", "received_at", "id"),
        Index("ix_submission_survey_wave_received", "survey_id", "wave_id", "received_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    survey_id: int = Field(foreign_key="survey.id", ondelete="CASCADE")
    wave_id: int = Field(foreign_key="wave.id", ondelete="CASCADE")
    instrument_version_id: int = Field(foreign_key="instrument_version.id", index=True)
    enumerator_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    enumerator_name: str = Field(default="", max_length=64)  # as given in an import
    source: str = Field(default="web", max_length=10)  # web, api, import, kobo
    status: SubmissionStatus = Field(default=SubmissionStatus.received, sa_column=Column(_enum(SubmissionStatus), nullable=False))
    started_at: datetime | None = None
    ended_at: datetime | None = None
    language: str = Field(default="", max_length=35)
    segment: str = Field(default="", max_length=40, index=True)
    region: str = Field(default="", max_length=80)
    cluster: str = Field(default="", max_length=80)
    stratum: str = Field(default="", max_length=80)
    weight: float = Field(default=1.0, gt=0)
    respondent_code: str = Field(default="", max_length=80, index=True)
    arm: str = Field(default="", max_length=20)  # intervention, comparison, or empty
    sex: str = Field(default="", max_length=20)
    age_group: str = Field(default="", max_length=20)
    answers: dict = Field(sa_column=Column(JSON, nullable=False))
    # SHA-256 of the canonical answers and design fields: a resend must match it.
    content_hash: str = Field(max_length=64)
    flags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    revision: int = 1
    review_comment: str = Field(default="", max_length=2000)
    reviewed_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    reviewed_at: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# Earlier states of a submission, kept when it is corrected or reviewed.
class SubmissionRevision(SQLModel, table=True):
    __tablename__ = "submission_revision"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True, ondelete="CASCADE")
    revision: int
    answers: dict = Field(sa_column=Column(JSON, nullable=False))
    design: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changed_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    changed_at: datetime = Field(default_factory=utcnow)
    note: str = Field(default="", max_length=2000)


# A resend whose uuid exists with different content: kept aside for a supervisor.
class SubmissionConflict(SQLModel, table=True):
    __tablename__ = "submission_conflict"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=64, index=True)
    survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="CASCADE")
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    enumerator_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    received_at: datetime = Field(default_factory=utcnow)
    resolved: bool = False
    note: str = Field(default="", max_length=2000)


# One run of a file import (CLI or web): written before its first batch and updated in the same
# transaction as each batch, so after a crash it says exactly what entered; completed, failed,
# or marked interrupted when the same file is imported again (which resumes it).
class ImportRun(SQLModel, table=True):
    __tablename__ = "import_run"
    __table_args__ = (Index("ix_import_run_file", "survey_id", "file_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", ondelete="CASCADE")
    filename: str = Field(default="", max_length=200)
    file_sha256: str = Field(default="", max_length=64)
    wave: str = Field(default="", max_length=80)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=64)
    status: str = Field(default="running", max_length=20)  # running, completed, failed, interrupted
    holder: str = Field(default="", max_length=120)  # host:pid of the process running it
    batches: int = 0
    rows_read: int = 0
    created: int = 0  # submissions stored by this run
    kept_aside: int = 0  # resends with other content, kept as conflicts
    resumed_from_id: int | None = Field(default=None, foreign_key="import_run.id", ondelete="SET NULL")
    error: str = Field(default="", max_length=500)
    started_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


def new_uuid() -> str:
    return str(uuid_module.uuid4())


# --- schemas: what the API and the services take and give ----------------------------------

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_UUID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


# Body of a new survey given as a JSON spec (an XLSForm upload needs no body model).
class SurveyCreate(BaseModel):
    title: str | None = PField(default=None, max_length=200, description="Replaces the spec's own title.")
    description: str = PField(default="", max_length=4000)
    spec: dict[str, Any] = PField(description="An instrument in the layout of surveys.spec.spec_to_dict.")


# Partial update of a survey's settings.
class SurveyUpdate(BaseModel):
    title: str | None = PField(default=None, min_length=1, max_length=200)
    description: str | None = PField(default=None, max_length=4000)
    analysis_scope: AnalysisScope | None = None
    dont_know_threshold: float | None = PField(default=None, ge=0, le=1)
    min_seconds_per_answer: float | None = PField(default=None, ge=0, le=600)


# A survey as the API shows it.
class SurveyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    analysis_scope: AnalysisScope
    dont_know_threshold: float
    min_seconds_per_answer: float
    created_at: datetime


# An instrument version as the API lists it (the spec only on request).
class InstrumentVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survey_id: int
    version: int
    title: str
    note: str
    created_at: datetime
    submissions: int = 0
    locked: bool = PField(default=False, description="True once a submission uses it: it can never change.")
    spec: dict[str, Any] | None = None


def _check_dates(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise ValueError("ends_on is before starts_on")


# Body of a new wave.
class WaveCreate(BaseModel):
    name: str = PField(min_length=1, max_length=40, pattern=_NAME_PATTERN, description='e.g. "baseline", "endline-2026"')
    kind: WaveKind
    design: WaveDesign = WaveDesign.independent
    starts_on: date | None = None
    ends_on: date | None = None
    is_open: bool = True
    notes: str = PField(default="", max_length=2000)
    target_sample: int | None = PField(default=None, ge=1, le=10_000_000,
                                       description="Interviews the fieldwork aims at; empty when not set.")

    @model_validator(mode="after")
    def _dates(self) -> "WaveCreate":
        _check_dates(self.starts_on, self.ends_on)
        return self


# Partial update of a wave.
class WaveUpdate(BaseModel):
    name: str | None = PField(default=None, min_length=1, max_length=40, pattern=_NAME_PATTERN)
    kind: WaveKind | None = None
    design: WaveDesign | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    is_open: bool | None = None
    notes: str | None = PField(default=None, max_length=2000)
    target_sample: int | None = PField(default=None, ge=1, le=10_000_000)


# A wave as the API shows it.
class WavePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    survey_id: int
    name: str
    kind: WaveKind
    design: WaveDesign
    starts_on: date | None
    ends_on: date | None
    is_open: bool
    notes: str
    target_sample: int | None = None


# One unit of a sampling frame as the API takes and gives it.
class SamplingUnitIn(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stratum: str = PField(default="", max_length=80, description="Stratum name; empty when the design has no strata.")
    cluster: str = PField(default="", max_length=80, description="Cluster (PSU) name; empty when not clustered.")
    weight: float | None = PField(default=None, gt=0, allow_inf_nan=False,
                                  description="Sampling weight of its interviews; empty to let each interview carry one.")


# The design and background fields of an interview (shared by a submission and its corrections).
class _DesignFields(BaseModel):
    language: str = PField(default="", max_length=35, description="Language code the interview was held in (ht, fr, en, es).")
    segment: str = PField(default="", max_length=40, description="Audience segment code (audience_segment.code).")
    region: str = PField(default="", max_length=80)
    cluster: str = PField(default="", max_length=80, description="Community or enumeration area.")
    stratum: str = PField(default="", max_length=80)
    weight: float = PField(default=1.0, gt=0, allow_inf_nan=False, description="Sampling weight (> 0).")
    respondent_code: str = PField(default="", max_length=80, description="Panel respondent code, matched across waves.")
    arm: Literal["", "intervention", "comparison"] = ""
    sex: str = PField(default="", max_length=20)
    age_group: str = PField(default="", max_length=20)


# One interview sent to Konbit (API, data-entry form, imports). See surveys.service.submit.
class SubmissionIn(_DesignFields):
    """One interview.

    ``uuid`` is made by the client when the interview starts; sending the same uuid with
    the same content again returns the stored submission, with different content it is
    refused (409) and kept aside for a supervisor. ``answers`` maps item codes to values:
    a choice name for single-choice, Likert and yes/no/don't-know items; a list of choice
    names (or one space-separated string) for multiple choice; a number (or numeric
    string) for integer and decimal items; ``YYYY-MM-DD`` for dates; text for text.
    Unanswered items are left out (``null`` and ``""`` count as unanswered).
    """

    model_config = ConfigDict(extra="ignore")

    uuid: str = PField(min_length=1, max_length=64, pattern=_UUID_PATTERN,
                       description="Client-generated id of the interview (a UUID4, or Kobo's instanceID).")
    wave: str | int | None = PField(default=None, description="Wave name or id (API only: the service takes the Wave).")
    version: int | None = PField(default=None, ge=1, description="Instrument version collected with; default the latest.")
    answers: dict[str, Any] = PField(default_factory=dict, description="Item code -> answer.")
    started_at: datetime | None = PField(default=None, description="Interview start (ISO 8601; UTC when no offset).")
    ended_at: datetime | None = PField(default=None, description="Interview end (ISO 8601; UTC when no offset).")
    enumerator_name: str = PField(default="", max_length=64, description="Imports only: who collected it, as named in the file.")


# A correction of a submission by its enumerator: the whole answer set again, and any design fields to change.
class SubmissionCorrection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    answers: dict[str, Any] = PField(description="The complete corrected answers (item code -> answer).")
    note: str = PField(default="", max_length=2000, description="What was corrected, for the supervisor.")
    language: str | None = PField(default=None, max_length=35)
    segment: str | None = PField(default=None, max_length=40)
    region: str | None = PField(default=None, max_length=80)
    cluster: str | None = PField(default=None, max_length=80)
    stratum: str | None = PField(default=None, max_length=80)
    weight: float | None = PField(default=None, gt=0, allow_inf_nan=False)
    respondent_code: str | None = PField(default=None, max_length=80)
    arm: Literal["", "intervention", "comparison"] | None = None
    sex: str | None = PField(default=None, max_length=20)
    age_group: str | None = PField(default=None, max_length=20)


# A supervisor's decision on several submissions at once.
class ReviewRequest(BaseModel):
    ids: list[Annotated[int, PField(ge=1, le=2**31 - 1)]] = PField(min_length=1, max_length=1000, description="Submission ids.")
    status: Literal["approved", "has_issues", "rejected"]
    comment: str = PField(default="", max_length=2000, description="Required to send back (has_issues) or reject.")
    override_reason: str = PField(default="", max_length=500,
                                  description="An administrator reviewing interviews they collected says why (audited).")


# A submission as the API shows it.
class SubmissionPublic(BaseModel):
    id: int
    uuid: str
    survey_id: int
    wave_id: int
    wave: str
    instrument_version: int
    enumerator_id: int | None
    enumerator: str
    source: str
    status: SubmissionStatus
    started_at: datetime | None
    ended_at: datetime | None
    language: str
    segment: str
    region: str
    cluster: str
    stratum: str
    weight: float
    respondent_code: str
    arm: str
    sex: str
    age_group: str
    answers: dict[str, Any]
    personal_hidden: list[str] = []  # personal items withheld from this viewer (surveys.privacy)
    flags: list[dict[str, Any]]
    revision: int
    review_comment: str
    reviewed_at: datetime | None
    received_at: datetime
    updated_at: datetime
    content_hash: str


# A resend kept aside because its uuid exists with other content.
class ConflictPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    uuid: str
    survey_id: int | None
    enumerator_id: int | None
    received_at: datetime
    resolved: bool
    note: str
    payload: dict[str, Any]


# Item scores of one submission in the layout of the survey's current scoring key (float32 bytes).
class SubmissionScore(SQLModel, table=True):
    __tablename__ = "submission_score"

    submission_id: int = Field(foreign_key="submission.id", primary_key=True, ondelete="CASCADE")
    key_digest: str = Field(max_length=16)
    scores: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    scored_at: datetime = Field(default_factory=utcnow)


# A computed analysis report and the fingerprint of the data it was computed from.
class AnalysisCache(SQLModel, table=True):
    __tablename__ = "analysis_cache"

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    params_key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    fingerprint: str = Field(max_length=64)
    report: dict = Field(sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)
