"""iCalendar (RFC 5545) feeds: a channel's times, a radio station's airings, a facilitator's sessions.

:func:`build_ics` is pure: :class:`CalendarItem` rows in, the ``.ics`` bytes out. Every event
carries a stable UID (a placement's uid and the occurrence's planned wall-clock time, or the
training session's id), so a calendar that imports the feed again updates its events instead of
adding them twice. Times are written in the campaign's IANA zone (``DTSTART;TZID=...``) with a
VTIMEZONE for each zone used, so a spot at 07:30 stays at 07:30 on both sides of a
daylight-saving change. DTSTAMP is when the plan (or the confirmation) last changed, so two
exports of an unchanged plan are identical.

:func:`channel_items` and :func:`facilitator_items` read the database (keyword-only, a Session,
no writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlmodel import Session, select

from content.models import Message

from . import rules, schedule
from .models import (
    Campaign,
    ChannelConfig,
    ChannelKind,
    Occurrence,
    Placement,
    PlacementStatus,
    Timing,
    TrainingSession,
)
from .runsheet import spot_of

__all__ = ["MAX_EVENTS", "CalendarItem", "build_ics", "channel_items", "facilitator_items", "facilitators", "ics_filename"]

MAX_EVENTS = 10_000
UID_DOMAIN = "konbit"
PRODID = "-//Konbit//Campaign calendar//EN"


@dataclass(frozen=True, slots=True)
class CalendarItem:
    uid: str
    local_at: datetime  # planned wall-clock time (naive) in ``tz``
    tz: str  # IANA
    summary: str
    stamp: datetime  # aware UTC: when this item last changed
    duration: timedelta | None = None
    description: str = ""
    location: str = ""
    status: str = "CONFIRMED"  # CONFIRMED, TENTATIVE, CANCELLED
    url: str = ""
    categories: tuple[str, ...] = ()


def _aware(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime(2000, 1, 1, tzinfo=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def build_ics(name: str, items: Sequence[CalendarItem]) -> bytes:
    """The calendar ``name`` holding ``items`` (at most :data:`MAX_EVENTS`), as RFC 5545 bytes."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    zones = {item.tz for item in items}
    if len(zones) == 1:
        cal.add("x-wr-timezone", next(iter(zones)))
    for item in sorted(items, key=lambda i: (i.local_at, i.uid))[:MAX_EVENTS]:
        tz = ZoneInfo(item.tz)
        # The moment it is due: a time in the spring-forward gap moves on by the gap, as the schedule does.
        start = rules.local_to_utc(item.local_at, tz).astimezone(tz)
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", _aware(item.stamp).astimezone(timezone.utc))
        event.add("last-modified", _aware(item.stamp).astimezone(timezone.utc))
        event.add("dtstart", start)
        if item.duration:
            event.add("dtend", start + item.duration)
        event.add("summary", item.summary)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.url:
            event.add("url", item.url)
        if item.categories:
            event.add("categories", list(item.categories))
        event.add("status", item.status)
        event.add("transp", "TRANSPARENT" if item.status == "CANCELLED" else "OPAQUE")
        cal.add_component(event)
    if items:
        first = min(i.local_at for i in items).date() - timedelta(days=1)
        last = max(i.local_at for i in items).date() + timedelta(days=2)
        cal.add_missing_timezones(first_date=first, last_date=last)
    return cal.to_ical()


def ics_filename(text: str) -> str:
    keep = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in text.strip().lower())
    return "-".join(part for part in keep.split("-") if part)[:60] or "calendar"


# --- From the database --------------------------------------------------------------------


def _status(placement: Placement, occurrence: Occurrence | None) -> str:
    if placement.status == PlacementStatus.cancelled:
        return "CANCELLED"
    if occurrence is not None and occurrence.status.value in ("missed", "skipped"):
        return "CANCELLED"
    if occurrence is not None and occurrence.status.value in ("aired", "expanded", "late"):
        return "CONFIRMED"
    if placement.status == PlacementStatus.paused:
        return "TENTATIVE"
    return "CONFIRMED"


def _session_item(s: TrainingSession, placement: Placement, campaign: Campaign, title: str, channel: ChannelConfig,
                  occurrence: Occurrence | None, base_url: str) -> CalendarItem:
    lines = [f"Campaign: {campaign.name}", f"Venue or partner: {channel.name}"]
    if s.facilitator:
        lines.append(f"Facilitator: {s.facilitator}")
    if s.capacity:
        lines.append(f"Seats: {s.capacity}")
    if placement.language:
        lines.append(f"Language: {placement.language}")
    if s.notes:
        lines += ["", s.notes]
    return CalendarItem(uid=f"training-session-{s.id}@{UID_DOMAIN}", local_at=s.starts_local, tz=campaign.timezone,
                        summary=f"{title}{' · ' + s.venue if s.venue else ''}",
                        stamp=max(_aware(placement.updated_at), _aware(s.created_at)),
                        duration=timedelta(minutes=s.duration_minutes or 0) or None, description="\n".join(lines),
                        location=s.venue, status=_status(placement, occurrence), categories=("Training",),
                        url=f"{base_url}/campaigns/{campaign.id}/placements/{placement.id}" if base_url else "")


def channel_items(*, session: Session, channel: ChannelConfig, base_url: str = "") -> list[CalendarItem]:
    """Every time of every placement on ``channel`` (cancelled ones as CANCELLED), all campaigns."""
    rows = session.exec(select(Placement, Campaign, Message).join(Campaign, Campaign.id == Placement.campaign_id)
                        .join(Message, Message.id == Placement.message_id)
                        .where(Placement.channel_id == channel.id).order_by(Placement.id)).all()
    items: list[CalendarItem] = []
    for placement, campaign, message in rows:
        title = placement.name or message.title
        occurrences = {o.local_at: o for o in session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id))}
        url = f"{base_url}/campaigns/{campaign.id}/placements/{placement.id}" if base_url else ""
        if placement.timing == Timing.sessions:
            for s in session.exec(select(TrainingSession).where(TrainingSession.placement_id == placement.id)):
                items.append(_session_item(s, placement, campaign, title, channel, occurrences.get(s.starts_local), base_url))
            continue
        spot = spot_of(session=session, campaign=campaign, placement=placement, kind=channel.kind)
        language = spot.language if spot else placement.language
        lines = [f"Campaign: {campaign.name}", f"Channel: {channel.name} ({channel.kind.label})"]
        if language:
            lines.append(f"Language: {language}")
        duration = None
        if channel.kind == ChannelKind.radio:
            seconds = placement.duration_seconds or (spot.target_seconds if spot else None)
            duration = timedelta(seconds=seconds) if seconds else None
            if seconds:
                lines.append(f"Length: {seconds} s")
            if spot and spot.audio:
                lines.append("Audio: " + ", ".join(name for _, name in spot.audio))
        if spot and spot.script:
            lines += ["", spot.script]
        description = "\n".join(lines)
        stamp = _aware(placement.updated_at)
        for t in schedule.occurrence_times(session=session, campaign=campaign, placement=placement):
            occ = occurrences.get(t.local_at)
            summary = title if channel.kind != ChannelKind.radio else f"{title} ({rules.daypart(t.local_at.time())})"
            extra = ""
            if occ is not None and occ.status.value in ("aired", "missed"):
                extra = f"\n\nThe station confirmed: {occ.status.value}{' (' + occ.reason + ')' if occ.reason else ''}."
            items.append(CalendarItem(
                uid=f"{placement.uid}-{t.local_at:%Y%m%dT%H%M}@{UID_DOMAIN}", local_at=t.local_at, tz=campaign.timezone,
                summary=summary, stamp=max(stamp, _aware(occ.confirmed_at)) if occ and occ.confirmed_at else stamp,
                duration=duration, description=description + extra, status=_status(placement, occ), url=url,
                categories=(channel.kind.label,)))
            if len(items) >= MAX_EVENTS:
                return items
    return items


def facilitators(*, session: Session) -> list[str]:
    """The facilitators named on training sessions, each once (case and spaces aside)."""
    names: dict[str, str] = {}
    for name in session.exec(select(TrainingSession.facilitator).where(TrainingSession.facilitator != "")
                             .order_by(TrainingSession.facilitator)):
        names.setdefault(" ".join(name.split()).casefold(), " ".join(name.split()))
    return sorted(names.values(), key=str.casefold)


def facilitator_items(*, session: Session, name: str, base_url: str = "") -> list[CalendarItem]:
    """The training sessions ``name`` facilitates (matched without regard to case or extra spaces)."""
    wanted = " ".join(name.split()).casefold()
    if not wanted:
        return []
    rows = session.exec(select(TrainingSession, Placement, Campaign, ChannelConfig, Message)
                        .join(Placement, Placement.id == TrainingSession.placement_id)
                        .join(Campaign, Campaign.id == Placement.campaign_id)
                        .join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
                        .join(Message, Message.id == Placement.message_id)
                        .where(TrainingSession.facilitator != "")
                        .order_by(TrainingSession.starts_local)).all()
    out = []
    for s, placement, campaign, channel, message in rows:
        if " ".join(s.facilitator.split()).casefold() != wanted:
            continue
        occ = session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id,
                                                    Occurrence.local_at == s.starts_local)).first()
        out.append(_session_item(s, placement, campaign, placement.name or message.title, channel, occ, base_url))
    return out
