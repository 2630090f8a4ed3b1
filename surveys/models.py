"""Tables of the surveys package: surveys, instrument versions, waves, submissions and their history."""

from __future__ import annotations

import enum
import uuid as uuid_module
from datetime import date, datetime

from sqlalchemy import JSON, Column, Enum, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

__all__ = [
    "AnalysisScope",
    "InstrumentVersion",
    "Submission",
    "SubmissionConflict",
    "SubmissionRevision",
    "SubmissionStatus",
    "Survey",
    "Wave",
    "WaveDesign",
    "WaveKind",
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


# One interview, stored whole; its uuid is made by the client so a resend is recognised.
class Submission(SQLModel, table=True):
    __tablename__ = "submission"
    __table_args__ = (
        Index("ix_submission_survey_wave_status", "survey_id", "wave_id", "status"),
        Index("ix_submission_enumerator", "enumerator_id", "received_at"),
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


def new_uuid() -> str:
    return str(uuid_module.uuid4())
