"""A placement's occurrences: computed from its timing, and written as rows once and only once.

:func:`occurrence_times` is what the preview shows; :func:`materialise` writes the same times as
:class:`~campaign.models.Occurrence` rows for a window, skipping those already there (an
occurrence is unique on placement x ``local_at``), so the scheduler may call it again and again.
Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment

from . import audience, rules
from .models import Campaign, Contact, Occurrence, Placement, PlacementSegment, Timing, TrainingSession

__all__ = ["OccurrenceTime", "campaign_last_local", "materialise", "occurrence_times", "relative_anchor", "relative_counts"]

OccurrenceTime = rules.OccurrenceTime


def campaign_last_local(campaign: Campaign) -> datetime:
    return datetime.combine(campaign.end_date, time(23, 59, 59))


def _first_local(campaign: Campaign) -> datetime:
    return datetime.combine(campaign.start_date, time(0, 0))


def relative_anchor(contact: Contact, field: str) -> date | datetime | None:
    """The date a relative placement counts from, for one contact (None: the contact has none)."""
    if field in ("consent_at", "created_at"):
        return getattr(contact, field)
    if field.startswith("attributes."):
        return _attribute_date((contact.attributes or {}).get(field.split(".", 1)[1]))
    return None


def _attribute_date(raw: Any) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


def _anchor_column(field: str) -> Any:
    if field in ("consent_at", "created_at"):
        return getattr(Contact, field)
    if field.startswith("attributes."):
        return Contact.attributes[field.split(".", 1)[1]].as_string()
    return None


def relative_counts(*, session: Session, campaign: Campaign, placement: Placement,
                    contacts: Iterable[int] | Select | None = None) -> Counter[datetime]:
    """Local occurrence time -> number of contacts due then, for a relative placement.

    Contacts are the members of the placement's segments, or ``contacts`` (ids, or a SELECT of
    ids) when given. One grouped query over the anchor column, not one object per contact: at
    100,000 contacts the preview reads a few thousand (anchor, count) pairs.
    """
    column = _anchor_column(placement.relative_field)
    if column is None:
        return Counter()
    query = select(column, func.count()).select_from(Contact).where(column.is_not(None))
    if contacts is None:
        segments = session.exec(select(AudienceSegment).join(
            PlacementSegment, PlacementSegment.segment_id == AudienceSegment.id)
            .where(PlacementSegment.placement_id == placement.id)).all()
        if not segments:
            return Counter()
        query = query.where(or_(*[audience.member_clause(seg) for seg in segments]))
    else:
        query = query.where(col(Contact.id).in_(contacts if isinstance(contacts, Select) else list(contacts)))
    tz = ZoneInfo(campaign.timezone)
    first, last = _first_local(campaign), campaign_last_local(campaign)
    attribute = placement.relative_field.startswith("attributes.")
    out: Counter[datetime] = Counter()
    due: dict[Any, datetime | None] = {}
    for raw, n in session.exec(query.group_by(column)):
        anchor = _attribute_date(raw) if attribute else raw
        if anchor is None:
            continue
        key = anchor.date() if isinstance(anchor, datetime) and anchor.tzinfo is None else anchor
        if key not in due:
            local = rules.relative_time(anchor, offset_days=placement.offset_days, at_time=placement.at_time, tz=tz).local_at
            due[key] = local if first <= local <= last else None
        if due[key] is not None:
            out[due[key]] += n
    return out


def _relative_times(session: Session, campaign: Campaign, placement: Placement, contact_ids: list[int] | None,
                    tz: ZoneInfo) -> list[OccurrenceTime]:
    counts = relative_counts(session=session, campaign=campaign, placement=placement, contacts=contact_ids)
    return [OccurrenceTime(local, rules.local_to_utc(local, tz)) for local in sorted(counts)]


def occurrence_times(
    *, session: Session, campaign: Campaign, placement: Placement,
    window_start: datetime | None = None, window_end: datetime | None = None,
    contact_ids: list[int] | None = None,
) -> list[OccurrenceTime]:
    """The due times of ``placement`` within the campaign's dates (and the UTC window, if given).

    A relative placement has one occurrence per distinct day its segments' members' anchors lead
    to (``contact_ids``: only those contacts', for the preview of a subset).
    """
    tz = ZoneInfo(campaign.timezone)
    if placement.timing == Timing.sessions:
        sessions = session.exec(select(TrainingSession).where(TrainingSession.placement_id == placement.id)
                                .order_by(TrainingSession.starts_local)).all()
        times = [OccurrenceTime(s.starts_local, rules.local_to_utc(s.starts_local, tz)) for s in sessions]
    elif placement.timing == Timing.relative:
        times = _relative_times(session, campaign, placement, contact_ids, tz)
    else:
        start = placement.starts_local
        rule = placement.rrule if placement.timing == Timing.recurring else ""
        clock = rules.parse_times(placement.times_of_day) if rule else ()
        if clock and start is not None:
            # The rule gives the days; each day has the rotation's times.
            days = rules.expand(starts_local=datetime.combine(start.date(), time(0, 0)), rrule=rule, tz=tz,
                                last_local=campaign_last_local(campaign))
            times = [rules.OccurrenceTime(local, rules.local_to_utc(local, tz))
                     for day in days for local in (datetime.combine(day.local_at.date(), t) for t in clock)
                     if local >= start][:rules.MAX_OCCURRENCES]
        else:
            times = rules.expand(starts_local=start, rrule=rule, tz=tz, last_local=campaign_last_local(campaign))
        last = campaign_last_local(campaign)
        times = [t for t in times if _first_local(campaign) <= t.local_at <= last]
    return [t for t in times
            if (window_start is None or t.due_at >= window_start) and (window_end is None or t.due_at < window_end)]


def materialise(*, session: Session, campaign: Campaign, placement: Placement, window_end: datetime,
                window_start: datetime | None = None) -> list[Occurrence]:
    """Write the occurrences of ``placement`` due before ``window_end`` that are not yet rows; all in the window.

    Safe to call repeatedly and from a restarted scheduler: an existing (placement, local_at) is
    kept as it is (its status, its deliveries), a new one is added as planned.
    """
    times = occurrence_times(session=session, campaign=campaign, placement=placement,
                             window_start=window_start, window_end=window_end)
    session_ids: dict[datetime, int | None] = {}
    if placement.timing == Timing.sessions:
        session_ids = {s.starts_local: s.id for s in session.exec(
            select(TrainingSession).where(TrainingSession.placement_id == placement.id))}
    existing = {o.local_at: o for o in session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id))}
    for t in times:
        if t.local_at in existing:
            continue
        row = Occurrence(placement_id=placement.id, local_at=t.local_at, due_at=t.due_at,
                         session_id=session_ids.get(t.local_at))
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # another scheduler wrote it first: keep theirs
            row = session.exec(select(Occurrence).where(Occurrence.placement_id == placement.id,
                                                        Occurrence.local_at == t.local_at)).one()
        existing[t.local_at] = row
    lo = window_start or datetime.min.replace(tzinfo=timezone.utc)
    return sorted((o for o in existing.values() if lo <= _aware(o.due_at) < window_end), key=lambda o: o.local_at)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def horizon(now: datetime, days: int = 2) -> datetime:
    return now + timedelta(days=days)
