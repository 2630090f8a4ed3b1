"""The delivery scheduler: every tick, the placements' due occurrences go into the outbox.

One scheduler acts at a time (:class:`Leader`): on PostgreSQL the holder of a session advisory
lock (it is released when the holder's connection dies, so a standby gets it at its next try);
on SQLite the holder of the ``scheduler`` row of :class:`~campaign.models.SchedulerLease`,
renewed every tick and free once ``expires_at`` passes. Standbys try every tick, so one takes
over within lease + tick seconds (under a minute with the defaults, 45 s + 15 s).

Each tick of the leader (:func:`tick`):

1. Queued rows of paused or finished campaigns and of paused or cancelled placements are
   skipped with the reason: a pause stops future sends at once. Resuming does not replay them
   (:func:`campaign.outbox.replay_skipped` does, when asked).
2. The placements of active and paused campaigns, active or paused, are materialised up to a
   day ahead (:func:`campaign.schedule.materialise`, idempotent): what falls due during a pause,
   however long, is a row when its time comes.
3. Every planned occurrence now due is decided, oldest first, each in its own transaction:
   its campaign or placement not active -> ``skipped`` ("campaign paused at its time"), never
   sent on resume (resuming with ``replay`` sends it, see
   :func:`campaign.service.set_campaign_status`);
   due within the last two ticks -> expanded; missed (the scheduler was down) but within the
   grace period -> expanded and marked ``late`` with how late; beyond it -> ``skipped`` with
   the reason. Nothing due is dropped silently. Expanding twice writes nothing twice, so a
   scheduler killed in the middle and restarted carries on where it was.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from web.accounts.models import utcnow

from . import outbox, schedule
from .models import (
    Campaign, CampaignStatus, Occurrence, OccurrenceStatus, Placement, PlacementStatus, SchedulerLease,
)

__all__ = ["Leader", "Scheduler", "TickReport", "tick"]

log = logging.getLogger("konbit.scheduler")

LEASE_NAME = "scheduler"
_ADVISORY_KEY = 727_000_001  # pg_advisory_lock key of the delivery scheduler
HORIZON = timedelta(days=1)
REMATERIALISE = timedelta(minutes=5)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# --- leadership ---------------------------------------------------------------------------


class Leader:
    """Whether this process is the one scheduler that acts; :meth:`acquire` tries or renews."""

    def __init__(self, engine: Engine, *, name: str = "", lease_seconds: float = 45.0):
        self.engine = engine
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}")[:120]
        self.lease = timedelta(seconds=lease_seconds)
        self.postgres = engine.dialect.name == "postgresql"
        self._conn: Connection | None = None  # PostgreSQL: the connection that holds the lock
        self.leading = False

    def acquire(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        was = self.leading
        try:
            self.leading = self._advisory() if self.postgres else self._lease(now)
        except Exception:  # noqa: BLE001 - the database went away: not the leader until it is back
            log.exception("leadership check failed")
            self._drop()
            self.leading = False
        if self.leading:
            self._heartbeat(now)
        if self.leading != was:
            log.info("scheduler %s is %s", self.name, "the leader" if self.leading else "a standby")
        return self.leading

    def _advisory(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True  # the session lock lives as long as this connection
            except Exception:  # noqa: BLE001
                self._drop()
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}).scalar()
        conn.commit()
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _lease(self, now: datetime) -> bool:
        table = SchedulerLease.__table__
        with self.engine.begin() as conn:
            taken = conn.execute(update(table).where(
                table.c.name == LEASE_NAME, (table.c.holder == self.name) | (table.c.expires_at < now))
                .values(holder=self.name, heartbeat_at=now, expires_at=now + self.lease)).rowcount
            if taken:
                return True
            insert = sqlite.insert(table).on_conflict_do_nothing(index_elements=["name"])
            return bool(conn.execute(insert.values(name=LEASE_NAME, holder=self.name, heartbeat_at=now,
                                                   expires_at=now + self.lease)).rowcount)

    def _heartbeat(self, now: datetime) -> None:
        """PostgreSQL: the lease row says who leads (the lock decides; the row is for people)."""
        if not self.postgres:
            return
        table = SchedulerLease.__table__
        values = dict(holder=self.name, heartbeat_at=now, expires_at=now + self.lease)
        with self.engine.begin() as conn:
            conn.execute(postgresql.insert(table).values(name=LEASE_NAME, **values)
                         .on_conflict_do_update(index_elements=["name"], set_=values))

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None

    def release(self) -> None:
        """Give leadership up at once (a clean shutdown: the standby need not wait for the lease)."""
        if not self.leading:
            self._drop()
            return
        self.leading = False
        try:
            table = SchedulerLease.__table__
            with self.engine.begin() as conn:
                conn.execute(update(table).where(table.c.name == LEASE_NAME, table.c.holder == self.name)
                             .values(expires_at=utcnow() - timedelta(seconds=1)))
            if self.postgres and self._conn is not None:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
                self._conn.commit()
        finally:
            self._drop()


# --- one tick -----------------------------------------------------------------------------


@dataclass
class TickReport:
    expanded: int = 0
    late: int = 0
    skipped: int = 0
    deliveries: int = 0
    paused_rows: int = 0
    reasons: list[str] = field(default_factory=list)


def _skip_paused(session: Session, now: datetime) -> int:
    campaigns = {c.id: f"campaign {c.status.value}" for c in session.exec(
        select(Campaign).where(Campaign.status.in_([CampaignStatus.paused, CampaignStatus.finished])))}
    placements = {p.id: f"placement {p.status.value}" for p in session.exec(
        select(Placement).where(Placement.status.in_([PlacementStatus.paused, PlacementStatus.cancelled])))}
    return outbox.skip_queued(session=session, reason="paused", campaign_ids=campaigns, placement_ids=placements, now=now)


def tick(*, engine: Engine, now: datetime | None = None, grace_seconds: float = 7200, tick_seconds: float = 15,
         materialised: dict[int, tuple[datetime, datetime]] | None = None) -> TickReport:
    """Skip paused rows, materialise, expand what is due; each step commits on its own.

    ``materialised`` (kept by the caller between ticks) remembers when each placement was last
    materialised and its ``updated_at`` then: an unchanged placement is materialised again only
    every :data:`REMATERIALISE` (a relative placement reads every contact to find its days).
    """
    now = now or utcnow()
    materialised = {} if materialised is None else materialised
    report = TickReport()
    grace = timedelta(seconds=grace_seconds)
    late_after = timedelta(seconds=max(2 * tick_seconds, 1.0))
    with Session(engine, expire_on_commit=False) as session:
        report.paused_rows = _skip_paused(session, now)
        session.commit()
        # Paused ones too: what falls due while paused must be a row to be recorded as skipped at its
        # time, not written (and sent late) when the pause ends.
        live = session.exec(select(Placement, Campaign).join(Campaign, Campaign.id == Placement.campaign_id)
                            .where(Campaign.status.in_([CampaignStatus.active, CampaignStatus.paused]),
                                   Placement.status.in_([PlacementStatus.active, PlacementStatus.paused]))).all()
        for placement, campaign in live:
            last = materialised.get(placement.id)
            if last is not None and last[1] == placement.updated_at and now - last[0] < REMATERIALISE:
                continue
            try:
                materialised[placement.id] = (now, placement.updated_at)
                schedule.materialise(session=session, campaign=campaign, placement=placement, window_end=now + HORIZON)
                session.commit()
            except Exception:  # noqa: BLE001 - one broken placement is logged, the others go on
                session.rollback()
                log.exception("materialising placement %s failed", placement.id)
        due = session.exec(select(Occurrence.id).where(Occurrence.status == OccurrenceStatus.planned,
                                                       Occurrence.due_at <= now).order_by(Occurrence.due_at)).all()
    for occurrence_id in due:
        with Session(engine, expire_on_commit=False) as session:
            try:
                _decide(session, occurrence_id, now, grace, late_after, report)
                session.commit()
            except Exception:  # noqa: BLE001
                session.rollback()
                log.exception("expanding occurrence %s failed", occurrence_id)
    return report


def _decide(session: Session, occurrence_id: int, now: datetime, grace: timedelta, late_after: timedelta,
            report: TickReport) -> None:
    occ = session.get(Occurrence, occurrence_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if occ is None or occ.status != OccurrenceStatus.planned:  # another scheduler got there first
        return
    placement = session.get(Placement, occ.placement_id)
    campaign = session.get(Campaign, placement.campaign_id)
    when = _aware(occ.due_at)
    lateness = now - when
    if campaign.status == CampaignStatus.draft:
        return
    reason = ""
    if campaign.status != CampaignStatus.active:
        reason = f"campaign {campaign.status.value} at its time"
    elif placement.status != PlacementStatus.active:
        reason = f"placement {placement.status.value} at its time"
    elif lateness > grace:
        reason = (f"missed: due {when:%Y-%m-%d %H:%M} UTC, the scheduler reached it {_duration(lateness)} later, "
                  f"beyond the grace period of {_duration(grace)}")
    if reason:
        occ.status, occ.reason = OccurrenceStatus.skipped, reason[:300]
        session.add(occ)
        report.skipped += 1
        report.reasons.append(reason)
        log.warning("occurrence %s skipped: %s", occ.id, reason)
        return
    late = lateness > late_after
    result = outbox.expand_occurrence(
        session=session, occurrence=occ, now=now,
        status=OccurrenceStatus.late if late else OccurrenceStatus.expanded,
        reason=f"sent late: {_duration(lateness)} after its time, within the grace period" if late else "")
    report.deliveries += result.created
    if late:
        report.late += 1
    else:
        report.expanded += 1
    log.info("occurrence %s of placement %s: %d deliveries%s", occ.id, placement.id, result.created,
             f" ({_duration(lateness)} late)" if late else "")


# --- the APScheduler runner -----------------------------------------------------------------


class Scheduler:
    """APScheduler 3 running :func:`tick` every ``tick_seconds`` on the leader; standbys just try."""

    def __init__(self, engine: Engine, settings: Any, *, name: str = "", blocking: bool = False):
        from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415
        from apscheduler.schedulers.blocking import BlockingScheduler  # noqa: PLC0415

        # A tick longer than the interval makes APScheduler skip a run and say so: expected, not news.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self.engine = engine
        self.settings = settings
        self.leader = Leader(engine, name=name, lease_seconds=settings.scheduler_lease_seconds)
        self.ticks = 0
        self._materialised: dict[int, tuple[datetime, datetime]] = {}
        self._lock = threading.Lock()
        self._scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=timezone.utc)
        self._scheduler.add_job(self._job, "interval", seconds=settings.scheduler_tick_seconds, id="konbit-delivery",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(timezone.utc),
                                misfire_grace_time=None)

    def _job(self) -> None:
        with self._lock:
            if not self.leader.acquire():
                return
            report = tick(engine=self.engine, grace_seconds=self.settings.delivery_grace_seconds,
                          tick_seconds=self.settings.scheduler_tick_seconds, materialised=self._materialised)
            self.ticks += 1
            if report.deliveries or report.skipped or report.paused_rows:
                log.info("tick: %d occurrences expanded, %d late, %d skipped, %d deliveries queued, %d paused rows skipped",
                         report.expanded, report.late, report.skipped, report.deliveries, report.paused_rows)

    def start(self) -> None:
        log.info("scheduler %s starting (tick %.1f s)", self.leader.name, self.settings.scheduler_tick_seconds)
        self._scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        with self._lock:
            self.leader.release()
