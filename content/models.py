"""Tables of the content library, and the schemas its API reads and returns.

A key message (:class:`Message`) has numbered, immutable versions
(:class:`MessageVersion`); each version holds the message's details and its
variants (:class:`ContentVariant`, one per language x channel format, social
posts also per platform). Every save makes a new version. The message points at
its latest version (``current_version_id``) and at the version a lead approved
(``approved_version_id``), which stays the one usable for scheduling while a
newer draft is written and reviewed.

Attachments (:class:`Attachment`) are files stored by checksum; variants link to
them (:class:`VariantAttachment`). Transitions of the review flow are kept in
:class:`MessageTransition` (and in the audit log). Messages link to the KAP survey
items they aim to move (:class:`MessageSurveyItem`). Campaign-defined template
variables live in :class:`ContentVariable`, library settings in
:class:`ContentSetting`.
"""

from __future__ import annotations

import enum
import uuid as uuid_module
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Enum, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

__all__ = [
    "Attachment",
    "AttachmentPublic",
    "Channel",
    "ContentSetting",
    "ContentVariable",
    "ContentVariant",
    "Message",
    "MessageCreate",
    "MessageDetail",
    "MessagePublic",
    "MessageStatus",
    "MessageSurveyItem",
    "MessageTransition",
    "MessageUpdate",
    "MessageVersion",
    "SurveyItemLinkIn",
    "SurveyItemLinkPublic",
    "TransitionIn",
    "TransitionPublic",
    "VariableIn",
    "VariablePublic",
    "VariantAttachment",
    "VariantIn",
    "VariantPublic",
    "VersionPublic",
    "new_uid",
]


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


def new_uid() -> str:
    return str(uuid_module.uuid4())


class MessageStatus(str, enum.Enum):
    draft = "draft"
    in_review = "in_review"
    approved = "approved"
    retired = "retired"

    @property
    def label(self) -> str:
        return {"draft": "Draft", "in_review": "In review", "approved": "Approved", "retired": "Retired"}[self.value]


class Channel(str, enum.Enum):
    sms = "sms"
    radio = "radio"
    social = "social"
    email = "email"
    briefing = "briefing"

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self]


CHANNEL_LABELS = {
    Channel.sms: "SMS",
    Channel.radio: "Radio spot",
    Channel.social: "Social post",
    Channel.email: "E-mail",
    Channel.briefing: "Judiciary briefing",
}


# --- Tables ------------------------------------------------------------------------------


# A key message: what the list shows and filters on (copied from its latest version).
class Message(SQLModel, table=True):
    __tablename__ = "content_message"

    id: int | None = Field(default=None, primary_key=True)
    # Stable across databases: export and import match messages by it.
    uid: str = Field(default_factory=new_uid, sa_column=Column(String(36), unique=True, nullable=False))
    title: str = Field(max_length=200)
    objective: str = Field(default="", sa_type=Text)
    themes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    segments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: MessageStatus = Field(default=MessageStatus.draft, sa_column=Column(_enum(MessageStatus), nullable=False, index=True))
    current_version_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("content_version.id", use_alter=True, name="fk_content_message_current_version", ondelete="SET NULL"),
        nullable=True))
    # The version a lead approved: the one scheduling uses, even while a newer draft is reviewed.
    approved_version_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("content_version.id", use_alter=True, name="fk_content_message_approved_version", ondelete="SET NULL"),
        nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow)


# One saved state of a message: its details; its variants hang from it. Never changed once written.
class MessageVersion(SQLModel, table=True):
    __tablename__ = "content_version"
    __table_args__ = (UniqueConstraint("message_id", "number", name="uq_content_version_number"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="content_message.id", index=True, ondelete="CASCADE")
    number: int
    title: str = Field(max_length=200)
    objective: str = Field(default="", sa_type=Text)
    themes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    segments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # What this save changed, in words ("Edited the ht SMS").
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_by_name: str = Field(default="", max_length=64)


# The text of a message in one language for one channel format, in one version.
class ContentVariant(SQLModel, table=True):
    __tablename__ = "content_variant"
    __table_args__ = (
        UniqueConstraint("version_id", "language", "channel", "platform", name="uq_content_variant"),
        Index("ix_content_variant_language_channel", "language", "channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version_id: int = Field(foreign_key="content_version.id", index=True, ondelete="CASCADE")
    language: str = Field(max_length=35)  # BCP 47, canonical case
    channel: Channel = Field(sa_column=Column(_enum(Channel, 10), nullable=False))
    platform: str = Field(default="", max_length=20)  # social only: x, facebook, instagram, whatsapp, tiktok
    subject: str = Field(default="", max_length=200)  # e-mail only
    body: str = Field(sa_type=Text)
    target_seconds: int | None = None  # radio only: 15, 30 or 60
    alt_text: str = Field(default="", max_length=1000)  # social image description


# A file stored once under its checksum; any number of variants may use it.
class Attachment(SQLModel, table=True):
    __tablename__ = "content_attachment"

    id: int | None = Field(default=None, primary_key=True)
    # "<sha256>.<ext>": the name of the file in storage.
    storage_name: str = Field(sa_column=Column(String(80), unique=True, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=255)  # as uploaded, for downloads
    file_type: str = Field(max_length=10)  # key of content.rules.FILE_TYPES
    content_type: str = Field(max_length=100)
    size: int
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# Which attachments a variant carries, in order.
class VariantAttachment(SQLModel, table=True):
    __tablename__ = "content_variant_attachment"

    variant_id: int = Field(foreign_key="content_variant.id", primary_key=True, ondelete="CASCADE")
    attachment_id: int = Field(foreign_key="content_attachment.id", primary_key=True, index=True)
    position: int = 0


# One step of the review flow: submit, approve, send back, withdraw, retire, restore.
class MessageTransition(SQLModel, table=True):
    __tablename__ = "content_transition"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="content_message.id", index=True, ondelete="CASCADE")
    version_id: int | None = Field(default=None, foreign_key="content_version.id", ondelete="SET NULL")
    version_number: int | None = None
    action: str = Field(max_length=20)
    from_status: str = Field(max_length=20)
    to_status: str = Field(max_length=20)
    comment: str = Field(default="", max_length=2000)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    actor_name: str = Field(default="", max_length=64)
    at: datetime = Field(default_factory=utcnow)


# A KAP survey item the message aims to move (validated against the survey's latest instrument).
class MessageSurveyItem(SQLModel, table=True):
    __tablename__ = "content_message_survey_item"
    __table_args__ = (UniqueConstraint("message_id", "survey_id", "item_code", name="uq_content_message_survey_item"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="content_message.id", index=True, ondelete="CASCADE")
    survey_id: int = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    item_code: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)


# A campaign-defined template variable, or the sample/longest values of a standard one.
class ContentVariable(SQLModel, table=True):
    __tablename__ = "content_variable"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    # Shown in previews.
    sample: str = Field(default="", max_length=200)
    # The longest value expected: SMS segments and social lengths are counted with it.
    longest: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)


# A library-wide setting (e.g. the SMS segment limit).
class ContentSetting(SQLModel, table=True):
    __tablename__ = "content_setting"

    key: str = Field(sa_column=Column(String(40), primary_key=True))
    value: Any = Field(sa_column=Column(JSON, nullable=False))


# --- API schemas -------------------------------------------------------------------------


# Body of a variant save: one language x channel format (x platform for social posts).
class VariantIn(SQLModel):
    language: str = Field(max_length=35)
    channel: Channel
    platform: str = Field(default="", max_length=20)
    subject: str = Field(default="", max_length=200)
    body: str = Field(default="", max_length=200_000)
    target_seconds: int | None = None
    alt_text: str = Field(default="", max_length=1000)
    # Ids of attachments uploaded beforehand (POST /api/v1/content/attachments).
    attachment_ids: list[int] = Field(default_factory=list, max_length=20)


# Body of a message creation; variants are optional.
class MessageCreate(SQLModel):
    title: str = Field(max_length=200)
    objective: str = Field(default="", max_length=5000)
    themes: list[str] = Field(default_factory=list, max_length=20)
    segments: list[str] = Field(default_factory=list, max_length=20)
    variants: list[VariantIn] = Field(default_factory=list, max_length=200)


# Body of a change of a message's details; absent fields keep their value.
class MessageUpdate(SQLModel):
    title: str | None = Field(default=None, max_length=200)
    objective: str | None = Field(default=None, max_length=5000)
    themes: list[str] | None = Field(default=None, max_length=20)
    segments: list[str] | None = Field(default=None, max_length=20)
    # The version the change was made on; refused if someone saved a newer one meanwhile.
    base_version: int | None = None


# Body of a review-flow step.
class TransitionIn(SQLModel):
    comment: str = Field(default="", max_length=2000)
    # The version number the reviewer looked at; refused if the message changed since.
    version: int | None = None
    # An administrator approving a version they wrote says why (audited); nobody else may.
    override_reason: str = Field(default="", max_length=500)


# Body of a survey item link.
class SurveyItemLinkIn(SQLModel):
    survey_id: int
    item_code: str = Field(max_length=80)


# Body of a variable creation or change.
class VariableIn(SQLModel):
    name: str = Field(max_length=40)
    sample: str = Field(default="", max_length=200)
    longest: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=500)


# What the API returns for an attachment.
class AttachmentPublic(SQLModel):
    id: int
    filename: str
    file_type: str
    content_type: str
    size: int
    sha256: str
    url: str = ""


# What the API returns for a variant.
class VariantPublic(SQLModel):
    id: int
    language: str
    channel: Channel
    platform: str
    subject: str
    body: str
    target_seconds: int | None
    alt_text: str
    attachments: list[AttachmentPublic] = Field(default_factory=list)


# What the API returns for a version.
class VersionPublic(SQLModel):
    id: int
    number: int
    title: str
    objective: str
    themes: list[str]
    segments: list[str]
    note: str
    created_at: datetime
    created_by: str
    variants: list[VariantPublic] = Field(default_factory=list)


# What the API returns for a review-flow step.
class TransitionPublic(SQLModel):
    id: int
    action: str
    from_status: str
    to_status: str
    version: int | None
    comment: str
    actor: str
    at: datetime


# What the API returns for a survey item link.
class SurveyItemLinkPublic(SQLModel):
    id: int
    survey_id: int
    item_code: str


# What the API lists for a message.
class MessagePublic(SQLModel):
    id: int
    uid: str
    title: str
    objective: str
    themes: list[str]
    segments: list[str]
    status: MessageStatus
    current_version: int | None
    approved_version: int | None
    languages: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


# What the API returns for one message: the list fields plus the latest variants and links.
class MessageDetail(MessagePublic):
    variants: list[VariantPublic] = Field(default_factory=list)
    survey_items: list[SurveyItemLinkPublic] = Field(default_factory=list)


# What the API returns for a variable.
class VariablePublic(SQLModel):
    name: str
    sample: str
    longest: str
    description: str
    standard: bool
