"""The dispatch worker: claims due delivery rows, sends them through their channel's adapter,
records what happened. Several run at once (``konbit worker``, on one host or many).

Each round:

1. Reclaim: rows left ``sending`` by a worker whose lease ran out (it died, or hangs) go back to
   ``queued``, due at once. They keep their uid, which the gateway takes as idempotency key,
   so a message that went out before the crash is not a second message.
2. Claim a batch: ``UPDATE ... SET status='sending', claimed_by=me, lease_until=now+lease
   WHERE id IN (SELECT id ... WHERE status='queued' AND next_attempt_at <= now ORDER BY
   next_attempt_at LIMIT n FOR UPDATE SKIP LOCKED) RETURNING id`` on PostgreSQL, so two workers
   never take the same row; on SQLite the one statement is atomic (one writer at a time).
   Channels with a rate limit or a frequency cap are claimed one by one under a lock of their
   own (``pg_advisory_xact_lock``; SQLite's write lock), counting what is in flight and what
   went out in the last minute (or week) across all workers, so limits hold for all of them.
3. Check at send time what may have changed since the expansion: the campaign or placement
   paused (the row is skipped, with the reason; resuming does not replay it), the contact opted
   out (skipped), quiet hours or a day without sending (back to the queue, due when allowed).
4. Send in chunks and record each chunk's outcomes at once with conditional updates (``WHERE
   claimed_by=me AND status='sending'``: a row reclaimed by another worker meanwhile is theirs).
   A retryable failure goes back to the queue after an exponential backoff with jitter; after
   ``max_attempts`` it is ``failed`` with the last error. The lease of the whole batch is
   renewed within chunks too: a chunk is sent in slices of at most a quarter of the lease's worth
   of timeouts (x the adapter's concurrency), and after each slice the lease is renewed once a
   quarter of it has gone by, so a slow gateway (Twilio or Facebook, one message at a time)
   cannot let a row this worker is still sending be reclaimed and sent again by another.
   E-mail channels refuse to send (rows ``failed``, the reason names ``KONBIT_PUBLIC_URL``)
   when neither the public address nor the channel's ``unsubscribe_url`` gives the unsubscribe
   link: no e-mail goes out without List-Unsubscribe.
5. On SIGTERM (:meth:`Worker.stop`) the chunk in hand is finished and recorded, every other row
   of the batch, of every channel, goes back to the queue untouched, and the worker exits.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time as clock
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from content.models import ContentVariant
from web.accounts.models import utcnow

from . import rules
from .adapters import AdapterError, Outcome, Outgoing, adapter_for
from .models import (
    Campaign, CampaignStatus, ChannelConfig, ChannelKind, Contact, ContactOptOut, Delivery, DeliveryStatus, Placement,
    PlacementStatus,
)
from .outbox import fill
from . import hooks
from .secrets import SecretsError, decrypt_secrets

__all__ = ["Worker", "WorkerConfig", "backoff", "reclaim_expired"]

log = logging.getLogger("konbit.dispatch")

T = Delivery.__table__
SENDING, QUEUED = DeliveryStatus.sending.value, DeliveryStatus.queued.value
_RATE_LOCK = 727_001  # first key of the per-channel advisory lock (the second is the channel id)
_CHANNEL_TTL = 10.0  # seconds a worker trusts its copy of the channels
NO_UNSUBSCRIBE = ("not sent: an e-mail must carry an unsubscribe link and KONBIT_PUBLIC_URL is not set "
                  "(set it, or the channel's unsubscribe_url setting)")


@dataclass(frozen=True)
class WorkerConfig:
    batch: int = 200
    chunk: int = 100  # messages sent between two recordings (what a kill -9 can leave unrecorded)
    lease_seconds: float = 60.0
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    timeout_seconds: float = 10.0
    secret_key: str = ""
    idle_sleep: float = 0.5
    public_url: str = ""  # where gateways and mail readers reach Konbit: receipts and unsubscribe links

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WorkerConfig:
        values = dict(batch=settings.delivery_batch, lease_seconds=settings.delivery_lease_seconds,
                      max_attempts=settings.delivery_max_attempts, backoff_seconds=settings.delivery_backoff_seconds,
                      timeout_seconds=settings.delivery_timeout_seconds, secret_key=settings.secret_key,
                      public_url=getattr(settings, "public_url", ""))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def backoff(attempts: int, base: float, *, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait before attempt ``attempts + 1``: ``base x 2^(attempts-1)``, +-50 % jitter, at most 6 h."""
    seconds = min(base * 2 ** max(0, attempts - 1), 6 * 3600.0)
    return timedelta(seconds=seconds * (0.5 + rng()))


def reclaim_expired(*, session: Session, now: datetime) -> int:
    """Put back in the queue the rows whose worker's lease ran out; how many."""
    result = session.execute(
        update(T).where(T.c.status == SENDING, T.c.lease_until < now)
        .values(status=QUEUED, next_attempt_at=now, claimed_by="", lease_until=None, updated_at=now,
                reason="reclaimed: its worker stopped before recording an answer"))
    return result.rowcount or 0


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


@dataclass
class _Channel:
    row: ChannelConfig
    loaded: float
    adapter: Any = None
    error: str = ""
    callback_token: str = ""


class Worker:
    """One dispatch worker; :meth:`run` until :meth:`stop` (or until the outbox is empty)."""

    def __init__(self, engine: Engine, config: WorkerConfig, *, name: str = ""):
        self.engine = engine
        self.config = config
        self.name = (name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}")[:80]
        self.postgres = engine.dialect.name == "postgresql"
        self._stop = threading.Event()
        self._channels: dict[int, _Channel] = {}
        self._variants: dict[int, ContentVariant] = {}
        self._last_reclaim = 0.0
        self._renewed = 0.0  # when the lease of the batch in hand was last renewed (monotonic)
        self.sent = 0  # counters, for logs and the benchmark
        self.failed = 0

    # --- life -------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the chunk in hand, put the rest back, stop (SIGTERM calls this)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, until_idle: bool = False) -> None:
        log.info("worker %s started", self.name)
        try:
            while not self.stopping:
                try:
                    handled = self.run_once()
                except OperationalError as err:  # the database is busy or away for a moment (SQLite: locked
                    # past the busy timeout while the scheduler writes a large occurrence): rows claimed
                    # and not recorded come back when their lease runs out; try again shortly
                    log.warning("worker %s: database error, retrying: %s", self.name, err.orig)
                    self._stop.wait(self.config.idle_sleep)
                    continue
                if handled:
                    continue
                if until_idle and self._idle():
                    break
                self._stop.wait(self.config.idle_sleep)
        finally:
            self.close()
            log.info("worker %s stopped (%d sent, %d failed)", self.name, self.sent, self.failed)

    def close(self) -> None:
        for channel in self._channels.values():
            if channel.adapter is not None:
                channel.adapter.close()
        self._channels.clear()

    def _idle(self) -> bool:
        """Nothing left for any worker: no queued row with a due time, none in flight."""
        with Session(self.engine) as session:
            left = session.execute(select(func.count()).select_from(T).where(or_(
                and_(T.c.status == QUEUED, T.c.next_attempt_at.is_not(None)), T.c.status == SENDING))).scalar()
        return not left

    # --- one round --------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Reclaim, claim one batch, send it, record it; the number of rows handled."""
        now = now or utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            if clock.monotonic() - self._last_reclaim >= min(5.0, self.config.lease_seconds / 2):
                self._last_reclaim = clock.monotonic()
                if n := reclaim_expired(session=session, now=now):
                    log.warning("reclaimed %d deliveries from workers whose lease ran out", n)
                session.commit()
            ids = self._claim(session, now)
            if not ids:
                return 0
            self._deliver(session, ids)
        return len(ids)

    # --- claiming ---------------------------------------------------------------------

    def _channel(self, session: Session, channel_id: int) -> _Channel:
        cached = self._channels.get(channel_id)
        if cached is not None and clock.monotonic() - cached.loaded < _CHANNEL_TTL:
            return cached
        if cached is not None and cached.adapter is not None:
            cached.adapter.close()
        row = session.get(ChannelConfig, channel_id, populate_existing=True)
        entry = _Channel(row=row, loaded=clock.monotonic())
        try:
            secrets = decrypt_secrets(row.secrets_encrypted, secret_key=self.config.secret_key)
            entry.adapter = adapter_for(row, secrets, timeout=self.config.timeout_seconds)
            entry.callback_token = secrets.get("callback_token", "")
        except (AdapterError, SecretsError) as err:
            entry.error = str(err)
        if (row.kind == ChannelKind.email and not entry.error and not self.config.public_url
                and not str((row.settings or {}).get("unsubscribe_url") or "")):
            # An e-mail without List-Unsubscribe and its link must not go out quietly.
            entry.error = NO_UNSUBSCRIBE
            log.error("channel %s (%s): %s", row.id, row.name, NO_UNSUBSCRIBE)
        self._channels[channel_id] = entry
        return entry

    def _limited_channels(self, session: Session) -> list[ChannelConfig]:
        query = select(ChannelConfig).where(or_(ChannelConfig.rate_limit_per_minute.is_not(None),
                                                ChannelConfig.frequency_cap_per_week.is_not(None)))
        return list(session.scalars(query))

    def _claim_statement(self, where: list, limit: int, now: datetime):
        lease = now + timedelta(seconds=self.config.lease_seconds)
        pick = (select(T.c.id).where(T.c.status == QUEUED, T.c.next_attempt_at <= now, *where)
                .order_by(T.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
        return (update(T).where(T.c.id.in_(pick.scalar_subquery()))
                .values(status=SENDING, claimed_by=self.name, lease_until=lease, attempts=T.c.attempts + 1,
                        updated_at=now).returning(T.c.id))

    def _lock_channel(self, session: Session, channel_id: int) -> None:
        if self.postgres:
            session.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _RATE_LOCK, "b": channel_id})
        else:  # a write takes SQLite's lock: the count and the claim below then see no other writer
            session.execute(update(ChannelConfig.__table__).where(ChannelConfig.__table__.c.id == channel_id)
                            .values(id=ChannelConfig.__table__.c.id))

    def _claim(self, session: Session, now: datetime) -> list[int]:
        # A read first: an idle worker polling must not take SQLite's write lock every time.
        due = session.execute(select(T.c.id).where(T.c.status == QUEUED, T.c.next_attempt_at <= now).limit(1)).first()
        session.commit()
        if due is None:
            return []
        limited = self._limited_channels(session)
        limited_ids = [c.id for c in limited]
        where = [T.c.channel_id.not_in(limited_ids)] if limited_ids else []
        ids = list(session.scalars(self._claim_statement(where, self.config.batch, now)))
        session.commit()
        if len(ids) >= self.config.batch:
            return ids
        for channel in limited:
            room = self.config.batch - len(ids)
            if room <= 0:
                break
            ids += self._claim_limited(session, channel, room, now)
        return ids

    def _claim_limited(self, session: Session, channel: ChannelConfig, room: int, now: datetime) -> list[int]:
        """Claim rows of a rate-limited or capped channel, under the channel's lock."""
        self._lock_channel(session, channel.id)
        if channel.rate_limit_per_minute is not None:
            recent = session.execute(select(func.count()).select_from(T).where(
                T.c.channel_id == channel.id,
                or_(T.c.status == SENDING,
                    and_(T.c.status.in_([DeliveryStatus.sent.value, DeliveryStatus.delivered.value]),
                         T.c.sent_at >= now - timedelta(minutes=1))))).scalar()
            room = min(room, channel.rate_limit_per_minute - recent)
        if room <= 0:
            session.commit()
            return []
        ids = list(session.scalars(self._claim_statement([T.c.channel_id == channel.id], room, now)))
        if ids and channel.frequency_cap_per_week is not None:
            ids = self._apply_cap(session, channel, ids, now)
        session.commit()
        return ids

    def _apply_cap(self, session: Session, channel: ChannelConfig, ids: list[int], now: datetime) -> list[int]:
        """Skip the claimed rows whose contact already had ``cap`` messages of this channel in 7 days.

        Counted under the channel's lock: what was sent, and what other workers have in flight.
        """
        cap = channel.frequency_cap_per_week
        mine = session.execute(select(T.c.id, T.c.contact_id).where(T.c.id.in_(ids)).order_by(T.c.id)).all()
        contact_ids = {c for _, c in mine if c is not None}
        counts: dict[int, int] = defaultdict(int)
        if contact_ids:
            rows = session.execute(select(T.c.contact_id, func.count()).where(
                T.c.channel_id == channel.id, T.c.contact_id.in_(contact_ids), T.c.id.not_in(ids),
                or_(T.c.status == SENDING,
                    and_(T.c.status.in_([DeliveryStatus.sent.value, DeliveryStatus.delivered.value]),
                         T.c.sent_at >= now - timedelta(days=7)))).group_by(T.c.contact_id)).all()
            counts.update({c: n for c, n in rows})
        keep, over = [], []
        for row_id, contact_id in mine:
            if contact_id is not None and counts[contact_id] >= cap:
                over.append(row_id)
            else:
                keep.append(row_id)
                if contact_id is not None:
                    counts[contact_id] += 1
        if over:
            session.execute(update(T).where(T.c.id.in_(over)).values(
                status=DeliveryStatus.skipped.value, claimed_by="", lease_until=None, updated_at=now,
                reason=f"frequency cap: {cap} messages of this channel in 7 days already"))
        return keep

    # --- sending ----------------------------------------------------------------------

    def _variant(self, session: Session, variant_id: int | None) -> ContentVariant | None:
        if variant_id is None:
            return None
        if variant_id not in self._variants:
            self._variants[variant_id] = session.get(ContentVariant, variant_id)
        return self._variants[variant_id]

    def _finish(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Record outcomes: only on rows this worker still holds (another may have reclaimed them)."""
        if not rows:
            return
        if self.postgres:
            # Not waiting for this commit's WAL flush is safe here: a status lost in a server crash
            # leaves the row "sending", it is reclaimed and sent again with the same idempotency key.
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        statement = (update(T).where(T.c.id == bindparam("b_id"), T.c.claimed_by == self.name, T.c.status == SENDING)
                     .values(status=bindparam("b_status"), reason=bindparam("b_reason"),
                             gateway_message_id=bindparam("b_gid"), sent_at=bindparam("b_sent"),
                             delivered_at=bindparam("b_delivered"), next_attempt_at=bindparam("b_next"),
                             attempts=T.c.attempts + bindparam("b_attempts_delta"),
                             lease_until=None, updated_at=bindparam("b_now")))  # claimed_by stays: who sent it
        session.execute(statement, rows)

    @staticmethod
    def _row(row_id: int, status: str, now: datetime, *, reason: str = "", gid: str = "", sent: datetime | None = None,
             delivered: datetime | None = None, next_at: datetime | None = None, undo_attempt: bool = False) -> dict:
        return {"b_id": row_id, "b_status": status, "b_reason": reason[:500], "b_gid": gid[:120], "b_sent": sent,
                "b_delivered": delivered, "b_next": next_at, "b_attempts_delta": -1 if undo_attempt else 0,
                "b_now": now}

    def _deliver(self, session: Session, ids: list[int]) -> None:
        deliveries = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        now = utcnow()
        done: list[dict] = []
        placements = {p.id: p for p in session.scalars(
            select(Placement).where(Placement.id.in_({d.placement_id for d in deliveries})))}
        campaigns = {c.id: c for c in session.scalars(
            select(Campaign).where(Campaign.id.in_({d.campaign_id for d in deliveries})))}
        contact_ids = {d.contact_id for d in deliveries if d.contact_id is not None}
        contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))} if contact_ids else {}
        opted: set[tuple[int, str]] = set()
        if contact_ids:
            opted = {(c, k.value if hasattr(k, "value") else k) for c, k in session.execute(
                select(ContactOptOut.contact_id, ContactOptOut.channel_kind).where(ContactOptOut.contact_id.in_(contact_ids)))}
        by_channel: dict[int, list[Delivery]] = defaultdict(list)
        self._renewed = clock.monotonic()  # claimed just now
        for d in deliveries:
            channel = self._channel(session, d.channel_id)
            kind = channel.row.kind
            placement, campaign = placements[d.placement_id], campaigns[d.campaign_id]
            if campaign.status != CampaignStatus.active:
                done.append(self._row(d.id, DeliveryStatus.skipped.value, now, reason=f"campaign {campaign.status.value}"))
            elif placement.status != PlacementStatus.active:
                done.append(self._row(d.id, DeliveryStatus.skipped.value, now, reason=f"placement {placement.status.value}"))
            elif d.contact_id is not None and (d.contact_id, kind.value) in opted:
                done.append(self._row(d.id, DeliveryStatus.skipped.value, now, reason="opted out"))
            elif channel.error:
                done.append(self._row(d.id, DeliveryStatus.failed.value, now, reason=channel.error))
            elif (later := self._allowed_at(channel.row, campaign, now)) is not None:
                done.append(self._row(d.id, QUEUED, now, next_at=later, undo_attempt=True,
                                      reason=f"quiet hours deferred to {later:%Y-%m-%d %H:%M} UTC"))
            else:
                by_channel[d.channel_id].append(d)
        self._finish(session, done)
        session.commit()
        pending = list(by_channel.items())
        for index, (channel_id, rows) in enumerate(pending):
            channel = self._channels[channel_id]
            for start in range(0, len(rows), self.config.chunk):
                if self.stopping:
                    # Every claimed row not sent yet goes back: this channel's and the other channels'.
                    left = [d.id for d in rows[start:]] + [d.id for _, later in pending[index + 1:] for d in later]
                    self._release(session, left)
                    return
                self._send_chunk(session, channel, rows[start:start + self.config.chunk], contacts, ids)

    def _allowed_at(self, channel: ChannelConfig, campaign: Campaign, now: datetime) -> datetime | None:
        """None when the channel may send now; otherwise when it may (UTC)."""
        if channel.quiet_start is None and set(channel.send_days or []) >= set(range(7)):
            return None
        tz = ZoneInfo(campaign.timezone)
        local = now.astimezone(tz).replace(tzinfo=None)
        allowed = rules.next_allowed(local, quiet_start=channel.quiet_start, quiet_end=channel.quiet_end,
                                     send_days=channel.send_days or [])
        if allowed is not None and allowed <= local:
            return None
        if allowed is None:
            return now + timedelta(days=1)
        return rules.local_to_utc(allowed, tz)

    def _outgoing(self, channel: ChannelConfig, d: Delivery, contact: Contact | None, variant: ContentVariant,
                  callback_token: str = "") -> Outgoing:
        kind = channel.kind
        to = ""
        if contact is not None:
            to = (contact.phone if kind == ChannelKind.sms else contact.email if kind == ChannelKind.email else "") or ""
        settings = channel.settings or {}
        # A channel's own templates win; otherwise Konbit's public address gives the receipts webhook
        # (with the channel's callback token) and the one-click unsubscribe link of e-mails.
        base = self.config.public_url.rstrip("/")
        unsubscribe = str(settings.get("unsubscribe_url", "")) or (base + hooks.unsubscribe_path("{delivery_uid}")
                                                                   if base and kind == ChannelKind.email else "")
        callback = str(settings.get("status_callback_url", "")) or (base + hooks.receipts_path(channel.id, callback_token)
                                                                    if base and callback_token else "")
        return Outgoing(delivery_uid=d.uid, to=to, text=fill(variant.body, contact), subject=fill(variant.subject, contact),
                        language=d.language, contact_name=contact.name if contact else "",
                        unsubscribe_url=unsubscribe.replace("{delivery_uid}", d.uid),
                        status_callback_url=callback.replace("{delivery_uid}", d.uid))

    def _slice(self, channel: _Channel) -> int:
        """Messages sent between two chances to renew the lease: at most a quarter of the lease's
        worth of timeouts, so a slow gateway cannot outlast the lease while its worker is alive."""
        rounds = max(1, int(self.config.lease_seconds / (4 * max(self.config.timeout_seconds, 0.001))))
        return rounds * max(1, int(getattr(channel.adapter, "concurrency", 1) or 1))

    def _keep_lease(self, session: Session, ids: list[int]) -> None:
        """Renew the lease of the batch once a quarter of it has gone by since the last renewal."""
        if clock.monotonic() - self._renewed >= self.config.lease_seconds / 4:
            self._renew(session, ids)
            self._renewed = clock.monotonic()

    def _send(self, channel: _Channel, messages: list[Outgoing]) -> list[Outcome]:
        try:
            return channel.adapter.send_batch(messages) if messages else []
        except AdapterError as err:
            return [Outcome(ok=False, error=str(err), retryable=False)] * len(messages)
        except Exception as err:  # noqa: BLE001 - one broken adapter must not stop the worker
            log.exception("adapter %s raised", channel.row.provider)
            return [Outcome(ok=False, error=f"adapter error: {type(err).__name__}")] * len(messages)

    def _send_chunk(self, session: Session, channel: _Channel, rows: list[Delivery], contacts: dict[int, Contact],
                    claimed: list[int] | None = None) -> None:
        """Send ``rows`` and record them at once; between slices the lease of ``claimed`` (the
        whole batch) is renewed, so no other worker reclaims a row this one is still sending."""
        messages, sendable, done = [], [], []
        now = utcnow()
        for d in rows:
            variant = self._variant(session, d.variant_id)
            if variant is None:
                done.append(self._row(d.id, DeliveryStatus.skipped.value, now, reason="missing variant"))
                continue
            contact = contacts.get(d.contact_id) if d.contact_id is not None else None
            if channel.row.kind.direct and (contact is None or not self._outgoing(channel.row, d, contact, variant).to):
                done.append(self._row(d.id, DeliveryStatus.skipped.value, now, reason="no address for this channel"))
                continue
            messages.append(self._outgoing(channel.row, d, contact, variant, channel.callback_token))
            sendable.append(d)
        outcomes: list[Outcome] = []
        step = self._slice(channel)
        for start in range(0, len(messages), step):
            outcomes += self._send(channel, messages[start:start + step])
            if claimed:
                self._keep_lease(session, claimed)
        now = utcnow()
        for d, outcome in zip(sendable, outcomes, strict=True):
            if outcome.ok:
                self.sent += 1
                done.append(self._row(d.id, (DeliveryStatus.delivered if outcome.delivered else DeliveryStatus.sent).value,
                                      now, gid=outcome.gateway_message_id, sent=now,
                                      delivered=now if outcome.delivered else None))
            elif outcome.retryable and d.attempts < self.config.max_attempts:
                done.append(self._row(d.id, QUEUED, now, reason=f"attempt {d.attempts}: {outcome.error}",
                                      next_at=now + backoff(d.attempts, self.config.backoff_seconds)))
            else:
                self.failed += 1
                why = outcome.error if not outcome.retryable else f"gave up after {d.attempts} attempts: {outcome.error}"
                done.append(self._row(d.id, DeliveryStatus.failed.value, now, reason=why))
        self._finish(session, done)
        session.commit()

    def _renew(self, session: Session, ids: list[int]) -> None:
        now = utcnow()
        session.execute(update(T).where(T.c.id.in_(ids), T.c.claimed_by == self.name, T.c.status == SENDING)
                        .values(lease_until=now + timedelta(seconds=self.config.lease_seconds)))
        session.commit()

    def _release(self, session: Session, ids: list[int]) -> None:
        """Stopping: the rows not sent go back to the queue as they were."""
        now = utcnow()
        session.execute(update(T).where(T.c.id.in_(ids), T.c.claimed_by == self.name, T.c.status == SENDING)
                        .values(status=QUEUED, claimed_by="", lease_until=None, attempts=T.c.attempts - 1,
                                next_attempt_at=now, updated_at=now))
        session.commit()
