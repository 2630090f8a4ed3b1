"""The dispatch worker against a real local gateway: sent once, retried, deferred, skipped, limited."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import update
from sqlmodel import Session, select

from campaign import outbox
from campaign.dispatch import Worker, WorkerConfig, backoff
from campaign.models import (
    ChannelKind, ContactOptOut, Delivery, DeliveryStatus, Placement, PlacementStatus,
)
from tests.campaign.gateway import Gateway
from tests.campaign.outbox_factories import due_occurrence, sms_setup

CONFIG = WorkerConfig(batch=50, chunk=10, lease_seconds=30, max_attempts=3, backoff_seconds=0.01,
                      timeout_seconds=0.5, secret_key="k" * 40, idle_sleep=0.05)


def _expand(session, setup):
    occ = due_occurrence(session, setup)
    outbox.expand_occurrence(session=session, occurrence=occ)
    session.commit()
    return occ


def _deliveries(engine):
    with Session(engine) as s:
        return s.exec(select(Delivery).order_by(Delivery.id)).all()


def test_it_sends_each_row_once_with_its_uid_as_idempotency_key(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=120, url=gw.url)
        _expand(session, setup)
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.sent}
        assert set(gw.state.messages) == {r.uid for r in rows}
        assert gw.state.requests == 120 and gw.state.duplicates == 0
        assert {r.gateway_message_id for r in rows} == {m.message_id for m in gw.state.messages.values()}
        assert all(r.attempts == 1 and r.sent_at is not None and r.lease_until is None for r in rows)
        first = gw.state.messages[rows[0].uid]
        assert first.text == "Bonjou Kontak 0, trafik moun se yon krim. Rele 188." and first.to == "+50930000000"


def test_it_retries_a_500_and_a_timeout_with_the_same_key(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=6, url=gw.url, settings={"concurrency": 1})
        _expand(session, setup)
        gw.state.fail_next, gw.state.hang_next, gw.state.hang_seconds = 3, 1, 1.0
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.sent}
        assert sum(r.attempts for r in rows) == 6 + 4
        # The hung request was answered after the worker gave up on it: the retry was the same message.
        assert len(gw.state.messages) == 6 and gw.state.per_recipient().most_common(1)[0][1] == 1


def test_it_fails_with_the_last_error_after_the_last_attempt(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=2, url=gw.url)
        _expand(session, setup)
        gw.state.fail_always = True
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.failed}
        assert all(r.attempts == 3 for r in rows)
        assert rows[0].reason.startswith("gave up after 3 attempts: the gateway answered 500")


def test_backoff_grows_exponentially_with_jitter():
    assert backoff(1, 30, rng=lambda: 0.5) == timedelta(seconds=30)
    assert backoff(3, 30, rng=lambda: 0.5) == timedelta(seconds=120)
    assert backoff(3, 30, rng=lambda: 0.0) == timedelta(seconds=60)
    assert backoff(40, 30, rng=lambda: 0.5) == timedelta(hours=6)


def test_it_checks_opt_out_and_pauses_at_send_time(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=4, url=gw.url)
        _expand(session, setup)
        session.add(ContactOptOut(contact_id=setup.contact_ids[0], channel_kind=ChannelKind.sms, source="sms_keyword"))
        session.commit()
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert [(r.status, r.reason) for r in rows][0] == (DeliveryStatus.skipped, "opted out")
        assert [r.status for r in rows[1:]] == [DeliveryStatus.sent] * 3
        assert len(gw.state.messages) == 3
        # A paused placement sends nothing more.
        placement = session.get(Placement, setup.placement.id)
        placement.status = PlacementStatus.paused
        session.add(placement)
        session.commit()
        session.execute(update(Delivery).values(status=DeliveryStatus.queued, next_attempt_at=datetime.now(timezone.utc)))
        session.commit()
        Worker(engine, CONFIG).run(until_idle=True)
        assert {r.reason for r in _deliveries(engine)} == {"placement paused"}
        assert len(gw.state.messages) == 3


def test_it_defers_quiet_hours_to_when_the_channel_may_send(engine, session, personas):
    now = datetime.now(timezone.utc)
    start, end = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0), \
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=3, url=gw.url, quiet_start=start, quiet_end=end)
        _expand(session, setup)
        worker = Worker(engine, CONFIG)
        assert worker.run_once() == 3
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.queued}
        assert all(r.attempts == 0 and r.reason.startswith("quiet hours deferred") for r in rows)
        later = rows[0].next_attempt_at.replace(tzinfo=timezone.utc)
        assert timedelta(hours=1.9) < later - now < timedelta(hours=2.1)
        assert worker.run_once() == 0 and not gw.state.requests
        assert isinstance(start, time)


def test_the_rate_limit_holds_per_minute(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=30, url=gw.url, rate_limit_per_minute=12)
        _expand(session, setup)
        worker = Worker(engine, CONFIG)
        for _ in range(4):
            worker.run_once()
        assert len(gw.state.messages) == 12
        assert sum(r.status == DeliveryStatus.queued for r in _deliveries(engine)) == 18


def test_the_frequency_cap_skips_the_contact_over_it(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=2, url=gw.url, frequency_cap_per_week=1)
        _expand(session, setup)
        Worker(engine, CONFIG).run(until_idle=True)
        second = due_occurrence(session, setup, due=datetime.now(timezone.utc) + timedelta(seconds=-1, microseconds=5))
        outbox.expand_occurrence(session=session, occurrence=second)
        session.commit()
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert [r.status for r in rows] == [DeliveryStatus.sent] * 2 + [DeliveryStatus.skipped] * 2
        assert rows[-1].reason.startswith("frequency cap")
        assert len(gw.state.messages) == 2


def test_a_row_whose_worker_died_is_reclaimed_after_its_lease(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=3, url=gw.url)
        _expand(session, setup)
        past = datetime.now(timezone.utc) - timedelta(seconds=1)
        session.execute(update(Delivery).values(status=DeliveryStatus.sending, claimed_by="dead:1", lease_until=past,
                                                attempts=1))
        session.commit()
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.sent} and {r.attempts for r in rows} == {2}
        assert len(gw.state.messages) == 3


def test_stop_finishes_the_chunk_in_hand_and_puts_the_rest_back(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=40, url=gw.url, settings={"concurrency": 1})
        _expand(session, setup)
        worker = Worker(engine, CONFIG)
        real = worker._send_chunk

        def send_then_stop(*args):
            real(*args)
            worker.stop()

        worker._send_chunk = send_then_stop
        assert worker.run_once() == 40
        rows = _deliveries(engine)
        assert sum(r.status == DeliveryStatus.sent for r in rows) == 10
        queued = [r for r in rows if r.status == DeliveryStatus.queued]
        assert len(queued) == 30 and all(r.attempts == 0 and not r.claimed_by for r in queued)
        assert len(gw.state.messages) == 10


def test_it_does_not_stop_when_the_database_is_locked_for_a_moment(engine, session, personas, monkeypatch):
    # SQLite: the scheduler writing a large occurrence can hold the lock past the busy timeout
    import sqlite3

    from sqlalchemy.exc import OperationalError

    with Gateway() as gw:
        setup = sms_setup(session, personas, n=20, url=gw.url)
        _expand(session, setup)
        worker = Worker(engine, CONFIG)
        real, calls = worker.run_once, []

        def locked_once(now=None):
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("UPDATE campaign_delivery ...", {}, sqlite3.OperationalError("database is locked"))
            return real(now)

        monkeypatch.setattr(worker, "run_once", locked_once)
        worker.run(until_idle=True)
        assert {r.status for r in _deliveries(engine)} == {DeliveryStatus.sent}
        assert len(gw.state.messages) == 20 and len(calls) > 1
