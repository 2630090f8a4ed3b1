"""What the campaign delivered: the delivery log counted by status, day, channel, segment and
placement, radio airings against the plan, training attendance, and the failures to retry.

Every figure is a grouped SQL query over the outbox (:class:`~campaign.models.Delivery`), the
occurrences and the attendance rows, so the report costs the same at 100 or 100,000 recipients.
Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Date, and_, case, cast, distinct, func, literal_column, or_
from sqlmodel import Session, col, select

from audiences.models import AudienceSegment
from web.accounts.models import User, utcnow
from web.accounts.service import record_audit

from . import rules
from .models import (
    Campaign, ChannelConfig, ChannelKind, Contact, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, Placement,
    PlacementSegment, TrainingAttendance, TrainingSession,
)

__all__ = ["DeliveryFilter", "DeliveryReport", "RadioLine", "Reach", "TrainingLine", "delivery_report", "failures",
           "local_period", "log_rows", "reach_by", "retry"]

REACHED = (DeliveryStatus.sent, DeliveryStatus.delivered)
IN_FLIGHT = (DeliveryStatus.queued, DeliveryStatus.sending)
STATUSES = tuple(s.value for s in DeliveryStatus)
MAX_RETRY = 10_000  # rows one retry request may put back in the queue


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a report counts; ``since`` and ``until`` are days in the campaign's zone."""

    campaign_id: int | None = None
    placement_id: int | None = None
    channel_id: int | None = None
    segment_id: int | None = None  # deliveries to the segment; airings and trainings of placements aimed at it
    status: DeliveryStatus | None = None
    since: date | None = None
    until: date | None = None  # inclusive

    def where(self, tz: ZoneInfo) -> list:
        out = []
        for column, value in ((Delivery.campaign_id, self.campaign_id), (Delivery.placement_id, self.placement_id),
                              (Delivery.channel_id, self.channel_id), (Delivery.segment_id, self.segment_id),
                              (Delivery.status, self.status)):
            if value is not None:
                out.append(column == value)
        if self.since is not None:
            out.append(col(Delivery.due_at) >= _utc(self.since, tz))
        if self.until is not None:
            out.append(col(Delivery.due_at) < _utc(self.until + timedelta(days=1), tz))
        return out


def _utc(day: date, tz: ZoneInfo) -> datetime:
    return rules.local_to_utc(datetime.combine(day, time(0, 0)), tz)


def _transitions(tz: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets (seconds) between ``lo`` and ``hi``: [(from this UTC moment on, offset)], first from ``lo``."""
    def offset(moment: datetime) -> int:
        return int(moment.astimezone(tz).utcoffset().total_seconds())

    out = [(lo, offset(lo))]
    step = lo
    while step < hi:
        nxt = min(step + timedelta(days=1), hi)
        if offset(nxt) != out[-1][1]:
            a, b = step, nxt  # the change lies in (a, b]: halve to the second
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if offset(mid) == out[-1][1] else (a, mid)
            out.append((b.replace(microsecond=0), offset(nxt)))
        step = nxt
    return out


def local_period(session: Session, column, tz: ZoneInfo, *, lo: datetime | None, hi: datetime | None,
                 week: bool = False):
    """SQL for the local day (or the Monday of the local week) of the UTC times in ``column``, in ``tz``.

    PostgreSQL converts with the zone itself. SQLite knows no zones: the offsets in force between
    ``lo`` and ``hi`` (the earliest and latest times to group) become a CASE, so days across a
    daylight-saving change still split at local midnight. The value is a date (PostgreSQL) or
    ``YYYY-MM-DD`` text (SQLite); :func:`_as_date` reads either.
    """
    if session.get_bind().dialect.name == "postgresql":
        # The zone as a literal, not a parameter: PostgreSQL matches GROUP BY to the SELECT by text.
        local = func.timezone(literal_column("'" + tz.key.replace("'", "") + "'"), column)
        return cast(func.date_trunc(literal_column("'week'"), local) if week else local, Date)
    shifts = _transitions(tz, _aware(lo or datetime.now(timezone.utc)), _aware(hi or lo or datetime.now(timezone.utc)))
    def modifier(seconds: int) -> str:
        return f"{seconds:+d} seconds"

    shift = (modifier(shifts[0][1]) if len(shifts) == 1 else
             case(*[(column < start, modifier(before)) for (start, _), (_, before) in zip(shifts[1:], shifts)],
                  else_=modifier(shifts[-1][1])))
    return func.date(column, shift, "weekday 0", "-6 days") if week else func.date(column, shift)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Reach:
    """Distinct contacts reached (a message sent or delivered) and the messages that reached them."""

    contacts: int = 0
    messages: int = 0

    @property
    def per_contact(self) -> float:
        return self.messages / self.contacts if self.contacts else 0.0


def reach_by(session: Session, key, where: Sequence) -> dict:
    """``key`` value -> :class:`Reach` of the reached deliveries ``where`` selects: one grouped query."""
    rows = session.exec(select(key, func.count(distinct(Delivery.contact_id)), func.count(Delivery.contact_id))
                        .where(*where, col(Delivery.status).in_(REACHED)).group_by(key))
    return {k: Reach(contacts, messages) for k, contacts, messages in rows}


@dataclass(frozen=True)
class RadioLine:
    """A station's airings in the campaign: planned, confirmed aired or missed, and the reach of those aired."""

    channel: ChannelConfig
    planned: int  # occurrences up to now and to come
    aired: int
    missed: int
    unconfirmed: int  # due, not yet confirmed by the station
    listeners: int  # estimated listeners reached at least once by the aired spots
    frequency: float  # average airings heard by those reached


@dataclass(frozen=True)
class TrainingLine:
    session: TrainingSession
    placement_name: str
    invited: int
    attended: int
    absent: int
    unrecorded: int

    @property
    def rate(self) -> float | None:
        recorded = self.attended + self.absent
        return self.attended / recorded if recorded else None


@dataclass
class DeliveryReport:
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    unique_contacts: int = 0  # distinct contacts with at least one message sent or delivered
    reached_messages: int = 0
    by_day: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    by_channel: list[tuple[ChannelConfig, dict[str, int]]] = field(default_factory=list)
    by_segment: list[tuple[str, str, dict[str, int], int]] = field(default_factory=list)  # code, name, counts, unique
    by_placement: list[tuple[Placement, dict[str, int]]] = field(default_factory=list)
    # Distinct contacts reached and their messages, per group (keys: channel id, segment code or ""
    # for none, placement id, local day); a group without a contact reached (airings, posts) is absent.
    reach_by_channel: dict[int, Reach] = field(default_factory=dict)
    reach_by_segment: dict[str, Reach] = field(default_factory=dict)
    reach_by_placement: dict[int, Reach] = field(default_factory=dict)
    reach_by_day: dict[date, Reach] = field(default_factory=dict)
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # status, reason, rows
    radio: list[RadioLine] = field(default_factory=list)
    trainings: list[TrainingLine] = field(default_factory=list)

    awaiting: int = 0  # radio airings and training participants queued until the station or trainer confirms
    in_flight: int = 0  # messages and posts the workers still have to send (queued with a send time, or sending)

    @property
    def messages_per_contact(self) -> float:
        return self.reached_messages / self.unique_contacts if self.unique_contacts else 0.0

    @property
    def done_share(self) -> float:
        return 1 - self.in_flight / self.total if self.total else 1.0


def _counts(rows) -> dict:
    out: dict = defaultdict(dict)
    for key, status, n in rows:
        out[key][status.value if isinstance(status, DeliveryStatus) else str(status)] = n
    return out


def delivery_report(*, session: Session, filters: DeliveryFilter, now: datetime | None = None) -> DeliveryReport:
    """Counts of the deliveries ``filters`` selects, and the campaign's radio airings and trainings."""
    campaign = session.get(Campaign, filters.campaign_id) if filters.campaign_id else None
    tz = ZoneInfo(campaign.timezone if campaign else "UTC")
    where = filters.where(tz)
    out = DeliveryReport()
    for status, n in session.exec(select(Delivery.status, func.count()).where(*where).group_by(Delivery.status)):
        out.by_status[status.value] = n
        out.total += n
    out.in_flight = session.exec(select(func.count()).select_from(Delivery).where(
        *where, or_(Delivery.status == DeliveryStatus.sending,
                    and_(Delivery.status == DeliveryStatus.queued, col(Delivery.next_attempt_at).is_not(None))))).one()
    out.awaiting = out.by_status.get(DeliveryStatus.queued.value, 0) + out.by_status.get(DeliveryStatus.sending.value, 0) \
        - out.in_flight
    reached = [*where, col(Delivery.status).in_(REACHED)]
    out.unique_contacts = session.exec(select(func.count(distinct(Delivery.contact_id)))
                                       .where(*reached, col(Delivery.contact_id).is_not(None))).one()
    out.reached_messages = session.exec(select(func.count()).select_from(Delivery)
                                        .where(*reached, col(Delivery.contact_id).is_not(None))).one()
    lo, hi = session.exec(select(func.min(Delivery.due_at), func.max(Delivery.due_at)).where(*where)).one()
    day = local_period(session, Delivery.due_at, tz, lo=lo, hi=hi).label("day")
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for local, status, n in session.exec(select(day, Delivery.status, func.count()).where(*where).group_by(day, Delivery.status)):
        days[_as_date(local)][status.value] += n
    out.by_day = [(d, dict(days[d])) for d in sorted(days)]
    with_contact = [*where, col(Delivery.contact_id).is_not(None)]
    out.reach_by_day = {_as_date(k): v for k, v in reach_by(session, day, with_contact).items()}
    out.reach_by_channel = reach_by(session, Delivery.channel_id, with_contact)
    segment_reach = reach_by(session, Delivery.segment_id, with_contact)
    out.reach_by_placement = reach_by(session, Delivery.placement_id, with_contact)
    channel_counts = _counts(session.exec(select(Delivery.channel_id, Delivery.status, func.count()).where(*where)
                                          .group_by(Delivery.channel_id, Delivery.status)))
    channels = {c.id: c for c in session.exec(select(ChannelConfig).where(col(ChannelConfig.id).in_(list(channel_counts) or [0])))}
    out.by_channel = [(channels[cid], counts) for cid, counts in sorted(channel_counts.items()) if cid in channels]
    segment_counts = _counts(session.exec(select(Delivery.segment_id, Delivery.status, func.count()).where(*where)
                                          .group_by(Delivery.segment_id, Delivery.status)))
    segments = {s.id: s for s in session.exec(select(AudienceSegment).where(
        col(AudienceSegment.id).in_([k for k in segment_counts if k is not None] or [0])))}
    for sid, counts in sorted(segment_counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        seg = segments.get(sid)
        code, reach = seg.code if seg else "", segment_reach.get(sid, Reach())
        out.by_segment.append((code, seg.name if seg else "No segment (airings, posts)", counts, reach.contacts))
        if reach.contacts:
            out.reach_by_segment[code] = reach
    placement_counts = _counts(session.exec(select(Delivery.placement_id, Delivery.status, func.count()).where(*where)
                                            .group_by(Delivery.placement_id, Delivery.status)))
    placements = {p.id: p for p in session.exec(select(Placement).where(col(Placement.id).in_(list(placement_counts) or [0])))}
    out.by_placement = [(placements[pid], counts) for pid, counts in sorted(placement_counts.items()) if pid in placements]
    out.reasons = [(status.value, reason, n) for status, reason, n in session.exec(
        select(Delivery.status, Delivery.reason, func.count())
        .where(*where, col(Delivery.status).in_([DeliveryStatus.failed, DeliveryStatus.skipped]))
        .group_by(Delivery.status, Delivery.reason).order_by(func.count().desc()).limit(20))]
    if campaign is not None:
        out.radio = _radio(session, campaign, filters, now or utcnow())
        out.trainings = _trainings(session, campaign, filters)
    return out


def _targets(segment_id: int):
    """Placements aimed at the segment (among others, perhaps): airings and sessions have no recipient's segment."""
    return col(Placement.id).in_(select(PlacementSegment.placement_id).where(PlacementSegment.segment_id == segment_id))


def _radio(session: Session, campaign: Campaign, filters: DeliveryFilter, now: datetime) -> list[RadioLine]:
    query = (select(Placement.channel_id, Occurrence.status, func.count())
             .join(Placement, Placement.id == Occurrence.placement_id)
             .join(ChannelConfig, ChannelConfig.id == Placement.channel_id)
             .where(Placement.campaign_id == campaign.id, ChannelConfig.kind == ChannelKind.radio))
    if filters.placement_id is not None:
        query = query.where(Placement.id == filters.placement_id)
    if filters.channel_id is not None:
        query = query.where(ChannelConfig.id == filters.channel_id)
    if filters.segment_id is not None:
        query = query.where(_targets(filters.segment_id))
    tz = ZoneInfo(campaign.timezone)
    if filters.since is not None:
        query = query.where(col(Occurrence.due_at) >= _utc(filters.since, tz))
    if filters.until is not None:
        query = query.where(col(Occurrence.due_at) < _utc(filters.until + timedelta(days=1), tz))
    tally: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for channel_id, status, n in session.exec(query.group_by(Placement.channel_id, Occurrence.status)):
        tally[channel_id]["all"] += n
        tally[channel_id][status.value] += n
    # Due and neither confirmed nor skipped: the station has not said yet.
    waiting = query.where(col(Occurrence.due_at) <= now,
                          col(Occurrence.status).in_([OccurrenceStatus.planned, OccurrenceStatus.expanded, OccurrenceStatus.late]))
    unconfirmed = defaultdict(int)
    for cid, _, n in session.exec(waiting.group_by(Placement.channel_id, Occurrence.status)) if tally else ():
        unconfirmed[cid] += n
    stations = {c.id: c for c in session.exec(select(ChannelConfig).where(col(ChannelConfig.id).in_(list(tally) or [0])))}
    out = []
    for cid, t in sorted(tally.items()):
        ch = stations[cid]
        reach = rules.radio_reach(airings=t["aired"], listeners=ch.audience_size or 0,
                                  rating=float((ch.settings or {}).get("rating") or 0.15))
        out.append(RadioLine(ch, t["all"], t["aired"], t["missed"], unconfirmed[cid], round(reach.reach),
                             reach.frequency))
    return out


def _trainings(session: Session, campaign: Campaign, filters: DeliveryFilter) -> list[TrainingLine]:
    query = (select(TrainingSession, Placement.name, TrainingAttendance.attended, func.count(TrainingAttendance.id))
             .join(Placement, Placement.id == TrainingSession.placement_id)
             .outerjoin(TrainingAttendance, TrainingAttendance.session_id == TrainingSession.id)
             .where(Placement.campaign_id == campaign.id))
    if filters.placement_id is not None:
        query = query.where(Placement.id == filters.placement_id)
    if filters.channel_id is not None:
        query = query.where(Placement.channel_id == filters.channel_id)
    if filters.segment_id is not None:
        query = query.where(_targets(filters.segment_id))
    lines: dict[int, dict] = {}
    for ts, name, attended, n in session.exec(query.group_by(TrainingSession.id, Placement.name, TrainingAttendance.attended)):
        line = lines.setdefault(ts.id, {"session": ts, "name": name, "invited": 0, True: 0, False: 0, None: 0})
        line["invited"] += n
        line[attended] += n
    return [TrainingLine(v["session"], v["name"] or "", v["invited"], v[True], v[False], v[None])
            for v in sorted(lines.values(), key=lambda v: v["session"].starts_local)]


def failures(*, session: Session, filters: DeliveryFilter, limit: int = 50, offset: int = 0,
             statuses: Sequence[DeliveryStatus] = (DeliveryStatus.failed,)) -> tuple[int, list[tuple[Delivery, Contact | None]]]:
    """Failed (or skipped) deliveries, newest first, with their contact: (total, page)."""
    campaign = session.get(Campaign, filters.campaign_id) if filters.campaign_id else None
    where = [*filters.where(ZoneInfo(campaign.timezone if campaign else "UTC")), col(Delivery.status).in_(statuses)]
    total = session.exec(select(func.count()).select_from(Delivery).where(*where)).one()
    rows = session.exec(select(Delivery, Contact).outerjoin(Contact, Contact.id == Delivery.contact_id).where(*where)
                        .order_by(col(Delivery.updated_at).desc(), col(Delivery.id).desc()).offset(offset).limit(limit)).all()
    return total, list(rows)


def retry(*, session: Session, ids: Sequence[int] | None, filters: DeliveryFilter, actor: User | None,
          ip: str = "") -> int:
    """Put failed deliveries back in the queue: the ``ids`` given (of those ``filters`` selects), or all of them.

    Only failed rows move (a sent or delivered one is never sent again); their attempts start
    over and the worker sends them at once, checking opt-outs and caps again. Returns how many.
    """
    campaign = session.get(Campaign, filters.campaign_id) if filters.campaign_id else None
    where = [*filters.where(ZoneInfo(campaign.timezone if campaign else "UTC")), Delivery.status == DeliveryStatus.failed]
    if ids is not None:
        where.append(col(Delivery.id).in_(list(ids)[:MAX_RETRY]))
    now = utcnow()
    rows = session.exec(select(Delivery).where(*where).limit(MAX_RETRY)).all()
    for row in rows:
        row.status = DeliveryStatus.queued
        row.reason = f"retry requested (last error: {row.reason})"[:500] if row.reason else "retry requested"
        row.attempts = 0
        row.next_attempt_at = now
        row.claimed_by = ""
        row.lease_until = None
        row.updated_at = now
        session.add(row)
    if rows:
        record_audit(session=session, actor=actor, action="delivery.retry", entity_type="campaign",
                     entity_id=filters.campaign_id or "", summary=f"Put {len(rows):,} failed deliveries back in the queue",
                     details={"deliveries": len(rows)}, ip=ip)
    session.flush()
    return len(rows)


LOG_COLUMNS = ("delivery", "campaign", "placement", "channel", "segment", "contact", "language", "status", "reason",
               "attempts", "gateway_message_id", "due_at", "sent_at", "delivered_at")
PERSONAL_COLUMNS = ("name", "phone", "email")


def log_rows(*, session: Session, filters: DeliveryFilter, personal: bool, batch: int = 5000) -> Iterator[list]:
    """The delivery log as rows for a CSV (header first), read in batches by id.

    ``personal``: add the contact's name, phone and e-mail (only for roles that may see contacts).
    """
    campaign = session.get(Campaign, filters.campaign_id) if filters.campaign_id else None
    where = filters.where(ZoneInfo(campaign.timezone if campaign else "UTC"))
    yield [*LOG_COLUMNS, *(PERSONAL_COLUMNS if personal else ())]
    placements = {p.id: p.name or f"placement {p.id}" for p in session.exec(select(Placement))}
    channels = {c.id: c.name for c in session.exec(select(ChannelConfig))}
    segments = {s.id: s.code for s in session.exec(select(AudienceSegment))}
    campaigns = {c.id: c.name for c in session.exec(select(Campaign))}
    last = 0
    while True:
        rows = session.exec(select(Delivery, Contact).outerjoin(Contact, Contact.id == Delivery.contact_id)
                            .where(*where, col(Delivery.id) > last).order_by(Delivery.id).limit(batch)).all()
        if not rows:
            return
        for d, c in rows:
            line = [d.uid, campaigns.get(d.campaign_id, ""), placements.get(d.placement_id, ""), channels.get(d.channel_id, ""),
                    segments.get(d.segment_id, ""), d.contact_id or "", d.language, d.status.value, d.reason, d.attempts,
                    d.gateway_message_id, _iso(d.due_at), _iso(d.sent_at), _iso(d.delivered_at)]
            if personal:
                line += [c.name if c else "", (c.phone or "") if c else "", (c.email or "") if c else ""]
            yield line
        last = rows[-1][0].id


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.isoformat(timespec="seconds")
