"""What stations and trainers confirm becomes the delivery log: the run sheet is a radio spot's
delivery, the attendance sheet a training's.

An airing the station says aired becomes a delivered ``airing`` row, a missed one a failed row
(with the station's note); a participant marked present becomes a delivered row, absent a failed
one, not recorded stays queued (awaiting the trainer). The rows are the outbox's own
(:func:`campaign.outbox.expand_occurrence`, idempotent), so a confirmation before the scheduler
reached the occurrence writes them, and the scheduler adds nothing twice afterwards.
Services: keyword-only, take a Session, never commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session, select

from web.accounts.models import utcnow

from . import outbox, schedule
from .models import (
    Campaign, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, Placement, TrainingAttendance, TrainingSession,
)

__all__ = ["sync_airing", "sync_attendance"]


def _set(row: Delivery, status: DeliveryStatus, reason: str, at: datetime) -> bool:
    if row.status == status and row.reason == reason:
        return False
    row.status, row.reason, row.updated_at = status, reason[:500], at
    row.next_attempt_at = None
    if status == DeliveryStatus.delivered:
        row.sent_at = row.sent_at or at
        row.delivered_at = at
    else:
        row.delivered_at = None
    return True


def sync_airing(*, session: Session, occurrence: Occurrence, now: datetime | None = None) -> int:
    """The ``airing`` delivery of a radio occurrence follows its confirmation; returns rows changed."""
    if occurrence.status not in (OccurrenceStatus.aired, OccurrenceStatus.missed):
        return 0
    now = now or utcnow()
    outbox.expand_occurrence(session=session, occurrence=occurrence, now=now)
    changed = 0
    for row in session.exec(select(Delivery).where(Delivery.occurrence_id == occurrence.id)):
        if occurrence.status == OccurrenceStatus.aired:
            done = _set(row, DeliveryStatus.delivered, "", occurrence.confirmed_at or now)
        else:
            done = _set(row, DeliveryStatus.failed, "the station says it did not air"
                        + (f": {occurrence.reason}" if occurrence.reason else ""), now)
        if done:
            session.add(row)
            changed += 1
    session.flush()
    return changed


def _session_occurrence(session: Session, training: TrainingSession) -> Occurrence | None:
    found = session.exec(select(Occurrence).where(Occurrence.session_id == training.id)).first()
    if found is not None:
        return found
    placement = session.get(Placement, training.placement_id)
    campaign = session.get(Campaign, placement.campaign_id)
    # The session's own occurrence, written as the scheduler would (idempotent).
    start = datetime.combine(training.starts_local.date(), datetime.min.time()).replace(tzinfo=timezone.utc) - timedelta(days=2)
    schedule.materialise(session=session, campaign=campaign, placement=placement, window_start=start,
                         window_end=start + timedelta(days=4))
    return session.exec(select(Occurrence).where(Occurrence.session_id == training.id)).first()


def sync_attendance(*, session: Session, training: TrainingSession, now: datetime | None = None) -> int:
    """Each participant's delivery follows the attendance recorded; returns rows changed."""
    now = now or utcnow()
    occurrence = _session_occurrence(session, training)
    if occurrence is None:
        return 0
    outbox.expand_occurrence(session=session, occurrence=occurrence, now=now)  # invitees and walk-ins added since
    marks = {a.contact_id: a for a in session.exec(select(TrainingAttendance)
                                                   .where(TrainingAttendance.session_id == training.id))}
    changed = 0
    for row in session.exec(select(Delivery).where(Delivery.occurrence_id == occurrence.id)):
        mark = marks.get(row.contact_id)
        if mark is None:  # uninvited, or a walk-in unticked: no longer part of the session
            done = _set(row, DeliveryStatus.skipped, "no longer invited", now)
        elif mark.attended is True:
            done = _set(row, DeliveryStatus.delivered, "", mark.recorded_at or now)
        elif mark.attended is False:
            done = _set(row, DeliveryStatus.failed, "absent", now)
        else:
            done = _set(row, DeliveryStatus.queued, "awaiting the attendance sheet", now)
        if done:
            session.add(row)
            changed += 1
    session.flush()
    return changed
