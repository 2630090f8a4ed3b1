"""The dispatch worker against a real local gateway: sent once, retried, deferred, skipped, limited."""

from __future__ import annotations

import threading
import time as clock
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import update
from sqlmodel import Session, select

from campaign import outbox
from campaign.dispatch import Worker, WorkerConfig, backoff
from campaign.models import (
    Campaign, CampaignStatus, ChannelConfig, ChannelKind, Contact, ContactOptOut, ContactSegment, Delivery,
    DeliveryStatus, Placement, PlacementSegment, PlacementStatus, Timing,
)
from content.models import VariantIn
from tests.campaign.factories import approved_message, segment
from tests.campaign.gateway import Gateway
from tests.campaign.outbox_factories import SmsSetup, due_occurrence, sms_setup

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


def _second_channel(session, setup, url):
    """A second SMS channel in the same campaign, to the same contacts: one batch holds both."""
    chan = ChannelConfig(name="Second gateway", kind=ChannelKind.sms, provider="generic_http",
                         settings={"url": url, "sender": "KONBIT", "concurrency": 1})
    session.add(chan)
    session.flush()
    first = session.get(Placement, setup.placement.id)
    p = Placement(campaign_id=first.campaign_id, message_id=first.message_id, version_id=first.version_id,
                  channel_id=chan.id, timing=first.timing, starts_local=first.starts_local)
    session.add(p)
    session.flush()
    for link in session.exec(select(PlacementSegment).where(PlacementSegment.placement_id == first.id)).all():
        session.add(PlacementSegment(placement_id=p.id, segment_id=link.segment_id))
    session.commit()
    return SmsSetup(campaign=setup.campaign, channel=chan, placement=p, contact_ids=setup.contact_ids)


def test_stop_puts_back_the_rows_of_every_channel_in_the_batch(engine, session, personas):
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=15, url=gw.url, settings={"concurrency": 1})
        other = _second_channel(session, setup, gw.url)
        _expand(session, setup)
        _expand(session, other)
        worker = Worker(engine, CONFIG)
        real = worker._send_chunk

        def send_then_stop(*args):
            real(*args)
            worker.stop()

        worker._send_chunk = send_then_stop
        assert worker.run_once() == 30
        rows = _deliveries(engine)
        assert sum(r.status == DeliveryStatus.sent for r in rows) == 10
        assert not [r for r in rows if r.status == DeliveryStatus.sending]  # none left for the lease to free
        queued = [r for r in rows if r.status == DeliveryStatus.queued]
        assert len(queued) == 20 and all(r.attempts == 0 and not r.claimed_by and r.lease_until is None for r in queued)
        assert {r.channel_id for r in queued} == {setup.channel.id, other.channel.id}
        assert len(gw.state.messages) == 10


def test_a_slow_gateway_does_not_outlast_the_lease_while_the_worker_sends(engine, session, personas):
    """Each message takes a third of the lease; a chunk takes twice the lease. The worker renews
    its lease as it goes, so a second worker reclaims nothing and nothing is sent twice."""
    config = WorkerConfig(batch=50, chunk=10, lease_seconds=1.5, max_attempts=3, backoff_seconds=0.01,
                          timeout_seconds=1.0, secret_key="k" * 40, idle_sleep=0.05)
    with Gateway() as gw:
        setup = sms_setup(session, personas, n=6, url=gw.url, settings={"concurrency": 1})
        _expand(session, setup)
        gw.state.hang_next, gw.state.hang_seconds = 6, 0.5
        slow = Worker(engine, config, name="slow")
        first = threading.Thread(target=slow.run_once)
        first.start()
        deadline = clock.monotonic() + 5
        while gw.state.requests == 0 and clock.monotonic() < deadline:  # the batch is claimed, sending has begun
            clock.sleep(0.02)
        other = Worker(engine, config, name="other")
        second = threading.Thread(target=other.run, kwargs={"until_idle": True})
        second.start()
        first.join(timeout=20)
        second.join(timeout=20)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.sent}
        assert {r.claimed_by for r in rows} == {"slow"} and {r.attempts for r in rows} == {1}
        assert gw.state.requests == 6 and gw.state.duplicates == 0


def _email_setup(session, personas, port: int, **settings):
    message = approved_message(session, author=personas["carla"], approver=personas["leo"], variants=[
        VariantIn(language="ht", channel="email", subject="Konbit kont trafik", body="Bonjou {name}, rele 188.")])
    today = datetime.now(timezone.utc).date()
    camp = Campaign(name="Konbit kont trafik", start_date=today - timedelta(days=1), end_date=today + timedelta(days=30),
                    timezone="UTC", languages=["ht"], status=CampaignStatus.active)
    chan = ChannelConfig(name="Mail", kind=ChannelKind.email, provider="smtp",
                         settings={"host": "127.0.0.1", "port": str(port), "security": "none",
                                   "sender": "kampay@konbit.example", **settings})
    session.add_all([camp, chan])
    session.flush()
    seg = segment(session, "general_public")
    p = Placement(campaign_id=camp.id, message_id=message.id, version_id=message.approved_version_id, channel_id=chan.id,
                  timing=Timing.once, starts_local=datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
    session.add(p)
    session.flush()
    session.add(PlacementSegment(placement_id=p.id, segment_id=seg.id))
    people = [Contact(name=f"Moun {i}", email=f"moun{i}@example.ht", language="ht", consent_at=datetime.now(timezone.utc),
                      consent_method="paper form") for i in range(2)]
    session.add_all(people)
    session.flush()
    session.add_all([ContactSegment(contact_id=c.id, segment_id=seg.id) for c in people])
    session.commit()
    return SmsSetup(campaign=camp, channel=chan, placement=p, contact_ids=[c.id for c in people])


def _smtp_server():
    from aiosmtpd.controller import Controller  # noqa: PLC0415

    from tests.campaign.test_adapters_smtp import Mailbox, _port  # noqa: PLC0415

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_port())
    controller.start()
    return mailbox, controller


def test_it_refuses_e_mails_without_an_unsubscribe_link_naming_the_setting(engine, session, personas):
    mailbox, server = _smtp_server()
    try:
        setup = _email_setup(session, personas, server.port)
        _expand(session, setup)
        Worker(engine, CONFIG).run(until_idle=True)  # no KONBIT_PUBLIC_URL, no unsubscribe_url
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.failed} and len(rows) == 2
        assert all("KONBIT_PUBLIC_URL" in r.reason and "unsubscribe" in r.reason for r in rows)
        assert mailbox.messages == []
    finally:
        server.stop()


def test_an_e_mail_channel_with_its_own_unsubscribe_url_sends_with_the_link(engine, session, personas):
    from email import message_from_bytes, policy  # noqa: PLC0415

    mailbox, server = _smtp_server()
    try:
        setup = _email_setup(session, personas, server.port, unsubscribe_url="https://relay.example/u/{delivery_uid}")
        _expand(session, setup)
        Worker(engine, CONFIG).run(until_idle=True)
        rows = _deliveries(engine)
        assert {r.status for r in rows} == {DeliveryStatus.sent}
        assert len(mailbox.messages) == 2
        sent = message_from_bytes(mailbox.messages[0][1], policy=policy.default)
        assert "https://relay.example/u/" in sent["List-Unsubscribe"]
    finally:
        server.stop()
