"""The scheduler: due occurrences into the outbox, late within the grace period, skipped beyond, one leader."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlmodel import Session, func, select

from campaign import jobs, outbox
from campaign import service as svc
from campaign.models import (
    Campaign, CampaignStatus, Delivery, DeliveryStatus, Occurrence, OccurrenceStatus, Placement, PlacementStatus,
    SchedulerLease, Timing,
)
from tests.campaign.outbox_factories import sms_setup


def _occurrences(engine):
    with Session(engine) as s:
        return s.exec(select(Occurrence).order_by(Occurrence.due_at)).all()


def _deliveries(engine) -> int:
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Delivery)).one()


def test_it_expands_a_due_occurrence_once(engine, session, personas):
    due = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=1)
    sms_setup(session, personas, n=5, url="http://127.0.0.1:9/send", starts_local=due.replace(tzinfo=None))
    report = jobs.tick(engine=engine, grace_seconds=3600, tick_seconds=15)
    assert (report.expanded, report.late, report.deliveries) == (1, 0, 5)
    [occ] = _occurrences(engine)
    assert occ.status == OccurrenceStatus.expanded and occ.recipients == 5
    again = jobs.tick(engine=engine, grace_seconds=3600, tick_seconds=15)
    assert (again.expanded, again.deliveries) == (0, 0) and _deliveries(engine) == 5


def test_a_future_occurrence_waits(engine, session, personas):
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=3)
    sms_setup(session, personas, n=2, url="http://127.0.0.1:9/send", starts_local=later.replace(tzinfo=None))
    jobs.tick(engine=engine)
    [occ] = _occurrences(engine)
    assert occ.status == OccurrenceStatus.planned and _deliveries(engine) == 0


def test_after_downtime_it_sends_late_within_grace_and_skips_beyond(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    recent = sms_setup(session, personas, n=3, url="http://127.0.0.1:9/send",
                       starts_local=(now - timedelta(minutes=20)).replace(tzinfo=None))
    old = sms_setup(session, personas, n=0, url="http://127.0.0.1:9/send",
                    starts_local=(now - timedelta(hours=3)).replace(tzinfo=None))
    report = jobs.tick(engine=engine, now=now, grace_seconds=3600, tick_seconds=15)
    assert (report.late, report.skipped) == (1, 1)
    by_placement = {o.placement_id: o for o in _occurrences(engine)}
    late, skipped = by_placement[recent.placement.id], by_placement[old.placement.id]
    assert late.status == OccurrenceStatus.late and late.reason == "sent late: 20 min after its time, within the grace period"
    assert skipped.status == OccurrenceStatus.skipped
    assert "beyond the grace period of 60 min" in skipped.reason and "3 h 00 min later" in skipped.reason
    assert _deliveries(engine) == 3


def test_a_pause_skips_what_comes_due_and_what_is_queued_and_resume_does_not_replay(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = sms_setup(session, personas, n=4, url="http://127.0.0.1:9/send",
                      starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    jobs.tick(engine=engine, now=now)
    assert _deliveries(engine) == 4
    second = Occurrence(placement_id=setup.placement.id, local_at=(now + timedelta(seconds=30)).replace(tzinfo=None),
                        due_at=now + timedelta(seconds=30))
    session.add(second)
    campaign = session.get(Campaign, setup.campaign.id)
    campaign.status = CampaignStatus.paused
    session.add(campaign)
    session.commit()
    report = jobs.tick(engine=engine, now=now + timedelta(seconds=31))
    assert report.paused_rows == 4 and report.skipped == 1
    with Session(engine) as s:
        assert set(s.exec(select(Delivery.status, Delivery.reason)).all()) == {(DeliveryStatus.skipped, "campaign paused")}
    assert _occurrences(engine)[-1].reason == "campaign paused at its time"
    campaign.status = CampaignStatus.active
    session.add(campaign)
    session.commit()
    jobs.tick(engine=engine, now=now + timedelta(seconds=40))
    with Session(engine) as s:
        assert set(s.exec(select(Delivery.status)).all()) == {DeliveryStatus.skipped}
    assert _deliveries(engine) == 4


def test_a_paused_placement_sends_nothing_new(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = sms_setup(session, personas, n=2, url="http://127.0.0.1:9/send",
                      starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    placement = session.get(Placement, setup.placement.id)
    placement.status = PlacementStatus.paused
    session.add(placement)
    session.commit()
    jobs.tick(engine=engine, now=now)
    assert _deliveries(engine) == 0  # its occurrence is recorded as skipped, not expanded
    [occ] = _occurrences(engine)
    assert (occ.status, occ.reason) == (OccurrenceStatus.skipped, "placement paused at its time")


def test_only_one_leader_and_a_standby_takes_over_when_the_lease_lapses(engine):
    first = jobs.Leader(engine, name="first", lease_seconds=2)
    second = jobs.Leader(engine, name="second", lease_seconds=2)
    now = datetime.now(timezone.utc)
    try:
        assert first.acquire(now) is True
        assert second.acquire(now) is False
        assert first.acquire(now + timedelta(seconds=1)) is True  # renewed
        if engine.dialect.name == "postgresql":
            first._conn.invalidate()  # its connection dies, as with kill -9: the lock goes with it
            first._conn = None
            first.leading = False
            assert second.acquire(now + timedelta(seconds=2)) is True
        else:
            assert second.acquire(now + timedelta(seconds=2)) is False  # still within first's lease
            assert second.acquire(now + timedelta(seconds=3.5)) is True
            assert first.acquire(now + timedelta(seconds=3.6)) is False
        with Session(engine) as s:
            assert s.get(SchedulerLease, "scheduler").holder == "second"
        second.release()
        assert first.acquire(datetime.now(timezone.utc)) is True
    finally:
        first.release()
        second.release()


def _every_six_hours(session, personas, now, n=2):
    """A placement every 6 h since 4 days ago; one of its times fell an hour ago, the next in 5 h."""
    first = (now - timedelta(days=4, hours=1)).replace(tzinfo=None)
    setup = sms_setup(session, personas, n=n, url="http://127.0.0.1:9/send", starts_local=first,
                      timing=Timing.recurring)
    campaign = session.get(Campaign, setup.campaign.id)
    campaign.start_date = first.date() - timedelta(days=1)
    placement = session.get(Placement, setup.placement.id)
    placement.rrule = "FREQ=HOURLY;INTERVAL=6"
    session.add_all([campaign, placement])
    session.commit()
    return setup


def _by_status(engine):
    return Counter(o.status for o in _occurrences(engine))


def test_a_pause_longer_than_a_day_records_what_fell_due_as_paused_and_resume_sends_none_of_it(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = _every_six_hours(session, personas, now)
    start = now - timedelta(days=4, hours=1)
    assert jobs.tick(engine=engine, now=start + timedelta(minutes=1)).deliveries == 2
    paused_at = start + timedelta(hours=2)
    campaign = session.get(Campaign, setup.campaign.id)
    svc.set_campaign_status(session=session, campaign=campaign, action="pause", actor=None, now=paused_at)
    session.commit()
    for day in (1, 2, 3):  # the scheduler runs through the pause
        jobs.tick(engine=engine, now=paused_at + timedelta(days=day))
    svc.set_campaign_status(session=session, campaign=campaign, action="resume", actor=None,
                            now=now - timedelta(minutes=30))
    session.commit()
    report = jobs.tick(engine=engine, now=now)
    assert (report.expanded, report.late, report.deliveries) == (0, 0, 0)
    assert _deliveries(engine) == 2  # only the first occurrence's, before the pause
    paused = [o for o in _occurrences(engine) if o.status == OccurrenceStatus.skipped]
    assert len(paused) == 16  # every 6 h from the pause to an hour ago, the one an hour ago included
    assert {o.reason for o in paused} == {"campaign paused at its time"}
    assert _by_status(engine)[OccurrenceStatus.planned] >= 1  # in 5 h: it will be sent


def test_a_placement_resumed_after_a_pause_the_scheduler_never_saw_replays_nothing(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = _every_six_hours(session, personas, now)
    start = now - timedelta(days=4, hours=1)
    jobs.tick(engine=engine, now=start + timedelta(minutes=1))
    placement = session.get(Placement, setup.placement.id)
    svc.set_placement_status(session=session, placement=placement, status=PlacementStatus.paused, actor=None,
                             now=start + timedelta(hours=2))
    session.commit()
    # The scheduler was down for the whole pause; the placement is resumed, then it comes back.
    svc.set_placement_status(session=session, placement=placement, status=PlacementStatus.active, actor=None,
                             now=now - timedelta(minutes=30))
    session.commit()
    report = jobs.tick(engine=engine, now=now)
    assert (report.late, report.deliveries) == (0, 0)
    skipped = [o for o in _occurrences(engine) if o.status == OccurrenceStatus.skipped]
    assert len(skipped) == 16 and {o.reason for o in skipped} == {"placement paused at its time"}
    assert not any("missed" in o.reason for o in _occurrences(engine))
    with Session(engine) as s:
        assert s.get(Placement, setup.placement.id).paused_at is None


def test_resuming_with_replay_sends_now_what_the_pause_skipped(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = _every_six_hours(session, personas, now)
    start = now - timedelta(days=4, hours=1)
    jobs.tick(engine=engine, now=start + timedelta(minutes=1))  # 2 rows queued, not sent yet
    paused_at = start + timedelta(hours=2)
    campaign = session.get(Campaign, setup.campaign.id)
    svc.set_campaign_status(session=session, campaign=campaign, action="pause", actor=None, now=paused_at)
    session.commit()
    jobs.tick(engine=engine, now=paused_at + timedelta(days=1))  # the queued rows are skipped, "campaign paused"
    svc.set_campaign_status(session=session, campaign=campaign, action="resume", actor=None, now=now, replay=True)
    session.commit()
    with Session(engine) as s:
        rows = s.exec(select(Delivery)).all()
        assert {r.status for r in rows} == {DeliveryStatus.queued} and len(rows) == 2 * 17
        late = s.exec(select(Occurrence).where(Occurrence.status == OccurrenceStatus.late)).all()
        replayed = [o for o in late if o.reason.startswith("replayed on resuming: due ")]
        assert len(replayed) == 16 and len(late) == 17  # and the first, expanded a minute late before the pause
    report = jobs.tick(engine=engine, now=now + timedelta(seconds=15))
    assert report.deliveries == 0 and _deliveries(engine) == 2 * 17  # nothing twice


def test_replay_skipped_takes_back_both_pause_reasons_by_default(engine, session, personas):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    setup = sms_setup(session, personas, n=3, url="http://127.0.0.1:9/send",
                      starts_local=(now - timedelta(seconds=5)).replace(tzinfo=None))
    jobs.tick(engine=engine, now=now)
    assert outbox.skip_queued(session=session, reason="paused", placement_ids={setup.placement.id: "placement paused"},
                              now=now) == 3
    session.commit()
    assert outbox.replay_skipped(session=session, placement_id=setup.placement.id, now=now) == 3
