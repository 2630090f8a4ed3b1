"""The audience segment table and the schemas its API reads and returns.

A segment is either a list (contacts are members through ``campaign_contact_segment``) or a
rule over contact fields (``rule`` set: members are whoever the rule matches, evaluated by
:mod:`campaign.rules`). Content targets and survey answers refer to segments by ``code``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import JSON, Column, Enum, String, Text
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

from .segments import SegmentKind

__all__ = ["AudienceSegment", "SegmentIn", "SegmentPublic"]


def _enum(cls, length: int = 24) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


# An audience segment: judges, police in the Ouest department, Kreyòl speakers who consented to SMS...
class AudienceSegment(SQLModel, table=True):
    __tablename__ = "audience_segment"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    name: str = Field(max_length=120)
    description: str = Field(default="", sa_type=Text)
    kind: SegmentKind = Field(default=SegmentKind.general_public, sa_column=Column(_enum(SegmentKind), nullable=False))
    regions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    languages: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    estimated_size: int | None = Field(default=None)
    # None: a list segment. Otherwise a rule over contact fields (campaign.rules.parse_rule).
    rule: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    position: int = Field(default=0)
    archived: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# Body of a segment creation or edit (API and form).
class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = PField(min_length=2, max_length=40, pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name: str = PField(min_length=1, max_length=120)
    description: str = PField(default="", max_length=5000)
    kind: SegmentKind = SegmentKind.general_public
    regions: list[str] = PField(default_factory=list, max_length=50)
    languages: list[str] = PField(default_factory=list, max_length=10)
    estimated_size: int | None = PField(default=None, ge=0, le=100_000_000)
    rule: dict[str, Any] | None = None


# A segment as the API returns it.
class SegmentPublic(BaseModel):
    id: int
    code: str
    name: str
    description: str
    kind: SegmentKind
    regions: list[str]
    languages: list[str]
    estimated_size: int | None
    rule: dict[str, Any] | None
    archived: bool
