"""The outbox: an occurrence becomes delivery rows, once.

:func:`expand_occurrence` writes one :class:`~campaign.models.Delivery` per recipient of a
direct placement (SMS, e-mail), one ``"post"`` for a social page, one ``"airing"`` for a radio
spot and one per invited participant of a training session. Rows are inserted with
``ON CONFLICT (occurrence_id, recipient_key) DO NOTHING`` (SQLite and PostgreSQL), so expanding
an occurrence twice, or from two schedulers at once, creates nothing the second time.

What a recipient gets is decided here and kept on the row: the variant of their language,
falling back along the campaign's languages (:func:`campaign.service.fallback_language`); a
recipient with no variant to fall back to is a ``skipped`` row with the reason, never a silent
gap. Variables (``{name}``...) are filled in at send time (:func:`fill`), from the contact as
it is then.

Rows the dispatch worker sends have ``next_attempt_at`` set (it claims those due). Radio
airings and training participants have none: the run sheet and the attendance register
confirm them (aired, attended), not a gateway.

Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, update
from sqlmodel import Session, select

from content.models import ContentVariant
from web.accounts.models import utcnow

from . import rules
from .audience import recipients_query
from .models import (
    Campaign, ChannelConfig, ChannelKind, Contact, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, Placement,
    Timing, TrainingAttendance,
)
from .schedule import materialise, relative_anchor
from .service import fallback_language, placement_segments

__all__ = ["PAUSE_REASONS", "ExpandResult", "expand_occurrence", "fill", "replay_skipped", "skip_queued",
           "skip_while_paused", "variants_by_language"]

#: How a pause's skips begin (rows: "campaign paused"; occurrences: "campaign paused at its time"):
#: what :func:`replay_skipped` puts back by default.
PAUSE_REASONS = ("campaign paused", "placement paused")
_SENT_BY_WORKER = (ChannelKind.sms, ChannelKind.email, ChannelKind.social)

_CHUNK = 5000
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")


def fill(template: str, contact: Contact | None) -> str:
    """``template`` with ``{name}``, ``{first_name}``, ``{region}``, ``{phone}``, ``{email}``,
    ``{language}`` and ``{attributes.<key>}`` (or just ``{<key>}``) taken from ``contact``.

    A known field the contact lacks becomes empty; a name that is no field is left as written
    (a brace in the text is not an error).
    """
    if contact is None or "{" not in template:
        return template
    attributes = contact.attributes or {}

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key == "first_name":
            return (contact.name or "").split(" ")[0]
        if key in ("name", "region", "phone", "email", "language"):
            return str(getattr(contact, key) or "")
        if key.startswith("attributes."):
            return str(attributes.get(key.split(".", 1)[1], ""))
        if key in attributes:
            return str(attributes[key])
        return match.group(0)

    return _VARIABLE.sub(value, template)


def variants_by_language(*, session: Session, placement: Placement, kind: ChannelKind) -> dict[str, ContentVariant]:
    """The approved version's variants for the channel's format, by language."""
    query = select(ContentVariant).where(ContentVariant.version_id == placement.version_id,
                                         ContentVariant.channel == kind.content_format)
    if kind == ChannelKind.social and placement.social_platform:
        query = query.where(ContentVariant.platform == placement.social_platform)
    return {v.language: v for v in session.exec(query)}


class ExpandResult:
    """What one expansion wrote: rows created now (0 the second time), of which skipped at once."""

    __slots__ = ("created", "skipped", "total")

    def __init__(self, created: int, skipped: int, total: int):
        self.created, self.skipped, self.total = created, skipped, total

    def __repr__(self) -> str:
        return f"ExpandResult(created={self.created}, skipped={self.skipped}, total={self.total})"


_COLUMNS = ("uid", "recipient_key", "contact_id", "segment_id", "language", "variant_id", "status", "reason",
            "next_attempt_at", "occurrence_id", "placement_id", "campaign_id", "channel_id", "attempts", "claimed_by",
            "gateway_message_id", "due_at", "created_at", "updated_at")


def _uids(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as text, several times faster than ``str(uuid.uuid4())`` each."""
    raw = os.urandom(16 * n).hex()
    out = []
    for i in range(0, 32 * n, 32):
        h = raw[i:i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
    return out


def _insert(session: Session, rows: list[tuple], constants: dict[str, Any], *, fresh: bool = False) -> None:
    """INSERT ... ON CONFLICT (occurrence_id, recipient_key) DO NOTHING, in chunks, through the driver.

    ``rows`` hold the first nine columns of :data:`_COLUMNS` (``next_attempt_at`` already in the
    driver's form); ``constants`` the rest, the same for the whole occurrence. Values go to the
    driver as they are (types processed once here, not 100,000 times by SQLAlchemy).
    """
    table = Delivery.__table__
    connection = session.connection()
    dialect = connection.dialect
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in _COLUMNS)}) "
           f"VALUES ({', '.join([marker] * len(_COLUMNS))}) ON CONFLICT (occurrence_id, recipient_key) DO NOTHING")
    tail = tuple(_driver(table.c[name].type, dialect)(constants[name]) for name in _COLUMNS[9:])
    if dialect.name == "postgresql":
        _copy_insert(connection, [row + tail for row in rows], fresh=fresh)
        return
    for start in range(0, len(rows), _CHUNK):
        connection.exec_driver_sql(sql, [row + tail for row in rows[start:start + _CHUNK]])


def _copy_insert(connection: Any, rows: list[tuple], *, fresh: bool = False) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.

    COPY is an order of magnitude faster than 100,000 INSERT statements (issue 13's target is
    100,000 rows in under 5 s); the conflict clause still makes expanding twice a no-op.
    ``fresh``: the occurrence had no row when this transaction counted, the usual first
    expansion. The rows are then copied straight into the table, which writes them once instead
    of twice; if another process wrote some since (the unique key refuses the copy), the copy
    is rolled back to its savepoint and the conflict-safe road taken.
    """
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    columns = ", ".join(_COLUMNS)
    cursor = connection.connection.cursor()
    try:
        if fresh:
            cursor.execute("SAVEPOINT konbit_outbox_copy")
            try:
                with cursor.copy(f"COPY campaign_delivery ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            except psycopg.errors.UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT konbit_outbox_copy")
            else:
                cursor.execute("RELEASE SAVEPOINT konbit_outbox_copy")
                return
        cursor.execute(f"CREATE TEMPORARY TABLE konbit_outbox_load AS SELECT {columns} FROM campaign_delivery WITH NO DATA")
        with cursor.copy(f"COPY konbit_outbox_load ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO campaign_delivery ({columns}) SELECT {columns} FROM konbit_outbox_load "
                       "ON CONFLICT (occurrence_id, recipient_key) DO NOTHING")
        cursor.execute("DROP TABLE konbit_outbox_load")
    finally:
        cursor.close()


def _driver(column_type: Any, dialect: Any):
    process = column_type.dialect_impl(dialect).bind_processor(dialect)  # the decorator's and the dialect's
    return process or (lambda value: value)


def _count(session: Session, occurrence_id: int) -> int:
    return session.exec(select(func.count()).select_from(Delivery).where(Delivery.occurrence_id == occurrence_id)).one()


def expand_occurrence(*, session: Session, occurrence: Occurrence, now: datetime | None = None,
                      status: OccurrenceStatus = OccurrenceStatus.expanded, reason: str = "") -> ExpandResult:
    """Write the delivery rows of ``occurrence`` that are not there yet; mark it ``status``.

    ``status`` is ``expanded``, or ``late`` when the scheduler expands it after its time
    (``reason`` then says how late). Safe to call again: rows already written are kept.
    """
    now = now or utcnow()
    placement = session.get(Placement, occurrence.placement_id)
    campaign = session.get(Campaign, placement.campaign_id)
    channel = session.get(ChannelConfig, placement.channel_id)
    kind = channel.kind
    variants = variants_by_language(session=session, placement=placement, kind=kind)
    order = list(campaign.languages or [])
    chosen: dict[str, str | None] = {}

    def variant_for(language: str) -> ContentVariant | None:
        if language not in chosen:
            chosen[language] = fallback_language(language, variants, order)
        tag = chosen[language]
        return variants[tag] if tag else None

    due = occurrence.due_at if occurrence.due_at.tzinfo else occurrence.due_at.replace(tzinfo=timezone.utc)
    constants = dict(occurrence_id=occurrence.id, placement_id=placement.id, campaign_id=campaign.id,
                     channel_id=channel.id, attempts=0, claimed_by="", gateway_message_id="", due_at=due,
                     created_at=now, updated_at=now)
    sendable = kind in (ChannelKind.sms, ChannelKind.email, ChannelKind.social)
    next_at = _driver(Delivery.__table__.c.next_attempt_at.type, session.get_bind().dialect)(due) if sendable else None
    queued, skipped_status = DeliveryStatus.queued.value, DeliveryStatus.skipped.value
    recipients: list[tuple[str, int | None, int | None, str]] = []
    add = recipients.append

    if kind.direct:
        segments = placement_segments(session=session, placement=placement)
        query = recipients_query(campaign=campaign, segments=segments, kind=kind).add_columns(Contact.language)
        found = session.execute(query).all()
        if placement.timing == Timing.relative:  # only the contacts whose own date leads to this occurrence
            wanted = _relative_contacts(session, campaign, placement, occurrence, [r[0] for r in found])
            found = [r for r in found if r[0] in wanted]
        for contact_id, segment_id, language in found:
            add((f"c{contact_id}", contact_id, segment_id, language or ""))
    elif kind == ChannelKind.training:
        if occurrence.session_id is not None:
            invited = session.exec(select(TrainingAttendance.contact_id)
                                   .where(TrainingAttendance.session_id == occurrence.session_id)
                                   .order_by(TrainingAttendance.contact_id)).all()
            for contact_id in invited:
                add((f"c{contact_id}", contact_id, None, placement.language))
    else:
        add(("airing" if kind == ChannelKind.radio else "post", None, None, placement.language))

    first = order[0] if order else ""
    rows: list[tuple] = []
    skipped = 0
    for uid, (key, contact_id, segment_id, language) in zip(_uids(len(recipients)), recipients, strict=True):
        variant = variant_for(language or first)
        if variant is not None:
            rows.append((uid, key, contact_id, segment_id, variant.language, variant.id, queued, "", next_at))
        else:
            skipped += 1
            rows.append((uid, key, contact_id, segment_id, language, None, skipped_status,
                         f"missing variant: no {kind.content_format} text in {language or 'any language'} "
                         f"nor in {', '.join(order) or 'a campaign language'}", None))

    before = _count(session, occurrence.id)
    if rows:
        _insert(session, rows, constants, fresh=before == 0)
    total = _count(session, occurrence.id)
    created = total - before
    if occurrence.status in (OccurrenceStatus.planned, OccurrenceStatus.expanded, OccurrenceStatus.late):
        if occurrence.status == OccurrenceStatus.planned:
            occurrence.status, occurrence.reason = status, reason
            occurrence.expanded_at = now
        occurrence.recipients = total
        session.add(occurrence)
        session.flush()
    return ExpandResult(created=created, skipped=skipped if created else 0, total=total)


def _relative_contacts(session: Session, campaign: Campaign, placement: Placement, occurrence: Occurrence,
                       ids: list[int]) -> set[int]:
    tz = ZoneInfo(campaign.timezone)
    out: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        for contact in session.exec(select(Contact).where(Contact.id.in_(ids[start:start + _CHUNK]))):
            anchor = relative_anchor(contact, placement.relative_field)
            if anchor is None:
                continue
            when = rules.relative_time(anchor, offset_days=placement.offset_days, at_time=placement.at_time, tz=tz)
            if when.local_at == occurrence.local_at:
                out.add(contact.id)
    return out


def replay_skipped(*, session: Session, placement_id: int, reason_prefix: str | tuple[str, ...] = PAUSE_REASONS,
                   since: datetime | None = None, now: datetime | None = None) -> int:
    """Send now what a pause of ``placement_id`` skipped: resuming does not, this does, when asked.

    Two kinds of skip come back: delivery rows skipped for a reason starting with one of
    ``reason_prefix`` (``"campaign paused"`` or ``"placement paused"`` by default), queued again
    due now; and occurrences skipped for such a reason before they had any row (they fell due
    while paused), expanded now and marked ``late`` ("replayed on resuming"). ``since`` (the
    moment of the pause) limits both to this pause: rows skipped since then, occurrences due
    since then. Only what the worker sends (SMS, e-mail, posts) is replayed (an airing or a
    session whose time has passed is not), and it is sent with today's opt-outs, caps and quiet
    hours checked again. Returns how many rows were queued.
    """
    now = now or utcnow()
    prefixes = (reason_prefix,) if isinstance(reason_prefix, str) else tuple(reason_prefix)
    table = Delivery.__table__
    where = [table.c.placement_id == placement_id, table.c.status == DeliveryStatus.skipped.value,
             or_(*[table.c.reason.like(f"{prefix}%") for prefix in prefixes]), table.c.variant_id.is_not(None)]
    if since is not None:
        where.append(table.c.updated_at >= since)
    result = session.execute(
        update(table).where(*where)
        .values(status=DeliveryStatus.queued.value, reason="", next_attempt_at=now, attempts=0, claimed_by="",
                lease_until=None, updated_at=now))
    queued = result.rowcount or 0
    placement = session.get(Placement, placement_id)
    channel = session.get(ChannelConfig, placement.channel_id) if placement is not None else None
    if channel is None or channel.kind not in _SENT_BY_WORKER:
        return queued
    query = (select(Occurrence).where(
        Occurrence.placement_id == placement_id, Occurrence.status == OccurrenceStatus.skipped,
        or_(*[Occurrence.reason.like(f"{prefix}%") for prefix in prefixes]),
        ~exists().where(Delivery.occurrence_id == Occurrence.id)).order_by(Occurrence.due_at))
    if since is not None:
        query = query.where(Occurrence.due_at >= since)
    for occurrence in session.exec(query).all():
        due = occurrence.due_at if occurrence.due_at.tzinfo else occurrence.due_at.replace(tzinfo=timezone.utc)
        occurrence.status = OccurrenceStatus.planned
        expanded = expand_occurrence(session=session, occurrence=occurrence, now=now, status=OccurrenceStatus.late,
                                     reason=f"replayed on resuming: due {due:%Y-%m-%d %H:%M} UTC while paused")
        queued += expanded.created - expanded.skipped
    return queued


def skip_while_paused(*, session: Session, campaign: Campaign, placement: Placement, since: datetime | None,
                      now: datetime, reason: str) -> int:
    """Record as ``skipped`` (with ``reason``) the occurrences of ``placement`` that fell due while
    it was paused, from ``since`` (all before ``now`` when unknown) to ``now``; how many.

    The scheduler does this at each occurrence's time while it runs; a resume does it too, in its
    own transaction, so the occurrences of a pause the scheduler did not see (it was down, or had
    not written them yet) are not expanded and sent late once the placement is active again.
    """
    materialise(session=session, campaign=campaign, placement=placement, window_start=since,
                window_end=now + timedelta(microseconds=1))
    query = select(Occurrence).where(Occurrence.placement_id == placement.id,
                                     Occurrence.status == OccurrenceStatus.planned, Occurrence.due_at <= now)
    if since is not None:
        query = query.where(Occurrence.due_at >= since)
    n = 0
    for occurrence in session.exec(query).all():
        occurrence.status, occurrence.reason = OccurrenceStatus.skipped, reason[:300]
        session.add(occurrence)
        n += 1
    session.flush()
    return n


def skip_queued(*, session: Session, reason: str, campaign_ids: Mapping[int, str] | None = None,
                placement_ids: Mapping[int, str] | None = None, now: datetime | None = None) -> int:
    """Mark ``skipped`` the queued rows (not yet claimed) of paused campaigns or placements.

    ``campaign_ids`` / ``placement_ids`` map an id to the reason written on its rows.
    """
    now = now or utcnow()
    table = Delivery.__table__
    n = 0
    for column, ids in ((table.c.campaign_id, campaign_ids or {}), (table.c.placement_id, placement_ids or {})):
        for row_id, why in ids.items():
            result = session.execute(
                update(table).where(column == row_id, table.c.status == DeliveryStatus.queued.value,
                                    table.c.next_attempt_at.is_not(None))
                .values(status=DeliveryStatus.skipped.value, reason=why or reason, next_attempt_at=None,
                        updated_at=now))
            n += result.rowcount or 0
    return n
