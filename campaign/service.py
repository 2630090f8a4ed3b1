"""Campaign planning: campaigns, segments, channels and placements, checked before they are saved.

Services: keyword-only arguments, take a Session, never commit (the caller owns the
transaction). Every refusal is a :class:`PlanError` whose ``errors`` map the culprit field to a
message in words; a save either stores everything it was given or nothing.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment, SegmentIn
from audiences.segments import check_code
from content import rules as content_rules
from content import service as content_svc
from content.models import ContentVariant, Message, MessageStatus, MessageVersion
from surveys.models import Survey, Wave
from web.accounts.models import User, utcnow
from web.accounts.service import record_audit

from . import audience, rules, schedule
from .models import (
    MAX_ID,
    Campaign,
    CampaignIn,
    CampaignStatus,
    ChannelConfig,
    ChannelKind,
    Contact,
    Occurrence,
    OccurrenceStatus,
    Placement,
    PlacementSegment,
    PlacementStatus,
    Timing,
    TrainingAttendance,
    TrainingSession,
)
from .adapters import Adapter
from .adapters import providers as adapter_providers
from .secrets import encrypt_secrets
from .targeting import RuleError, parse_rule

__all__ = [
    "PROVIDERS", "CalendarEvent", "ChannelIn", "PlacementCheck", "PlacementIn", "PlanConflict", "PlanError",
    "Preview", "SessionIn", "add_session", "calendar_events", "campaign_preview", "check_placement",
    "create_campaign", "create_placement", "default_country", "fallback_language", "list_campaigns", "placement_segments",
    "preview_placement", "save_channel", "save_segment", "segment_timeline", "set_campaign_status",
    "set_placement_status", "update_campaign", "update_placement",
]

MAX_LISTED = 5  # offending occurrences named in a message


class PlanError(ValueError):
    """Input that cannot be saved; ``errors`` maps each culprit field to a message."""

    status_code = 422

    def __init__(self, errors: Mapping[str, str] | str, *, field: str = "form"):
        self.errors: dict[str, str] = dict(errors) if isinstance(errors, Mapping) else {field: errors}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return "; ".join(f"{k}: {v}" if k != "form" else v for k, v in self.errors.items())


class PlanConflict(PlanError):
    """A request that the object's state refuses (activating a finished campaign...): 409."""

    status_code = 409


def _clean(text: str | None, limit: int) -> str:
    return " ".join((text or "").split())[:limit]


def _regions(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(_clean(v, 80) for v in values if _clean(v, 80)))


def _fmt(moment: datetime) -> str:
    return moment.strftime("%a %d %b %Y %H:%M")


# --- Campaigns ----------------------------------------------------------------------------


def _check_campaign(session: Session, data: CampaignIn) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = _clean(data.name, 200)
    if not name:
        errors["name"] = "Give the campaign a name."
    problem = rules.check_timezone(data.timezone)
    if problem:
        errors["timezone"] = problem
    if data.end_date < data.start_date:
        errors["end_date"] = "The campaign ends before it starts."
    elif (data.end_date - data.start_date).days > 3 * 366:
        errors["end_date"] = "Plan at most three years at a time."
    languages: list[str] = []
    for tag in data.languages:
        try:
            languages.append(content_rules.validate_language_tag(tag))
        except ValueError as err:
            errors["languages"] = str(err)
    country = data.country.upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        errors["country"] = "Use a two-letter country code (HT, DO, JM...)."
    regions, comparison = _regions(data.regions), _regions(data.comparison_regions)
    both = sorted(set(map(str.lower, regions)) & set(map(str.lower, comparison)))
    if both:
        errors["comparison_regions"] = (f"{', '.join(both)} cannot be both a campaign region and a comparison area "
                                        "(a comparison area has no campaign activity).")
    survey = session.get(Survey, data.survey_id) if data.survey_id else None
    if data.survey_id and survey is None:
        errors["survey_id"] = f"There is no survey {data.survey_id}."
    for name_, wave_id in (("baseline_wave_id", data.baseline_wave_id), ("endline_wave_id", data.endline_wave_id)):
        if wave_id is None:
            continue
        wave = session.get(Wave, wave_id)
        if wave is None or survey is None or wave.survey_id != survey.id:
            errors[name_] = "Choose a wave of the campaign's survey."
    if data.baseline_wave_id and data.baseline_wave_id == data.endline_wave_id:
        errors["endline_wave_id"] = "The endline must be another wave than the baseline."
    if errors:
        raise PlanError(errors)
    return dict(name=name, objectives=(data.objectives or "").strip(), country=country, regions=regions,
                comparison_regions=comparison, timezone=data.timezone, languages=list(dict.fromkeys(languages)),
                start_date=data.start_date, end_date=data.end_date, survey_id=data.survey_id,
                baseline_wave_id=data.baseline_wave_id, endline_wave_id=data.endline_wave_id)


def create_campaign(*, session: Session, data: CampaignIn, actor: User | None, ip: str = "") -> Campaign:
    values = _check_campaign(session, data)
    row = Campaign(**values, created_by_id=actor.id if actor else None)
    session.add(row)
    session.flush()
    record_audit(session=session, actor=actor, action="campaign.create", entity_type="campaign", entity_id=row.id,
                 summary=f"Created campaign {row.name}", ip=ip)
    return row


def update_campaign(*, session: Session, campaign: Campaign, data: CampaignIn, actor: User | None, ip: str = "") -> Campaign:
    if campaign.status == CampaignStatus.finished:
        raise PlanConflict("A finished campaign cannot be changed.")
    values = _check_campaign(session, data)
    changed = sorted(k for k, v in values.items() if getattr(campaign, k) != v)
    for key, value in values.items():
        setattr(campaign, key, value)
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    if changed:
        record_audit(session=session, actor=actor, action="campaign.update", entity_type="campaign",
                     entity_id=campaign.id, summary=f"Changed campaign {campaign.name}", details={"fields": changed}, ip=ip)
    return campaign


#: action -> (statuses it starts from, status it leads to, permission)
STATUS_ACTIONS: Mapping[str, tuple[frozenset[CampaignStatus], CampaignStatus, str]] = {
    "activate": (frozenset({CampaignStatus.draft}), CampaignStatus.active, "campaign.activate"),
    "pause": (frozenset({CampaignStatus.active}), CampaignStatus.paused, "campaign.deliver"),
    "resume": (frozenset({CampaignStatus.paused}), CampaignStatus.active, "campaign.activate"),
    "finish": (frozenset({CampaignStatus.active, CampaignStatus.paused}), CampaignStatus.finished, "campaign.activate"),
}


def set_campaign_status(*, session: Session, campaign: Campaign, action: str, actor: User | None, ip: str = "",
                        now: datetime | None = None, replay: bool = False) -> Campaign:
    """Activate, pause, resume or finish. Activation checks every placement first.

    Pausing stops future sends at once. Resuming does not replay what the pause skipped: the
    occurrences that fell due while paused are recorded as skipped ("campaign paused at its
    time"; the scheduler does it at their time, the resume makes sure of it) and so are the rows
    still queued. ``replay=True`` (resume only) sends now what this pause skipped, see
    :func:`_replay`.
    """
    from web.accounts.permissions import allowed  # noqa: PLC0415

    if action not in STATUS_ACTIONS:
        raise PlanError({"action": f"Unknown action {action[:20]!r}: use {', '.join(STATUS_ACTIONS)}."})
    sources, target, permission = STATUS_ACTIONS[action]
    if actor is not None and not allowed(actor.role, permission):
        raise PlanConflict("Your role does not allow this." if action != "activate"
                           else "Only a programme lead or an administrator can activate a campaign.")
    if campaign.status not in sources:
        raise PlanConflict(f"A {campaign.status.value} campaign cannot be {_past(action)}.")
    if action == "activate":
        placements = _placements(session, campaign.id)
        if not placements:
            raise PlanConflict("The campaign has no placement yet: plan at least one before activating it.")
        problems = {}
        for p in placements:
            if p.status != PlacementStatus.active:
                continue
            check = check_placement(session=session, campaign=campaign, data=PlacementIn.from_row(session, p),
                                    placement_id=p.id)
            if check.errors:
                problems[f"placement {p.id}"] = f"{p.name or 'Placement'}: " + " ".join(check.errors.values())
        if problems:
            raise PlanError(problems)
        campaign.activated_at, campaign.activated_by_id = now or utcnow(), actor.id if actor else None
    when = now or utcnow()
    details: dict[str, Any] = {}
    if action == "pause":
        details["at"] = when.isoformat()  # when the pause began: what a resume skips and may replay
    replayed = None
    if action == "resume":
        from . import outbox  # noqa: PLC0415 - the outbox imports this module

        since = _campaign_paused_since(session, campaign)
        active = [p for p in _placements(session, campaign.id) if p.status == PlacementStatus.active]
        outbox.skip_queued(session=session, reason="campaign paused", campaign_ids={campaign.id: "campaign paused"},
                           now=when)
        for p in active:
            outbox.skip_while_paused(session=session, campaign=campaign, placement=p, since=since, now=when,
                                     reason="campaign paused at its time")
        if replay:
            replayed = sum(_replay(session, campaign, p, since, when) for p in active)
            details["replayed"] = replayed
    old = campaign.status
    campaign.status = target
    campaign.updated_at = when
    session.add(campaign)
    session.flush()
    record_audit(session=session, actor=actor, action=f"campaign.{action}", entity_type="campaign",
                 entity_id=campaign.id, summary=f"{_past(action).capitalize()} campaign {campaign.name}"
                 + (f", {replayed} skipped message(s) queued again" if replayed is not None else ""),
                 details={"from": old.value, "to": target.value, **details}, ip=ip)
    return campaign


def _campaign_paused_since(session: Session, campaign: Campaign) -> datetime | None:
    """When the campaign's current pause began (its last ``campaign.pause`` audit event), if known."""
    from web.accounts.models import AuditEvent  # noqa: PLC0415

    event = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "campaign",
                                                  AuditEvent.entity_id == str(campaign.id),
                                                  AuditEvent.action == "campaign.pause")
                         .order_by(col(AuditEvent.id).desc()).limit(1)).first()
    if event is None:
        return None
    try:
        moment = datetime.fromisoformat(str((event.details or {}).get("at") or ""))
    except ValueError:
        moment = event.at
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _replay(session: Session, campaign: Campaign, placement: Placement, since: datetime | None, now: datetime) -> int:
    """Resume with replay: what the pause skipped is sent now (:func:`campaign.outbox.replay_skipped`),
    however long ago it fell due, unless the campaign's dates are over (nothing is sent after its
    last day) or the campaign is not active (a placement resumed inside a paused campaign)."""
    from . import outbox  # noqa: PLC0415

    if now.astimezone(ZoneInfo(campaign.timezone)).date() > campaign.end_date:
        return 0
    return outbox.replay_skipped(session=session, placement_id=placement.id, since=since, now=now)


def _past(action: str) -> str:
    return {"activate": "activated", "pause": "paused", "resume": "resumed", "finish": "finished"}.get(action, action)


def list_campaigns(*, session: Session) -> list[Campaign]:
    return list(session.exec(select(Campaign).order_by(col(Campaign.start_date).desc(), col(Campaign.id).desc())))


def default_country(*, session: Session) -> str:
    """The country that phone numbers written without a country code belong to: that of the latest
    campaign being run or prepared (active, paused, then draft), else of the latest one; Haiti
    when there is none."""
    order = case((Campaign.status == CampaignStatus.active, 0), (Campaign.status == CampaignStatus.paused, 1),
                 (Campaign.status == CampaignStatus.draft, 2), else_=3)
    country = session.exec(select(Campaign.country).order_by(order, col(Campaign.start_date).desc(),
                                                             col(Campaign.id).desc()).limit(1)).first()
    return (country or "HT").upper()


def _placements(session: Session, campaign_id: int) -> list[Placement]:
    return list(session.exec(select(Placement).where(Placement.campaign_id == campaign_id)
                             .where(Placement.status != PlacementStatus.cancelled).order_by(Placement.id)))


# --- Segments -----------------------------------------------------------------------------


def save_segment(*, session: Session, data: SegmentIn, actor: User | None, segment: AudienceSegment | None = None,
                 ip: str = "") -> AudienceSegment:
    """Create (``segment`` None) or edit a segment; a rule is checked and kept in its clean form."""
    errors: dict[str, str] = {}
    problem = check_code(data.code)
    if problem:
        errors["code"] = problem
    clash = session.exec(select(AudienceSegment).where(AudienceSegment.code == data.code)).first()
    if clash is not None and (segment is None or clash.id != segment.id):
        errors["code"] = f"There is already a segment {data.code}."
    if segment is not None and data.code != segment.code:
        errors["code"] = "A segment's code cannot change: content and surveys refer to it."
    rule_json = None
    if data.rule:
        try:
            rule_json = parse_rule(data.rule).as_json()
        except RuleError as err:
            errors.update({f"rule.{k}": v for k, v in err.errors.items()})
    languages: list[str] = []
    for tag in data.languages:
        try:
            languages.append(content_rules.validate_language_tag(tag))
        except ValueError as err:
            errors["languages"] = str(err)
    if not _clean(data.name, 120):
        errors["name"] = "Give the segment a name."
    if errors:
        raise PlanError(errors)
    values = dict(code=data.code, name=_clean(data.name, 120), description=(data.description or "").strip(),
                  kind=data.kind, regions=_regions(data.regions), languages=list(dict.fromkeys(languages)),
                  estimated_size=data.estimated_size, rule=rule_json)
    if segment is None:
        position = session.exec(select(func.max(AudienceSegment.position))).one() or 0
        segment = AudienceSegment(**values, position=position + 1)
        action = "segment.create"
    else:
        for key, value in values.items():
            setattr(segment, key, value)
        segment.updated_at = utcnow()
        action = "segment.update"
    session.add(segment)
    session.flush()
    record_audit(session=session, actor=actor, action=action, entity_type="audience_segment", entity_id=segment.id,
                 summary=f"{'Created' if action.endswith('create') else 'Changed'} segment {segment.name}", ip=ip)
    return segment


# --- Channels -----------------------------------------------------------------------------

class _Providers(Mapping):
    """kind -> provider -> its adapter class, read from the adapter registry each time, so a provider
    registered later (one more module in :mod:`campaign.adapters`) is known without a list here."""

    def __getitem__(self, kind: ChannelKind) -> dict[str, type[Adapter]]:
        return adapter_providers(ChannelKind(kind))

    def __iter__(self):
        return iter(ChannelKind)

    def __len__(self) -> int:
        return len(ChannelKind)


#: kind -> provider -> adapter class (its ``setting_fields`` and ``secret_fields``)
PROVIDERS: Mapping[ChannelKind, Mapping[str, type[Adapter]]] = _Providers()


class ChannelIn(BaseModel):
    """Body of a channel creation or edit. ``secrets``: empty values keep what is saved."""

    model_config = ConfigDict(extra="forbid")

    name: str = PField(min_length=1, max_length=120)
    kind: ChannelKind
    provider: str = PField(default="", max_length=40)
    settings: dict[str, Any] = PField(default_factory=dict)  # JSON values, or form text parsed per the provider's fields
    secrets: dict[str, str] = PField(default_factory=dict)
    regions: list[str] = PField(default_factory=list, max_length=50)
    audience_size: int | None = PField(default=None, ge=0, le=100_000_000)
    rate_limit_per_minute: int | None = PField(default=None, ge=1, le=1_000_000)
    quiet_start: time | None = None
    quiet_end: time | None = None
    send_days: list[int] = PField(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], max_length=7)
    frequency_cap_per_week: int | None = PField(default=None, ge=1, le=1000)
    sms_segment_limit: int | None = PField(default=None, ge=1, le=10)
    active: bool = True


def save_channel(*, session: Session, data: ChannelIn, actor: User | None, secret_key: str,
                 channel: ChannelConfig | None = None, ip: str = "") -> ChannelConfig:
    """Create or edit a channel. Secrets are encrypted; they never reach the audit trail or a page."""
    errors: dict[str, str] = {}
    providers = PROVIDERS[data.kind]
    provider = data.provider or next(iter(providers))
    if provider not in providers:
        errors["provider"] = f"A {data.kind.label} channel uses {', '.join(providers)}."
        raise PlanError(errors)
    adapter = providers[provider]
    settings, errors = adapter.clean_settings(data.settings)
    secret_names = adapter.secret_fields
    bad_secrets = sorted(set(data.secrets) - set(secret_names))
    if bad_secrets:
        errors["secrets"] = (f"Unknown secret(s) {', '.join(bad_secrets)} for {provider}"
                             + (f": use {', '.join(secret_names)}." if secret_names else ": it has none."))
    if (data.quiet_start is None) != (data.quiet_end is None):
        errors["quiet_end"] = "Give both the start and the end of quiet hours, or neither."
    days = sorted(set(data.send_days))
    if any(d < 0 or d > 6 for d in days):
        errors["send_days"] = "Days are 0 (Monday) to 6 (Sunday)."
    elif not days:
        errors["send_days"] = "Choose at least one sending day."
    if errors:
        raise PlanError(errors)
    from .secrets import decrypt_secrets  # noqa: PLC0415

    kept = decrypt_secrets(channel.secrets_encrypted, secret_key=secret_key) if channel and channel.secrets_encrypted else {}
    kept.update({k: v for k, v in data.secrets.items() if v})
    values = dict(name=_clean(data.name, 120), kind=data.kind, provider=provider, settings=settings,
                  secrets_encrypted=encrypt_secrets(kept, secret_key=secret_key), regions=_regions(data.regions),
                  audience_size=data.audience_size, rate_limit_per_minute=data.rate_limit_per_minute,
                  quiet_start=data.quiet_start, quiet_end=data.quiet_end, send_days=days,
                  frequency_cap_per_week=data.frequency_cap_per_week, sms_segment_limit=data.sms_segment_limit,
                  active=data.active)
    if channel is None:
        channel = ChannelConfig(**values)
    else:
        if channel.kind != data.kind:
            raise PlanError({"kind": "A channel's type cannot change: make a new channel."})
        for key, value in values.items():
            setattr(channel, key, value)
        channel.updated_at = utcnow()
    session.add(channel)
    session.flush()
    record_audit(session=session, actor=actor, action="channel.save", entity_type="campaign_channel",
                 entity_id=channel.id, summary=f"Saved channel {channel.name}",
                 details={"settings": sorted(settings), "secrets_changed": sorted(k for k, v in data.secrets.items() if v)},
                 ip=ip)
    return channel


# --- Placements ---------------------------------------------------------------------------


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_local: datetime
    duration_minutes: int = PField(default=180, ge=15, le=24 * 60)
    venue: str = PField(default="", max_length=200)
    facilitator: str = PField(default="", max_length=120)
    capacity: int | None = PField(default=None, ge=1, le=100_000)
    pre_wave_id: int | None = PField(default=None, ge=1, le=MAX_ID)
    post_wave_id: int | None = PField(default=None, ge=1, le=MAX_ID)
    notes: str = PField(default="", max_length=5000)


class PlacementIn(BaseModel):
    """Body of a placement creation or edit; times are wall-clock times in the campaign's zone."""

    model_config = ConfigDict(extra="forbid")

    name: str = PField(default="", max_length=200)
    message_id: int = PField(ge=1, le=MAX_ID)
    channel_id: int = PField(ge=1, le=MAX_ID)
    segments: list[str] = PField(min_length=1, max_length=20)
    timing: Timing = Timing.once
    starts_local: datetime | None = None
    rrule: str = PField(default="", max_length=500)
    times_of_day: list[str] = PField(default_factory=list, max_length=24)
    relative_field: str = PField(default="", max_length=80)
    offset_days: int = PField(default=0, ge=0, le=366)
    at_time: time | None = None
    duration_seconds: int | None = PField(default=None, ge=1, le=24 * 3600)
    language: str = PField(default="", max_length=35)
    social_platform: str = PField(default="", max_length=20)
    sessions: list[SessionIn] = PField(default_factory=list, max_length=200)

    @classmethod
    def from_row(cls, session: Session, row: Placement) -> PlacementIn:
        codes = [s.code for s in placement_segments(session=session, placement=row)]
        sessions = [SessionIn(starts_local=s.starts_local, duration_minutes=s.duration_minutes, venue=s.venue,
                              facilitator=s.facilitator, capacity=s.capacity, pre_wave_id=s.pre_wave_id,
                              post_wave_id=s.post_wave_id, notes=s.notes)
                    for s in session.exec(select(TrainingSession).where(TrainingSession.placement_id == row.id)
                                          .order_by(TrainingSession.starts_local))]
        return cls(name=row.name, message_id=row.message_id, channel_id=row.channel_id, segments=codes or ["?"],
                   timing=row.timing, starts_local=row.starts_local, rrule=row.rrule, times_of_day=list(row.times_of_day),
                   relative_field=row.relative_field, offset_days=row.offset_days, at_time=row.at_time,
                   duration_seconds=row.duration_seconds, language=row.language, social_platform=row.social_platform,
                   sessions=sessions)


RELATIVE_FIELDS = ("consent_at", "created_at")
#: Channel kind -> the timings it takes.
TIMINGS: Mapping[ChannelKind, tuple[Timing, ...]] = {
    ChannelKind.sms: (Timing.once, Timing.recurring, Timing.relative),
    ChannelKind.email: (Timing.once, Timing.recurring, Timing.relative),
    ChannelKind.social: (Timing.once, Timing.recurring),
    ChannelKind.radio: (Timing.once, Timing.recurring),
    ChannelKind.training: (Timing.sessions,),
}


@dataclass
class PlacementCheck:
    """What saving a placement would do: errors refuse it; warnings are shown; the rest is the plan."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    occurrences: list[rules.OccurrenceTime] = field(default_factory=list)
    version_id: int | None = None
    segments: list[AudienceSegment] = field(default_factory=list)
    languages: dict[str, str] = field(default_factory=dict)  # recipient language -> variant language used
    recipients: int = 0


def fallback_language(wanted: str, available: Iterable[str], order: Sequence[str]) -> str | None:
    """The variant language a ``wanted``-language recipient gets: theirs, its base, then the campaign's order."""
    have = list(available)
    if wanted in have:
        return wanted
    base = wanted.split("-")[0]
    for tag in have:
        if tag.split("-")[0] == base:
            return tag
    for tag in order:
        if tag in have:
            return tag
    return None


def placement_segments(*, session: Session, placement: Placement) -> list[AudienceSegment]:
    return list(session.exec(select(AudienceSegment).join(PlacementSegment, PlacementSegment.segment_id == AudienceSegment.id)
                             .where(PlacementSegment.placement_id == placement.id).order_by(AudienceSegment.position)))


def _variants(session: Session, version_id: int, kind: ChannelKind, platform: str = "") -> list[ContentVariant]:
    query = select(ContentVariant).where(ContentVariant.version_id == version_id,
                                         ContentVariant.channel == kind.content_format)
    if platform:
        query = query.where(ContentVariant.platform == platform)
    return list(session.exec(query))


def _occurrence_errors(check: PlacementCheck, channel: ChannelConfig) -> None:
    """Times in quiet hours or on days the channel does not send."""
    quiet = [o for o in check.occurrences if rules.in_quiet_hours(o.local_at.time(), channel.quiet_start, channel.quiet_end)]
    if quiet:
        check.errors["quiet_hours"] = (
            f"{len(quiet)} of {len(check.occurrences)} time(s) fall in {channel.name}'s quiet hours "
            f"({channel.quiet_start:%H:%M}-{channel.quiet_end:%H:%M}), first {', '.join(_fmt(o.local_at) for o in quiet[:MAX_LISTED])}.")
    days = set(channel.send_days)
    off = [o for o in check.occurrences if o.local_at.weekday() not in days]
    if off:
        check.errors["send_days"] = (
            f"{len(off)} time(s) fall on a day {channel.name} does not send (it sends on "
            f"{', '.join(rules.weekday_names(channel.send_days))}), first {', '.join(_fmt(o.local_at) for o in off[:MAX_LISTED])}.")


def check_placement(*, session: Session, campaign: Campaign, data: PlacementIn, placement_id: int | None = None) -> PlacementCheck:
    """Every check of the issue's list, before saving: content, languages, times, limits, caps."""
    check = PlacementCheck()
    errors = check.errors
    channel = session.get(ChannelConfig, data.channel_id)
    if channel is None:
        errors["channel_id"] = f"There is no channel {data.channel_id}."
        return check
    if not channel.active:
        errors["channel_id"] = f"{channel.name} is switched off: switch it on or choose another channel."
    message = session.get(Message, data.message_id)
    if message is None:
        errors["message_id"] = f"There is no message {data.message_id}."
        return check
    if message.status == MessageStatus.retired:
        errors["message_id"] = f"'{message.title}' is retired and cannot be scheduled."
        return check
    if message.approved_version_id is None:
        errors["message_id"] = f"'{message.title}' has no approved version yet: it must be approved before it is scheduled."
        return check
    check.version_id = message.approved_version_id
    if message.status != MessageStatus.approved:
        version = session.get(MessageVersion, message.approved_version_id)
        check.warnings.append(f"'{message.title}' has a newer version in progress; version "
                              f"{version.number if version else '?'}, the approved one, is what will be sent.")
    if data.timing not in TIMINGS[channel.kind]:
        errors["timing"] = (f"A {channel.kind.label} placement is "
                            f"{' or '.join(t.value for t in TIMINGS[channel.kind])}, not {data.timing.value}.")
        return check
    known = {s.code: s for s in session.exec(select(AudienceSegment))}
    unknown = [c for c in data.segments if c not in known]
    if unknown:
        errors["segments"] = f"Unknown segment(s): {', '.join(unknown)}."
        return check
    check.segments = [known[c] for c in dict.fromkeys(data.segments)]
    archived = [s.name for s in check.segments if s.archived]
    if archived:
        errors["segments"] = f"Archived segment(s) cannot be targeted: {', '.join(archived)}."
    # Times
    placement = Placement(id=placement_id, campaign_id=campaign.id, message_id=message.id, version_id=check.version_id,
                          channel_id=channel.id, timing=data.timing,
                          starts_local=data.starts_local.replace(tzinfo=None, second=0, microsecond=0) if data.starts_local else None,
                          rrule=data.rrule.strip(), relative_field=data.relative_field, offset_days=data.offset_days,
                          at_time=data.at_time, times_of_day=list(data.times_of_day))
    first, last = datetime.combine(campaign.start_date, time(0)), schedule.campaign_last_local(campaign)
    if data.timing in (Timing.once, Timing.recurring):
        if data.starts_local is None:
            errors["starts_local"] = "Give the date and time (in the campaign's time zone)."
        elif data.timing == Timing.once and not first <= placement.starts_local <= last:
            errors["starts_local"] = (f"{_fmt(placement.starts_local)} is outside the campaign's dates "
                                      f"({campaign.start_date:%d %b %Y} to {campaign.end_date:%d %b %Y}).")
    if data.timing == Timing.recurring and "starts_local" not in errors:
        problem = rules.check_rrule(data.rrule, placement.starts_local)
        if problem:
            errors["rrule"] = problem
        elif placement.starts_local.date() < campaign.start_date:
            errors["starts_local"] = (f"The series starts on {placement.starts_local:%d %b %Y}, before the campaign "
                                      f"({campaign.start_date:%d %b %Y} to {campaign.end_date:%d %b %Y}): start it on "
                                      "or after the campaign's first day.")
        elif placement.starts_local.date() > campaign.end_date:
            errors["starts_local"] = (f"The series starts on {placement.starts_local:%d %b %Y}, after the campaign ends "
                                      f"({campaign.end_date:%d %b %Y}).")
        elif re.search(r"\b(UNTIL|COUNT)=", data.rrule.upper()):
            # A rule with an end of its own that runs past the campaign's: say what will be left out.
            days = {t.local_at.date() for t in rules.expand(starts_local=placement.starts_local, rrule=placement.rrule,
                                                            tz=ZoneInfo(campaign.timezone))}
            after = sorted(d for d in days if d > campaign.end_date)
            if after:
                check.warnings.append(f"{len(after)} date(s) of this rule fall after the campaign ends "
                                      f"({campaign.end_date:%d %b %Y}), from {after[0]:%d %b %Y}: they will not be sent.")
        try:
            rules.parse_times(data.times_of_day)
        except ValueError as err:
            errors["times_of_day"] = str(err)
    if data.timing == Timing.relative:
        if data.relative_field not in RELATIVE_FIELDS and not re.fullmatch(r"attributes\.[a-z][a-z0-9_]{0,39}", data.relative_field):
            errors["relative_field"] = "Count from consent_at, created_at or a date attribute (attributes.<name>)."
        if data.at_time is None:
            errors["at_time"] = "Give the time of day to send (in the campaign's time zone)."
    if data.timing == Timing.sessions:
        if not data.sessions:
            errors["sessions"] = "Give at least one session (date, time, venue, facilitator)."
        for i, s in enumerate(data.sessions):
            local = s.starts_local.replace(tzinfo=None)
            if not first <= local <= last:
                errors[f"sessions[{i}].starts_local"] = f"{_fmt(local)} is outside the campaign's dates."
            for name_, wave_id in (("pre_wave_id", s.pre_wave_id), ("post_wave_id", s.post_wave_id)):
                if wave_id and session.get(Wave, wave_id) is None:
                    errors[f"sessions[{i}].{name_}"] = f"There is no survey wave {wave_id}."
        if placement_id:
            # A session left out of the edit would be deleted, and its invitations and attendance with it.
            kept = {s.starts_local.replace(tzinfo=None, second=0, microsecond=0) for s in data.sessions}
            dropped = session.exec(select(TrainingSession.starts_local).distinct()
                                   .join(TrainingAttendance, TrainingAttendance.session_id == TrainingSession.id)
                                   .where(TrainingSession.placement_id == placement_id)).all()
            lost = sorted(t for t in dropped if t not in kept)
            if lost:
                errors["sessions"] = (f"The session(s) of {', '.join(_fmt(t) for t in lost[:MAX_LISTED])} have invitations "
                                      "or attendance: keep their date and time (change the venue, facilitator or capacity "
                                      "if need be), or withdraw the invitations first.")
    if errors:
        return check
    if data.timing == Timing.sessions:
        tz = ZoneInfo(campaign.timezone)
        check.occurrences = [rules.OccurrenceTime(s.starts_local.replace(tzinfo=None),
                                                  rules.local_to_utc(s.starts_local.replace(tzinfo=None), tz))
                             for s in sorted(data.sessions, key=lambda s: s.starts_local)]
    else:
        check.occurrences = schedule.occurrence_times(session=session, campaign=campaign, placement=placement)
    if not check.occurrences and data.timing != Timing.relative:
        errors["rrule" if data.timing == Timing.recurring else "starts_local"] = (
            "This timing gives no date within the campaign's dates "
            f"({campaign.start_date:%d %b %Y} to {campaign.end_date:%d %b %Y}).")
        return check
    if len(check.occurrences) >= rules.MAX_OCCURRENCES:
        errors["rrule"] = f"This rule gives more than {rules.MAX_OCCURRENCES:,} times: end it sooner (UNTIL or COUNT)."
        return check
    if data.timing == Timing.relative:
        # Each contact's own date decides: times the channel refuses are deferred to its next allowed time.
        probe = PlacementCheck(occurrences=check.occurrences)
        _occurrence_errors(probe, channel)
        check.warnings += [f"{text} They will be deferred to the channel's next allowed time." for text in probe.errors.values()]
    elif data.timing != Timing.sessions:
        _occurrence_errors(check, channel)
    # Content: a variant for every language the audience needs.
    platform = ""
    if channel.kind == ChannelKind.social and data.social_platform:
        try:
            platform = content_svc.canonical_platform(data.social_platform)
        except ValueError:
            errors["social_platform"] = f"Unknown platform {data.social_platform[:20]!r}."
            return check
    variants = _variants(session, check.version_id, channel.kind, platform)
    by_language = {v.language: v for v in variants}
    if not variants:
        errors["message_id"] = (f"'{message.title}' has no {channel.kind.content_format} variant in its approved version"
                                f"{' for ' + platform if platform else ''}: add one and have it approved.")
        return check
    order = list(campaign.languages)
    if channel.kind.direct:
        rec = audience.recipients_query(campaign=campaign, segments=check.segments, kind=channel.kind).subquery()
        rows = session.exec(select(Contact.language, func.count()).where(col(Contact.id).in_(select(rec.c.id)))
                            .group_by(Contact.language)).all()
        check.recipients = sum(n for _, n in rows)
        wanted = Counter({lang or "": n for lang, n in rows})
        for seg in check.segments:
            for lang in seg.languages:
                wanted.setdefault(lang, 0)
        for lang, n in sorted(wanted.items(), key=lambda kv: -kv[1]):
            chosen = fallback_language(lang or (order[0] if order else ""), by_language, order)
            if chosen is None:
                errors["languages"] = (f"No variant can serve {content_rules.language_name(lang) if lang else 'contacts with no language'}"
                                       f" ({n} contacts): the message has {', '.join(sorted(by_language))}.")
                continue
            check.languages[lang] = chosen
            if lang and chosen != lang and n:
                check.warnings.append(f"No {content_rules.language_name(lang)} variant: {n:,} contact(s) will get "
                                      f"{content_rules.language_name(chosen)} instead.")
        if check.recipients == 0:
            check.warnings.append("The chosen segments have no contact this channel can reach yet (with consent, an "
                                  "address, not opted out): import contacts before the first send.")
    else:
        lang = data.language or (order[0] if order else "")
        if lang not in by_language:
            fallback = fallback_language(lang, by_language, order)
            errors["language"] = (f"'{message.title}' has no {content_rules.language_name(lang) if lang else ''} "
                                  f"{channel.kind.content_format} variant"
                                  + (f"; choose {content_rules.language_name(fallback)}, which it has." if fallback else "."))
        else:
            check.languages[lang] = lang
            for seg in check.segments:
                if seg.languages and lang not in seg.languages:
                    check.warnings.append(f"{seg.name} prefer {', '.join(content_rules.language_name(x) for x in seg.languages)};"
                                          f" this {channel.kind.label.lower()} placement is in {content_rules.language_name(lang)}.")
    # SMS length against the channel's limit (worst case: every variable at its longest).
    if channel.kind == ChannelKind.sms and channel.sms_segment_limit:
        variables = content_svc.variable_set(session=session)
        for lang in sorted(set(check.languages.values())):
            v = by_language[lang]
            analysis = content_svc.analyse(channel="sms", language=v.language, body=v.body, variables=variables,
                                           max_segments=channel.sms_segment_limit)
            worst = analysis.longest or analysis.sample or analysis.typed
            if worst is not None and worst.segments > channel.sms_segment_limit:
                errors["sms_segments"] = (f"The {content_rules.language_name(lang)} SMS takes up to {worst.segments} "
                                          f"segments; {channel.name} allows {channel.sms_segment_limit}.")
    # Radio spot length
    if channel.kind == ChannelKind.radio and data.duration_seconds is None:
        target = next((v.target_seconds for v in variants if v.language in check.languages.values() and v.target_seconds), None)
        if target is None:
            check.warnings.append("Give the spot's length in seconds for the station's run sheet.")
    # Comparison areas: no campaign activity there.
    comparison = {r.lower() for r in campaign.comparison_regions}
    covered = {r.lower() for r in channel.regions} & comparison
    if covered and channel.kind in (ChannelKind.radio, ChannelKind.social, ChannelKind.training):
        check.warnings.append(f"{channel.name} covers comparison area(s) {', '.join(sorted(covered))}: its audience "
                              "there is exposed, which weakens the difference in differences.")
    # Frequency cap across the channel's placements.
    if channel.kind.direct and channel.frequency_cap_per_week and not errors and data.timing != Timing.relative:
        over = _cap_excess(session, campaign, channel, check, placement_id)
        if over:
            errors["frequency_cap"] = (f"The plan would break {channel.name}'s cap of {channel.frequency_cap_per_week} "
                                       f"message(s) a week for {over:,} contact(s): their extra messages would be skipped. "
                                       "Space the sends out or narrow the segments.")
    return check


def _recipient_ids(session: Session, campaign: Campaign, segments: list[AudienceSegment], kind: ChannelKind) -> set[int]:
    return set(session.exec(select(audience.recipients_query(campaign=campaign, segments=segments, kind=kind)
                                   .order_by(None).subquery().c.id)).all())


def _cap_excess(session: Session, campaign: Campaign, channel: ChannelConfig, check: PlacementCheck,
                placement_id: int | None) -> int:
    """How many contacts the channel's placements (this one as planned) would send more than the cap to.

    Relative placements send one message per contact on that contact's own day: the cap holds them
    at send time (the extra message is skipped with the reason), so they are left out here.
    """
    plans: list[tuple[set[int], list[datetime]]] = [
        (_recipient_ids(session, campaign, check.segments, channel.kind), [o.local_at for o in check.occurrences])]
    others = session.exec(select(Placement, Campaign).join(Campaign, Campaign.id == Placement.campaign_id)
                          .where(Placement.channel_id == channel.id, Placement.status == PlacementStatus.active,
                                 col(Campaign.status).in_([CampaignStatus.draft, CampaignStatus.active, CampaignStatus.paused]))).all()
    for other, other_campaign in others:
        if other.id == placement_id or other.timing == Timing.relative:
            continue
        segs = placement_segments(session=session, placement=other)
        times = schedule.occurrence_times(session=session, campaign=other_campaign, placement=other)
        plans.append((_recipient_ids(session, other_campaign, segs, channel.kind), [t.local_at for t in times]))
    if check.occurrences and not any(len(times) > channel.frequency_cap_per_week for _, times in plans) and len(plans) == 1:
        return 0
    signature: dict[int, tuple[int, ...]] = defaultdict(tuple)
    for index, (ids, _) in enumerate(plans):
        for cid in ids:
            signature[cid] += (index,)
    groups = Counter(signature.values())
    over = 0
    for combo, n in groups.items():
        if 0 not in combo:
            continue
        times = [t for i in combo for t in plans[i][1]]
        if rules.rolling_week_excess(times, channel.frequency_cap_per_week):
            over += n
    return over


def _apply(session: Session, row: Placement, data: PlacementIn, check: PlacementCheck) -> None:
    row.name = _clean(data.name, 200)
    row.message_id, row.version_id, row.channel_id = data.message_id, check.version_id, data.channel_id
    row.timing = data.timing
    row.starts_local = data.starts_local.replace(tzinfo=None, second=0, microsecond=0) if data.starts_local else None
    row.rrule = data.rrule.strip().upper().removeprefix("RRULE:") if data.timing == Timing.recurring else ""
    row.times_of_day = [t.strftime("%H:%M") for t in rules.parse_times(data.times_of_day)] if row.rrule else []
    row.relative_field = data.relative_field if data.timing == Timing.relative else ""
    row.offset_days = data.offset_days if data.timing == Timing.relative else 0
    row.at_time = data.at_time if data.timing == Timing.relative else None
    row.duration_seconds = data.duration_seconds
    row.language = data.language if not ChannelKind(session.get(ChannelConfig, data.channel_id).kind).direct else ""
    if not row.language and check.languages and not ChannelKind(session.get(ChannelConfig, data.channel_id).kind).direct:
        row.language = next(iter(check.languages.values()))
    row.social_platform = data.social_platform
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    current = set(session.exec(select(PlacementSegment.segment_id).where(PlacementSegment.placement_id == row.id)).all())
    wanted = {s.id for s in check.segments}
    for sid in current - wanted:
        session.delete(session.get(PlacementSegment, (row.id, sid)))
    session.add_all([PlacementSegment(placement_id=row.id, segment_id=sid) for sid in sorted(wanted - current)])
    if data.timing == Timing.sessions:
        _sync_sessions(session, row, data.sessions)
    # Occurrences not yet due that the new timing no longer gives are removed; new ones appear when due.
    keep = {o.local_at for o in check.occurrences}
    for occ in session.exec(select(Occurrence).where(Occurrence.placement_id == row.id,
                                                     Occurrence.status == OccurrenceStatus.planned)):
        if occ.local_at not in keep:
            session.delete(occ)
    session.flush()


def _sync_sessions(session: Session, row: Placement, sessions: Sequence[SessionIn]) -> None:
    existing = {s.starts_local: s for s in session.exec(select(TrainingSession).where(TrainingSession.placement_id == row.id))}
    wanted = {s.starts_local.replace(tzinfo=None, second=0, microsecond=0): s for s in sessions}
    for local, s in existing.items():
        if local not in wanted:
            session.delete(s)
    for local, s in wanted.items():
        target = existing.get(local) or TrainingSession(placement_id=row.id, starts_local=local)
        for name in ("duration_minutes", "venue", "facilitator", "capacity", "pre_wave_id", "post_wave_id", "notes"):
            value = getattr(s, name)
            setattr(target, name, _clean(value, 200) if name in ("venue", "facilitator") else value)
        session.add(target)


def create_placement(*, session: Session, campaign: Campaign, data: PlacementIn, actor: User | None,
                     ip: str = "") -> tuple[Placement, PlacementCheck]:
    if campaign.status == CampaignStatus.finished:
        raise PlanConflict("A finished campaign cannot take new placements.")
    check = check_placement(session=session, campaign=campaign, data=data)
    if check.errors:
        raise PlanError(check.errors)
    row = Placement(campaign_id=campaign.id, message_id=data.message_id, version_id=check.version_id,
                    channel_id=data.channel_id, timing=data.timing, created_by_id=actor.id if actor else None)
    _apply(session, row, data, check)
    record_audit(session=session, actor=actor, action="placement.create", entity_type="campaign_placement",
                 entity_id=row.id, summary=f"Planned {row.name or 'a placement'} in {campaign.name}",
                 details={"occurrences": len(check.occurrences), "segments": [s.code for s in check.segments]}, ip=ip)
    return row, check


def update_placement(*, session: Session, campaign: Campaign, placement: Placement, data: PlacementIn,
                     actor: User | None, ip: str = "") -> tuple[Placement, PlacementCheck]:
    if campaign.status == CampaignStatus.finished or placement.status == PlacementStatus.cancelled:
        raise PlanConflict("A finished campaign's or a cancelled placement's plan cannot change.")
    check = check_placement(session=session, campaign=campaign, data=data, placement_id=placement.id)
    if check.errors:
        raise PlanError(check.errors)
    _apply(session, placement, data, check)
    record_audit(session=session, actor=actor, action="placement.update", entity_type="campaign_placement",
                 entity_id=placement.id, summary=f"Changed {placement.name or 'a placement'} in {campaign.name}", ip=ip)
    return placement, check


def set_placement_status(*, session: Session, placement: Placement, status: PlacementStatus, actor: User | None,
                         ip: str = "", now: datetime | None = None, replay: bool = False) -> Placement:
    """Pause (future sends stop at once), resume or cancel.

    Resuming does not replay what was skipped while paused (since ``paused_at``): occurrences
    that fell due are recorded as skipped ("placement paused at its time"), queued rows too.
    ``replay=True`` sends them now, when the campaign is active and its dates are not over.
    """
    if placement.status == PlacementStatus.cancelled:
        raise PlanConflict("A cancelled placement stays cancelled: plan a new one.")
    if placement.status == status:
        return placement
    when = now or utcnow()
    old = placement.status
    replayed = None
    if old == PlacementStatus.paused and status == PlacementStatus.active:
        from . import outbox  # noqa: PLC0415 - the outbox imports this module

        campaign = session.get(Campaign, placement.campaign_id)
        since = placement.paused_at
        since = since.replace(tzinfo=timezone.utc) if since is not None and since.tzinfo is None else since
        outbox.skip_queued(session=session, reason="placement paused", placement_ids={placement.id: "placement paused"},
                           now=when)
        outbox.skip_while_paused(session=session, campaign=campaign, placement=placement, since=since, now=when,
                                 reason="placement paused at its time")
        if replay and campaign.status == CampaignStatus.active:
            replayed = _replay(session, campaign, placement, since, when)
    placement.status = status
    placement.paused_at = when if status == PlacementStatus.paused else None
    placement.updated_at = when
    session.add(placement)
    if status == PlacementStatus.cancelled:
        for occ in session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id,
                                                         Occurrence.status == OccurrenceStatus.planned)):
            occ.status, occ.reason = OccurrenceStatus.skipped, "placement cancelled"
            session.add(occ)
    session.flush()
    record_audit(session=session, actor=actor, action=f"placement.{status.value}", entity_type="campaign_placement",
                 entity_id=placement.id, summary=f"Placement {placement.name or placement.id}: {old.value} -> {status.value}"
                 + (f", {replayed} skipped message(s) queued again" if replayed is not None else ""),
                 details={"replayed": replayed} if replayed is not None else None, ip=ip)
    return placement


def add_session(*, session: Session, placement: Placement, data: SessionIn) -> TrainingSession:
    row = TrainingSession(placement_id=placement.id, starts_local=data.starts_local.replace(tzinfo=None, second=0, microsecond=0),
                          **data.model_dump(exclude={"starts_local"}))
    session.add(row)
    session.flush()
    return row


# --- Preview ------------------------------------------------------------------------------


@dataclass
class OccurrencePreview:
    local_at: datetime
    audience: int  # recipients (direct), estimated listeners (radio), invitees (training), followers (social)
    what: str  # "recipients", "listeners", ...


@dataclass
class Preview:
    placement: Placement | None
    channel: ChannelConfig
    occurrences: list[OccurrencePreview]
    total: int  # occurrences
    reach: audience.Reach | None = None
    radio: rules.RadioReach | None = None
    per_day: dict[date, int] = field(default_factory=dict)  # messages (direct) or airings per day
    warnings: list[str] = field(default_factory=list)


def preview_placement(*, session: Session, campaign: Campaign, placement: Placement, limit: int = 200) -> Preview:
    """What a placement will produce: its occurrences, the audience of each, messages per day."""
    channel = session.get(ChannelConfig, placement.channel_id)
    segments = placement_segments(session=session, placement=placement)
    times = schedule.occurrence_times(session=session, campaign=campaign, placement=placement)
    out = Preview(placement, channel, [], len(times))
    if channel.kind.direct:
        out.reach = audience.reach(session=session, campaign=campaign, segments=segments, kind=channel.kind)
        if placement.timing == Timing.relative:
            ids = audience.recipients_query(campaign=campaign, segments=segments, kind=channel.kind).order_by(None)
            per = schedule.relative_counts(session=session, campaign=campaign, placement=placement,
                                           contacts=select(ids.subquery().c.id))
            out.occurrences = [OccurrencePreview(t.local_at, per.get(t.local_at, 0), "recipients") for t in times[:limit]]
            for t in times:
                out.per_day[t.local_at.date()] = out.per_day.get(t.local_at.date(), 0) + per.get(t.local_at, 0)
        else:
            n = out.reach.recipients
            out.occurrences = [OccurrencePreview(t.local_at, n, "recipients") for t in times[:limit]]
            for t in times:
                out.per_day[t.local_at.date()] = out.per_day.get(t.local_at.date(), 0) + n
        if channel.rate_limit_per_minute:
            for day, n in sorted(out.per_day.items()):
                minutes = n / channel.rate_limit_per_minute
                if minutes > 120:
                    out.warnings.append(f"{day:%a %d %b}: {n:,} messages take {minutes / 60:.1f} h at "
                                        f"{channel.rate_limit_per_minute:,}/min.")
                    break
    elif channel.kind == ChannelKind.radio:
        listeners = channel.audience_size or 0
        rating = float(channel.settings.get("rating") or 0.15)
        out.radio = rules.radio_reach(airings=len(times), listeners=listeners, rating=rating)
        out.occurrences = [OccurrencePreview(t.local_at, round(listeners * rating), "listeners") for t in times[:limit]]
        for t in times:
            out.per_day[t.local_at.date()] = out.per_day.get(t.local_at.date(), 0) + 1
        if not listeners:
            out.warnings.append(f"{channel.name} has no estimated listeners: reach cannot be estimated.")
    elif channel.kind == ChannelKind.training:
        invitees = len(_recipient_ids(session, campaign, segments, channel.kind))
        sessions = {s.starts_local: s for s in session.exec(select(TrainingSession).where(TrainingSession.placement_id == placement.id))}
        for t in times[:limit]:
            s = sessions.get(t.local_at)
            cap = s.capacity if s and s.capacity else invitees
            out.occurrences.append(OccurrencePreview(t.local_at, min(cap, invitees) if cap else invitees, "participants"))
        for t in times:
            out.per_day[t.local_at.date()] = out.per_day.get(t.local_at.date(), 0) + 1
    else:
        followers = channel.audience_size or 0
        out.occurrences = [OccurrencePreview(t.local_at, followers, "followers") for t in times[:limit]]
        for t in times:
            out.per_day[t.local_at.date()] = out.per_day.get(t.local_at.date(), 0) + 1
    return out


@dataclass
class CampaignPreview:
    placements: list[Preview]
    per_day_channel: dict[tuple[date, int], int]  # (day, channel id) -> messages or airings
    channels: dict[int, ChannelConfig]
    over_rate: list[str]
    direct_recipients: int  # distinct contacts any direct placement reaches
    listeners: int  # estimated radio reach (sum over stations)


def campaign_preview(*, session: Session, campaign: Campaign) -> CampaignPreview:
    previews = [preview_placement(session=session, campaign=campaign, placement=p, limit=50)
                for p in _placements(session, campaign.id) if p.status == PlacementStatus.active]
    per: dict[tuple[date, int], int] = defaultdict(int)
    channels: dict[int, ChannelConfig] = {}
    for pv in previews:
        channels[pv.channel.id] = pv.channel
        for day, n in pv.per_day.items():
            per[(day, pv.channel.id)] += n
    over = []
    for (day, cid), n in sorted(per.items()):
        ch = channels[cid]
        if ch.kind.direct and ch.rate_limit_per_minute:
            open_minutes = 24 * 60
            if ch.quiet_start and ch.quiet_end:
                quiet = (datetime.combine(day, ch.quiet_end) - datetime.combine(day, ch.quiet_start)).seconds / 60
                # (seconds of a negative timedelta wrap around a day: quiet hours over midnight count right)
                open_minutes = 24 * 60 - quiet
            capacity = ch.rate_limit_per_minute * open_minutes
            if n > capacity:
                over.append(f"{day:%a %d %b}: {n:,} on {ch.name}, more than its {capacity:,.0f} a day "
                            f"({ch.rate_limit_per_minute:,}/min outside quiet hours).")
    direct = audience.distinct_recipients(session=session, campaign=campaign, plans=[
        (placement_segments(session=session, placement=pv.placement), pv.channel.kind)
        for pv in previews if pv.channel.kind.direct])
    listeners = round(sum(pv.radio.reach for pv in previews if pv.radio))
    return CampaignPreview(previews, dict(per), channels, over, direct, listeners)


# --- Calendar -----------------------------------------------------------------------------


@dataclass
class CalendarEvent:
    campaign_id: int
    placement_id: int
    local_at: datetime
    title: str
    channel: str
    channel_kind: str
    language: str
    segments: list[str]
    status: str  # planned, or the occurrence's status once it has a row
    message_id: int


def _event_status(status: str, placement: Placement) -> str:
    """A planned time of a paused placement shows as paused (the scheduler writes its row ahead)."""
    return "paused" if status == "planned" and placement.status == PlacementStatus.paused else status


def calendar_events(*, session: Session, start: date, end: date, campaign_id: int | None = None,
                    channel_id: int | None = None, segment: str | None = None, language: str | None = None,
                    message_id: int | None = None, limit: int = 5000) -> list[CalendarEvent]:
    """Occurrences of every placement from ``start`` to ``end`` (inclusive, wall-clock dates), filtered."""
    query = (select(Placement, Campaign, ChannelConfig, Message)
             .join(Campaign, Campaign.id == Placement.campaign_id)
             .join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
             .join(Message, Message.id == Placement.message_id)
             .where(Placement.status != PlacementStatus.cancelled))
    if campaign_id:
        query = query.where(Placement.campaign_id == campaign_id)
    if channel_id:
        query = query.where(Placement.channel_id == channel_id)
    if message_id:
        query = query.where(Placement.message_id == message_id)
    lo, hi = datetime.combine(start, time(0)), datetime.combine(end, time(23, 59, 59))
    events: list[CalendarEvent] = []
    for placement, campaign, channel, message in session.exec(query.order_by(Placement.id)):
        codes = [s.code for s in placement_segments(session=session, placement=placement)]
        if segment and segment not in codes:
            continue
        # A radio spot or a post is in one language; an SMS or e-mail goes out in each recipient's,
        # from the variants of its approved version.
        languages = [placement.language] if placement.language else sorted(
            {v.language for v in _variants(session, placement.version_id, channel.kind, placement.social_platform)})
        if language and language not in languages:
            continue
        statuses = {o.local_at: o.status.value for o in session.exec(
            select(Occurrence).where(Occurrence.placement_id == placement.id, Occurrence.local_at >= lo,
                                     Occurrence.local_at <= hi))}
        for t in schedule.occurrence_times(session=session, campaign=campaign, placement=placement):
            if lo <= t.local_at <= hi:
                events.append(CalendarEvent(campaign.id, placement.id, t.local_at, placement.name or message.title, channel.name,
                                            channel.kind.value, ", ".join(languages), codes,
                                            _event_status(statuses.get(t.local_at, "planned"), placement), message.id))
                if len(events) >= limit:
                    break
    events.sort(key=lambda e: (e.local_at, e.placement_id))
    return events


def segment_timeline(*, session: Session, campaign: Campaign) -> tuple[list[date], dict[str, dict[str, list[int]]]]:
    """Per segment, per message title, how many times a week it is heard: (week starts, table)."""
    weeks: list[date] = []
    day = campaign.start_date - timedelta(days=campaign.start_date.weekday())
    while day <= campaign.end_date:
        weeks.append(day)
        day += timedelta(days=7)
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0] * len(weeks)))
    for placement in _placements(session, campaign.id):
        message = session.get(Message, placement.message_id)
        channel = session.get(ChannelConfig, placement.channel_id)
        label = f"{message.title} ({channel.kind.label})"
        times = schedule.occurrence_times(session=session, campaign=campaign, placement=placement)
        for seg in placement_segments(session=session, placement=placement):
            row = table[seg.name][label]
            for t in times:
                index = (t.local_at.date() - weeks[0]).days // 7
                if 0 <= index < len(weeks):
                    row[index] += 1
    return weeks, {k: dict(v) for k, v in table.items()}
