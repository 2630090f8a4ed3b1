"""Tables of campaign planning and delivery.

Planning: a :class:`Campaign` (dates, time zone, languages, regions, the survey waves that
evaluate it) holds :class:`Placement` rows: an approved message version, sent to one or more
audience segments (:class:`PlacementSegment`, segments live in :mod:`audiences`) over a
configured :class:`ChannelConfig` on a timing (once, an RFC 5545 RRULE, relative to a contact's
date, or training sessions). Contacts (:class:`Contact`) are the people of the direct channels;
list segments hold them through :class:`ContactSegment`, rule segments match them by their
fields. Trainings have :class:`TrainingSession` rows with invitations and attendance
(:class:`TrainingAttendance`).

Delivery: every due time of a placement is an :class:`Occurrence` (unique on placement x local
time, so expanding twice creates nothing); an occurrence expands into :class:`Delivery` rows,
one per recipient, or one per airing or session participant, unique on occurrence x recipient
key. Times of the plan are wall-clock times in the campaign's zone (``*_local``, naive);
everything that happened is an aware UTC time.
"""

from __future__ import annotations

import enum
import uuid as uuid_module
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Enum,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from web.accounts.models import utcnow

__all__ = [
    "MAX_ID",
    "Campaign",
    "CampaignIn",
    "CampaignStatus",
    "ChannelConfig",
    "ChannelKind",
    "Contact",
    "ContactOptOut",
    "ContactSegment",
    "Delivery",
    "DeliveryStatus",
    "InboundMessage",
    "Occurrence",
    "OccurrenceStatus",
    "Placement",
    "PlacementSegment",
    "PlacementStatus",
    "SchedulerLease",
    "Timing",
    "TrainingAttendance",
    "TrainingSession",
    "new_uid",
]

MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


def new_uid() -> str:
    return str(uuid_module.uuid4())


def _local() -> Any:
    """A wall-clock time in the campaign's zone (no offset stored: it is applied when due)."""
    return DateTime(timezone=False)


class CampaignStatus(str, enum.Enum):
    draft = "draft"
    active = "active"
    paused = "paused"
    finished = "finished"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class ChannelKind(str, enum.Enum):
    sms = "sms"
    email = "email"
    social = "social"
    radio = "radio"
    training = "training"

    @property
    def label(self) -> str:
        return {"sms": "SMS", "email": "E-mail", "social": "Social media page", "radio": "Radio station",
                "training": "Training venue or partner"}[self.value]

    @property
    def content_format(self) -> str:
        """The content library's channel format (:class:`content.models.Channel`) this kind sends."""
        return {"training": "briefing"}.get(self.value, self.value)

    @property
    def direct(self) -> bool:
        """Whether it reaches contacts one by one (SMS, e-mail) rather than an audience at large."""
        return self in (ChannelKind.sms, ChannelKind.email)


class PlacementStatus(str, enum.Enum):
    active = "active"
    paused = "paused"
    cancelled = "cancelled"


class Timing(str, enum.Enum):
    once = "once"
    recurring = "recurring"  # an RFC 5545 RRULE from starts_local
    relative = "relative"  # days after a contact's date field, at a time of day
    sessions = "sessions"  # training sessions (TrainingSession rows)


class OccurrenceStatus(str, enum.Enum):
    planned = "planned"  # known, not yet due (or radio airing not yet confirmed)
    expanded = "expanded"  # its deliveries are in the outbox
    late = "late"  # expanded after its time, within the grace period
    skipped = "skipped"  # missed beyond the grace period, or paused: reason says which
    aired = "aired"  # radio: the station confirmed it
    missed = "missed"  # radio: the station said it did not air


class DeliveryStatus(str, enum.Enum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    skipped = "skipped"


# --- Campaigns ----------------------------------------------------------------------------


# A campaign: what it aims at, where, when, in which languages, and what evaluates it.
class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=new_uid, sa_column=Column(String(36), unique=True, nullable=False))
    name: str = Field(max_length=200)
    objectives: str = Field(default="", sa_type=Text)
    country: str = Field(default="HT", max_length=2)  # ISO 3166-1 alpha-2: phone numbers' default region
    regions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Regions with no campaign activity, for the analysis' difference in differences.
    comparison_regions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    timezone: str = Field(default="America/Port-au-Prince", max_length=64)  # IANA
    languages: list = Field(default_factory=lambda: ["ht", "fr"], sa_column=Column(JSON, nullable=False))
    start_date: date
    end_date: date
    status: CampaignStatus = Field(default=CampaignStatus.draft,
                                   sa_column=Column(_enum(CampaignStatus), nullable=False, index=True))
    survey_id: int | None = Field(default=None, foreign_key="survey.id", ondelete="SET NULL")
    baseline_wave_id: int | None = Field(default=None, foreign_key="wave.id", ondelete="SET NULL")
    endline_wave_id: int | None = Field(default=None, foreign_key="wave.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow)
    activated_at: datetime | None = None
    activated_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# --- Contacts -----------------------------------------------------------------------------


# A person reached by a direct channel. Personal data: only planning roles see it.
class Contact(SQLModel, table=True):
    __tablename__ = "campaign_contact"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=new_uid, sa_column=Column(String(36), unique=True, nullable=False))
    name: str = Field(default="", max_length=120)
    phone: str | None = Field(default=None, sa_column=Column(String(20), unique=True, nullable=True))  # E.164
    email: str | None = Field(default=None, sa_column=Column(String(254), unique=True, nullable=True))  # lower-case
    language: str = Field(default="", max_length=35)
    region: str = Field(default="", max_length=80, index=True)
    attributes: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    consent_at: datetime | None = None
    consent_method: str = Field(default="", max_length=80)  # "paper form at training", "SMS keyword JOIN"...
    consent_recorded_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# A contact's membership of a list segment.
class ContactSegment(SQLModel, table=True):
    __tablename__ = "campaign_contact_segment"

    contact_id: int = Field(foreign_key="campaign_contact.id", primary_key=True, ondelete="CASCADE")
    segment_id: int = Field(foreign_key="audience_segment.id", primary_key=True, index=True, ondelete="CASCADE")


# A contact said stop on one channel kind (an SMS keyword, the e-mail link, staff on request).
class ContactOptOut(SQLModel, table=True):
    __tablename__ = "campaign_opt_out"
    __table_args__ = (UniqueConstraint("contact_id", "channel_kind", name="uq_campaign_opt_out"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="campaign_contact.id", index=True, ondelete="CASCADE")
    channel_kind: ChannelKind = Field(sa_column=Column(_enum(ChannelKind), nullable=False))
    opted_out_at: datetime = Field(default_factory=utcnow)
    source: str = Field(default="", max_length=40)  # sms_keyword, email_link, staff, import
    detail: str = Field(default="", max_length=200)  # the keyword, the staff member's note


# --- Channels -----------------------------------------------------------------------------


# A configured channel: an SMS gateway, an SMTP server, a social page, a radio station, a venue.
class ChannelConfig(SQLModel, table=True):
    __tablename__ = "campaign_channel"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    kind: ChannelKind = Field(sa_column=Column(_enum(ChannelKind), nullable=False, index=True))
    # The adapter: generic_http, twilio, rapidpro (SMS); smtp; facebook, webhook (social); station; venue.
    provider: str = Field(default="", max_length=40)
    # Settings that are not secret (URL, sender, frequency, contact person...).
    settings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Secrets (tokens, passwords): a Fernet token of their JSON, never shown again after saving.
    secrets_encrypted: str = Field(default="", sa_type=Text)
    regions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # coverage
    audience_size: int | None = None  # a station's estimated listeners, a venue's seats
    rate_limit_per_minute: int | None = None
    quiet_start: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    quiet_end: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    send_days: list = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], sa_column=Column(JSON, nullable=False))
    frequency_cap_per_week: int | None = None  # at most N messages per contact per rolling 7 days
    sms_segment_limit: int | None = None  # most SMS segments one message may use
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# --- The schedule -------------------------------------------------------------------------


# An approved message version, for some segments, on one channel, at some times.
class Placement(SQLModel, table=True):
    __tablename__ = "campaign_placement"

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=new_uid, sa_column=Column(String(36), unique=True, nullable=False))
    campaign_id: int = Field(foreign_key="campaign.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=200)
    message_id: int = Field(foreign_key="content_message.id", index=True, ondelete="RESTRICT")
    version_id: int = Field(foreign_key="content_version.id", ondelete="RESTRICT")  # the approved version sent
    channel_id: int = Field(foreign_key="campaign_channel.id", index=True, ondelete="RESTRICT")
    status: PlacementStatus = Field(default=PlacementStatus.active,
                                    sa_column=Column(_enum(PlacementStatus), nullable=False))
    timing: Timing = Field(sa_column=Column(_enum(Timing), nullable=False))
    starts_local: datetime | None = Field(default=None, sa_column=Column(_local(), nullable=True))
    rrule: str = Field(default="", max_length=500)  # RFC 5545 RRULE, without DTSTART
    # Recurring: the times of each day the rule gives (a station's rotation: 07:30, 12:15, 18:45).
    times_of_day: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Broadcast channels (radio, social, trainings): the language of the spot, post or session.
    # Empty for SMS and e-mail: each contact gets their language, falling back along the campaign's.
    language: str = Field(default="", max_length=35)
    relative_field: str = Field(default="", max_length=80)  # consent_at, created_at or attributes.<name>
    offset_days: int = Field(default=0)
    at_time: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    duration_seconds: int | None = None  # a radio spot's length, a session's length
    social_platform: str = Field(default="", max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    updated_at: datetime = Field(default_factory=utcnow)
    paused_at: datetime | None = None


class PlacementSegment(SQLModel, table=True):
    __tablename__ = "campaign_placement_segment"

    placement_id: int = Field(foreign_key="campaign_placement.id", primary_key=True, ondelete="CASCADE")
    segment_id: int = Field(foreign_key="audience_segment.id", primary_key=True, ondelete="RESTRICT")


# A training or briefing session of a training placement.
class TrainingSession(SQLModel, table=True):
    __tablename__ = "campaign_training_session"

    id: int | None = Field(default=None, primary_key=True)
    placement_id: int = Field(foreign_key="campaign_placement.id", index=True, ondelete="CASCADE")
    starts_local: datetime = Field(sa_column=Column(_local(), nullable=False))
    duration_minutes: int = Field(default=180)
    venue: str = Field(default="", max_length=200)
    facilitator: str = Field(default="", max_length=120)
    capacity: int | None = None
    pre_wave_id: int | None = Field(default=None, foreign_key="wave.id", ondelete="SET NULL")
    post_wave_id: int | None = Field(default=None, foreign_key="wave.id", ondelete="SET NULL")
    notes: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class TrainingAttendance(SQLModel, table=True):
    __tablename__ = "campaign_training_attendance"
    __table_args__ = (UniqueConstraint("session_id", "contact_id", name="uq_campaign_attendance"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="campaign_training_session.id", index=True, ondelete="CASCADE")
    contact_id: int = Field(foreign_key="campaign_contact.id", index=True, ondelete="CASCADE")
    invited_at: datetime = Field(default_factory=utcnow)
    attended: bool | None = None  # None: not recorded yet
    recorded_at: datetime | None = None
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")


# --- Delivery -----------------------------------------------------------------------------


# One due time of a placement. For radio it is one airing, for trainings one session.
class Occurrence(SQLModel, table=True):
    __tablename__ = "campaign_occurrence"
    __table_args__ = (
        UniqueConstraint("placement_id", "local_at", name="uq_campaign_occurrence"),
        Index("ix_campaign_occurrence_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    placement_id: int = Field(foreign_key="campaign_placement.id", index=True, ondelete="CASCADE")
    local_at: datetime = Field(sa_column=Column(_local(), nullable=False))
    due_at: datetime  # local_at in the campaign's zone, as UTC
    status: OccurrenceStatus = Field(default=OccurrenceStatus.planned,
                                     sa_column=Column(_enum(OccurrenceStatus), nullable=False))
    reason: str = Field(default="", max_length=300)
    session_id: int | None = Field(default=None, foreign_key="campaign_training_session.id", ondelete="CASCADE")
    recipients: int = Field(default=0)
    expanded_at: datetime | None = None
    confirmed_at: datetime | None = None  # radio: when the station confirmed aired or missed
    confirmed_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


# One message to one recipient (or one airing, one participant): the outbox and the delivery log.
class Delivery(SQLModel, table=True):
    __tablename__ = "campaign_delivery"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "recipient_key", name="uq_campaign_delivery"),
        Index("ix_campaign_delivery_claim", "status", "next_attempt_at"),
        Index("ix_campaign_delivery_contact_sent", "contact_id", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The gateways' idempotency key and the id in callbacks and unsubscribe links.
    uid: str = Field(default_factory=new_uid, sa_column=Column(String(36), unique=True, nullable=False))
    occurrence_id: int = Field(foreign_key="campaign_occurrence.id", index=True, ondelete="CASCADE")
    placement_id: int = Field(foreign_key="campaign_placement.id", index=True, ondelete="CASCADE")
    campaign_id: int = Field(foreign_key="campaign.id", index=True, ondelete="CASCADE")
    channel_id: int = Field(foreign_key="campaign_channel.id", index=True, ondelete="RESTRICT")
    # "c<contact id>" for a contact, "airing" for a radio airing, "post" for a social post.
    recipient_key: str = Field(max_length=40)
    contact_id: int | None = Field(default=None, foreign_key="campaign_contact.id", ondelete="SET NULL")
    segment_id: int | None = Field(default=None, foreign_key="audience_segment.id", ondelete="SET NULL")
    language: str = Field(default="", max_length=35)
    variant_id: int | None = Field(default=None, foreign_key="content_variant.id", ondelete="SET NULL")
    status: DeliveryStatus = Field(default=DeliveryStatus.queued,
                                   sa_column=Column(_enum(DeliveryStatus), nullable=False))
    reason: str = Field(default="", max_length=500)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = None
    claimed_by: str = Field(default="", max_length=80)
    lease_until: datetime | None = None
    gateway_message_id: str = Field(default="", max_length=120, index=True)
    due_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


# An SMS that came in (opt-out keywords and replies): who, what, what Konbit did with it.
class InboundMessage(SQLModel, table=True):
    __tablename__ = "campaign_inbound"

    id: int | None = Field(default=None, primary_key=True)
    channel_id: int = Field(foreign_key="campaign_channel.id", index=True, ondelete="CASCADE")
    contact_id: int | None = Field(default=None, foreign_key="campaign_contact.id", ondelete="SET NULL")
    external_id: str = Field(default="", max_length=120)
    text: str = Field(default="", max_length=1600)
    received_at: datetime = Field(default_factory=utcnow)
    action: str = Field(default="", max_length=40)  # opted_out, unknown_sender, ignored


# Who runs the scheduler: one row per role, held by a heartbeat (the standby waits for it to lapse).
class SchedulerLease(SQLModel, table=True):
    __tablename__ = "campaign_scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(default="", max_length=120)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)


# --- API schemas --------------------------------------------------------------------------


# Body of a campaign creation or edit.
class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=200)
    objectives: str = PField(default="", max_length=10_000)
    country: str = PField(default="HT", min_length=2, max_length=2)
    regions: list[str] = PField(default_factory=list, max_length=100)
    comparison_regions: list[str] = PField(default_factory=list, max_length=100)
    timezone: str = PField(default="America/Port-au-Prince", max_length=64)
    languages: list[str] = PField(default_factory=lambda: ["ht", "fr"], min_length=1, max_length=10)
    start_date: date
    end_date: date
    survey_id: int | None = PField(default=None, ge=1, le=MAX_ID)
    baseline_wave_id: int | None = PField(default=None, ge=1, le=MAX_ID)
    endline_wave_id: int | None = PField(default=None, ge=1, le=MAX_ID)
